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
