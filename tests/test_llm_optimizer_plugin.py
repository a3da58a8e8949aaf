"""The bundled ``llm-optimizer`` estimator plugin, against stand-ins for BentoML's package.

Each test writes a small ``llm_optimizer`` package into ``tmp_path`` that mimics the signatures of
BentoML's llm-optimizer (``performance.estimate_llm_performance``, ``common.ModelConfig``,
``predefined/gpus.py``'s ``GPU_SPECS``), records the arguments it receives and returns known
values. The real package is never needed.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from gpurec_core.errors import EstimatorUnavailableError
from gpurec_core.model_config import ModelConfig
from gpurec_core.models import GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate, Precision, Workload

PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugins"
INSTALL = "pip install git+https://github.com/bentoml/llm-optimizer.git"
IMPOSTOR_PREFIX = "PyPI's llm-optimizer is a different project; uninstall it and install BentoML's with: "

# ---------------------------------------------------------------------------------------------
# stand-ins
# ---------------------------------------------------------------------------------------------

STAND_IN_COMMON = '''
from dataclasses import dataclass
from typing import Optional


@dataclass
class ModelConfig:
    num_params: int
    num_layers: int
    hidden_dim: int
    num_heads: int
    num_kv_heads: Optional[int] = None
    vocab_size: int = 32000
    inferred_precision: str = "fp16"


def get_precision_bytes_per_param(precision):
    table = {"fp16": 2, "bf16": 2, "fp8": 1}
    if precision not in table:
        raise ValueError(f"Unsupported precision: {precision}. Use {list(table)}")
    return table[precision]
'''

STAND_IN_GPUS = '''
GPU_SPECS = {
    "H100": {"FP16_TFLOPS": 989.5, "FP8_TFLOPS": 1978.0, "Memory_Bandwidth_GBs": 3350, "VRAM_GB": 80},
    "A100": {"FP16_TFLOPS": 312.0, "FP8_TFLOPS": None, "Memory_Bandwidth_GBs": 2039, "VRAM_GB": 80},
    "A100-40GB": {"FP16_TFLOPS": 312.0, "FP8_TFLOPS": None, "Memory_Bandwidth_GBs": 1555, "VRAM_GB": 40},
}


def get_gpu_specs(gpu_name):
    if gpu_name.upper() not in GPU_SPECS:
        raise ValueError(f"GPU '{gpu_name}' not found. Available GPUs: {', '.join(GPU_SPECS)}")
    return GPU_SPECS[gpu_name.upper()].copy()


def list_available_gpus():
    return list(GPU_SPECS)
'''

STAND_IN_PERFORMANCE = '''
from dataclasses import dataclass

from llm_optimizer.common import ModelConfig

CALLS = []
RAISE = None
RESULT = dict(ttft_ms=120.0, itl_ms=8.0, e2e_latency_s=4.216, output_throughput_tps=1000.0,
              input_throughput_tps=5000.0, requests_per_sec=2.0, bottleneck_is_memory=True,
              memory_needed_gb=20.0, usable_vram_gb=72.0, decode_is_memory_bound=True)


@dataclass
class PerformanceResult:
    ttft_ms: float
    itl_ms: float
    e2e_latency_s: float
    output_throughput_tps: float
    input_throughput_tps: float
    requests_per_sec: float
    bottleneck_is_memory: bool
    concurrency: int
    memory_needed_gb: float = 0.0
    usable_vram_gb: float = 0.0
    decode_is_memory_bound: bool = False


def estimate_llm_performance(num_gpus: int, gpu_name: str, model_config: ModelConfig, precision: str,
                             concurrency: int, input_length: int, output_length: int,
                             mfu_prefill: float = 0.45, mfu_decode: float = 0.30,
                             vram_util_factor: float = 0.90) -> PerformanceResult:
    CALLS.append(dict(num_gpus=num_gpus, gpu_name=gpu_name, model_config=model_config, precision=precision,
                      concurrency=concurrency, input_length=input_length, output_length=output_length,
                      mfu_prefill=mfu_prefill, mfu_decode=mfu_decode, vram_util_factor=vram_util_factor))
    if RAISE:
        raise ValueError(RAISE)
    return PerformanceResult(concurrency=concurrency, **RESULT)
'''

# PyPI's project of the same name: a prompt-cost optimiser with nothing of BentoML's API.
IMPOSTOR_INIT = '''
class LLMOptimizer:
    """Reduce LLM API costs: prompt caching, smart routing, batch processing."""

    def optimize(self, prompt):
        return prompt
'''

IMPOSTOR_METADATA = {
    "Name": "llm-optimizer",
    "Version": "0.4.3",
    "Summary": "Reduce LLM API costs by up to 90% — prompt caching, smart routing, batch processing, and more",
    "Author-email": "someone@example.org",
    "Home-page": "https://example.org/llm-optimizer",
}


def write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def bentoml_stand_in(root: Path) -> Path:
    return write_package(root, {
        "llm_optimizer/__init__.py": "",
        "llm_optimizer/common.py": STAND_IN_COMMON,
        "llm_optimizer/performance.py": STAND_IN_PERFORMANCE,
        "llm_optimizer/predefined/__init__.py": "",
        "llm_optimizer/predefined/gpus.py": STAND_IN_GPUS,
    })


def write_dist_info(root: Path, fields: dict[str, str], *, top_level: str = "llm_optimizer",
                    direct_url: str | None = None) -> None:
    """An installed distribution's metadata, as pip leaves it in site-packages."""
    info = root / f"llm_optimizer-{fields['Version']}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1"] + [f"{key}: {value}" for key, value in fields.items()]
    (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (info / "top_level.txt").write_text(top_level + "\n", encoding="utf-8")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps({"url": direct_url, "vcs_info": {"vcs": "git"}}))


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


