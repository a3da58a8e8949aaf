"""Parameter counts of a :class:`ModelConfig`, broken down the way memory and speed math needs them.

Counts are what the HuggingFace checkpoint holds for the language model: no vision tower, no
multi-token-prediction (MTP / nextn) layers, no non-parameter buffers (rotary tables, DeepSeek-V4's
``tid2eid`` hash table). Every formula follows the module ``__init__`` of the family's
``modeling_*.py`` in transformers 5.24 (``nn.Linear(i, o)`` holds ``i*o`` weights, ``+ o`` with bias).
Notation: H hidden_size, V vocab_size, n query heads, g KV heads, d head_dim, d_v v head dim,
I MLP width, E routed experts, k experts per token.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field

from gpurec_core.model_config import ModelConfig


class ParameterCount(BaseModel):
    """Parameters of one language model, by component. All counts are plain integers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    embedding: int = Field(ge=0, description="token embedding, V*H")
    lm_head: int = Field(ge=0, description="output projection, V*H; 0 when tied to the embedding")
    attention: int = Field(ge=0, description="q/k/v/o projections incl. MLA down/up projections, sparse-attention "
                           "indexers and KV compressors, biases, q/k norms, sinks")
    dense_mlp: int = Field(ge=0, description="dense (non-MoE) MLPs of all layers")
    routed_experts: int = Field(ge=0, description="all routed experts of all MoE layers")
    latent_projections: int = Field(default=0, ge=0, description="latent MoE (moe_latent_size L): the hidden->L and "
                                    "L->hidden projections around the routed experts of each MoE layer, run by every token")
    shared_experts: int = Field(ge=0, description="always-active shared experts (and their gates)")
    router: int = Field(ge=0, description="MoE router weights and per-expert biases/scales")
    norms: int = Field(ge=0, description="layer norms, the final norm, MLA latent norms")
    linear_attention_and_mamba: int = Field(ge=0, description="linear-attention / Mamba mixers: projections, "
                                            "conv, A/D/dt parameters, gated norms")
    other: int = Field(ge=0, description="anything else (DeepSeek-V4 hyper-connections)")
    total: int = Field(gt=0, description="sum of the above")
    active_per_token: int = Field(gt=0, description="total with routed experts counted k of E")

    @computed_field(description="what a weight quantizer quantizes: attention + dense MLP + experts + latent "
                    "projections + linear mixers")
    @property
    def quantizable_linear_params(self) -> int:
        return (self.attention + self.dense_mlp + self.routed_experts + self.latent_projections + self.shared_experts
                + self.linear_attention_and_mamba + self.other)

    @computed_field(description="kept in the checkpoint dtype by weight quantizers: embedding, lm_head, norms, router")
    @property
    def unquantized_params(self) -> int:
        return self.embedding + self.lm_head + self.norms + self.router


# ------------------------------------------------------------------------------------------
# Attention
# ------------------------------------------------------------------------------------------


def standard_attention_params(cfg: ModelConfig, i: int) -> int:
    """Attention of layer ``i`` (LlamaAttention and kin, modeling_llama.py / modeling_qwen3.py / modeling_gpt_oss.py).

    ``q: H*n*d (x2 with an elementwise output gate; + H*n for a per-head gate) + k: H*g*d + v: H*g*d_v
    (none when K is V, Gemma 4 global layers) + o: n*d_v*H``; biases ``n*d + g*d + g*d_v`` with
    attention_bias (Qwen2) and ``+ H`` with attention_output_bias (gpt-oss); q/k RMSNorm ``2*d``
    per head-dim norm (Qwen3, Gemma) or ``n*d + g*d`` over the whole projection (MiniMax-M2);
    sinks ``n`` (gpt-oss).
    """
    h, n = cfg.hidden_size, cfg.num_attention_heads
    g, d, dv = cfg.kv_heads_of_layer(i), cfg.head_dim_of_layer(i), cfg.v_head_dim_of_layer(i)
    has_v = not (cfg.attention_k_eq_v and cfg.layer_types[i] == "full_attention")
    q = h * n * d * (2 if cfg.attention_output_gate == "elementwise" else 1)
    if cfg.attention_output_gate == "per_head":
        q += h * n
    k = h * g * d
    v = h * g * dv if has_v else 0
    o = n * dv * h
    bias = (n * d + g * d + (g * dv if has_v else 0)) if cfg.attention_bias else 0
    bias += h if cfg.attention_output_bias else 0
    if cfg.qk_norm == "per_head":
        norm = 2 * d
    elif cfg.qk_norm == "per_layer":
        norm = n * d + g * d
    else:
        norm = 0
    sinks = n if cfg.attention_sinks else 0
    return q + k + v + o + bias + norm + sinks


