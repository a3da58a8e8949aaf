"""Engine-independent memory facts: weight bytes, KV bytes per token, TP divisibility, overrides.

Numbers are pinned to published sources (checkpoint sizes, vLLM start-up logs), never re-derived.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpurec_core.api import as_model
from gpurec_core.architecture import ModelArchitecture
from gpurec_core.errors import WorkloadError
from gpurec_core.memory_math import (
    GIB,
    apply_precision_overrides,
    iter_layers_of_stage,
    kv_bytes_per_token,
    kv_cache_detail,
    kv_heads_per_gpu,
    quantization_group_size,
    valid_tensor_parallel_sizes,
    weights_bytes,
)

FIXTURES = Path(__file__).parent / "fixtures"
QUANTIZED = FIXTURES / "quantized"


def _weights(model_id: str, precision=None) -> float:
    model = as_model(model_id)
    return weights_bytes(model.config, model.parameters, precision or model.precision)


def _tiny(**overrides) -> ModelArchitecture:
    config = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 1024,
        "num_hidden_layers": 4, "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 2816,
        "vocab_size": 32000, "max_position_embeddings": 4096, "torch_dtype": "bfloat16",
    }
    config.update(overrides)
    return ModelArchitecture.from_config(config, "tiny/llama")


# --- weights ------------------------------------------------------------------------------------


def test_llama_31_8b_bf16_weights_match_the_checkpoint():
    # meta-llama/Llama-3.1-8B safetensors index total_size 16,060,522,496 bytes
    # (catalogs/models/sizes.csv, thamada/modelQuery README row 'Llama-3.1-8B').
    assert _weights("meta-llama/Llama-3.1-8B") == pytest.approx(16_060_522_496, rel=1e-4)


def test_llama_31_70b_bf16_weights_match_the_checkpoint():
    # catalogs/models/sizes.csv: Llama-3.1-70B-Instruct checkpoint 141,130,000,000-odd bytes (total_size).
    assert _weights("meta-llama/Llama-3.1-70B-Instruct") / 1e9 == pytest.approx(141.13, rel=1e-3)


def test_gpt_oss_mxfp4_experts_only_match_the_checkpoint():
    # openai/gpt-oss-20b model.safetensors.index.json metadata.total_size = 13,761,264,768 bytes
    # (sgl-project/ome testdata, catalogs/models/sizes.csv): MXFP4 experts, bf16 attention/router/embeddings.
    model = as_model("openai/gpt-oss-20b")
    assert model.precision.weight == "mxfp4"
    assert _weights("openai/gpt-oss-20b") == pytest.approx(13_761_264_768, rel=5e-3)


def test_mxfp8_is_fp8_with_a_one_byte_scale_per_32():
    # MiniMaxAI/MiniMax-M3-MXFP8's config.json (bundled): quant_method "mxfp8", weight_block_size [1, 32];
    # OCP MX spec: e4m3 values, one e8m0 (1-byte) scale per 32 -> 1 + 1/32 bytes per quantized weight.
    p = as_model("MiniMaxAI/MiniMax-M3-MXFP8").precision
    assert (p.weight, p.compute_dtype) == ("fp8", "fp8")
    assert p.weight_bytes_per_param == pytest.approx(1 + 1 / 32)


def test_awq_storage_includes_scales_and_zero_points():
    # AutoAWQ GEMM layout: int32 qweight packs 8 nibbles (0.5 B), plus an fp16 scale and a 4-bit
    # zero point per 128 inputs: 0.5 + (2 + 0.5) / 128 = 0.51953125 bytes per weight.
    model = as_model(str(QUANTIZED / "awq-llama-2-7b"))
    p = model.precision
    assert (p.weight, p.quant_method) == ("int4", "awq")
    assert p.weight_bytes_per_param == pytest.approx(0.51953125)
    assert "lm_head" in p.modules_not_quantized
    # 6.74 B params of which embeddings + lm_head (2 x 32000 x 4096) stay fp16:
    # TheBloke-style AWQ exports of Llama-2-7B are ~3.9 GB.
    assert weights_bytes(model.config, model.parameters, p) / 1e9 == pytest.approx(3.89, rel=0.02)


def test_gptq_storage_counts_qzeros_and_g_idx():
    model = as_model(str(QUANTIZED / "gptq-llama-2-7b"))
    p = model.precision
    assert (p.weight, p.quant_method) == ("int4", "gptq")
    # AutoGPTQ QuantLinear: qweight 0.5 B + fp16 scales and packed qzeros per group of 128 + int32 g_idx per input row
    assert 0.5195 < p.weight_bytes_per_param < 0.521


def test_compressed_tensors_fp8_channel_keeps_lm_head_unquantized():
    model = as_model(str(QUANTIZED / "compressed-tensors-llama-3-1-8b-instruct-fp8"))
    p = model.precision
    assert (p.weight, p.quant_method) == ("fp8", "compressed-tensors")
    assert "lm_head" in p.modules_not_quantized
    # vLLM 0.19 on H100 reports 8.49 GiB for Llama-3.1-8B at 8-bit weights (w8a8 and runtime fp8 rows of
    # tests/fixtures/measurements/vllm_memory_h100.csv, which add a 0.03 GiB rotary cache to the checkpoint).
    assert weights_bytes(model.config, model.parameters, p) / GIB == pytest.approx(8.49, rel=5e-3)


@pytest.mark.parametrize("model_id, weight, bpp, kv", [
    ("Qwen/Qwen3-8B-FP8", "fp8", 1 + 4 / (128 * 128), "bf16"),       # fp32 scale per 128x128 block
    ("nvidia/Qwen3-32B-NVFP4", "nvfp4", 0.5 + 1 / 16, "fp8"),         # fp8 scale per 16; kv_cache_quant_algo FP8
    ("nvidia/Llama-3.1-70B-Instruct-FP8", "fp8", 1.0, "fp8"),         # ModelOpt FP8 per-tensor
    ("casperhansen/deepseek-r1-distill-llama-8b-awq", "int4", 0.51953125, "bf16"),
    ("moonshotai/Kimi-K2.5", "int4", 0.5 + 2 / 32, "bf16"),           # compressed-tensors pack-quantized g32
])
def test_quantization_kinds(model_id, weight, bpp, kv):
    p = as_model(model_id).precision
    assert p.weight == weight
    assert p.weight_bytes_per_param == pytest.approx(bpp, rel=1e-4)
    assert p.kv_cache_dtype == kv


def test_ignore_lists_keep_named_modules_unquantized():
    # Kimi-K2.5 ignores attention, shared experts and dense MLPs (compressed-tensors 're:' patterns):
    # the published checkpoint is ~595 GB (1.03 T params, int4 routed experts only).
    assert _weights("moonshotai/Kimi-K2.5") / 1e9 == pytest.approx(595, rel=0.02)


# --- KV cache -----------------------------------------------------------------------------------


def test_gqa_kv_bytes_per_token_llama():
    # vLLM 0.19: Llama-3.1-8B TP1 holds 476,016 tokens in 58.11 GiB -> 128 KiB per token
    # (vllm_memory_h100.csv, llm-d-planner logs).
    model = as_model("meta-llama/Llama-3.1-8B-Instruct")
    assert kv_bytes_per_token(model.config, model.precision) == 131072
    assert 58.11 * GIB / 476_016 == pytest.approx(131072, rel=1e-3)


def test_gqa_heads_split_then_replicated_over_tp():
    model = as_model("meta-llama/Llama-3.1-8B-Instruct")  # 8 KV heads
    per = [kv_bytes_per_token(model.config, model.precision, t) for t in (1, 2, 4, 8, 16, 32)]
    assert per[:4] == [131072, 65536, 32768, 16384]
    assert per[4] == per[5] == 16384  # t > 8: one head per rank, replicated (QKVParallelLinear)
    assert kv_heads_per_gpu(8, 16) == 1


def test_mha_and_mqa():
    mha = as_model("microsoft/Phi-3-mini-128k-instruct")  # 32 heads, 32 KV heads, head_dim 96, 32 layers
    assert mha.attention_kind.startswith("MHA")
    assert kv_bytes_per_token(mha.config, mha.precision) == 32 * 2 * 32 * 96 * 2
    mqa = _tiny(num_key_value_heads=1)
    assert mqa.attention_kind.startswith("MQA")
    assert kv_bytes_per_token(mqa.config, mqa.precision, 1) == kv_bytes_per_token(mqa.config, mqa.precision, 4)


def test_mla_latent_is_not_split_over_tp():
    # DeepSeek-V3: 61 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes = 70,272 B/token,
    # the same on every TP rank (vLLM MLAAttentionSpec, num_kv_heads = 1).
    model = as_model("deepseek-ai/DeepSeek-V3")
    assert model.attention_kind.startswith("MLA")
    assert kv_bytes_per_token(model.config, model.precision, 1) == 70272
    assert kv_bytes_per_token(model.config, model.precision, 8) == 70272


def test_sliding_window_layers_are_capped():
    model = as_model("google/gemma-3-27b-it")  # 52 sliding (window 1024) + 10 full layers
    short = kv_cache_detail(model.config, model.precision, context_length=1024)
    long = kv_cache_detail(model.config, model.precision, context_length=32768)
    assert long.sliding_window == 1024 and long.sliding_window_layers == 52
    assert long.sliding_window_gib == pytest.approx(short.sliding_window_gib)
    assert long.full_attention_gib == pytest.approx(32 * short.full_attention_gib)


def test_hybrid_state_is_fixed_per_sequence():
    model = as_model("Qwen/Qwen3-Next-80B-A3B-Thinking")  # 36 gated-DeltaNet + 12 full-attention layers
    assert model.config.is_hybrid
    a = kv_cache_detail(model.config, model.precision, context_length=1000, batch_size=2)
    b = kv_cache_detail(model.config, model.precision, context_length=100000, batch_size=2)
    assert a.recurrent_state_gib == b.recurrent_state_gib > 0
    assert b.full_attention_gib == pytest.approx(100 * a.full_attention_gib)


def test_fp8_kv_halves_the_cache():
    model = as_model("meta-llama/Llama-3.1-8B-Instruct")
    fp8 = apply_precision_overrides(model, model.precision, None, "fp8")
    assert fp8.kv_cache_dtype == "fp8"
    assert kv_bytes_per_token(model.config, fp8) * 2 == kv_bytes_per_token(model.config, model.precision)


def test_kv_cache_detail_rejects_empty_requests():
    model = _tiny()
    with pytest.raises(WorkloadError):
        kv_cache_detail(model.config, model.precision, context_length=0)


# --- tensor parallel ----------------------------------------------------------------------------


def test_valid_tp_sizes_llama_and_qwen():
    assert valid_tensor_parallel_sizes(as_model("meta-llama/Llama-3.1-8B-Instruct").config) == [1, 2, 4, 8, 16, 32]
    # Qwen2.5-7B: 28 query heads but 4 KV heads: 7, 14, 28 neither divide 4 nor are multiples of it
    assert valid_tensor_parallel_sizes(as_model("Qwen/Qwen2.5-7B-Instruct").config) == [1, 2, 4]


def test_int4_group_size_limits_tp():
    # AWQ g128 Llama-2-7B: intermediate 11008 / 4 = 2752 is not a multiple of 128 (vLLM awq_marlin refuses TP4)
    model = as_model(str(QUANTIZED / "awq-llama-2-7b"))
    assert quantization_group_size(model.config) == 128
    sizes = valid_tensor_parallel_sizes(model.config, max_size=8)
    assert 2 in sizes and 4 not in sizes


def test_pipeline_layer_split_follows_vllm():
    # vllm/distributed/utils.py get_pp_indices: 61 layers over 4 stages -> [15, 15, 16, 15]
    assert [len(iter_layers_of_stage(61, 4, s)) for s in range(4)] == [15, 15, 16, 15]
    assert list(iter_layers_of_stage(32, 2, 1)) == list(range(16, 32))


# --- precision overrides ------------------------------------------------------------------------


def test_overrides():
    model = as_model("meta-llama/Llama-3.1-8B-Instruct")
    fp32 = apply_precision_overrides(model, model.precision, "float32", None)
    assert (fp32.weight, fp32.weight_bytes_per_param, fp32.kv_cache_dtype) == ("fp32", 4.0, "fp32")
    fp8 = apply_precision_overrides(model, model.precision, "fp8", None)
    assert (fp8.weight, fp8.weight_bytes_per_param, fp8.kv_cache_dtype) == ("fp8", 1.0, "bf16")
    int4 = apply_precision_overrides(model, model.precision, "int4", None)
    assert int4.weight == "int4" and int4.weight_bytes_per_param == pytest.approx(0.515625)


@pytest.mark.parametrize("written, weight", [
    ("FP8_DYNAMIC", "fp8"), ("fp8 dynamic", "fp8"), ("e4m3", "fp8"), ("fp8_block", "fp8"), ("INT4-AWQ", "int4"),
    ("int4_gptq", "int4"), ("awq_marlin", "int4"), ("W4A8", "int4"), ("modelopt_fp4", "nvfp4"), ("BFloat16", "bf16"),
])
def test_precision_spellings_of_other_publishers_are_read(written, weight):
    """Case and the separators files write do not count (memory_math.precision_spelling): llm-compressor's
    FP8_DYNAMIC scheme, aiconfigurator's fp8_block, vLLM's awq_marlin / gptq_marlin, ModelOpt's modelopt_fp4."""
    model = as_model("meta-llama/Llama-3.1-8B-Instruct")
    assert apply_precision_overrides(model, model.precision, written, None).weight == weight
    assert apply_precision_overrides(model, model.precision, None, "FP8-E4M3").kv_cache_dtype == "fp8"


