"""Broken third-party plugins, installed as real distributions: gpurec keeps working and names them.

Each case writes a distribution (a module and a ``.dist-info`` with a ``[gpurec]`` entry point, see
``plugin_dists.py``) into a temp folder on ``sys.path`` and builds the plugin manager from entry
points, as on a user's machine. The contract checked is the plugin framework's (issue 12):

* the built-ins keep working: the bundled GPUs are in the catalog and ``recommend_gpus`` on H100
  gives the same roofline numbers as without the plugin;
* the broken plugin is named: ``plugin_records`` has it ``"broken"`` / ``"timed-out"`` with a reason
  naming the exception (and the hook), a ``PluginWarning`` names it, the CLI prints
  ``gpurec: warning: ...`` and lists it in ``gpurec plugins``;
* a plugin answers ``estimate_performance`` / ``estimate_memory`` only for names it owns;
* slow plugin code is cut off at ``GPUREC_PLUGIN_TIMEOUT``.

Out-of-process checks run ``python -m gpurec_core`` with the folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
from plugin_dists import write_distribution

import gpurec_core
from gpurec_core.errors import PluginError
from gpurec_core.plugins import build_plugin_manager, gpu_catalog, list_estimators, plugin_records
from gpurec_core.testing import using_plugin_manager

MODEL = "Qwen/Qwen3-0.6B"  # resolved offline from the bundled model catalog
#: A deadline short enough for the suite, long enough for a loaded CI machine to import a plugin.
TIMEOUT = {"GPUREC_PLUGIN_TIMEOUT": "0.5"}
#: Wall-clock bound of one `gpurec` run with a plugin that sleeps 60 s (interpreter start included).
CLI_BOUND_S = 15.0

#: Every plugin module starts with these lines; ``CALLS`` records each call of its hooks.
HEADER = """\
from gpurec_core import hookimpl
from gpurec_core.models import EstimatorInfo, GPUSpec, PerformanceEstimate, Precision
CALLS = []
"""
#: Placeholder in a plugin's source for "block for 60 s": ``time.sleep(60)`` out of process; in
#: process a 60 s wait on an event the test sets at teardown, so no abandoned thread outlives the test.
SLEEP_60 = "SLEEP_60"

ACME_GPU = 'GPUSpec(name={name!r}, aliases={aliases!r}, memory_gb={memory}, bandwidth_tb_s=4.0, ' \
           'bf16_tflops_dense=900.0, fp8_tflops_dense=1800.0, price_usd_per_hour=2.5)'


def acme_gpu(name: str, aliases: tuple[str, ...] = (), memory: float = 96.0) -> str:
    """Source text of a complete GPUSpec a plugin provides."""
    return ACME_GPU.format(name=name, aliases=aliases, memory=memory)


# ---------------------------------------------------------------------------------------------
# Installing plugins as distributions


_serial = itertools.count(1)


class Site:
    """A folder standing in for site-packages, holding the test's plugin distributions."""

    def __init__(self, root: Path, *, in_process: bool):
        self.root = root
        self.in_process = in_process
        self.modules: dict[str, str] = {}  # plugin (entry-point) name -> module name
        self._gates: list[str] = []

    def install(self, kind: str, source: Optional[str], *, attr: str = "", ep_value: Optional[str] = None) -> str:
        """Install a one-module distribution ``bad-<kind>-<n>``; returns its plugin name.

        :param source: the module's body (after :data:`HEADER`); None: no module (``ep_value`` names one).
        :param attr: the entry point's ``:attribute``, when not the module itself.
        """
        n = next(_serial)
        name = f"bad-{kind}-{n}"
        module = f"gpurec_bad_{kind.replace('-', '_')}_{n}"
        gate = f"{module}_gate"
        modules = {}
        if source is not None:
            sleep = f"__import__({gate!r}).EVENT.wait(60)" if self.in_process else "__import__('time').sleep(60)"
            modules[module] = HEADER + textwrap.dedent(source).replace(SLEEP_60, sleep)
            modules[gate] = "import threading\nEVENT = threading.Event()\n"
            self._gates.append(gate)
        value = ep_value or (module + (f":{attr}" if attr else ""))
        write_distribution(self.root, name, modules=modules, entry_points={name: value})
        self.modules[name] = module
        importlib.invalidate_caches()
        return name

    def calls(self, name: str) -> list:
        """The ``CALLS`` list of an installed plugin's module ([] when it was never imported)."""
        module = sys.modules.get(self.modules[name])
        return list(getattr(module, "CALLS", []))

    def cleanup(self) -> None:
        released = False
        for gate in self._gates:
            if gate in sys.modules:
                sys.modules[gate].EVENT.set()
                released = True
        if released:
            time.sleep(0.2)  # let the released threads finish before their modules are dropped
        for module in [*self.modules.values(), *self._gates]:
            for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
                del sys.modules[loaded]


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site-packages stand-in on ``sys.path`` for this test; its modules are unloaded afterwards."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    installed = Site(root, in_process=True)
    yield installed
    installed.cleanup()
    importlib.invalidate_caches()