def cross_attention_params(cfg: ModelConfig, i: int) -> int:
    """Cross-attention of layer ``i`` (modeling_mllama.py ``MllamaTextCrossAttention`` inside
    ``MllamaCrossAttentionDecoderLayer``): ``q: H*n*d + k, v: 2 * H*g*d + o: n*d*H`` (K/V read the
    vision states, already projected to H) ``+ q_norm, k_norm: 2d`` (RMSNorms over head_dim)
    ``+ cross_attn_attn_gate, cross_attn_mlp_gate: 2`` (one scalar each)."""
    h, n = cfg.hidden_size, cfg.num_attention_heads
    g, d = cfg.kv_heads_of_layer(i), cfg.head_dim_of_layer(i)
    return h * n * d + 2 * h * g * d + n * d * h + 2 * d + 2


def mla_attention_params(cfg: ModelConfig) -> tuple[int, int]:
    """(projections, latent norms) of one Multi-head Latent Attention layer (modeling_deepseek_v3.py).

    ``q: H*r_q + r_q*n*(d_nope+d_rope)`` with q_lora_rank r_q (else ``H*n*(d_nope+d_rope)``),
    ``kv_a: H*(r_kv + d_rope)``, ``kv_b: r_kv*n*(d_nope + d_v)``, ``o: n*d_v*H``; latent RMSNorms
    ``r_q + r_kv``. An elementwise output gate (Kimi K3) adds ``H*n*d_v``.
    """
    h, n = cfg.hidden_size, cfg.num_attention_heads
    r_kv = cfg.kv_lora_rank or 0
    nope, rope, dv = cfg.qk_nope_head_dim or 0, cfg.qk_rope_head_dim or 0, cfg.v_head_dim
    r_q = cfg.q_lora_rank
    q = h * r_q + r_q * n * (nope + rope) if r_q else h * n * (nope + rope)
    kv = h * (r_kv + rope) + r_kv * n * (nope + dv)
    o = n * dv * h
    gate = h * n * dv if cfg.attention_output_gate == "elementwise" else 0
    bias = (r_q or n * (nope + rope)) + r_kv + rope if cfg.attention_bias else 0
    return q + kv + o + gate + bias, (r_q or 0) + r_kv


def dsa_indexer_params(cfg: ModelConfig) -> int:
    """Lightning indexer of DeepSeek-V3.2 / GLM-5 (modeling_deepseek_v32.py ``DeepseekV32Indexer``):
    ``wq_b: r_q*n_i*d_i + wk: H*d_i + k_norm (LayerNorm w+b): 2*d_i + weights_proj: H*n_i``.
    MiniMax-M3's block indexer (modeling_minimax_m3_vl.py): ``q: H*n_i*d_i + k: H*d_i + q/k norms 2*d_i``."""
    h, ni, di = cfg.hidden_size, cfg.index_n_heads or 0, cfg.index_head_dim or 0
    if cfg.q_lora_rank and cfg.kv_lora_rank:
        return cfg.q_lora_rank * ni * di + h * di + 2 * di + h * ni
    return h * ni * di + h * di + 2 * di


def deepseek_v4_attention_params(cfg: ModelConfig, i: int) -> tuple[int, int]:
    """(attention, norms) of DeepSeek-V4 layer ``i`` (modeling_deepseek_v4.py ``DeepseekV4Attention``).

    ``q_a: H*r_q + q_b: r_q*n*d + kv: H*d + o_a: n*d*r_o (grouped: o_groups blocks of n*d/G -> r_o)
    + o_b: G*r_o*H + sinks: n``; norms ``r_q + d``. Compressor on CSA layers (ratio m=4):
    ``kv, gate: 2 * H*2d + position_bias m*2d`` + norm d, plus its indexer
    ``kv, gate: 2 * H*2d_i + position_bias m*2d_i + q_b: r_q*n_i*d_i + weights_proj: H*n_i`` + norm d_i;
    on HCA layers (m=128): ``kv, gate: 2 * H*d + position_bias m*d`` + norm d.
    """
    h, n, d = cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim
    r_q, r_o, groups = cfg.q_lora_rank or 0, cfg.o_lora_rank or 0, cfg.o_groups or 1
    attn = h * r_q + r_q * n * d + h * d + n * d * r_o + groups * r_o * h + n
    norms = r_q + d
    ratio = cfg.layer_kv_compress_ratios[i] if cfg.layer_kv_compress_ratios else 0
    if ratio and cfg.indexer_layers and cfg.indexer_layers[i]:
        ni, di = cfg.index_n_heads or 0, cfg.index_head_dim or 0
        attn += 2 * h * 2 * d + ratio * 2 * d
        attn += 2 * h * 2 * di + ratio * 2 * di + r_q * ni * di + h * ni
        norms += d + di
    elif ratio:
        attn += 2 * h * d + ratio * d
        norms += d
    return attn, norms


