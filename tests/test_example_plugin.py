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
    """pip-install the example into this environment unless this version of it is there already."""
    try:
        installed = importlib.metadata.distribution("gpurec-acme").version
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != "0.3.0":
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
        assert not record.builtin and record.version == "0.3.0"
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
    assert records["gpurec-acme"]["version"] == "0.3.0"


def test_disabled_plugin_hides_its_gpu():
    shown = _cli("gpus", "--json")
    hidden = _cli("gpus", "--json", env={"GPUREC_DISABLED_PLUGINS": "gpurec-acme"})
    assert "ACME_X1" in {g["name"] for g in json.loads(shown.stdout)}
    assert "ACME_X1" not in {g["name"] for g in json.loads(hidden.stdout)}


def test_autoload_disabled_keeps_builtins_only():
    result = _cli("plugins", "--json", env={"GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1"})
    names = {r["name"] for r in json.loads(result.stdout)}
    assert "gpurec-acme" not in names and "toml-catalog" in names


def test_acme_serve_engine_end_to_end():
    """The example's engine: listed, planned by its own plugin, estimated by the roofline (vLLM's
    scheduling), launched with its own flags; a layout it does not run is refused."""
    from gpurec_core import plan_memory, recommend_gpus
    from gpurec_core.errors import WorkloadError
    from gpurec_core.plugins import engine_info

    with using_plugin_manager(build_plugin_manager()):
        info = engine_info("acme-serve")
        assert info.provided_by == "gpurec-acme" and info.schedules_like == "vllm" and not info.pipeline_parallel
        plan = plan_memory("Qwen/Qwen3-30B-A3B", "H100", tensor_parallel_size=2, max_model_len=4096, engine="acme-serve")
        vllm = plan_memory("Qwen/Qwen3-30B-A3B", "H100", tensor_parallel_size=2, max_model_len=4096)
        assert plan.engine == "acme-serve" and plan.kv_cache_tokens == vllm.kv_cache_tokens
        with pytest.raises(WorkloadError, match="'acme-serve' does not run pipeline parallelism"):
            plan_memory("Qwen/Qwen3-30B-A3B", "H100", pipeline_parallel_size=2, engine="acme-serve")
        result = recommend_gpus("Qwen/Qwen3-30B-A3B", gpus=["H100"], engine="acme-serve").filter_fitting_only()
        assert all(r.performance.error is None and r.recommendation.pipeline_parallel_size == 1 for r in result)
    cli = _cli("recommend", "Qwen/Qwen3-30B-A3B", "--engine", "acme-serve", "--gpus", "H100", "--top", "2", "--launch")
    assert cli.returncode == 0, cli.stderr
    assert "acme-serve --model Qwen/Qwen3-30B-A3B --tp 2 --max-len 2048 --mem-fraction 0.9" in cli.stdout


def test_another_estimator_is_told_it_models_speculation_only_if_it_reads_it():
    from gpurec_core import estimate_performance

    with using_plugin_manager(build_plugin_manager()):
        estimate = estimate_performance("meta-llama/Llama-3.1-8B", "H100", input_length=512, output_length=64,
                                        estimator="acme-bandwidth", speculative_tokens=2)
    assert any("the acme-bandwidth estimator is given them in its workload" in note for note in estimate.notes)
