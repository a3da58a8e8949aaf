"""One model-facts layer: the memory plan and the speed estimate describe the same deployment.

For every bundled model x TP in {1, 2, 4, 8} x its precisions (the checkpoint's own, an fp8 KV
cache, and for float checkpoints vLLM's runtime fp8 and a W4A16 export), the weights the vLLM
memory plan allocates (rotary cache aside) are the weights the roofline streams and holds, and
the KV bytes per token the plan sizes its pool with are the ones the roofline reads per step.
"""

from __future__ import annotations

import pytest

import gpurec_core
from gpurec_core.api import as_model, planned_layout
from gpurec_core.memory_math import GIB
from gpurec_core.models import Parallelism
from gpurec_core.resolve import list_catalog_models

from gpurec_core.model_facts import towers_loaded

from gpurec_capacity.planner import rope_cache_bytes
from gpurec_roofline.constants import load_constants
from gpurec_roofline.profile import build_profile

H100 = gpurec_core.get_gpu_spec("H100")
CATALOG = [entry["id"] for entry in list_catalog_models()]


def _precisions(arch):
    options = [(None, None), (None, "fp8")]
    if not arch.precision.is_quantized:
        options += [("fp8", None), ("int4", None)]
    return options


@pytest.mark.parametrize("model_id", CATALOG)
def test_memory_plan_and_roofline_use_the_same_bytes(model_id):
    arch = as_model(model_id)
    checked = 0
    for quantization, kv in _precisions(arch):
        precision = arch.resolve_precision(quantization, kv)
        for tp in (1, 2, 4, 8):
            plan = gpurec_core.plan_memory(arch, H100, tensor_parallel_size=tp, quantization=quantization,
                                           kv_cache_dtype=kv, max_model_len=4096)
            layout, _ = planned_layout(arch, "vllm", tp, precision=precision)  # the layout the plan is of
            profile = build_profile(arch.config, arch.parameters, precision, H100, layout,
                                    towers_loaded(arch, text_only=False))
            held = plan.weights_gib * GIB - rope_cache_bytes(arch.config, precision)
            assert profile.weight_bytes_held == pytest.approx(held, rel=1e-9), (quantization, kv, tp)
            streamed = profile.dense_weight_bytes + profile.expert_weight_bytes
            assert streamed <= profile.weight_bytes_held * (1 + 1e-12)
            kv_roofline = (profile.kv_bytes_per_token_full + profile.kv_bytes_per_token_window
                           + profile.kv_bytes_per_token_sparse)
            assert kv_roofline == pytest.approx(plan.kv_bytes_per_token, rel=1e-9), (quantization, kv, tp)
            checked += 1
    assert checked >= 8


def test_multimodal_towers_are_held_unless_text_only():
    """Qwen3-VL-8B-Instruct: 8,767,123,696 parameters in its safetensors (HF metadata), of which the
    language model is 8,190,735,360 (config count, matches Qwen3-8B's LM) and the vision tower with
    its mergers 576,388,336: vLLM loads all of them (bf16, 2 bytes each) unless started text-only."""
    full = gpurec_core.plan_memory("Qwen/Qwen3-VL-8B-Instruct", H100, max_model_len=4096)
    text = gpurec_core.plan_memory("Qwen/Qwen3-VL-8B-Instruct", H100, max_model_len=4096, text_only=True)
    assert (full.weights_gib - text.weights_gib) * GIB == pytest.approx(576_388_336 * 2, rel=1e-6)
    half = gpurec_core.plan_memory("Qwen/Qwen3-VL-8B-Instruct", H100, max_model_len=4096, tensor_parallel_size=2)
    text_half = gpurec_core.plan_memory("Qwen/Qwen3-VL-8B-Instruct", H100, max_model_len=4096, tensor_parallel_size=2,
                                        text_only=True)
    assert (half.weights_gib - text_half.weights_gib) * GIB == pytest.approx(576_388_336 * 2 / 2, rel=1e-6)