def hyper_connection_params(cfg: ModelConfig) -> int:
    """DeepSeek-V4 hyper-connections (``DeepseekV4HyperConnection`` x2 per layer, ``DeepseekV4HyperHead``):
    per connection ``fn: (2+m)*m * m*H + base: (2+m)*m + scale: 3`` with m = hc_mult streams;
    head ``m * m*H + m + 1``."""
    m, h = cfg.hc_mult, cfg.hidden_size
    if m == 1:
        return 0
    per_connection = (2 + m) * m * m * h + (2 + m) * m + 3
    return 2 * per_connection * cfg.num_hidden_layers + m * m * h + m + 1


# ------------------------------------------------------------------------------------------
# Linear attention and Mamba
# ------------------------------------------------------------------------------------------


def gated_deltanet_params(cfg: ModelConfig) -> int:
    """One Gated DeltaNet layer (modeling_qwen3_next.py ``Qwen3NextGatedDeltaNet``; Qwen3.5 splits the
    same projections). With K = n_k*d_k, Vd = n_v*d_v, c = 2K + Vd:
    ``in_proj_qkvz: H*(2K + 2Vd) + in_proj_ba: H*2n_v + conv1d: c*kernel + dt_bias, A_log: 2n_v
    + gated norm: d_v + out_proj: Vd*H``."""
    h = cfg.hidden_size
    nk, nv = cfg.linear_num_key_heads or 0, cfg.linear_num_value_heads or 0
    dk, dv = cfg.linear_key_head_dim or 0, cfg.linear_value_head_dim or 0
    kdim, vdim = nk * dk, nv * dv
    conv = (2 * kdim + vdim) * (cfg.linear_conv_kernel_dim or 4)
    return h * (2 * kdim + 2 * vdim) + h * 2 * nv + conv + 2 * nv + dv + vdim * h


def kimi_delta_attention_params(cfg: ModelConfig) -> int:
    """One Kimi Delta Attention layer (modeling_kimi_linear.py ``KimiLinearDeltaAttention``), with
    D = heads*head_dim, d = head_dim: ``q,k,v: 3*H*D + conv1d: 3D*kernel + forget gate
    (f_a: H*d + f_b: d*D + dt_bias: D + A_log: heads) + b_proj: H*heads + g_a: H*d + g_b: d*D
    + o_norm: d + o_proj: D*H``."""
    h, heads, d = cfg.hidden_size, cfg.linear_num_value_heads or 0, cfg.linear_value_head_dim or 0
    dd = heads * d
    kernel = cfg.linear_conv_kernel_dim or 4
    return 3 * h * dd + 3 * dd * kernel + (h * d + d * dd + dd + heads) + h * heads + h * d + d * dd + d + dd * h


def lightning_attention_params(cfg: ModelConfig) -> int:
    """One MiniMax lightning-attention layer (MiniMax-M1 modeling_minimax_m1.py
    ``MiniMaxM1LightningAttention``), D = heads*head_dim: ``qkv_proj: 3*H*D + output_gate: H*D
    + norm: D + out_proj: D*H``."""
    h = cfg.hidden_size
    dd = (cfg.linear_num_value_heads or 0) * (cfg.linear_value_head_dim or 0)
    return 3 * h * dd + h * dd + dd + dd * h


#: One linear-attention layer's parameters by ``ModelConfig.linear_attention_kind`` (Gated DeltaNet otherwise).
_LINEAR_ATTENTION_PARAMS = {"kimi_delta": kimi_delta_attention_params, "lightning": lightning_attention_params}


def mamba2_params(cfg: ModelConfig) -> int:
    """One Mamba-2 mixer (modeling_nemotron_h.py ``NemotronHMamba2Mixer``), with
    I = heads*head_dim, c = I + 2*groups*state: ``in_proj: H*(I + c + heads) + conv1d: c*kernel + c (bias)
    + dt_bias, A_log, D: 3*heads + gated norm: I + out_proj: I*H``."""
    h = cfg.hidden_size
    heads, hd = cfg.mamba_num_heads or 0, cfg.mamba_head_dim or 0
    inner = heads * hd
    conv_dim = inner + 2 * (cfg.mamba_n_groups or 1) * (cfg.mamba_state_size or 0)
    kernel = cfg.mamba_conv_kernel or 4
    return h * (inner + conv_dim + heads) + conv_dim * kernel + conv_dim + 3 * heads + inner + inner * h


# ------------------------------------------------------------------------------------------
# MLPs and experts
# ------------------------------------------------------------------------------------------


def mlp_params(cfg: ModelConfig, width: int, hidden: int = 0) -> int:
    """One MLP of ``width``: gated (gate, up, down) ``3*H*I``, else (up, down) ``2*H*I``; biases
    ``2I + H`` / ``I + H`` with mlp_bias (gpt-oss experts)."""
    h = hidden or cfg.hidden_size
    if width == 0:
        return 0
    matrices = 3 if cfg.gated_mlp else 2
    bias = ((matrices - 1) * width + h) if cfg.mlp_bias else 0
    return matrices * h * width + bias