def _forget_llm_optimizer() -> None:
    for name in [n for n in sys.modules if n == "llm_optimizer" or n.startswith("llm_optimizer.")]:
        del sys.modules[name]


@pytest.fixture
def plugin(monkeypatch):
    """The plugin module, with no llm_optimizer imported and its cached check cleared."""
    monkeypatch.syspath_prepend(str(PLUGINS_DIR))
    module = importlib.import_module("gpurec_llm_optimizer")
    _forget_llm_optimizer()
    module.clear_cache()
    yield module
    _forget_llm_optimizer()
    module.clear_cache()
    importlib.invalidate_caches()


@pytest.fixture
def stand_in(plugin, tmp_path, monkeypatch):
    """BentoML's API on sys.path; returns its performance module (CALLS, RESULT, RAISE)."""
    monkeypatch.syspath_prepend(str(bentoml_stand_in(tmp_path / "site")))
    return importlib.import_module("llm_optimizer.performance")


@pytest.fixture
def nothing_installed(plugin):
    from importlib import metadata
    from importlib.util import find_spec

    try:
        metadata.distribution("llm-optimizer")
        installed = True
    except metadata.PackageNotFoundError:
        installed = find_spec("llm_optimizer") is not None
    if installed:
        pytest.skip("an llm-optimizer is installed on this machine")


class Model:
    """The parts of a ModelArchitecture the plugin reads."""

    def __init__(self, config: ModelConfig, num_parameters: int, model_id: str):
        self.config = config
        self.num_parameters = num_parameters
        self.model_id = model_id


def llama_31_8b() -> Model:
    # meta-llama/Llama-3.1-8B-Instruct config.json: hidden_size 4096, 32 layers, 32 heads, 8 KV heads,
    # intermediate_size 14336, vocab 128256; 8,030,261,248 parameters (model card / safetensors index).
    config = ModelConfig(
        model_type="llama", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        head_dim=128, v_head_dim=128, intermediate_size=14336, vocab_size=128256, max_position_embeddings=131072,
        torch_dtype="bfloat16", attention_kind="GQA", layer_types=("full_attention",) * 32,
    )
    return Model(config, 8_030_261_248, "meta-llama/Llama-3.1-8B-Instruct")


def gpu(name: str = "H100", aliases: tuple[str, ...] = ()) -> GPUSpec:
    return GPUSpec(name=name, memory_gb=79.19, aliases=aliases)


def precision(weight: str = "bf16") -> Precision:
    return Precision(weight=weight, weight_bytes_per_param=2.0 if weight in ("bf16", "fp16") else 1.0)


