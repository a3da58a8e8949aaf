"""The plugin framework: loading, facade checks, error attribution, env controls."""

import pytest

import gpurec_core
from gpurec_core import GPUSpec, hookimpl
from gpurec_core.errors import CatalogError, PluginError, PluginWarning
from gpurec_core.plugins import (
    BUILTIN_PLUGINS,
    build_plugin_manager,
    gpu_catalog,
    infer_precision,
    list_engines,
    list_estimators,
    plugin_records,
)


def test_builtins_are_ordinary_registered_plugins():
    names = {record.name for record in plugin_records()}
    assert {name for name, _ in BUILTIN_PLUGINS} <= names
    assert all(record.builtin for record in plugin_records())


def test_hookimpl_is_public_from_package_root():
    assert gpurec_core.hookimpl is hookimpl


def test_disabled_plugins_env(monkeypatch):
    monkeypatch.setenv("GPUREC_DISABLED_PLUGINS", "toml-catalog")
    pm = build_plugin_manager(load_entry_points=False)
    assert not pm.has_plugin("toml-catalog")
    assert gpu_catalog(pm).names() == []


def test_misspelt_hook_is_an_error():
    class Typo:
        @hookimpl
        def provide_gpu_spec(self):  # missing 's'
            return []

    pm = build_plugin_manager(load_entry_points=False)
    pm.register(Typo(), name="typo")
    import pluggy

    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


def test_third_party_plugin_raising_in_a_collecting_hook_is_disabled_and_named(register_plugin):
    class Broken:
        @hookimpl
        def provide_gpu_specs(self):
            raise RuntimeError("boom")

    register_plugin(Broken(), "broken-plugin")
    with pytest.warns(PluginWarning, match="'broken-plugin' was disabled: RuntimeError: boom in hook provide_gpu_specs"):
        assert "H100" in gpu_catalog().names()  # the built-ins answer without it
    record = next(r for r in plugin_records() if r.name == "broken-plugin")
    assert (record.status, record.reason) == ("broken", "RuntimeError: boom in hook provide_gpu_specs")


def test_bundled_plugin_raising_is_a_plugin_error_naming_it(gpurec_pm):
    class Bundled:
        @hookimpl
        def provide_gpu_specs(self):
            raise RuntimeError("boom")

    gpurec_pm.register_plugin(Bundled(), "bundled-bug", builtin=True)
    with pytest.raises(PluginError, match="'bundled-bug' raised RuntimeError in hook provide_gpu_specs: boom"):
        gpu_catalog()


def test_plugin_returning_wrong_type_is_disabled_by_name(register_plugin):
    class Wrong:
        @hookimpl
        def provide_gpu_specs(self):
            return [{"name": "X"}]

    register_plugin(Wrong(), "wrong-type")
    with pytest.warns(PluginWarning, match="'wrong-type' was disabled: it returned dict from provide_gpu_specs; "
                                           "expected GPUSpec"):
        assert "H100" in gpu_catalog().names()


def test_gpu_clashing_with_a_bundled_one_is_skipped_unless_allowed(register_plugin, monkeypatch):
    class Clash:
        @hookimpl
        def provide_gpu_specs(self):
            return [GPUSpec(name="H100", memory_gb=80)]

    bundled = gpu_catalog().get("H100")
    register_plugin(Clash(), "clashing-plugin")
    with pytest.warns(PluginWarning, match="'clashing-plugin' defines GPU 'H100'.*bundled GPU 'H100'.*"
                                           "GPUREC_ALLOW_GPU_OVERRIDE=clashing-plugin"):
        assert gpu_catalog().get("H100") == bundled
    monkeypatch.setenv("GPUREC_ALLOW_GPU_OVERRIDE", "clashing-plugin")
    with pytest.warns(PluginWarning, match="'clashing-plugin' replaces the bundled GPU H100"):
        replaced = gpu_catalog().get("H100")
    assert replaced.provided_by == "clashing-plugin" and replaced.memory_gib == 80
    with pytest.raises(CatalogError):  # its aliases went with it
        gpu_catalog().get("h100-sxm")


