"""The plugin framework: loading, facade checks, error attribution, env controls."""

import pytest

import gpurec_core
from gpurec_core import GPUSpec, hookimpl
from gpurec_core.errors import CatalogError, PluginError
from gpurec_core.plugins import (
    BUILTIN_PLUGINS,
    build_plugin_manager,
    gpu_catalog,
    infer_precision,
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


def test_plugin_raising_in_hook_is_named(register_plugin):
    class Broken:
        @hookimpl
        def provide_gpu_specs(self):
            raise RuntimeError("boom")

    register_plugin(Broken(), "broken-plugin")
    with pytest.raises(PluginError, match="broken-plugin.*provide_gpu_specs.*boom"):
        gpu_catalog()


def test_plugin_returning_wrong_type_is_rejected_by_name(register_plugin):
    class Wrong:
        @hookimpl
        def provide_gpu_specs(self):
            return [{"name": "X"}]

    register_plugin(Wrong(), "wrong-type")
    with pytest.raises(PluginError, match="wrong-type.*dict.*GPUSpec"):
        gpu_catalog()


def test_clash_between_plugins_names_both(register_plugin):
    class Clash:
        @hookimpl
        def provide_gpu_specs(self):
            return [GPUSpec(name="H100", memory_gb=80)]

    register_plugin(Clash(), "clashing-plugin")
    with pytest.raises(CatalogError, match="clashing-plugin.*toml-catalog|toml-catalog.*clashing-plugin"):
        gpu_catalog()


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
    raise AssertionError(hook)


def _plugin_with(hook: str, behaviour):
    """A plugin class implementing only ``hook`` (with its full signature), doing ``behaviour()``."""
    signatures = {
        "provide_gpu_specs": lambda self: behaviour(),
        "infer_precision": lambda self, model: behaviour(),
        "estimate_memory": lambda self, model, gpu, parallelism, workload, engine: behaviour(),
        "estimate_performance": lambda self, model, gpu, parallelism, workload, memory, estimator: behaviour(),
        "list_estimators": lambda self: behaviour(),
    }
    function = signatures[hook]
    function.__name__ = hook
    return type("Plugin", (), {hook: hookimpl(function)})()


ALL_HOOKS = ["provide_gpu_specs", "infer_precision", "estimate_memory", "estimate_performance", "list_estimators"]


@pytest.mark.parametrize("hook", ALL_HOOKS)
def test_every_hook_names_a_plugin_that_raises(register_plugin, hook):
    def boom():
        raise ZeroDivisionError("kaput")

    register_plugin(_plugin_with(hook, boom), "kaput-plugin")
    with pytest.raises(PluginError) as info:
        _call_hook(hook)
    message = str(info.value)
    assert f"plugin 'kaput-plugin' raised ZeroDivisionError in hook {hook}: kaput" in message
    assert "GPUREC_DISABLED_PLUGINS=kaput-plugin" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)  # the traceback is kept for the bug report


@pytest.mark.parametrize("hook, wrong, expected", [
    ("provide_gpu_specs", 42, "list"),
    ("provide_gpu_specs", "H100", "list"),
    ("provide_gpu_specs", [{"name": "X"}], "GPUSpec"),
    ("infer_precision", "bf16", "Precision"),
    ("infer_precision", {"weight": "bf16"}, "Precision"),
    ("estimate_memory", 12.5, "MemoryPlan"),
    ("estimate_performance", {"time_to_first_token_ms": 1.0}, "PerformanceEstimate"),
    ("list_estimators", 42, "list"),
    ("list_estimators", {"name": "x"}, "list"),
    ("list_estimators", ["roofline"], "EstimatorInfo"),
])
def test_every_hook_rejects_a_wrong_return_type_by_name(register_plugin, hook, wrong, expected):
    register_plugin(_plugin_with(hook, lambda: wrong), "wrong-type-plugin")
    with pytest.raises(PluginError) as info:
        _call_hook(hook)
    message = str(info.value)
    assert "'wrong-type-plugin'" in message and hook in message and expected in message
    assert "\n" not in message


@pytest.mark.parametrize("hook", ["provide_gpu_specs", "list_estimators"])
def test_generator_hook_that_raises_midway_is_named(register_plugin, hook):
    def generate():
        yield from ()
        raise KeyError("half-way")

    register_plugin(_plugin_with(hook, generate), "generator-plugin")
    with pytest.raises(PluginError, match=f"'generator-plugin' raised KeyError in hook {hook}"):
        _call_hook(hook)


@pytest.mark.parametrize("hook", ALL_HOOKS)
def test_cli_reports_a_broken_plugin_in_one_line(register_plugin, hook):
    from click.testing import CliRunner

    from gpurec_core.cli import cli

    def boom():
        raise RuntimeError("broken for the CLI")

    register_plugin(_plugin_with(hook, boom), "cli-broken")
    args = {"provide_gpu_specs": ["gpus"], "list_estimators": ["estimators"],
            "infer_precision": ["model", "Qwen/Qwen3-0.6B"], "estimate_memory": ["model", "Qwen/Qwen3-0.6B"],
            "estimate_performance": ["recommend", "Qwen/Qwen3-0.6B", "--gpus", "H100"]}[hook]
    result = CliRunner().invoke(cli, args)
    if hook == "estimate_performance":  # one broken estimator is reported on each row, not fatal
        assert result.exit_code == 0, result.output
        from gpurec_core import recommend_gpus

        item = recommend_gpus("Qwen/Qwen3-0.6B", gpus=["H100"])[0]
        assert "'cli-broken'" in item.performance.error and "estimate_performance" in item.performance.error
        return
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'cli-broken'" in lines[0] and hook in lines[0], result.stderr