def workload(concurrency: int = 4, weight: str = "bf16", **extra) -> Workload:
    return Workload(input_length=1024, output_length=512, concurrency=concurrency, precision=precision(weight), **extra)


def memory(fits: bool = True, kv_cache_tokens: int = 442_368) -> MemoryPlan:
    return MemoryPlan(engine="vllm", total_gib=79.19, budget_gib=71.27, weights_gib=14.99, activation_gib=1.2,
                      non_torch_gib=0.6, cuda_graph_gib=0.4, kv_cache_gib=54.4 if fits else -1.0,
                      kv_cache_tokens=kv_cache_tokens if fits else 0, kv_bytes_per_token=131072,
                      max_model_len=1536, max_concurrency=288 if fits else 0, fits=fits,
                      reason="" if fits else "weights need 150 GiB, the budget is 71.3 GiB")


def estimate(plugin, *, model=None, spec=None, parallelism=None, load=None, plan=None, name="llm-optimizer"):
    return plugin.estimate_performance(
        model=model or llama_31_8b(), gpu=spec or gpu(), parallelism=parallelism or Parallelism(),
        workload=load or workload(), memory=plan or memory(), estimator=name)


# ---------------------------------------------------------------------------------------------
# not installed
# ---------------------------------------------------------------------------------------------


def test_missing_package_is_listed_unusable_with_the_install_command(plugin, nothing_installed):
    (info,) = plugin.list_estimators()
    assert info.name == "llm-optimizer"
    assert info.usable is False
    assert INSTALL in info.reason


def test_choosing_it_without_the_package_raises_with_the_install_command(plugin, nothing_installed):
    with pytest.raises(EstimatorUnavailableError, match=re.escape(INSTALL)):
        estimate(plugin)


def test_other_estimator_names_are_not_ours_and_import_nothing(plugin, stand_in):
    _forget_llm_optimizer()
    plugin.clear_cache()
    assert estimate(plugin, name="roofline") is None
    assert "llm_optimizer" not in sys.modules


def test_importing_the_plugin_does_not_import_llm_optimizer(plugin, stand_in):
    _forget_llm_optimizer()
    del sys.modules["gpurec_llm_optimizer"]
    importlib.import_module("gpurec_llm_optimizer")
    assert "llm_optimizer" not in sys.modules


# ---------------------------------------------------------------------------------------------
# BentoML's API present
# ---------------------------------------------------------------------------------------------


def test_stand_in_with_bentomls_api_is_usable(plugin, stand_in):
    (info,) = plugin.list_estimators()
    assert info.usable is True and info.reason == ""


def test_model_gpu_precision_and_workload_reach_llm_optimizer(plugin, stand_in):
    estimate(plugin, parallelism=Parallelism(tensor_parallel_size=2),
             load=workload(concurrency=16, gpu_memory_utilization=0.85))
    (call,) = stand_in.CALLS
    assert call["num_gpus"] == 2
    assert call["gpu_name"] == "H100"
    assert call["precision"] == "bf16"
    assert call["concurrency"] == 16
    assert (call["input_length"], call["output_length"]) == (1024, 512)
    assert call["vram_util_factor"] == 0.85
    assert (call["mfu_prefill"], call["mfu_decode"]) == (0.45, 0.30)  # llm-optimizer's own defaults
    config = call["model_config"]
    assert type(config).__module__ == "llm_optimizer.common"
    assert config.num_params == 8_030_261_248  # Llama-3.1-8B model card
    assert (config.num_layers, config.hidden_dim, config.num_heads, config.num_kv_heads) == (32, 4096, 32, 8)
    assert config.vocab_size == 128256
    assert config.inferred_precision == "bf16"