@pytest.fixture
def cli_site(tmp_path):
    """A site-packages stand-in for a ``gpurec`` subprocess (given as its PYTHONPATH)."""
    root = tmp_path / "site-packages"
    root.mkdir()
    return Site(root, in_process=False)


def test_builder_makes_entry_points_discoverable(site):
    name = site.install("discoverable", "@hookimpl\ndef provide_gpu_specs():\n    return []\n")
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group="gpurec")}
    assert name in found
    assert found[name].value == site.modules[name]
    assert found[name].dist.metadata["Name"] == name and found[name].dist.version == "1.0"


# ---------------------------------------------------------------------------------------------
# Helpers


@contextmanager
def no_escape():
    """Turn a plugin's KeyboardInterrupt / SystemExit escaping gpurec into this test's failure
    (a KeyboardInterrupt would otherwise end the whole pytest session)."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as exc:
        pytest.fail(f"gpurec let a plugin's {type(exc).__name__}({exc}) escape", pytrace=True)


@contextmanager
def third_party_manager():
    """The manager built from entry points (as on a user's machine), process-wide in the block.

    Yields ``(pm, caught)``: ``caught`` lists every warning issued while building and using it.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with no_escape():
            pm = build_plugin_manager()
        with using_plugin_manager(pm), no_escape():
            yield pm, caught


def plugin_warnings(caught: list, *needles: str) -> list[str]:
    """Messages of the PluginWarnings in ``caught`` that contain every needle."""
    from gpurec_core import errors

    category = getattr(errors, "PluginWarning", None)
    assert category is not None, "gpurec_core.errors.PluginWarning is missing"
    assert issubclass(category, UserWarning)
    messages = [str(w.message) for w in caught if issubclass(w.category, category)]
    return [m for m in messages if all(n in m for n in needles)]


def record_of(pm, name: str):
    records = {r.name: r for r in plugin_records(pm)}
    assert name in records, f"{name!r} is not in plugin_records: {sorted(records)}"
    return records[name]


def status_and_reason(record) -> tuple[Optional[str], Optional[str]]:
    return getattr(record, "status", None), getattr(record, "reason", None)


def roofline_numbers(result) -> dict[str, float]:
    """``{"TP1 ttft": ..., ...}`` of the fitting rows of a recommendation (performance at batch_size)."""
    numbers = {}
    for item in result:
        if item.recommendation.model_fits:
            perf = item.performance
            layout = item.recommendation.layout
            numbers[f"{layout} ttft"] = perf.time_to_first_token_ms
            numbers[f"{layout} itl"] = perf.inter_token_latency_ms
            numbers[f"{layout} tok/s"] = perf.throughput_tokens_per_sec
    return numbers


def direct_estimate(estimator: str = "roofline"):
    return gpurec_core.estimate_performance(MODEL, "H100", input_length=128, output_length=16, estimator=estimator)


@dataclass(frozen=True)
class Baseline:
    """What gpurec answers with its bundled plugins only."""

    gpus: frozenset[str]
    roofline: dict[str, float]
    direct: Any
    memory: Any


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("GPUREC_")]:
            mp.delenv(key)
        mp.setenv("HF_HUB_OFFLINE", "1")
        with using_plugin_manager(build_plugin_manager(load_entry_points=False)) as pm:
            return Baseline(
                gpus=frozenset(gpu_catalog(pm).names()),
                roofline=roofline_numbers(gpurec_core.recommend_gpus(MODEL, gpus=["H100"])),
                direct=direct_estimate(),
                memory=gpurec_core.plan_memory(MODEL, "H100", max_model_len=4096),
            )