def test_mxfp4_experts_padded_as_the_kernel_allocates():
    """gpt-oss-120b experts are 2,880 wide (config). vLLM 0.19's Triton MXFP4 MoE (Hopper) pads each
    rank's width to a multiple of 64: at TP 4, 720 -> 768; FlashInfer-TRTLLM on Blackwell pads width and
    hidden size to 256: 720 -> 768 and 2,880 -> 3,072 (fused_moe/oracle/mxfp4.py)."""
    from gpurec_core.model_facts import expert_padding_factor, moe_kernel_padding

    arch = as_model("openai/gpt-oss-120b")
    hopper = moe_kernel_padding(arch.config, arch.precision, H100)
    blackwell = moe_kernel_padding(arch.config, arch.precision, gpurec_core.get_gpu_spec("B200"))
    assert hopper == (64, 1) and blackwell == (256, 256)
    assert expert_padding_factor(arch.config, 4, 1, hopper) == pytest.approx(768 / 720)
    assert expert_padding_factor(arch.config, 4, 1, blackwell) == pytest.approx(768 / 720 * 3072 / 2880)
    assert expert_padding_factor(arch.config, 1, 1, hopper) == 1.0
    bf16 = as_model("Qwen/Qwen3-30B-A3B")
    assert moe_kernel_padding(bf16.config, bf16.precision, H100) == (1, 1)


def test_sglang_pools_follow_its_hybrid_rules():
    """SGLang 0.5.10 gives gpt-oss a sliding-window pool holding 0.8x the full pool's tokens
    (``is_hybrid_swa_model``, ``--swa-full-tokens-ratio 0.8``), forces Gemma 3 to full-length KV on
    every layer (server_args.py ``disable_hybrid_swa_memory``), and gives Mamba hybrids fp32 state slots
    from 0.9/1.9 of the pool (``handle_max_mamba_cache``)."""
    oss = gpurec_core.plan_memory("openai/gpt-oss-120b", H100, tensor_parallel_size=4, max_model_len=8192, engine="sglang")
    assert any("sliding-window pool" in note for note in oss.notes)
    gemma = gpurec_core.plan_memory("google/gemma-3-27b-it", H100, max_model_len=8192, engine="sglang")
    assert not any("sliding-window pool" in note for note in gemma.notes)
    # Gemma 3 at full length: every layer's KV counts for every token.
    arch = as_model("google/gemma-3-27b-it")
    assert gemma.kv_cache_tokens * gemma.kv_bytes_per_token <= gemma.kv_cache_gib * GIB
    nxt = gpurec_core.plan_memory("Qwen/Qwen3-Next-80B-A3B-Thinking", H100, tensor_parallel_size=4, max_model_len=8192,
                                  engine="sglang")
    assert any("Mamba state slots" in note for note in nxt.notes)
    assert arch.config.sliding_window == 1024  # config.json: sliding_window 1024 (so vLLM would cap those layers)


def test_qwen3_next_state_and_block_size_match_vllm():
    """vLLM 0.19 on Qwen3-Next-80B-A3B (bf16, TP1) logs "Setting attention block size to 544 tokens":
    one Gated DeltaNet layer's state is conv 3 x 8192 x 2 B + recurrent 32 x 128 x 128 x 2 B =
    1,097,728 B (mamba_utils.py gated_delta_net_state_shape), and the attention block is raised to the
    smallest multiple of 16 tokens whose page (2,048 B per token) holds it. Qwen3.5 asks for an fp32
    SSM state (config.json ``mamba_ssm_dtype``), which vLLM honours: the recurrent part doubles."""
    plan = gpurec_core.plan_memory("Qwen/Qwen3-Next-80B-A3B-Thinking", H100, max_model_len=4096,
                                   gpu_memory_utilization=0.95)
    assert plan.block_size == 544
    from gpurec_core.model_facts import facts_for

    arch = as_model("Qwen/Qwen3-Next-80B-A3B-Thinking")
    states = {c.bytes for c in facts_for(arch, arch.precision, Parallelism()).all_layer_caches if c.kind == "state"}
    assert states == {1_097_728}
    # Qwen3.5-27B config.json: 16 key heads and 48 value heads of 128, conv kernel 4, mamba_ssm_dtype
    # float32 -> conv 3 x (2 x 16 x 128 + 48 x 128) x 2 B = 61,440 B + recurrent 48 x 128 x 128 x 4 B
    # = 3,145,728 B per layer (the same shapes; fp32 instead of bf16 for the recurrent part).
    q35 = as_model("Qwen/Qwen3.5-27B")
    state = {c.bytes for c in facts_for(q35, q35.precision, Parallelism()).all_layer_caches if c.kind == "state"}
    assert state == {61_440 + 3_145_728}