def test_results_map_onto_the_performance_estimate(plugin, stand_in):
    result = estimate(plugin, load=workload(concurrency=4))
    assert isinstance(result, PerformanceEstimate)
    assert result.estimator == "llm-optimizer"
    assert result.error is None
    assert result.time_to_first_token_ms == 120.0
    assert result.inter_token_latency_ms == 8.0
    assert result.e2e_latency_ms == pytest.approx(4216.0)  # e2e_latency_s is in seconds
    assert result.throughput_tokens_per_sec == 1000.0
    assert result.input_tokens_per_sec == 5000.0
    assert result.requests_per_sec == 2.0
    assert result.concurrency == 4
    assert result.max_batch_size == 4
    assert result.bottleneck == "memory"
    # From gpurec's memory plan: 442,368 KV tokens / (1024 + 512) tokens per request.
    assert result.max_concurrent_requests == 288


def test_compute_bound_decode_is_reported(plugin, stand_in):
    stand_in.RESULT["decode_is_memory_bound"] = False
    assert estimate(plugin).bottleneck == "compute"


def test_data_parallel_replicas_split_users_and_multiply_rates(plugin, stand_in):
    result = estimate(plugin, parallelism=Parallelism(tensor_parallel_size=1, data_parallel_size=2),
                      load=workload(concurrency=10))
    assert stand_in.CALLS[0]["concurrency"] == 5
    assert stand_in.CALLS[0]["num_gpus"] == 1
    assert result.throughput_tokens_per_sec == pytest.approx(2000.0)
    assert result.requests_per_sec == pytest.approx(4.0)
    assert result.inter_token_latency_ms == 8.0
    assert result.concurrency == 10
    assert result.max_concurrent_requests == 2 * 288


@pytest.mark.parametrize("ours, theirs", [("H100", "H100"), ("A100_40GB", "A100-40GB"), ("a100-40gb", "A100-40GB")])
def test_gpu_names_map_onto_llm_optimizers_table(plugin, stand_in, ours, theirs):
    estimate(plugin, spec=gpu(ours))
    assert stand_in.CALLS[0]["gpu_name"] == theirs


def test_gpu_aliases_are_matched(plugin, stand_in):
    estimate(plugin, spec=gpu("H100_SXM5_80GB", aliases=("H100",)))
    assert stand_in.CALLS[0]["gpu_name"] == "H100"


@pytest.mark.parametrize("name", ["H100_PCIE", "H100_NVL", "MI300X", "L40S"])
def test_gpus_it_lacks_are_refused_naming_the_ones_it_has(plugin, stand_in, name):
    with pytest.raises(EstimatorUnavailableError) as error:
        estimate(plugin, spec=gpu(name))
    message = str(error.value)
    assert name in message and "H100, A100, A100-40GB" in message and "roofline" in message
    assert stand_in.CALLS == []


@pytest.mark.parametrize("weight", ["fp32", "int8", "int4", "nvfp4", "mxfp4"])
def test_precisions_it_lacks_are_refused(plugin, stand_in, weight):
    with pytest.raises(EstimatorUnavailableError, match=f"cannot model {weight}.*fp16, bf16, fp8"):
        estimate(plugin, load=workload(weight=weight))
    assert stand_in.CALLS == []


@pytest.mark.parametrize("weight", ["fp16", "bf16", "fp8"])
def test_precisions_it_has_are_passed_through(plugin, stand_in, weight):
    estimate(plugin, load=workload(weight=weight))
    assert stand_in.CALLS[0]["precision"] == weight
    assert stand_in.CALLS[0]["model_config"].inferred_precision == weight


def test_fp8_on_a_gpu_without_an_fp8_figure_is_refused(plugin, stand_in):
    with pytest.raises(EstimatorUnavailableError, match="no FP8 figure for A100"):
        estimate(plugin, spec=gpu("A100"), load=workload(weight="fp8"))


def test_pipeline_parallelism_is_refused(plugin, stand_in):
    with pytest.raises(EstimatorUnavailableError, match="pipeline_parallel_size=2"):
        estimate(plugin, parallelism=Parallelism(tensor_parallel_size=2, pipeline_parallel_size=2))


def test_llm_optimizers_value_error_becomes_estimator_unavailable(plugin, stand_in):
    stand_in.RAISE = "FP8 precision not supported on H100"
    with pytest.raises(EstimatorUnavailableError, match="llm-optimizer refused 1x H100 at bf16: FP8 precision"):
        estimate(plugin)