def test_third_party_precision_plugin_wins_over_trylast_builtin(register_plugin):
    from gpurec_core import ModelArchitecture, Precision

    class Acme4:
        @hookimpl
        def infer_precision(self, model):
            return Precision(weight="int4", weight_bytes_per_param=0.5625, quant_method="acme4")

    register_plugin(Acme4(), "acme4")
    model = ModelArchitecture("meta-llama/Llama-3.1-8B")
    assert infer_precision(model).quant_method == "acme4"


def test_estimators_listed_with_provider():
    infos = {info.name: info for info in list_estimators()}
    assert infos["roofline"].usable
    assert infos["roofline"].provided_by == "roofline"
    assert "llm-optimizer" in infos


# ---------------------------------------------------------------------------------------------
# Every hook: a plugin that raises is named with the hook; a wrong return type is rejected by name


def _call_hook(hook: str):
    """Reach ``hook`` through the public API, the way a user would."""
    from gpurec_core import ModelArchitecture, estimate_performance, plan_memory

    model = ModelArchitecture("Qwen/Qwen3-0.6B")
    if hook == "provide_gpu_specs":
        return gpu_catalog()
    if hook == "infer_precision":
        return model.precision
    if hook == "estimate_memory":
        return plan_memory(model, "H100", max_model_len=4096)
    if hook == "estimate_performance":
        return estimate_performance(model, "H100", input_length=128, output_length=16)
    if hook == "list_estimators":
        return list_estimators()
    if hook == "list_engines":
        return list_engines()
    raise AssertionError(hook)


def _plugin_with(hook: str, behaviour):
    """A plugin class implementing only ``hook`` (with its full signature), doing ``behaviour()``."""
    signatures = {
        "provide_gpu_specs": lambda self: behaviour(),
        "infer_precision": lambda self, model: behaviour(),
        "estimate_memory": lambda self, model, gpu, parallelism, workload, engine: behaviour(),
        "estimate_performance": lambda self, model, gpu, parallelism, workload, memory, estimator: behaviour(),
        "list_estimators": lambda self: behaviour(),
        "list_engines": lambda self: behaviour(),
    }
    function = signatures[hook]
    function.__name__ = hook
    return type("Plugin", (), {hook: hookimpl(function)})()


ALL_HOOKS = ["provide_gpu_specs", "infer_precision", "estimate_memory", "estimate_performance", "list_estimators"]


OWNED_HOOKS = ["estimate_memory", "estimate_performance"]
COLLECTING_OR_OPEN_HOOKS = ["provide_gpu_specs", "infer_precision", "list_estimators", "list_engines"]


def _owner_of(hook: str, behaviour):
    """A plugin owning the engine 'acme-serve' and the estimator 'acme', whose ``hook`` does ``behaviour()``."""
    from gpurec_core.models import EngineInfo, EstimatorInfo

    class Owner:
        @hookimpl
        def list_engines(self):
            return [EngineInfo(name="acme-serve", schedules_like="vllm")]

        @hookimpl
        def list_estimators(self):
            return [EstimatorInfo(name="acme", usable=True)]

    function = _plugin_with(hook, behaviour).__class__.__dict__[hook]
    setattr(Owner, hook, function)
    return Owner()


def _call_owned(hook: str):
    from gpurec_core import ModelArchitecture, estimate_performance, plan_memory

    model = ModelArchitecture("Qwen/Qwen3-0.6B")
    if hook == "estimate_memory":
        return plan_memory(model, "H100", max_model_len=4096, engine="acme-serve")
    return estimate_performance(model, "H100", input_length=128, output_length=16, estimator="acme")


@pytest.mark.parametrize("hook", OWNED_HOOKS)
def test_an_owned_hook_that_raises_names_its_plugin(register_plugin, hook):
    def boom():
        raise ZeroDivisionError("kaput")

    register_plugin(_owner_of(hook, boom), "kaput-plugin")
    with pytest.raises(PluginError) as info:
        _call_owned(hook)
    message = str(info.value)
    assert f"plugin 'kaput-plugin' raised ZeroDivisionError in hook {hook}: kaput" in message
    assert "GPUREC_DISABLED_PLUGINS=kaput-plugin" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)  # the traceback is kept for the bug report


