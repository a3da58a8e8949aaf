"""TensorRT-LLM max-throughput rows are planned with the limits trtllm-bench itself sets.

Every expected figure follows the steps of NVIDIA/TensorRT-LLM tensorrt_llm/bench (build/tuning.py
calc_engine_setting and finetune_setting, build/build.py, benchmark/utils/general.py) applied by hand
to published inputs: Llama-3.1-8B's config.json (32 layers, 8 KV heads, head_dim 128), its
8,030,261,248 parameters (model card / safetensors index), the H100's 79.19 GiB engine-visible memory
(catalogs/gpus) and trtllm-bench throughput's --kv_cache_free_gpu_mem_fraction default 0.90.
"""

from __future__ import annotations

import csv
import math

import pytest

from gpurec_core.api import as_gpu, as_model, estimate_performance
from gpurec_core.trtllm_bench import parameter_elements, throughput_run_limits
from gpurec_core.validate import validate_file

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
H100_BYTES = 79.19 * 2**30


def _limits(model_id: str, precision: str, kv: str, isl: int, osl: int, tp: int = 1):
    model = as_model(model_id)
    return throughput_run_limits(model, as_gpu("H100"), model.resolve_precision(precision, kv), tp, 1, isl, osl)


def test_llama_8b_fp8_limits_follow_the_tools_arithmetic():
    # KV per token: 2 x 32 layers x max(1, 8) heads x 128 x 1 byte (fp8); engine: 8,030,261,248 elements x 1 byte.
    free = (H100_BYTES - 8_030_261_248 * 1.0) * 0.90
    per_token = 2 * 32 * 8 * 128 * 1
    requests = free / (per_token * 2000)  # 1000 in + 1000 out: 528.8 requests
    assert 500 < requests < 550
    # finetune_setting: 256 <= 528.8 < 1024 -> 128 x ceil(528.8 / 128) = 640; tokens 528.8 x 2 = 1058 < 4096 -> 2048.
    assert _limits(LLAMA_8B, "fp8", "fp8", 1000, 1000) == (640, 2048)
    # 128 in + 128 out: the requests exceed 4096, so the batch is capped at 4096 and the tokens at 4096 x 2 = 8192.
    assert free / (per_token * 256) > 4096
    assert _limits(LLAMA_8B, "fp8", "fp8", 128, 128) == (4096, 8192)


def test_prompts_are_not_chunked_so_the_token_budget_holds_the_longest_prompt():
    """get_settings: chunked prefill is off by default, max_num_tokens = max(heuristic, max ISL + max batch)."""
    batch, tokens = _limits(LLAMA_8B, "fp8", "fp8", 20000, 2000)
    assert batch == 64  # 24.0 requests of 22,000 tokens: under 256 -> at least 64
    assert tokens == 20000 + 64


def test_formats_outside_the_heuristic_get_the_build_config_defaults():
    """build.py: only NVFP4, FP8 and unquantized checkpoints are tuned; gpt-oss's MXFP4 gets 2048 / 8192."""
    assert _limits("openai/gpt-oss-120b", None, None, 1000, 1000, tp=2) == (2048, 8192)


def test_an_nvfp4_export_counts_its_packed_weights_as_the_safetensors_index_does():
    """A packed NVFP4 weight is half a uint8 element plus one fp8 scale per 16 (ModelOpt's NVFP4 layout):
    the tool's parameter count is below the model's, so its memory estimate is too."""
    model = as_model(LLAMA_8B)
    nvfp4 = model.resolve_precision("nvfp4", "fp8")
    embedding_and_head = 2 * 128_256 * 4096  # config.json: vocab 128,256, hidden 4,096, untied
    linear = 8_030_261_248 - embedding_and_head - (2 * 32 + 1) * 4096  # minus 65 RMSNorm weights
    expected = embedding_and_head + 65 * 4096 + linear * (0.5 + 1 / 16)
    assert parameter_elements(model, nvfp4) == pytest.approx(expected, rel=1e-6)


def test_validate_plans_a_trtllm_max_row_with_the_bench_limits(tmp_path):
    source = "tests/fixtures/measurements/serving_h100.csv"
    with open(source, newline="") as handle:
        reader = csv.DictReader(handle)
        row = next(r for r in reader if r["model"] == LLAMA_8B and r["concurrency"] == "max"
                   and r["isl"] == "128" and r["osl"] == "128")
        header = reader.fieldnames
    path = tmp_path / "one.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerow(row)
    predicted = validate_file(path).rows[0].predicted
    planned = estimate_performance(row["checkpoint"], "H100", input_length=128, output_length=128, concurrency="max",
                                   precision="fp8", kv_cache_dtype="fp8", engine="trtllm",
                                   max_num_seqs=4096, max_num_batched_tokens=8192)
    default = estimate_performance(row["checkpoint"], "H100", input_length=128, output_length=128, concurrency="max",
                                   precision="fp8", kv_cache_dtype="fp8", engine="trtllm")
    assert math.isclose(predicted, planned.throughput_tokens_per_sec, rel_tol=1e-9)
    assert planned.max_batch_size > 2048 >= default.max_batch_size  # trtllm-serve's default cap no longer binds