def test_out_of_memory_in_llm_optimizers_own_check_is_an_error_estimate(plugin, stand_in):
    stand_in.RESULT.update(ttft_ms=float("inf"), itl_ms=float("inf"), e2e_latency_s=float("inf"),
                           output_throughput_tps=0.0, memory_needed_gb=111.0, usable_vram_gb=72.0)
    result = estimate(plugin, load=workload(concurrency=512))
    assert result.time_to_first_token_ms is None and result.throughput_tokens_per_sec is None
    assert "111.0 GiB" in result.error and "72.0 GiB" in result.error
    assert result.estimator == "llm-optimizer"


def test_a_deployment_that_does_not_fit_is_not_estimated(plugin, stand_in):
    result = estimate(plugin, plan=memory(fits=False))
    assert result.error.startswith("does not fit: weights need 150 GiB")
    assert stand_in.CALLS == []


# ---------------------------------------------------------------------------------------------
# PyPI's impostor and other look-alikes
# ---------------------------------------------------------------------------------------------


def test_pypi_impostor_is_detected_and_refused(plugin, tmp_path, monkeypatch):
    site = write_package(tmp_path / "site", {"llm_optimizer/__init__.py": IMPOSTOR_INIT})
    write_dist_info(site, IMPOSTOR_METADATA)
    monkeypatch.syspath_prepend(str(site))
    (info,) = plugin.list_estimators()
    assert info.usable is False
    assert info.reason.startswith(IMPOSTOR_PREFIX)
    assert INSTALL in info.reason and "pip uninstall -y llm-optimizer" in info.reason
    assert "0.4.3" in info.reason
    with pytest.raises(EstimatorUnavailableError, match="PyPI's llm-optimizer is a different project"):
        estimate(plugin)


def test_pypi_impostor_under_another_import_name_is_detected(plugin, nothing_installed, tmp_path, monkeypatch):
    site = write_package(tmp_path / "site", {"llmopt_cost/__init__.py": IMPOSTOR_INIT})
    write_dist_info(site, IMPOSTOR_METADATA, top_level="llmopt_cost")
    monkeypatch.syspath_prepend(str(site))
    (info,) = plugin.list_estimators()
    assert info.usable is False and info.reason.startswith(IMPOSTOR_PREFIX)


def test_impostor_with_a_lookalike_api_missing_pieces_is_refused(plugin, tmp_path, monkeypatch):
    site = write_package(tmp_path / "site", {
        "llm_optimizer/__init__.py": "",
        "llm_optimizer/common.py": "class ModelConfig:\n    def __init__(self, name):\n        self.name = name\n",
        "llm_optimizer/performance.py": "def estimate_llm_performance(prompt, model):\n    return 0\n",
        "llm_optimizer/predefined/__init__.py": "",
        "llm_optimizer/predefined/gpus.py": "GPU_SPECS = {}\n",
    })
    monkeypatch.syspath_prepend(str(site))
    (info,) = plugin.list_estimators()
    assert info.usable is False and info.reason.startswith(IMPOSTOR_PREFIX)
    assert "num_gpus" in info.reason and "num_params" in info.reason


def test_bentomls_package_with_a_changed_api_is_not_called_an_impostor(plugin, tmp_path, monkeypatch):
    site = write_package(tmp_path / "site", {
        "llm_optimizer/__init__.py": "",
        "llm_optimizer/common.py": STAND_IN_COMMON,
        "llm_optimizer/performance.py": "def estimate(config):\n    return None\n",
        "llm_optimizer/predefined/__init__.py": "",
        "llm_optimizer/predefined/gpus.py": STAND_IN_GPUS,
    })
    # No "bentoml" in the metadata fields; pip's direct_url.json of a git install says where it came from.
    write_dist_info(site, {"Name": "llm-optimizer", "Version": "9.0.0", "Summary": "A tool to optimize LLMs"},
                    direct_url="https://github.com/bentoml/llm-optimizer.git")
    monkeypatch.syspath_prepend(str(site))
    (info,) = plugin.list_estimators()
    assert info.usable is False
    assert "BentoML's llm-optimizer" in info.reason and "estimate_llm_performance" in info.reason
    assert not info.reason.startswith(IMPOSTOR_PREFIX)