def test_mla_decodes_in_its_absorbed_form():
    """DeepSeek-R1 config.json: 128 heads, kv_lora_rank 512, qk_rope_head_dim 64, qk_nope_head_dim 128,
    v_head_dim 128, 61 layers. vLLM's MLA backends (vllm/v1/attention/backends/mla/common.py) prefill in
    the up-projected form, QK over 128 + 64 and PV over 128 per head, and decode in the absorbed form,
    QK over the 512 + 64 cached latent values and PV over the 512 latent ones."""
    from gpurec_core.model_facts import facts_for

    arch = as_model("deepseek-ai/DeepSeek-R1")
    for tp, heads in ((1, 128), (8, 16)):
        stage = facts_for(arch, arch.precision, Parallelism(tensor_parallel_size=tp)).stages[0]
        assert stage.attn_flops_per_pair_full == 61 * 2 * heads * (192 + 128)
        assert stage.attn_decode_flops_per_pair_full == 61 * 2 * heads * (576 + 512)
        assert stage.kv_bytes_per_token_full == 61 * 576 * 2  # the latent, on every TP rank (bf16 cache)
    llama = as_model("meta-llama/Llama-3.1-8B-Instruct")
    stage = facts_for(llama, llama.precision, Parallelism()).stages[0]
    assert stage.attn_decode_flops_per_pair_full == stage.attn_flops_per_pair_full == 32 * 2 * 32 * (128 + 128)


def test_sparse_attention_reads_every_index_key_and_the_top_k_latents():
    """GLM-5 config.json: 78 MLA layers (64 heads, latent 512 + rope 64) with a DSA indexer of 32 heads
    of 128 and index_topk 2048. vLLM caches each token's latent (bf16 here: 1,152 B) and its index key
    in fp8 with an fp32 scale (132 B); the indexer, replicated on every TP rank, scores every cached
    key (2 x 32 x 128 FLOPs per pair) and the attention then reads the 2,048 keys it selects."""
    from gpurec_core.model_facts import facts_for
    from gpurec_roofline.step import attention_time_s

    arch = as_model("zai-org/GLM-5")
    precision = arch.resolve_precision(None, "bf16")
    facts = facts_for(arch, precision, Parallelism(tensor_parallel_size=8))
    stage = facts.stages[0]
    assert facts.topk == 2048
    assert {(c.topk, c.topk_bytes, c.bytes) for c in facts.all_layer_caches} == {(2048, 1152, 1152 + 132)}
    assert stage.kv_bytes_per_token_full == 78 * (1152 + 132)  # what the memory plan holds per token
    assert stage.kv_bytes_per_token_sparse == 78 * 1152
    assert stage.attn_flops_per_pair_full == 78 * 2 * 32 * 128  # the indexer, over every key
    assert stage.attn_decode_flops_per_pair_sparse == 78 * 2 * 8 * (576 + 512)  # 64 heads / TP 8

    profile = build_profile(arch.config, arch.parameters, precision, H100, Parallelism(tensor_parallel_size=8))
    eff = load_constants().efficiency_for(H100)
    decode, _ = attention_time_s(profile, eff, 1.0, 8192.0, 0.0, 8192.0)
    read = 78 * (132 * 8192 + 1152 * 2048)  # bytes one decode step reads at 8,192 cached tokens
    assert decode == pytest.approx(read / (H100.bandwidth_tb_s * 1e12 * eff.bandwidth_efficiency), rel=1e-9)


def test_deepseek_v4_attends_compressed_entries():
    """DeepSeek-V4-Pro config.json: 61 layers, compress_ratios 31 x 128 (heavily compressed attention) and
    30 x 4 (compressed sparse attention, with an indexer of 64 heads of 128 choosing index_topk 1024
    entries); 128 query heads over one shared 512-wide KV head. A layer attends one cached entry per
    ratio tokens (HF modeling_deepseek_v4.py), so per cached token it costs 2 x 128 x (512 + 512) / ratio
    FLOPs at TP 1, and a sparse layer reaches at most 1024 entries = 4,096 tokens."""
    from gpurec_core.model_facts import facts_for

    arch = as_model("deepseek-ai/DeepSeek-V4-Pro")
    facts = facts_for(arch, arch.precision, Parallelism())
    stage = facts.stages[0]
    pair = 2 * 128 * (512 + 512)
    indexer = 2 * 64 * 128 / 4  # the sparse layers' indexers score every compressed entry
    assert facts.topk == 1024 * 4
    assert stage.attn_flops_per_pair_full == pytest.approx(31 * pair / 128 + 30 * indexer)
    assert stage.attn_flops_per_pair_sparse == pytest.approx(30 * pair / 4)
    assert stage.attn_decode_flops_per_pair_sparse == stage.attn_flops_per_pair_sparse  # shared-KV MQA: one form