def test_an_mxfp4_what_if_of_a_dense_model_says_its_weights_stay_unquantized():
    """MXFP4 exports quantize only the routed experts (gpt-oss's checkpoints list attention, router, embeddings
    and lm_head in modules_to_not_convert): Llama-3.1-8B has none, so its weights stay as they are, and the
    note says why; Qwen3-30B-A3B's experts (most of its weights) shrink."""
    dense = as_model("meta-llama/Llama-3.1-8B-Instruct")
    planned = apply_precision_overrides(dense, dense.precision, "mxfp4", None)
    assert dense.model_memory_gb("mxfp4") == pytest.approx(dense.model_memory_gb())
    assert "this model has none, so its weights are planned unquantized" in planned.what_if_note
    moe = as_model("Qwen/Qwen3-30B-A3B")
    assert moe.model_memory_gb("mxfp4") < moe.model_memory_gb() / 3
    assert "attention, dense and shared MLPs stay unquantized" in apply_precision_overrides(
        moe, moe.precision, "mxfp4", None).what_if_note


def test_unknown_or_impossible_overrides_raise():
    model = as_model("meta-llama/Llama-3.1-8B-Instruct")
    with pytest.raises(WorkloadError, match="unknown precision"):
        apply_precision_overrides(model, model.precision, "fp7", None)
    with pytest.raises(WorkloadError, match="kv_cache_dtype"):
        apply_precision_overrides(model, model.precision, None, "int3")
    awq = as_model(str(QUANTIZED / "awq-llama-2-7b"))
    # another weight precision of a quantized checkpoint is a what-if (an FP8 export), said in a note
    what_if = apply_precision_overrides(awq, awq.precision, "fp8", None)
    assert what_if.weight == "fp8" and "what-if" in what_if.what_if_note and "not this checkpoint" in what_if.what_if_note


# --- properties ---------------------------------------------------------------------------------

CATALOG_SAMPLE = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-30B-A3B", "deepseek-ai/DeepSeek-V3",
                  "google/gemma-3-27b-it", "Qwen/Qwen3-Next-80B-A3B-Thinking", "openai/gpt-oss-20b",
                  "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "microsoft/Phi-3-mini-128k-instruct"]


@settings(max_examples=60, deadline=None)
@given(model_id=st.sampled_from(CATALOG_SAMPLE), a=st.integers(1, 2_000_000), b=st.integers(1, 2_000_000),
       batch=st.integers(1, 64), tp=st.sampled_from([1, 2, 4, 8]))
def test_kv_grows_with_context_and_is_finite(model_id, a, b, batch, tp):
    model = as_model(model_id)
    lo, hi = sorted((a, b))
    small = kv_cache_detail(model.config, model.precision, lo, batch, tp)
    large = kv_cache_detail(model.config, model.precision, hi, batch, tp)
    assert large.total_gib >= small.total_gib >= 0
    for value in large.model_dump().values():
        if isinstance(value, float):
            assert value == value and value not in (float("inf"), float("-inf"))