def test_bentoml_metadata_is_recognised(plugin, stand_in, tmp_path, monkeypatch):
    from importlib import metadata

    from gpurec_llm_optimizer import detect

    site = tmp_path / "meta"
    write_dist_info(site, {"Name": "llm-optimizer", "Version": "0.0.1",
                           "Project-URL": "Homepage, https://github.com/bentoml/llm-optimizer"})
    monkeypatch.syspath_prepend(str(site))
    assert detect.is_bentoml_distribution(metadata.distribution("llm-optimizer"))
    impostor = tmp_path / "impostor"
    write_dist_info(impostor, IMPOSTOR_METADATA)
    assert not detect.is_bentoml_distribution(metadata.Distribution.at(next(impostor.glob("*.dist-info"))))


def test_a_dependency_missing_from_bentomls_package_is_reported_as_such(plugin, tmp_path, monkeypatch):
    site = bentoml_stand_in(tmp_path / "site")
    (site / "llm_optimizer/performance.py").write_text("import gpurec_no_such_dependency\n" + STAND_IN_PERFORMANCE)
    monkeypatch.syspath_prepend(str(site))
    (info,) = plugin.list_estimators()
    assert info.usable is False
    assert "does not import" in info.reason and "gpurec_no_such_dependency" in info.reason
    assert not info.reason.startswith(IMPOSTOR_PREFIX)


# ---------------------------------------------------------------------------------------------
# caching, and the typed facade
# ---------------------------------------------------------------------------------------------


def test_the_check_is_cached_until_cleared(plugin, stand_in, monkeypatch):
    from gpurec_llm_optimizer import detect

    calls = []
    real_probe = detect.probe
    monkeypatch.setattr(detect, "probe", lambda: calls.append(1) or real_probe())
    plugin.list_estimators()
    plugin.list_estimators()
    estimate(plugin)
    assert len(calls) == 1
    plugin.clear_cache()
    plugin.list_estimators()
    assert len(calls) == 2


@pytest.fixture
def manager(plugin):
    from gpurec_core.plugins import GpurecPluginManager

    pm = GpurecPluginManager()
    pm.register_plugin(plugin, "llm-optimizer", builtin=True)
    pm.check_pending()
    return pm


def test_through_the_facade(plugin, stand_in, manager):
    from gpurec_core import plugins

    (info,) = plugins.list_estimators(manager)
    assert (info.name, info.usable, info.provided_by) == ("llm-optimizer", True, "llm-optimizer")
    result = plugins.estimate_performance(llama_31_8b(), gpu(), Parallelism(), workload(), memory(), "llm-optimizer",
                                          pm=manager)
    assert result.time_to_first_token_ms == 120.0 and result.estimator == "llm-optimizer"


def test_facade_passes_the_refusal_through(plugin, nothing_installed, manager):
    from gpurec_core import plugins

    (info,) = plugins.list_estimators(manager)
    assert info.usable is False and INSTALL in info.reason
    with pytest.raises(EstimatorUnavailableError, match="llm-optimizer"):
        plugins.estimate_performance(llama_31_8b(), gpu(), Parallelism(), workload(), memory(), "llm-optimizer",
                                     pm=manager)


def test_registered_among_the_bundled_plugins(plugin, stand_in):
    from gpurec_core import plugins

    infos = {info.name: info for info in plugins.list_estimators()}
    assert infos["llm-optimizer"].usable and infos["llm-optimizer"].provided_by == "llm-optimizer"
    result = plugins.estimate_performance(llama_31_8b(), gpu(), Parallelism(), workload(), memory(), "llm-optimizer")
    assert result.estimator == "llm-optimizer"


def test_a_catalog_model_maps_with_its_exact_parameter_count(plugin, stand_in):
    from gpurec_core.architecture import ModelArchitecture

    estimate(plugin, model=ModelArchitecture("meta-llama/Llama-3.1-8B-Instruct"))
    config = stand_in.CALLS[0]["model_config"]
    assert config.num_params == 8_030_261_248  # Llama-3.1-8B model card
    assert (config.num_layers, config.hidden_dim, config.num_heads, config.num_kv_heads) == (32, 4096, 32, 8)
