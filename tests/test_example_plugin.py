"""The example third-party plugin, installed with pip and found through its entry point."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpurec_core.plugins import build_plugin_manager, gpu_catalog, list_estimators, plugin_records
from gpurec_core.testing import using_plugin_manager

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gpurec-acme"


@pytest.fixture(scope="module", autouse=True)
def acme_installed():
    """pip-install the example into this environment when it is not there yet (CI installs it too)."""
    try:
        importlib.metadata.distribution("gpurec-acme")
    except importlib.metadata.PackageNotFoundError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", str(EXAMPLE)], check=True)
        importlib.invalidate_caches()


def _cli(*args, env=None):
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GPUREC_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True, env=full_env)


def test_entry_point_plugin_provides_gpu():
    with using_plugin_manager(build_plugin_manager()) as pm:
        assert "ACME_X1" in gpu_catalog(pm).names()
        record = next(r for r in plugin_records(pm) if r.name == "gpurec-acme")
        assert not record.builtin and record.version == "0.2.0"
        assert "provide_gpu_specs" in record.hooks


def test_example_estimator_selectable_by_name():
    from gpurec_core import estimate_performance

    with using_plugin_manager(build_plugin_manager()):
        assert "acme-bandwidth" in {i.name for i in list_estimators()}
        estimate = estimate_performance("meta-llama/Llama-3.1-8B", "H100", input_length=512, output_length=64,
                                        estimator="acme-bandwidth")
    assert estimate.estimator == "acme-bandwidth"
    assert estimate.inter_token_latency_ms > 0


def test_cli_plugins_json_lists_bundled_and_example():
    result = _cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"toml-catalog", "capacity", "roofline", "llm-optimizer", "gpurec-acme"} <= set(records)
    assert records["gpurec-acme"]["version"] == "0.2.0"


def test_disabled_plugin_hides_its_gpu():
    shown = _cli("gpus", "--json")
    hidden = _cli("gpus", "--json", env={"GPUREC_DISABLED_PLUGINS": "gpurec-acme"})
    assert "ACME_X1" in {g["name"] for g in json.loads(shown.stdout)}
    assert "ACME_X1" not in {g["name"] for g in json.loads(hidden.stdout)}


def test_autoload_disabled_keeps_builtins_only():
    result = _cli("plugins", "--json", env={"GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1"})
    names = {r["name"] for r in json.loads(result.stdout)}
    assert "gpurec-acme" not in names and "toml-catalog" in names
