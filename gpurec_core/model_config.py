"""A model's HuggingFace config.json, normalised into the facts the memory and speed math need.

``ModelConfig.from_hf_config(raw)`` reads a config dict (multimodal configs: their text config)
without transformers and without ``trust_remote_code``. Field names follow the common HF names;
derived facts (attention kind, layer pattern, MoE layout) are spelled out so estimators never
parse raw configs themselves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from gpurec_core.models import MAX_TOKENS

AttentionKind = Literal["MHA", "GQA", "MQA", "MLA"]
LayerKind = Literal["full_attention", "sliding_attention", "linear_attention", "mamba", "mlp_only", "cross_attention"]
"""Token mixer of a decoder layer. ``mlp_only`` is a layer with no token mixer at all (Nemotron-H's
``-``/``E`` blocks, DeciLM/Nemotron-NAS layers whose attention is a no-op): it holds no KV cache
and no recurrent state. ``cross_attention`` is a layer whose attention reads only the image (Llama 3.2
Vision's ``cross_attention_layers``): it has q/k/v/o weights but keeps no per-token KV cache (its K/V
come from the vision tokens, a fixed amount per request that gpurec does not count)."""


# Upper bounds: far beyond any real model (the largest in the catalog: hidden 16,384, 128 heads,
# 896 experts, vocabulary 262,208, context 10,485,760), low enough that a corrupt config cannot
# make the memory and speed math overflow a float or loop for hours.
MAX_LAYERS = 10_000
"""Decoder layers (the deepest model in the catalog has 126)."""
MAX_WIDTH = 1 << 24
"""Residual, MLP and expert widths and the vocabulary."""
MAX_HEADS = 1 << 16
"""Attention, KV, linear-attention and Mamba heads; experts."""
MAX_HEAD_DIM = 1 << 16
"""Per-head dims, latent ranks, state sizes and conv kernels."""
MAX_CONTEXT = MAX_TOKENS
"""Context lengths and windows, in tokens (the same bound as ``Workload.max_model_len``)."""

_LayerHeads = Annotated[int, Field(ge=0, le=MAX_HEADS)]
_LayerDim = Annotated[int, Field(gt=0, le=MAX_HEAD_DIM)]
_LayerWidth = Annotated[int, Field(ge=0, le=MAX_WIDTH)]
_LayerRatio = Annotated[int, Field(ge=0, le=MAX_CONTEXT)]


class ModelConfig(BaseModel):
    """Normalised architecture facts of one language model (the text model of a multimodal one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_type: str = Field(description="HF model_type of the text model, e.g. 'llama', 'qwen3_moe'")
    architectures: tuple[str, ...] = Field(default=(), description="HF architectures list")
    hidden_size: int = Field(gt=0, le=MAX_WIDTH, description="residual width")
    num_hidden_layers: int = Field(gt=0, le=MAX_LAYERS, description="decoder layers (MTP/nextn layers excluded)")
    num_attention_heads: int = Field(gt=0, le=MAX_HEADS, description="query heads")
    num_key_value_heads: int = Field(gt=0, le=MAX_HEADS, description="KV heads (== query heads for MHA, 1 for MQA)")
    head_dim: int = Field(gt=0, le=MAX_HEAD_DIM, description="per-head dim of q/k (config head_dim, else hidden/heads)")
    v_head_dim: int = Field(gt=0, le=MAX_HEAD_DIM, description="per-head dim of v (== head_dim except MLA and a few others)")
    intermediate_size: int = Field(ge=0, le=MAX_WIDTH, description="dense MLP width (0 when every layer is MoE)")
    vocab_size: int = Field(gt=0, le=MAX_WIDTH, description="vocabulary rows of the embedding")
    embedding_rows: Optional[int] = Field(
        default=None, gt=0, le=MAX_WIDTH, description="rows of the input embedding where it differs from vocab_size "
        "(mllama: vocab_size + 8; the lm_head keeps vocab_size rows); None = vocab_size")
    tie_word_embeddings: bool = Field(default=False, description="lm_head shares the embedding")
    position_embedding_rows: int = Field(default=0, ge=0, le=MAX_CONTEXT + 16,
                                         description="rows of a learned absolute position embedding (OPT: "
                                                     "max_position_embeddings + 2); 0 with rotary or no positions")
    max_position_embeddings: int = Field(gt=0, le=MAX_CONTEXT, description="longest context the model supports")
    torch_dtype: Optional[str] = Field(default=None, description="checkpoint dtype as written ('bfloat16', ...)")
    hidden_act: str = Field(default="silu", description="MLP activation; gated (3 matrices) unless gated_mlp is False")
    gated_mlp: bool = Field(default=True, description="MLP has gate+up+down (SwiGLU) rather than up+down")
    attention_bias: bool = Field(default=False, description="q/k/v projections carry biases (Qwen2)")

    attention_kind: AttentionKind = Field(description="MHA, GQA, MQA or MLA for the full-attention layers")
    # MLA (DeepSeek-V2/V3, Kimi K2 ...): KV cache holds one latent of kv_lora_rank + qk_rope_head_dim per layer.
    kv_lora_rank: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)
    q_lora_rank: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)
    qk_nope_head_dim: Optional[int] = Field(default=None, ge=0, le=MAX_HEAD_DIM)
    qk_rope_head_dim: Optional[int] = Field(default=None, ge=0, le=MAX_HEAD_DIM)

    layer_types: tuple[LayerKind, ...] = Field(description="kind of each decoder layer, len == num_hidden_layers")
    sliding_window: Optional[int] = Field(default=None, gt=0, le=MAX_CONTEXT, description="window of sliding_attention layers, tokens")
    # Linear attention (Qwen3-Next/3.5 gated DeltaNet, MiniMax lightning ...) and Mamba-2 state per layer.
    linear_num_key_heads: Optional[int] = Field(default=None, gt=0, le=MAX_HEADS)
    linear_num_value_heads: Optional[int] = Field(default=None, gt=0, le=MAX_HEADS)
    linear_key_head_dim: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)
    linear_value_head_dim: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)
    linear_conv_kernel_dim: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)
    mamba_num_heads: Optional[int] = Field(default=None, gt=0, le=MAX_HEADS)
    mamba_head_dim: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)
    mamba_state_size: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)
    mamba_n_groups: Optional[int] = Field(default=None, gt=0, le=MAX_HEADS)
    mamba_conv_kernel: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM)

    # Mixture of experts. moe_layers[i] says whether layer i's MLP is MoE.
    num_experts: int = Field(default=0, ge=0, le=MAX_HEADS, description="routed experts per MoE layer (0 = dense)")
    num_experts_per_tok: int = Field(default=0, ge=0, le=MAX_HEADS, description="routed experts active per token")
    num_shared_experts: int = Field(default=0, ge=0, le=MAX_HEADS, description="always-active shared experts per MoE layer")
    moe_intermediate_size: int = Field(default=0, ge=0, le=MAX_WIDTH, description="width of one routed expert")
    shared_expert_intermediate_size: int = Field(default=0, ge=0, le=MAX_WIDTH, description="total width of the shared expert(s)")
    moe_layers: tuple[bool, ...] = Field(default=(), description="per layer: MLP is MoE")

    # ---- Added for architectures beyond Llama (see docs/models.md). All optional; () / None / False
    # mean "uniform / absent", so tiny hand-written configs need none of them.
    layer_num_key_value_heads: tuple[_LayerHeads, ...] = Field(
        default=(), description="per layer KV heads where layers differ (Gemma 4 global layers, MiMo-V2 "
        "sliding layers); 0 on layers without attention; () = num_key_value_heads on every attention layer")
    layer_head_dim: tuple[_LayerDim, ...] = Field(
        default=(), description="per layer q/k head dim where layers differ (Gemma 4 global layers use "
        "global_head_dim); () = head_dim everywhere")
    layer_v_head_dim: tuple[_LayerDim, ...] = Field(
        default=(), description="per layer v head dim where layers differ; () = v_head_dim everywhere")
    layer_intermediate_sizes: tuple[_LayerWidth, ...] = Field(
        default=(), description="per layer dense-MLP width (0 = the layer has no dense MLP, e.g. Nemotron-H "
        "mixer blocks, or it is MoE); () = intermediate_size on every non-MoE layer")
    layer_kv_compress_ratios: tuple[_LayerRatio, ...] = Field(
        default=(), description="DeepSeek-V4: per layer, tokens per compressed KV entry (4 = CSA, 128 = HCA, "
        "0 = the layer only attends its sliding window); () = no KV compression")
    attention_output_bias: bool = Field(default=False, description="o_proj carries a bias (gpt-oss)")
    qk_norm: Optional[Literal["per_head", "per_layer"]] = Field(
        default=None, description="learned RMSNorm on q and k: over head_dim (Qwen3, Gemma 3) or over the "
        "whole projection (MiniMax-M2 'per_layer'); None = no learned q/k norm")
    attention_output_gate: Optional[Literal["per_head", "elementwise"]] = Field(
        default=None, description="sigmoid gate on the attention output computed from the layer input "
        "(Qwen3-Next/3.5 'elementwise' doubles q_proj; Step-3.7 'per_head')")
    attention_k_eq_v: bool = Field(
        default=False, description="full-attention layers use K as V (Gemma 4): no v_proj on those layers")
    attention_sinks: bool = Field(default=False, description="one learned sink logit per head per layer (gpt-oss)")
    index_n_heads: Optional[int] = Field(
        default=None, gt=0, le=MAX_HEADS, description="sparse-attention indexer heads (DeepSeek-V3.2/V4, GLM-5 DSA, MiniMax-M3)")
    index_head_dim: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM, description="indexer head dim (its K cache width per token)")
    index_topk: Optional[int] = Field(default=None, gt=0, le=MAX_CONTEXT, description="tokens (or blocks) each query attends after indexing")
    indexer_layers: tuple[bool, ...] = Field(
        default=(), description="per layer: has a sparse-attention indexer; () = every attention layer when index_n_heads is set")
    o_lora_rank: Optional[int] = Field(default=None, gt=0, le=MAX_HEAD_DIM, description="DeepSeek-V4 grouped low-rank output projection rank")
    o_groups: Optional[int] = Field(default=None, gt=0, le=MAX_HEADS, description="DeepSeek-V4 output-projection groups")
    hc_mult: int = Field(default=1, gt=0, le=64, description="hyper-connection residual streams (DeepSeek-V4: 4; 1 = plain residual)")
    linear_attention_kind: Optional[Literal["gated_deltanet", "kimi_delta", "lightning"]] = Field(
        default=None, description="form of the linear_attention layers: Qwen3-Next/3.5 Gated DeltaNet, "
        "Kimi Delta Attention or MiniMax lightning attention")
    mlp_bias: bool = Field(default=False, description="MLP and expert projections carry biases (gpt-oss experts)")
    router_bias: bool = Field(
        default=False, description="router has a per-expert bias vector (gpt-oss bias, DeepSeek/MiniMax "
        "e_score_correction_bias)")
    shared_expert_gate: bool = Field(default=False, description="sigmoid gate (hidden_size -> 1) on the shared expert (Qwen3-Next/3.5)")
    moe_latent_size: Optional[int] = Field(
        default=None, gt=0, le=MAX_WIDTH, description="routed experts work in this latent width, with hidden->latent->hidden "
        "projections around them (Nemotron-3 Super/Ultra, Kimi K3)")
    norm_bias: bool = Field(
        default=False, description="every hidden-width norm (per layer and final) is a LayerNorm with a bias: 2*H "
        "parameters instead of H (GPT-J, GPT-NeoX, Falcon, Phi-2, StarCoder2, Phi-3.5-MoE)")
    parametric_norms: bool = Field(
        default=True, description="False: the hidden-width norms have no learned weights (OLMo 1's "
        "non-parametric LayerNorm)")
    lm_head_bias: bool = Field(default=False, description="the untied lm_head carries a V-wide bias (GPT-J, Phi-2, Phi-3.5-MoE)")
    norms_per_layer: int = Field(
        default=2, ge=0, le=64, description="hidden_size-wide norm weight vectors per decoder layer (2 pre-norm; 4 "
        "Gemma sandwich norms; 1 Nemotron-H blocks)")
    mamba_ssm_dtype: Optional[Literal["float32", "float16", "bfloat16"]] = Field(
        default=None, description="dtype the checkpoint asks for its SSM / recurrent state (Qwen3.5 'mamba_ssm_dtype', "
        "Nemotron-H 'mamba_ssm_cache_dtype'); None = not stated")
    expert_weight_dtype: Optional[Literal["fp4", "fp8"]] = Field(
        default=None, description="config.json 'expert_dtype' (DeepSeek-V4): 'fp4' = the routed experts are stored "
        "in FP4 (MXFP4, e2m1 with an e8m0 scale per 32, in DeepSeek's release; an export's quantized_layers may "
        "name another FP4 format) while the checkpoint's quantization_config covers the other linear weights; "
        "None or 'fp8' = the experts are stored like those")
    num_mtp_layers: int = Field(
        default=0, ge=0, le=MAX_LAYERS, description="multi-token-prediction layers in the checkpoint, NOT in num_hidden_layers "
        "and not counted in parameters (usable for speculative decoding)")

    quantization_config: Optional[dict[str, Any]] = Field(default=None, description="config.json quantization_config, verbatim")
    hf_quant_config: Optional[dict[str, Any]] = Field(default=None, description="hf_quant_config.json (ModelOpt), verbatim")
    is_multimodal: bool = Field(default=False, description="the config wraps a text_config")

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_hybrid(self) -> bool:
        return any(kind in ("linear_attention", "mamba") for kind in self.layer_types)

    @property
    def num_layers_of(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind in self.layer_types:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def kv_heads_of_layer(self, i: int) -> int:
        """KV heads of layer ``i`` (0 when the layer has no attention)."""
        if self.layer_types[i] in ("mamba", "linear_attention", "mlp_only"):
            return 0
        return self.layer_num_key_value_heads[i] if self.layer_num_key_value_heads else self.num_key_value_heads

    def head_dim_of_layer(self, i: int) -> int:
        """q/k head dim of layer ``i``."""
        return self.layer_head_dim[i] if self.layer_head_dim else self.head_dim

    def v_head_dim_of_layer(self, i: int) -> int:
        """v head dim of layer ``i``."""
        return self.layer_v_head_dim[i] if self.layer_v_head_dim else self.v_head_dim

    def has_indexer_on_layer(self, i: int) -> bool:
        """Layer ``i`` has a sparse-attention indexer (``index_n_heads``; ``indexer_layers`` where set)."""
        return bool(self.index_n_heads and self.index_head_dim
                    and (self.indexer_layers[i] if self.indexer_layers else True))

    def compression_ratio_of_layer(self, i: int) -> int:
        """Tokens per cached entry of layer ``i``: DeepSeek-V4's ``compress_ratios`` (4: compressed sparse
        attention, 128: heavily compressed attention), 1 for every other layer."""
        ratios = self.layer_kv_compress_ratios
        return int(ratios[i]) if ratios and ratios[i] else 1

    def dense_intermediate_size_of_layer(self, i: int) -> int:
        """Dense-MLP width of layer ``i``; 0 when the layer's MLP is MoE or absent."""
        if self.layer_intermediate_sizes:
            return self.layer_intermediate_sizes[i]
        if self.moe_layers and self.moe_layers[i]:
            return 0
        return self.intermediate_size

    def has_feed_forward_on_layer(self, i: int) -> bool:
        """Layer ``i`` has a feed-forward block, a dense MLP or MoE (a Nemotron-H mixer block has none)."""
        moe = self.moe_layers[i] if self.moe_layers else self.is_moe
        return moe or self.dense_intermediate_size_of_layer(i) > 0

    def row_parallel_blocks_of_layer(self, i: int) -> int:
        """Blocks of layer ``i`` whose output projection is row-parallel under tensor parallelism, each
        followed by one all-reduce (Megatron-LM TP, Shoeybi et al. 2019): its token mixer and its
        feed-forward block. 2 for a transformer layer; 1 for a Nemotron-H block, which holds a single
        mixer (vllm/model_executor/models/nemotron_h.py: each decoder layer's ``mixer`` ends in a
        RowParallelLinear, the Mamba-2 out_proj, attention o_proj or MLP down_proj, or a reducing MoE)."""
        return int(self.layer_types[i] != "mlp_only") + int(self.has_feed_forward_on_layer(i))

    @classmethod
    def from_hf_config(cls, raw: dict[str, Any], hf_quant_config: Optional[dict[str, Any]] = None) -> "ModelConfig":
        """Normalise a config.json dict. Raises ModelConfigError naming the bad field."""
        from gpurec_core._config_parse import parse_hf_config

        return parse_hf_config(raw, hf_quant_config)


PER_LAYER_FIELDS = ("layer_types", "moe_layers", "layer_num_key_value_heads", "layer_head_dim", "layer_v_head_dim",
                    "layer_intermediate_sizes", "layer_kv_compress_ratios", "indexer_layers")
"""The fields of :class:`ModelConfig` that hold one entry per decoder layer (or ``()`` when uniform).

Two layers whose entries are equal in all of them are identical to every per-layer formula, which
:func:`gpurec_core.memory_math.layer_groups` relies on: a new per-layer field belongs here."""
