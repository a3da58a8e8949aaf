"""Meta-tests: every hookspec is documented with its exact signature, and every hook is tested."""

import inspect
from pathlib import Path

import pytest

from gpurec_core import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "gpurec_spec")]


def test_there_are_hooks():
    assert {"provide_gpu_specs", "infer_precision", "estimate_memory", "estimate_performance"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_documented_with_exact_signature(hook):
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"{hook}({params})" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring_contract(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and "Example::" in doc and ":return:" in doc
    if getattr(hookspecs, hook).gpurec_spec.get("firstresult"):
        assert "Stops at first non-None result." in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    tests = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_meta.py"]
    assert any(hook in p.read_text() for p in tests), f"no test mentions {hook}"