def assert_builtins_work(baseline: Baseline, *, same_numbers: bool = True):
    """The bundled GPUs are listed, and H100 rows fit with the roofline's (unchanged) numbers."""
    names = set(gpu_catalog().names())
    assert "H100" in names
    assert baseline.gpus <= names, f"bundled GPUs missing: {sorted(baseline.gpus - names)}"
    result = gpurec_core.recommend_gpus(MODEL, gpus=["H100"])
    fitting = [item for item in result if item.recommendation.model_fits]
    assert fitting, "no fitting H100 row"
    for item in fitting:
        perf = item.performance
        assert perf is not None and perf.error is None, perf
        assert perf.estimator == "roofline"
        assert perf.time_to_first_token_ms > 0 and perf.inter_token_latency_ms > 0
        assert perf.throughput_tokens_per_sec > 0
    if same_numbers:
        assert roofline_numbers(result) == pytest.approx(baseline.roofline, rel=1e-9)
    return result


# ---------------------------------------------------------------------------------------------
# Broken at import, at registration, or in a hook that is not dispatched by ownership


@dataclass(frozen=True)
class Case:
    id: str
    source: Optional[str]
    attr: str = ""
    ep_value: Optional[str] = None
    env: dict = field(default_factory=dict)
    status: str = "broken"
    #: substrings of the record's reason
    reason: tuple[str, ...] = ()
    #: the hook that fails (the plugin is then disabled: a PluginWarning, no further calls)
    hook: Optional[str] = None
    #: GPUs the plugin yielded before failing: not in the catalog
    absent_gpus: tuple[str, ...] = ()


def hook_source(signature: str, body: str) -> str:
    return f"@hookimpl\ndef {signature}:\n    CALLS.append(1)\n" + textwrap.indent(textwrap.dedent(body), "    ")


