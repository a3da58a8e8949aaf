"""recommend_gpus: the seed's semantics, the search over layouts, SLOs, cost and output."""

import json
import math
from pathlib import Path

import pytest

from gpurec_core import GPURecommendation, ModelArchitecture, PerformanceEstimate, RecommendationResult, recommend_gpus
from gpurec_core.errors import WorkloadError

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def llama70b():
    return ModelArchitecture("meta-llama/Llama-3.1-70B")


def _find(result, gpu, tp, pp=1, ep=1):
    for item in result:
        rec = item.recommendation
        if (rec.gpu_spec.name, rec.tensor_parallel_size, rec.pipeline_parallel_size, rec.expert_parallel_size) == (gpu, tp, pp, ep):
            return item
    raise AssertionError(f"no {gpu} TP{tp} PP{pp} EP{ep} candidate")


def test_seed_signature_defaults():
    import inspect

    params = inspect.signature(recommend_gpus).parameters
    assert [p for p in params][:10] == ["model", "input_length", "output_length", "precision", "context_length",
                                        "batch_size", "gpu_memory_utilization", "max_tensor_parallel",
                                        "estimate_performance_flag", "max_gpus"]
    assert params["input_length"].default == 1024 and params["output_length"].default == 512
    assert params["context_length"].default == 2048 and params["batch_size"].default == 1
    assert params["gpu_memory_utilization"].default == 0.9 and params["estimate_performance_flag"].default is True


def test_llama70b_h100(llama70b):
    # Llama-3.1-70B has 70.6 B parameters (model card) = 131 GiB in bf16: more than one H100's 79.19 GiB.
    result = recommend_gpus(llama70b, input_length=2048, output_length=1024, gpus=["H100"])
    tp1 = _find(result, "H100", 1).recommendation
    assert not tp1.model_fits and tp1.reasons
    assert tp1.memory_per_gpu_gb == pytest.approx(70_553_706_496 * 2 / 2**30, rel=0.02)
    for tp in (2, 4, 8):
        item = _find(result, "H100", tp)
        assert item.recommendation.model_fits
        perf = item.performance
        assert isinstance(perf, PerformanceEstimate) and perf.error is None
        assert perf.time_to_first_token_ms > 0 and perf.inter_token_latency_ms > 0 and perf.throughput_tokens_per_sec > 0
        assert item.cost.usd_per_million_output_tokens > 0  # H100 is priced in the catalog


def test_filters_and_sorts_return_results(llama70b):
    result = recommend_gpus(llama70b, gpus=["H100", "H200", "A100", "L40S"])
    fitting = result.filter_fitting_only()
    assert isinstance(fitting, RecommendationResult) and all(r.recommendation.model_fits for r in fitting)
    h100 = result.filter_by_gpu_name("h100_sxm")
    assert {r.recommendation.gpu_spec.name for r in h100} == {"H100"}
    fitting.sort_by_performance()
    ttfts = [r.performance.time_to_first_token_ms for r in fitting.recommendations]
    assert ttfts == sorted(ttfts)
    fitting.sort_by_cost()
    assert isinstance(fitting.recommendations[0].recommendation, GPURecommendation)
    assert "TTFT" in result.summary() and "$/M out" in result.summary()


def test_deepseek_v3_multi_node_h100_and_single_node_big_gpus():
    # DeepSeek-V3: 671 B parameters (model card), fp8 weights ~ 640 GiB: more than 8 x H100 (633 GiB).
    result = recommend_gpus("deepseek-ai/DeepSeek-V3", gpus=["H100", "H200", "B200", "MI300X"],
                            estimate_performance_flag=False)
    h100 = [r for r in result.filter_fitting_only() if r.recommendation.gpu_spec.name == "H100"]
    # Two nodes at least: pipeline stages across nodes, or wide EP (DP attention, EP = TP x DP = 16).
    assert h100 and all(r.recommendation.nodes >= 2 for r in h100)
    assert {r.recommendation.layout for r in h100} >= {"TP8xPP2", "DP2 TP8 EP16", "DP16 TP1 EP16"}
    for gpu in ("H200", "B200", "MI300X"):
        single = [r for r in result.filter_fitting_only() if r.recommendation.gpu_spec.name == gpu
                  and r.recommendation.pipeline_parallel_size == 1]
        assert single, gpu
    model = ModelArchitecture("deepseek-ai/DeepSeek-V3")
    assert model.attention_kind.startswith("MLA")
    # MLA caches kv_lora_rank 512 + rope 64 = 576 values per layer per token, 61 layers (config.json).
    detail = model.get_kv_cache_detail(context_length=1, batch_size=1)
    assert detail.total_gib * 2**30 == pytest.approx(576 * 61 * 2, rel=0.01)


