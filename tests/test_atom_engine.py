"""ATOM (github.com/ROCm/ATOM), AMD's engine on AITER kernels: the framework `atom` of SemiAnalysis
InferenceX's MI355X runs. Figures are ATOM's own defaults and formulas (its commit ffdf3bb,
2026-08-22); no ATOM measurement is in the project data, so its timing is SGLang's, labelled a guess."""

import pytest

from gpurec_core import estimate_performance, plan_memory, recommend_gpus
from gpurec_core.errors import CatalogError
from gpurec_core.plugins import engine_info
from gpurec_core.validate_serving import predict_rows
from gpurec_roofline.constants import load_constants, parse_constants


@pytest.mark.parametrize("written", ["atom", "ATOM", "atom-disagg"])  # InferenceX configs/amd-master.yaml framework names
def test_inferencex_names_of_atom_find_it(written):
    assert engine_info(written).name == "atom"


def test_atom_budget_is_vllms_less_a_2_percent_margin_and_the_cuda_graphs():
    """atom/model_engine/model_runner.py sizes the KV pool as total x gpu_memory_utilization minus the
    torch peak, non-torch memory, the CUDA-graph estimate and ``int(total * 0.02)``; vLLM takes the
    CUDA graphs from the headroom after its budget. At the same batch limits the two pools differ by
    exactly that margin and the graphs."""
    limits = dict(tensor_parallel_size=2, max_model_len=8192, max_num_batched_tokens=8192, max_num_seqs=256)
    vllm = plan_memory("Qwen/Qwen3-32B", "MI300X", engine="vllm", **limits)
    atom = plan_memory("Qwen/Qwen3-32B", "MI300X", engine="atom", **limits)
    assert atom.engine == "atom" and atom.weights_gib == pytest.approx(vllm.weights_gib)
    assert atom.activation_gib == pytest.approx(vllm.activation_gib)
    expected = vllm.kv_cache_gib - 0.02 * vllm.total_gib - atom.cuda_graph_gib
    assert atom.kv_cache_gib == pytest.approx(expected, abs=0.01)
    assert atom.block_size == 16  # arg_utils.py --block-size default 16


def test_atom_plans_with_its_own_defaults():
    """arg_utils.py EngineArgs: max_num_batched_tokens 16384, max_num_seqs 512; the scheduler admits a
    request when its prompt's blocks fit (BlockManager.can_allocate) and prefills before decoding."""
    plan = plan_memory("Qwen/Qwen3-32B", "MI355X", engine="atom", max_model_len=8192)
    assert "max_num_batched_tokens=16384, max_num_seqs=512" in plan.notes[0]
    assert "vLLM's estimates (assumed)" in plan.notes[0]
    timing = load_constants().engine("atom")
    assert (timing.max_num_batched_tokens, timing.max_num_seqs) == (16384, 512)
    assert timing.prefill_first and timing.admission == "current_tokens"
    sglang = load_constants().engine("sglang")  # the unmeasured engine's overheads are SGLang's, stored once
    assert timing.timed_like == "sglang"
    assert (timing.step_overhead_ms, timing.request_overhead_ms, timing.prefill_clustering) == \
        (sglang.step_overhead_ms, sglang.request_overhead_ms, sglang.prefill_clustering)


def test_an_atom_deployment_is_estimated_and_launched_as_inferencex_runs_it():
    """InferenceX's benchmarks/single_node/fixed_seq_len/dsr1_fp4_mi355x_atom.sh:
    ``python3 -m atom.entrypoints.openai_server --model $MODEL -tp $TP --kv_cache_dtype fp8``."""
    estimate = estimate_performance("Qwen/Qwen3-32B", "MI355X", engine="atom", tensor_parallel_size=1,
                                    input_length=1024, output_length=1024, concurrency=16)
    assert estimate.ttft_ms > 0 and estimate.itl_ms > 0
    item = recommend_gpus("Qwen/Qwen3-32B", gpus=["MI355X"], engine="atom", kv_cache_dtype="fp8",
                          estimate_performance_flag=False).filter_fitting_only()[0]
    command = item.launch_command()
    assert command.startswith("python3 -m atom.entrypoints.openai_server --model Qwen/Qwen3-32B "
                              "--tensor-parallel-size ")
    assert "--kv-cache-dtype fp8" in command and "--gpu-memory-utilization 0.9" in command


def test_a_measured_atom_row_is_predicted():
    row = {"model": "Qwen/Qwen3-32B", "engine": "atom", "gpu": "MI355X", "tp": "1", "isl": "1024",
           "osl": "1024", "concurrency": "16", "precision": "bf16", "metric": "itl_ms", "value": "10"}
    (result,) = predict_rows([row], ".", "roofline")
    assert result["error"] is None and result["engine"] == "atom" and result["predicted"] > 0


def test_timed_like_must_name_a_measured_engine():
    data = {"engines": {"sglang": {"step_overhead_ms": 1.0}, "atom": {"timed_like": "tgi"}}}
    with pytest.raises(CatalogError, match=r"engines\.atom\.timed_like: 'tgi' is not a measured engine's entry"):
        parse_constants(data, "roofline.toml")


@pytest.mark.parametrize("model_id", ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-30B-A3B", "openai/gpt-oss-20b"])
def test_atom_estimates_obey_the_physical_floors(model_id):
    """The floors of tests/test_physical_bounds.py (datasheet peaks, no efficiency factor) hold for
    ATOM on MI355X too: ITL >= the bytes a decode step streams, TTFT >= the prompt's FLOPs at peak,
    throughput <= users / ITL."""
    from gpurec_core import get_gpu_spec
    from gpurec_core.api import as_model
    from gpurec_core.models import Parallelism
    from physical_bounds_helpers import deployment_floors

    arch, gpu = as_model(model_id), get_gpu_spec("MI355X")
    floors = deployment_floors(arch, arch.resolve_precision(None, None), Parallelism(tensor_parallel_size=1), gpu, 1024)
    for users in (1, 32):
        est = estimate_performance(arch, "MI355X", engine="atom", tensor_parallel_size=1, input_length=1024,
                                   output_length=256, concurrency=users)
        assert est.itl_ms >= floors.itl_ms and est.ttft_ms >= floors.ttft_ms
        assert est.throughput_tokens_per_sec <= users * 1000 / est.itl_ms * (1 + 1e-6)