def routed_experts_params(cfg: ModelConfig) -> tuple[int, int]:
    """(all experts, always-active latent projections) of one MoE layer: ``E * mlp(moe_intermediate_size)``
    in hidden or latent width; with moe_latent_size L the hidden->L->hidden projections add ``2*H*L``
    (modeling_nemotron_h.py ``fc1_latent_proj``/``fc2_latent_proj``)."""
    latent = cfg.moe_latent_size or 0
    experts = cfg.num_experts * mlp_params(cfg, cfg.moe_intermediate_size, latent or cfg.hidden_size)
    return experts, 2 * cfg.hidden_size * latent


def router_params(cfg: ModelConfig) -> int:
    """Router of one MoE layer: ``E*H`` (+ E for a bias / e_score_correction_bias / per-expert scale)."""
    return cfg.num_experts * cfg.hidden_size + (cfg.num_experts if cfg.router_bias else 0)


# ------------------------------------------------------------------------------------------
# The whole model
# ------------------------------------------------------------------------------------------


def hidden_norm_params(cfg: ModelConfig) -> int:
    """Parameters of one hidden-width norm: ``H`` (RMSNorm, LayerNorm without bias), ``2H`` (LayerNorm
    with bias: nn.LayerNorm in modeling_gptj.py / gpt_neox / falcon / phi / starcoder2), ``0``
    (OLMo 1's non-parametric ``OlmoLayerNorm``)."""
    if not cfg.parametric_norms:
        return 0
    return cfg.hidden_size * (2 if cfg.norm_bias else 1)


def count_parameters(cfg: ModelConfig) -> ParameterCount:
    """Count the language model's parameters by component.

    ``total = R*H (embedding; R = embedding_rows, else V; plus P*H for P learned position rows) + V*H (+ V with lm_head_bias; none when tied) + N (final norm) + sum over
    layers of (mixer + MLP or MoE + norms_per_layer*N)``, N from :func:`hidden_norm_params`, each term as in the functions above.
    ``active_per_token = total - (1 - k/E) * routed_experts``: a latent MoE's projections (``latent_projections``)
    run for every token, so they count in full.
    """
    h = cfg.hidden_size
    embedding = ((cfg.embedding_rows or cfg.vocab_size) + cfg.position_embedding_rows) * h
    lm_head = 0 if cfg.tie_word_embeddings else cfg.vocab_size * h + (cfg.vocab_size if cfg.lm_head_bias else 0)
    attention = dense = routed = latent_proj = shared = router = linear = other = 0
    norm_width = hidden_norm_params(cfg)
    norms = norm_width  # final norm
    for i, kind in enumerate(cfg.layer_types):
        norms += cfg.norms_per_layer * norm_width
        if kind in ("full_attention", "sliding_attention"):
            if cfg.layer_kv_compress_ratios or cfg.o_lora_rank:
                a, n = deepseek_v4_attention_params(cfg, i)
                attention += a
                norms += n
            elif cfg.attention_kind == "MLA":
                a, n = mla_attention_params(cfg)
                attention += a
                norms += n
            else:
                attention += standard_attention_params(cfg, i)
            if cfg.has_indexer_on_layer(i) and not cfg.layer_kv_compress_ratios:
                attention += dsa_indexer_params(cfg)
        elif kind == "cross_attention":
            attention += cross_attention_params(cfg, i)
        elif kind == "linear_attention":
            linear += _LINEAR_ATTENTION_PARAMS.get(cfg.linear_attention_kind, gated_deltanet_params)(cfg)
        elif kind == "mamba":
            linear += mamba2_params(cfg)

        if cfg.moe_layers and cfg.moe_layers[i]:
            experts, latent = routed_experts_params(cfg)
            routed += experts
            latent_proj += latent
            shared += mlp_params(cfg, cfg.shared_expert_intermediate_size)
            shared += h if cfg.shared_expert_gate else 0
            router += router_params(cfg)
        dense += mlp_params(cfg, cfg.dense_intermediate_size_of_layer(i))
    other += hyper_connection_params(cfg)

    total = embedding + lm_head + attention + dense + routed + latent_proj + shared + router + norms + linear + other
    active = total - routed
    if cfg.num_experts:
        active += routed * cfg.num_experts_per_tok // cfg.num_experts
    return ParameterCount(
        embedding=embedding, lm_head=lm_head, attention=attention, dense_mlp=dense, routed_experts=routed,
        latent_projections=latent_proj,
        shared_experts=shared, router=router, norms=norms, linear_attention_and_mamba=linear, other=other,
        total=total, active_per_token=active,
    )