def test_slo_changes_ranking_and_reports_goodput(llama70b):
    plain = recommend_gpus(llama70b, gpus=["H100", "H200", "B200", "A100"])
    slo = recommend_gpus(llama70b, gpus=["H100", "H200", "B200", "A100"], ttft_slo_ms=500, itl_slo_ms=30)
    for item in slo.filter_fitting_only():
        assert item.slo is not None
        if item.slo.meets_at_concurrency_1:
            assert item.slo.max_concurrency >= 1 and item.slo.goodput_tokens_per_sec > 0
    assert all(item.meets_slo for item in slo.filter_fitting_only()[:1])
    missing = [i for i in slo.filter_fitting_only() if not i.meets_slo]
    for item in missing:
        assert "SLO" in "; ".join(item.recommendation.reasons)
    assert [i.recommendation.layout for i in plain[:5]] != [i.recommendation.layout for i in slo[:5]] or missing


def test_target_throughput_adds_replicas():
    result = recommend_gpus("meta-llama/Llama-3.1-8B", gpus=["H100"], target_throughput_tokens_per_sec=50_000)
    best = result.filter_fitting_only()[0].recommendation
    assert best.data_parallel_size > 1
    assert best.total_gpus == best.data_parallel_size * best.tensor_parallel_size


def test_max_gpus_respected(llama70b):
    result = recommend_gpus(llama70b, max_gpus=2, estimate_performance_flag=False)
    assert all(item.recommendation.total_gpus <= 2 for item in result)


def test_launch_commands(llama70b):
    item = _find(recommend_gpus(llama70b, gpus=["H100"], kv_cache_dtype="fp8", estimate_performance_flag=False), "H100", 4)
    vllm = item.launch_command("vllm")
    assert vllm.startswith("vllm serve meta-llama/Llama-3.1-70B --tensor-parallel-size 4")
    assert "--kv-cache-dtype fp8" in vllm and "--gpu-memory-utilization 0.9" in vllm
    assert "sglang.launch_server" in item.launch_command("sglang") and "--tp 4" in item.launch_command("sglang")


def test_to_dict_matches_schema_and_is_finite(llama70b):
    jsonschema = pytest.importorskip("jsonschema")
    data = recommend_gpus(llama70b, gpus=["H100", "H200"], ttft_slo_ms=500, itl_slo_ms=30).to_dict()
    text = json.dumps(data, allow_nan=False)
    jsonschema.validate(json.loads(text), json.loads((DOCS / "recommend.schema.json").read_text()))


@pytest.mark.parametrize("kwargs, field", [
    ({"input_length": 0}, "input_length"), ({"output_length": -5}, "output_length"),
    ({"batch_size": 0}, "batch_size"), ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
    ({"gpu_memory_utilization": 0}, "gpu_memory_utilization"), ({"max_gpus": 0}, "max_gpus"),
    ({"ttft_slo_ms": math.nan}, "ttft_slo_ms"), ({"engine": "vlm"}, "vllm"),
])
def test_bad_workloads_are_typed_errors(llama70b, kwargs, field):
    with pytest.raises(WorkloadError, match=field):
        recommend_gpus(llama70b, **kwargs)


def test_replicas_use_the_data_parallel_flag_only_where_it_makes_independent_replicas():
    """vLLM's --data-parallel-size makes one engine whose MoE layers span every rank ("By default, expert layers
    form a tensor parallel group of size DP x TP", vLLM docs serving/data_parallel_deployment), so two TP2
    replicas of a MoE model are two instances behind a router; SGLang's --dp without --enable-dp-attention runs
    independent workers. Replicas of a dense model keep vLLM's flag within one node, and beyond a node they are
    instances behind a router (one `vllm serve --data-parallel-size` does not span nodes without its multi-node
    flags)."""
    moe = recommend_gpus("Qwen/Qwen3-30B-A3B", gpus=["H100"], input_length=1024, output_length=256,
                         target_throughput_tokens_per_sec=12_000)
    item = next(i for i in moe if i.recommendation.layout == "TP2 x2 replicas")
    vllm, sglang = item.launch_command("vllm"), item.launch_command("sglang")
    assert "--data-parallel-size" not in vllm and "2 replicas behind a router" in vllm
    assert "--tp 2 --dp 2" in sglang
    dense = recommend_gpus("meta-llama/Llama-3.1-8B", gpus=["H100"], target_throughput_tokens_per_sec=20_000)
    assert "--tensor-parallel-size 1 --data-parallel-size 4" in dense.filter_fitting_only()[0].launch_command("vllm")
    many = recommend_gpus("meta-llama/Llama-3.1-8B", gpus=["H100"], target_throughput_tokens_per_sec=100_000)
    best = many.filter_fitting_only()[0]
    assert best.recommendation.total_gpus > 8 and "replicas behind a router" in best.launch_command("vllm")