@pytest.mark.parametrize("hook", COLLECTING_OR_OPEN_HOOKS)
def test_every_open_hook_disables_a_plugin_that_raises(register_plugin, hook):
    def boom():
        raise ZeroDivisionError("kaput")

    register_plugin(_plugin_with(hook, boom), "kaput-plugin")
    with pytest.warns(PluginWarning, match=f"'kaput-plugin' was disabled: ZeroDivisionError: kaput in hook {hook}"):
        _call_hook(hook)
    assert [r.status for r in plugin_records() if r.name == "kaput-plugin"] == ["broken"]


@pytest.mark.parametrize("hook, wrong, expected", [
    ("provide_gpu_specs", 42, "list"),
    ("provide_gpu_specs", "H100", "list"),
    ("provide_gpu_specs", [{"name": "X"}], "GPUSpec"),
    ("infer_precision", "bf16", "Precision"),
    ("infer_precision", {"weight": "bf16"}, "Precision"),
    ("list_estimators", 42, "list"),
    ("list_estimators", {"name": "x"}, "list"),
    ("list_estimators", ["roofline"], "EstimatorInfo"),
    ("list_engines", ["vllm"], "EngineInfo"),
])
def test_every_open_hook_disables_a_plugin_returning_a_wrong_type(register_plugin, hook, wrong, expected):
    register_plugin(_plugin_with(hook, lambda: wrong), "wrong-type-plugin")
    with pytest.warns(PluginWarning) as caught:
        _call_hook(hook)
    message = str(caught[0].message)
    assert "'wrong-type-plugin'" in message and hook in message and expected in message
    assert "\n" not in message


@pytest.mark.parametrize("hook, wrong, expected", [
    ("estimate_memory", 12.5, "MemoryPlan"),
    ("estimate_performance", {"time_to_first_token_ms": 1.0}, "PerformanceEstimate"),
])
def test_an_owned_hook_returning_a_wrong_type_is_a_plugin_error(register_plugin, hook, wrong, expected):
    register_plugin(_owner_of(hook, lambda: wrong), "wrong-type-plugin")
    with pytest.raises(PluginError) as info:
        _call_owned(hook)
    message = str(info.value)
    assert "'wrong-type-plugin'" in message and hook in message and expected in message and "\n" not in message


@pytest.mark.parametrize("hook", ["provide_gpu_specs", "list_estimators"])
def test_generator_hook_that_raises_midway_is_named(register_plugin, hook):
    def generate():
        yield from ()
        raise KeyError("half-way")

    register_plugin(_plugin_with(hook, generate), "generator-plugin")
    with pytest.warns(PluginWarning, match=f"'generator-plugin' was disabled: KeyError: 'half-way' in hook {hook}"):
        _call_hook(hook)


@pytest.mark.parametrize("hook", COLLECTING_OR_OPEN_HOOKS)
def test_cli_warns_about_a_broken_plugin_in_one_line_and_goes_on(register_plugin, hook):
    from click.testing import CliRunner

    from gpurec_core.cli import _show_warning, cli

    def boom():
        raise RuntimeError("broken for the CLI")

    register_plugin(_plugin_with(hook, boom), "cli-broken")
    args = {"provide_gpu_specs": ["gpus"], "list_estimators": ["estimators"], "list_engines": ["engines"],
            "infer_precision": ["model", "Qwen/Qwen3-0.6B"]}[hook]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("warnings.showwarning", _show_warning)
        patch.setattr("warnings.filters", [])
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if "cli-broken" in line]
    assert len(warning) == 1 and warning[0].startswith("gpurec: warning: plugin 'cli-broken' was disabled: ")
    assert hook in warning[0]


def test_an_estimator_error_reaches_why_not_and_the_rows(register_plugin):
    from click.testing import CliRunner

    from gpurec_core import recommend_gpus
    from gpurec_core.cli import cli

    def boom():
        raise RuntimeError("no ACME silicon here")

    register_plugin(_owner_of("estimate_performance", boom), "acme-broken")
    item = recommend_gpus("Qwen/Qwen3-0.6B", gpus=["H100"], estimator="acme")[0]
    assert "'acme-broken' raised RuntimeError in hook estimate_performance" in item.performance.error
    result = CliRunner().invoke(cli, ["recommend", "Qwen/Qwen3-0.6B", "--gpus", "H100", "--estimator", "acme"])
    assert result.exit_code == 0 and "no estimate: plugin 'acme-broken'" in result.stdout.replace("\n", "")