CASES = [
    # at import
    Case("import-sys-exit", "import sys\nsys.exit(3)\n", reason=("SystemExit: 3", "import")),
    Case("import-keyboard-interrupt", "raise KeyboardInterrupt\n", reason=("KeyboardInterrupt", "import")),
    Case("import-missing-dependency", 'raise ImportError("no module named acme_sdk")\n',
         reason=("ImportError", "acme_sdk")),
    Case("import-recursion", "def resolve():\n    return resolve()\nresolve()\n", reason=("RecursionError",)),
    Case("import-sleeps", f"{SLEEP_60}\n", env=TIMEOUT, status="timed-out"),
    # the entry point's object
    Case("entry-point-missing-attribute", "def plugin():\n    return None\n", attr="nothing", reason=("nothing",)),
    Case("entry-point-function", "def make_plugin():\n    return []\n", attr="make_plugin"),
    Case("entry-point-int", "ANSWER = 42\n", attr="ANSWER"),
    Case("entry-point-json-dumps", None, ep_value="json:dumps"),
    # pluggy's validation
    Case("misspelt-hook", "@hookimpl\ndef provide_gpu_spec():\n    return []\n", reason=("provide_gpu_spec",)),
    Case("hook-extra-argument", "@hookimpl\ndef infer_precision(model, tokenizer):\n    return None\n",
         reason=("tokenizer",)),
    # provide_gpu_specs
    Case("gpu-specs-system-exit", hook_source("provide_gpu_specs()", "raise SystemExit(0)"),
         hook="provide_gpu_specs", reason=("SystemExit", "provide_gpu_specs")),
    Case("gpu-specs-runtime-error", hook_source("provide_gpu_specs()", 'raise RuntimeError("ACME catalogue is down")'),
         hook="provide_gpu_specs", reason=("RuntimeError", "provide_gpu_specs", "ACME catalogue is down")),
    Case("gpu-specs-returns-dict", hook_source("provide_gpu_specs()", 'return {"name": "ACME_D1", "memory_gb": 96}'),
         hook="provide_gpu_specs", reason=("provide_gpu_specs",), absent_gpus=("ACME_D1",)),
    Case("gpu-specs-returns-str", hook_source("provide_gpu_specs()", 'return "ACME_S1"'),
         hook="provide_gpu_specs", reason=("provide_gpu_specs",)),
    Case("gpu-specs-returns-dicts", hook_source("provide_gpu_specs()", 'return [{"name": "ACME_L1", "memory_gb": 96}]'),
         hook="provide_gpu_specs", reason=("provide_gpu_specs",), absent_gpus=("ACME_L1",)),
    Case("gpu-specs-generator-midway",
         hook_source("provide_gpu_specs()", f'yield {acme_gpu("ACME_HALF")}\nraise KeyError("acme_x2")'),
         hook="provide_gpu_specs", reason=("KeyError", "provide_gpu_specs"), absent_gpus=("ACME_HALF",)),
    Case("gpu-specs-sleeps", hook_source("provide_gpu_specs()", f"{SLEEP_60}\nreturn []"), env=TIMEOUT,
         status="timed-out", hook="provide_gpu_specs", reason=("provide_gpu_specs",)),
    # list_estimators
    Case("list-estimators-raises", hook_source("list_estimators()", 'raise ValueError("licence server unreachable")'),
         hook="list_estimators", reason=("ValueError", "list_estimators", "licence server unreachable")),
    Case("list-estimators-returns-names", hook_source("list_estimators()", 'return ["acme"]'),
         hook="list_estimators", reason=("list_estimators",)),
    # infer_precision
    Case("infer-precision-raises",
         hook_source("infer_precision(model)", "raise AttributeError(\"'NoneType' object has no attribute 'bits'\")"),
         hook="infer_precision", reason=("AttributeError", "infer_precision")),
    Case("infer-precision-returns-str", hook_source("infer_precision(model)", 'return "int4"'),
         hook="infer_precision", reason=("infer_precision",)),
    Case("infer-precision-sleeps", hook_source("infer_precision(model)", f"{SLEEP_60}\nreturn None"), env=TIMEOUT,
         status="timed-out", hook="infer_precision", reason=("infer_precision",)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_broken_plugin_is_contained_and_named(site, baseline, monkeypatch, case):
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    name = site.install(case.id, case.source, attr=case.attr, ep_value=case.ep_value)
    started = time.monotonic()
    with third_party_manager() as (pm, caught):
        assert_builtins_work(baseline)
        if case.hook is not None:
            calls = len(site.calls(name))
            assert calls >= 1, f"{case.hook} of the plugin was never called"
            assert_builtins_work(baseline)  # again: the plugin is disabled, and not called again
            assert len(site.calls(name)) == calls, f"a disabled plugin's {case.hook} was called again"
        for gpu in case.absent_gpus:
            assert gpu not in gpu_catalog().names()
        status, reason = status_and_reason(record_of(pm, name))
    assert time.monotonic() - started < 10  # a deadline of 0.5 s cuts a 60 s sleep off
    assert status == case.status, reason
    assert reason, "a broken plugin's record says why"
    for part in case.reason:
        assert part in reason
    if case.hook is not None:
        assert plugin_warnings(caught, name), [str(w.message) for w in caught]


# ---------------------------------------------------------------------------------------------
# GPUs that clash


@pytest.mark.parametrize("clash, aliases", [("H100", ()), ("ACME_SXM", ("h100-sxm",))], ids=["name", "alias"])
def test_gpu_named_like_a_builtin_is_skipped_with_a_warning(site, baseline, clash, aliases):
    name = site.install("gpu-clash", f"""\
        @hookimpl
        def provide_gpu_specs():
            return [{acme_gpu(clash, aliases, memory=123.0)}, {acme_gpu("ACME_OK")}]
        """)
    with third_party_manager() as (pm, caught):
        assert_builtins_work(baseline)
        catalog = gpu_catalog()
        assert catalog.get("H100").provided_by == "toml-catalog"
        assert catalog.get("h100-sxm").provided_by == "toml-catalog"
        assert catalog.get("ACME_OK").provided_by == name  # only the clashing entry is skipped
        assert clash == "H100" or clash not in catalog.names()
    assert plugin_warnings(caught, name, "H100"), [str(w.message) for w in caught]


@pytest.mark.parametrize("allow", ["plugin", "*"])
def test_gpu_override_allowed_replaces_the_builtin(site, baseline, monkeypatch, allow):
    name = site.install("gpu-override", f"""\
        @hookimpl
        def provide_gpu_specs():
            return [{acme_gpu("H100", memory=123.0)}]
        """)
    monkeypatch.setenv("GPUREC_ALLOW_GPU_OVERRIDE", name if allow == "plugin" else "*")
    with third_party_manager() as (pm, caught):
        result = assert_builtins_work(baseline, same_numbers=False)
        h100 = gpu_catalog().get("H100")
        assert h100.provided_by == name and h100.memory_gib == 123.0
        assert all(item.recommendation.gpu_spec.provided_by == name for item in result)
    assert plugin_warnings(caught, name, "H100"), [str(w.message) for w in caught]


def test_two_third_party_plugins_define_the_same_gpu(site, baseline):
    source = """\
        @hookimpl
        def provide_gpu_specs():
            return [{gpu}]
        """
    second = site.install("twin-b", source.format(gpu=acme_gpu("ACME_TWIN", memory=64.0)))
    first = site.install("twin-a", source.format(gpu=acme_gpu("ACME_TWIN", memory=96.0)))
    assert first < second  # the first by plugin name keeps the GPU, whatever the install order
    with third_party_manager() as (pm, caught):
        assert_builtins_work(baseline)
        twin = gpu_catalog().get("ACME_TWIN")
    assert twin.provided_by == first and twin.memory_gib == 96.0
    assert plugin_warnings(caught, second, "ACME_TWIN"), [str(w.message) for w in caught]


# ---------------------------------------------------------------------------------------------
# Ownership: a plugin answers only for the estimators and engines it lists


def test_estimate_memory_raising_for_every_engine_does_not_disable_vllm(site, baseline):
    name = site.install("memory-raises", hook_source(
        "estimate_memory(model, gpu, parallelism, workload, engine)", 'raise RuntimeError("acme planner failed")'))
    with third_party_manager():
        assert_builtins_work(baseline)
        assert gpurec_core.plan_memory(MODEL, "H100", max_model_len=4096) == baseline.memory
        assert gpurec_core.plan_memory(MODEL, "H100", max_model_len=4096, engine="sglang").fits
    assert site.calls(name) == []  # it lists no engine, so it owns none


HIJACK = textwrap.dedent("""\
    @hookimpl
    def estimate_performance(estimator):
        CALLS.append(estimator)
        return PerformanceEstimate(time_to_first_token_ms=0.001, inter_token_latency_ms=0.001,
                                   throughput_tokens_per_sec=1e12, estimator="roofline")
    """)


def test_hijacker_is_ignored_for_roofline_and_answers_its_own_name(site, baseline):
    name = site.install("hijack-own", HIJACK + textwrap.dedent("""\
        @hookimpl
        def list_estimators():
            return [EstimatorInfo(name="hijack", usable=True, description="answers every estimator")]
        """))
    with third_party_manager():
        assert_builtins_work(baseline)
        assert direct_estimate() == baseline.direct
        assert site.calls(name) == []
        hijacked = gpurec_core.recommend_gpus(MODEL, gpus=["H100"], estimator="hijack")
    fitting = [item for item in hijacked if item.recommendation.model_fits]
    assert fitting and all(item.performance.time_to_first_token_ms == 0.001 for item in fitting)
    assert set(site.calls(name)) == {"hijack"}


def test_hijacker_without_list_estimators_is_never_called(site, baseline):
    name = site.install("hijack-unlisted", HIJACK)
    with third_party_manager():
        assert_builtins_work(baseline)
        assert direct_estimate() == baseline.direct
    assert site.calls(name) == []


def test_hijacker_listing_roofline_does_not_get_it(site, baseline):
    name = site.install("hijack-roofline", HIJACK + textwrap.dedent("""\
        @hookimpl
        def list_estimators():
            return [EstimatorInfo(name="roofline", usable=True, description="a better roofline")]
        """))
    with third_party_manager() as (pm, caught):
        assert_builtins_work(baseline)
        assert direct_estimate() == baseline.direct
        rooflines = [info for info in list_estimators() if info.name == "roofline"]
    assert [info.provided_by for info in rooflines] == ["roofline"]
    assert site.calls(name) == []
    assert plugin_warnings(caught, name, "roofline"), [str(w.message) for w in caught]


OWN_ESTIMATOR = textwrap.dedent("""\
    ESTIMATOR = "acme-est"

    @hookimpl
    def list_estimators():
        return [EstimatorInfo(name=ESTIMATOR, usable=True, description="ACME's simulator")]

    @hookimpl
    def estimate_performance(estimator):
        CALLS.append(estimator)
        if estimator != ESTIMATOR:
            return None
    """)

ESTIMATOR_FAILURES = {
    "raises": ('raise ZeroDivisionError("no ACME data for this GPU")', "ZeroDivisionError"),
    "system-exit": ("raise SystemExit(0)", "SystemExit"),
    # pydantic rejects NaN (allow_inf_nan=False), so the plugin's own construction raises
    "nan": ('nan = float("nan")\n'
            "return PerformanceEstimate(time_to_first_token_ms=nan, inter_token_latency_ms=nan,\n"
            "                           throughput_tokens_per_sec=nan, estimator=estimator)", "ValidationError"),
}


def test_nan_estimate_is_rejected_by_the_model():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        gpurec_core.PerformanceEstimate(time_to_first_token_ms=float("nan"))


@pytest.mark.parametrize("failure", list(ESTIMATOR_FAILURES))
def test_own_estimator_failure_is_attributed_on_every_row(site, baseline, failure):
    body, exception = ESTIMATOR_FAILURES[failure]
    name = site.install(f"estimator-{failure}", OWN_ESTIMATOR + textwrap.indent(body, "    ") + "\n")
    expected = f"plugin '{name}' raised {exception} in hook estimate_performance"
    with third_party_manager():
        assert_builtins_work(baseline)
        result = gpurec_core.recommend_gpus(MODEL, gpus=["H100"], estimator="acme-est")
        with pytest.raises(PluginError, match=re.escape(expected)):
            direct_estimate("acme-est")
    fitting = [item for item in result if item.recommendation.model_fits]
    assert fitting
    for item in fitting:
        assert item.performance is not None and item.performance.error is not None
        assert expected in item.performance.error
    assert set(site.calls(name)) == {"acme-est"}  # only ever asked for its own estimator


def test_own_estimator_that_sleeps_is_cut_off_and_disabled(site, baseline, monkeypatch):
    monkeypatch.setenv("GPUREC_PLUGIN_TIMEOUT", "0.5")
    name = site.install("estimator-sleeps", OWN_ESTIMATOR + f"    {SLEEP_60}\n")
    started = time.monotonic()
    with third_party_manager() as (pm, caught):
        with pytest.raises(PluginError) as info:
            direct_estimate("acme-est")
        status, reason = status_and_reason(record_of(pm, name))
        assert_builtins_work(baseline)
    assert time.monotonic() - started < 10
    assert name in str(info.value) and "estimate_performance" in str(info.value)
    assert status == "timed-out", reason
    assert plugin_warnings(caught, name), [str(w.message) for w in caught]


# ---------------------------------------------------------------------------------------------
# pluggy's own machinery sees gpurec's hook calls


WRAPPERS = {
    "new-style": """\
        @hookimpl(wrapper=True)
        def estimate_performance(estimator):
            CALLS.append(estimator)
            result = yield
            return result
        """,
    "classic": """\
        @hookimpl(hookwrapper=True)
        def estimate_performance(estimator):
            CALLS.append(estimator)
            outcome = yield
            outcome.get_result()
        """,
}


def test_wrappers_see_every_estimate_performance_call(site, baseline):
    names = {kind: site.install(f"wrapper-{kind}", source) for kind, source in WRAPPERS.items()}
    with third_party_manager() as (pm, caught):
        estimates = [direct_estimate() for _ in range(3)]
        statuses = {kind: status_and_reason(record_of(pm, name)) for kind, name in names.items()}
    assert all(estimate == baseline.direct for estimate in estimates)
    for kind, name in names.items():
        assert site.calls(name) == ["roofline"] * 3, kind
        assert statuses[kind] == ("loaded", None), kind


GOOD_PLUGIN = f"""\
    @hookimpl
    def provide_gpu_specs():
        return [{acme_gpu("ACME_GOOD")}]

    @hookimpl
    def list_estimators():
        return [EstimatorInfo(name="acme-good", usable=True, description="a well-behaved estimator")]

    @hookimpl
    def estimate_performance(estimator):
        if estimator != "acme-good":
            return None
        return PerformanceEstimate(time_to_first_token_ms=5.0, inter_token_latency_ms=1.0,
                                   throughput_tokens_per_sec=1000.0, estimator="acme-good")
    """


def test_tracing_records_estimate_performance(site, baseline):
    site.install("traced", GOOD_PLUGIN)
    messages: list[str] = []
    with third_party_manager() as (pm, caught):
        pm.trace.root.setwriter(messages.append)
        undo = pm.enable_tracing()
        try:
            direct_estimate()
            direct_estimate("acme-good")
        finally:
            undo()
            pm.trace.root.setwriter(None)
    assert any("estimate_performance" in message for message in messages), messages


def test_hookcall_monitoring_sees_the_hook_calls(site, baseline):
    name = site.install("monitored", GOOD_PLUGIN)
    seen: list[tuple[str, Any]] = []
    results: list[tuple[str, Any]] = []
    seen_plugins: set[str] = set()

    def before(hook_name, hook_impls, kwargs):
        seen.append((hook_name, kwargs.get("estimator")))
        seen_plugins.update(impl.plugin_name for impl in hook_impls)

    def after(outcome, hook_name, hook_impls, kwargs):
        if outcome.exception is None:
            results.append((hook_name, outcome.get_result()))

    with third_party_manager() as (pm, caught):
        undo = pm.add_hookcall_monitoring(before, after)
        try:
            assert "ACME_GOOD" in gpu_catalog().names()
            assert direct_estimate("acme-good").time_to_first_token_ms == 5.0
            assert direct_estimate() == baseline.direct
        finally:
            undo()
    hooks = {hook for hook, _ in seen}
    assert {"provide_gpu_specs", "list_estimators", "infer_precision", "estimate_memory",
            "estimate_performance"} <= hooks, seen
    assert ("estimate_performance", "acme-good") in seen and ("estimate_performance", "roofline") in seen
    answers = [r for hook, r in results if hook == "estimate_performance" and r is not None]
    assert any(getattr(r, "estimator", None) == "acme-good" for r in answers)
    assert name in seen_plugins  # its hooks were among those called


# ---------------------------------------------------------------------------------------------
# The CLI, out of process (a real `python -m gpurec_core` with the distributions on PYTHONPATH)


def run_gpurec(site: Site, *args: str, env: Optional[dict] = None) -> tuple[subprocess.CompletedProcess, float]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GPUREC_")}
    full_env.update({"PYTHONPATH": str(site.root), "HF_HUB_OFFLINE": "1", "COLUMNS": "2000"}, **(env or {}))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True,
                          env=full_env, timeout=120)
    return proc, time.monotonic() - started


def assert_clean_stderr(stderr: str) -> None:
    """Only one-line ``gpurec: ...`` messages: no traceback, no ``file:line: UserWarning``."""
    assert "Traceback" not in stderr and "UserWarning" not in stderr, stderr
    for line in stderr.splitlines():
        assert not line.strip() or line.startswith("gpurec: "), stderr


def warning_lines(stderr: str, name: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gpurec: warning:") and name in line]


def why_not_lines(table: str) -> list[str]:
    """The "#N GPU layout: why not" lines printed under the default table."""
    return [line for line in table.splitlines() if re.match(r"#\d+ ", line)]


BROKEN_AT_LOAD = {  # kind: (source, attr, reason part)
    "import-sys-exit": ("import sys\nsys.exit(3)\n", "", "SystemExit: 3"),
    "import-keyboard-interrupt": ("raise KeyboardInterrupt\n", "", "KeyboardInterrupt"),
    "import-missing-dependency": ('raise ImportError("no module named acme_sdk")\n', "", "acme_sdk"),
    "entry-point-missing-attribute": ("X = 1\n", "nothing", "nothing"),
    "misspelt-hook": ("@hookimpl\ndef provide_gpu_spec():\n    return []\n", "", "provide_gpu_spec"),
}


def install_broken_at_load(site: Site) -> dict[str, str]:
    """Install each kind of :data:`BROKEN_AT_LOAD`; returns plugin name -> reason part."""
    return {site.install(kind, source, attr=attr): part for kind, (source, attr, part) in BROKEN_AT_LOAD.items()}


def test_cli_gpus_with_a_plugin_calling_sys_exit_at_import(cli_site):
    cli_site.install("import-sys-exit", "import sys\nsys.exit(3)\n")
    proc, _ = run_gpurec(cli_site, "gpus")
    assert proc.returncode == 0, proc.stderr
    assert "H100" in proc.stdout and "MI300X" in proc.stdout
    assert_clean_stderr(proc.stderr)


def test_cli_plugins_table_lists_broken_plugins(cli_site):
    broken = install_broken_at_load(cli_site)
    proc, _ = run_gpurec(cli_site, "plugins")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name, part in broken.items():
        assert any(name in line and "broken" in line for line in lines), (name, proc.stdout)
        assert part in proc.stdout
    assert_clean_stderr(proc.stderr)


def test_cli_plugins_json_lists_broken_plugins(cli_site):
    broken = install_broken_at_load(cli_site)
    proc, _ = run_gpurec(cli_site, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    records = {r["name"]: r for r in json.loads(proc.stdout)}
    for name, part in broken.items():
        record = records[name]
        assert record["status"] == "broken" and not record["loaded"] and not record["builtin"], record
        assert part in record["reason"] and record["error"] == record["reason"], record
    assert all(records[n]["status"] == "loaded" for n in ("toml-catalog", "capacity", "roofline"))
    assert_clean_stderr(proc.stderr)


def test_cli_plugins_json_shows_a_slow_import_and_a_slow_listing_hook_timed_out(cli_site):
    name = cli_site.install("import-sleeps", f"{SLEEP_60}\n")
    hook = cli_site.install("gpu-listing-sleeps", hook_source("provide_gpu_specs()", f"{SLEEP_60}\nreturn []"))
    proc, seconds = run_gpurec(cli_site, "plugins", "--json", env=TIMEOUT)
    assert seconds < CLI_BOUND_S
    assert proc.returncode == 0, proc.stderr
    records = {r["name"]: r for r in json.loads(proc.stdout)}
    assert records[name]["status"] == "timed-out" and records[name]["reason"], records[name]
    assert records[hook]["status"] == "timed-out" and "provide_gpu_specs" in records[hook]["reason"], records[hook]
    assert_clean_stderr(proc.stderr)


def test_cli_recommend_with_a_sleeping_provide_gpu_specs(cli_site):
    name = cli_site.install("gpu-specs-sleeps", hook_source("provide_gpu_specs()", f"{SLEEP_60}\nreturn []"))
    proc, seconds = run_gpurec(cli_site, "recommend", MODEL, "--gpus", "H100", env=TIMEOUT)
    assert seconds < CLI_BOUND_S
    assert proc.returncode == 0, proc.stderr
    assert "H100" in proc.stdout and "TP1" in proc.stdout
    assert name in proc.stdout  # the printed notes name the timed-out plugin
    assert warning_lines(proc.stderr, name), proc.stderr
    assert_clean_stderr(proc.stderr)


def test_cli_recommend_json_with_a_sleeping_infer_precision(cli_site):
    name = cli_site.install("infer-precision-sleeps", hook_source("infer_precision(model)", f"{SLEEP_60}\nreturn None"))
    proc, seconds = run_gpurec(cli_site, "recommend", MODEL, "--gpus", "H100", "--json", env=TIMEOUT)
    assert seconds < CLI_BOUND_S
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert any(name in note for note in result["notes"]), result["notes"]
    assert result["precision"] == "bf16"
    assert any(r["model_fits"] and r["performance"]["error"] is None for r in result["recommendations"])
    assert warning_lines(proc.stderr, name), proc.stderr
    assert_clean_stderr(proc.stderr)


def test_cli_recommend_shows_the_failing_estimator_in_why_not(cli_site):
    name = cli_site.install("estimator-raises", OWN_ESTIMATOR + '    raise ZeroDivisionError("no ACME data")\n')
    proc, _ = run_gpurec(cli_site, "recommend", MODEL, "--gpus", "H100", "--estimator", "acme-est")
    assert proc.returncode == 0, proc.stderr
    why_not = " ".join(why_not_lines(proc.stdout))
    assert f"no estimate: plugin '{name}' raised ZeroDivisionError in hook estimate_performance" in why_not, proc.stdout
    assert_clean_stderr(proc.stderr)


def test_cli_recommend_with_plugins_broken_at_load(cli_site):
    broken = install_broken_at_load(cli_site)
    proc, _ = run_gpurec(cli_site, "recommend", MODEL, "--gpus", "H100")
    assert proc.returncode == 0, proc.stderr
    assert "H100" in proc.stdout and "TP1" in proc.stdout
    for name in broken:
        assert name in proc.stdout, (name, proc.stdout)  # named in the printed notes
    assert_clean_stderr(proc.stderr)