# ---------------------------------------------------------------------------------------------
# Hooks go through pluggy: wrappers, tracing, monitoring; the batch hook is a third party's fast path


class CountingEstimator:
    """A third-party estimator with a batch form: the roofline's numbers, and a count of each kind of call."""

    def __init__(self):
        self.points = self.batches = 0

    @hookimpl
    def list_estimators(self):
        from gpurec_core.models import EstimatorInfo

        return [EstimatorInfo(name="counting", usable=True)]

    @hookimpl
    def estimate_performance(self, model, gpu, parallelism, workload, memory):
        from gpurec_roofline import estimate

        self.points += 1
        return estimate(model, gpu, parallelism, workload, memory)

    @hookimpl
    def estimate_performance_batch(self, batch):
        from gpurec_roofline import Deployments, estimate_many

        self.batches += 1
        prepared = batch.deployments.prepared("counting", lambda found: Deployments(found.items))
        return estimate_many(prepared, batch.rows, batch.input_length, batch.output_length, batch.concurrency)


def test_a_third_party_batch_estimator_gets_the_fast_path(register_plugin):
    from gpurec_core import recommend_gpus, sweep

    counting = CountingEstimator()
    register_plugin(counting, "counting")
    result = recommend_gpus("Qwen/Qwen3-8B", gpus=["H100", "L4"], ttft_slo_ms=300, itl_slo_ms=20, estimator="counting")
    assert counting.points == 0 and 1 <= counting.batches <= 4  # the SLO search in a few batched rounds
    reference = recommend_gpus("Qwen/Qwen3-8B", gpus=["H100", "L4"], ttft_slo_ms=300, itl_slo_ms=20)
    assert [r.performance for r in result] == [r.performance for r in reference]
    points = sweep(["Qwen/Qwen3-8B"], ["H100"], input_lengths=[128, 1024], output_lengths=[64], concurrencies=[1, 8],
                   estimator="counting")
    assert points.num_estimated == points.num_points and counting.points == 0


def test_wrappers_tracing_and_monitoring_see_every_call(register_plugin, gpurec_pm):
    from gpurec_core import estimate_performance, recommend_gpus

    seen = {"new": [], "old": [], "batch": 0}

    class Wrappers:
        @hookimpl(wrapper=True)
        def estimate_performance(self, estimator):
            result = yield
            seen["new"].append((estimator, result.time_to_first_token_ms))
            return result

        @hookimpl(hookwrapper=True, specname="estimate_performance")
        def old_style(self):
            outcome = yield
            seen["old"].append(outcome.get_result().estimator)

        @hookimpl(wrapper=True)
        def estimate_performance_batch(self):
            seen["batch"] += 1
            return (yield)

    register_plugin(Wrappers(), "wrappers")
    traced, monitored = [], []
    gpurec_pm.trace.root.setwriter(traced.append)
    gpurec_pm.enable_tracing()
    gpurec_pm.add_hookcall_monitoring(lambda name, impls, kwargs: monitored.append(name), lambda *args: None)
    for concurrency in (1, 4, 16):
        estimate_performance("Qwen/Qwen3-0.6B", "H100", input_length=256, output_length=32, concurrency=concurrency)
    assert [e for e, _ in seen["new"]] == ["roofline"] * 3 and seen["old"] == ["roofline"] * 3
    assert all(ttft > 0 for _, ttft in seen["new"])
    recommend_gpus("Qwen/Qwen3-0.6B", gpus=["H100"])
    assert seen["batch"] >= 1
    assert monitored.count("estimate_performance") >= 3 and "estimate_performance_batch" in monitored
    assert any("estimate_performance" in line for line in traced)


def test_the_plugin_manager_reports_a_misspelt_hook_as_broken(gpurec_pm):
    class Typo:
        @hookimpl
        def provide_gpu_spec(self):
            return []

    with pytest.warns(PluginWarning, match="'typo'.*provide_gpu_spec"):
        assert gpurec_pm.register_plugin(Typo(), "typo") is False
    assert [r.status for r in plugin_records() if r.name == "typo"] == ["broken"]
    assert "H100" in gpu_catalog().names()
