"""Engine-independent memory facts of a model: weight bytes, KV bytes per token, TP divisibility.

Everything here follows from the model's config and its precision; how a serving engine budgets
memory around these facts (profiling, NCCL, CUDA graphs, block rounding) lives in the bundled
``gpurec_capacity`` plugin. Memory is in bytes unless a name says GiB (2**30 bytes).

Notation: H hidden size, V vocab size, n query heads, g KV heads, d head dim, d_v v head dim,
I MLP width, E experts, t tensor-parallel size, b bytes per element.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import re
from bisect import bisect_left
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Optional

from pydantic import BaseModel, ConfigDict, Field

from gpurec_core.config_memo import memo_per_config
from gpurec_core.errors import WorkloadError, did_you_mean
from gpurec_core.model_config import PER_LAYER_FIELDS
from gpurec_core.models import DTYPE_BYTES, Precision
from gpurec_core.param_count import hidden_norm_params

if TYPE_CHECKING:  # pragma: no cover
    from gpurec_core.model_config import ModelConfig
    from gpurec_core.param_count import ParameterCount

GIB = 1024**3

#: vLLM pads the vocabulary of ``VocabParallelEmbedding`` / ``ParallelLMHead`` to a multiple of this
#: (vllm/model_executor/layers/vocab_parallel_embedding.py ``DEFAULT_VOCAB_PADDING_SIZE``).
VOCAB_PADDING = 64

# ---------------------------------------------------------------------------------------------
# Bytes per quantized weight
# ---------------------------------------------------------------------------------------------


def quantized_bytes_per_param(bits: float, group_size: Optional[int] = None, scale_bytes: float = 0.0,
                              zero_point_bits: float = 0.0, per_channel_in: Optional[int] = None) -> float:
    """Storage cost of one quantized weight including its scales and zero points.

    ``bits/8 + (scale_bytes + zero_point_bits/8) / group_size`` for group-wise formats (AWQ, GPTQ,
    compressed-tensors pack-quantized, NVFP4, MXFP4); for per-output-channel scales
    (``per_channel_in`` = input features) ``bits/8 + scale_bytes / per_channel_in``; per-tensor scales
    cost nothing per parameter. Sources: AutoAWQ ``WQLinear_GEMM`` (qweight int32 packs 8 nibbles,
    fp16 scales and packed 4-bit qzeros per group), AutoGPTQ ``QuantLinear`` (same plus g_idx),
    compressed-tensors ``pack_quantized`` (bf16 scales per group), ModelOpt NVFP4 (fp8-e4m3 scale
    per 16 values), OCP MX spec / gpt-oss (e8m0 scale per 32 values), DeepSeek-V3 fp8
    (fp32 ``weight_scale_inv`` per 128x128 block).
    """
    value = bits / 8.0
    if group_size:
        value += (scale_bytes + zero_point_bits / 8.0) / group_size
    elif per_channel_in:
        value += scale_bytes / per_channel_in
    return value


# ---------------------------------------------------------------------------------------------
# The weight inventory: every parameter by component and layer
# ---------------------------------------------------------------------------------------------

COMPONENT_KINDS = ("embedding", "lm_head", "attention", "dense_mlp", "routed_experts", "latent_projections",
                   "shared_experts", "router", "norms", "linear_mixer", "other")

#: Components a weight quantizer quantizes by default (linear layers); the rest stay in the
#: unquantized dtype. MXFP4 (gpt-oss) quantizes only the experts, which its config says through
#: ``modules_to_not_convert``.
QUANTIZED_BY_DEFAULT = frozenset({"attention", "dense_mlp", "routed_experts", "latent_projections", "shared_experts",
                                  "linear_mixer", "other"})


@dataclass(frozen=True)
class WeightComponent:
    """Parameters of one component of one layer (``layer`` None for embedding, lm_head, final norm)."""

    kind: str
    layer: Optional[int]
    params: float
    unquantized_fraction: float  # share of these params kept in the unquantized dtype
    replicated_fraction: float = 0.0  # share that tensor parallelism replicates instead of splitting
    kv_fraction: float = 0.0  # share that is k/v projection (replicated when t > g)


#: HF module naming of a family: (attention, dense MLP, MoE block) attribute names; the default is
#: Llama/Qwen/DeepSeek (``self_attn``, ``mlp``, ``mlp.experts``).
_FAMILY_NAMES: dict[str, tuple[str, str, str, str]] = {
    # model_type prefix: (attention, dense mlp, experts container, router)
    "mixtral": ("self_attn", "mlp", "block_sparse_moe.experts.0", "block_sparse_moe.gate"),
    "minimax": ("self_attn", "mlp", "block_sparse_moe.experts.0", "block_sparse_moe.gate"),
    "gemma4": ("self_attn", "mlp", "experts", "router"),
    "llama4": ("self_attn", "feed_forward", "feed_forward.experts", "feed_forward.router"),
    "deepseek_v4": ("attn", "ffn", "ffn.experts.0", "ffn.gate"),
    "gpt_oss": ("self_attn", "mlp", "mlp.experts", "mlp.router"),
}
_DEFAULT_NAMES = ("self_attn", "mlp", "mlp.experts.0", "mlp.gate")


#: DeepSeek-V4's attention projections under the names a quantizer's rules use (vLLM's
#: models/deepseek_v4: ``attn.fused_wqa_wkv`` = wq_a + wkv, then wq_b; output wo_a then wo_b), by the
#: q / k / v / o leaf that stands for them.
_DEEPSEEK_V4_ATTENTION = {"q_proj": ("wq_a", "wq_b", "fused_wqa_wkv"), "k_proj": ("wkv", "fused_wqa_wkv"),
                          "v_proj": ("wkv", "fused_wqa_wkv"), "o_proj": ("wo_a", "wo_b")}


def _family_names(cfg: "ModelConfig") -> tuple[str, str, str, str]:
    for prefix, names in _FAMILY_NAMES.items():
        if cfg.model_type.startswith(prefix):
            return names
    return _DEFAULT_NAMES


def _leaves(cfg: "ModelConfig", kind: str, i: Optional[int]) -> list[tuple[float, tuple[str, ...]]]:
    """(relative weight, HF module names) of the linear layers of one component, for matching
    ``ignore`` / ``modules_to_not_convert`` / ``exclude_modules`` patterns. Names follow the
    family's HF modeling file (``_FAMILY_NAMES``) under ``model.layers.{i}``."""
    if kind == "embedding":
        return [(1.0, ("model.embed_tokens",))]
    if kind == "lm_head":
        return [(1.0, ("lm_head", "head") if cfg.model_type.startswith("deepseek_v4") else ("lm_head",))]
    attn, mlp, experts, router = _family_names(cfg)
    p = f"model.layers.{i}"
    if kind == "attention":
        if cfg.attention_kind == "MLA":
            names = ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
            return [(1.0, (f"{p}.{attn}.{n}",)) for n in names]
        n, g = cfg.num_attention_heads, cfg.kv_heads_of_layer(i) or cfg.num_key_value_heads
        d, dv = cfg.head_dim_of_layer(i), cfg.v_head_dim_of_layer(i)
        parts = (("q_proj", n * d), ("k_proj", g * d), ("v_proj", g * dv), ("o_proj", n * dv))
        aliases = _DEEPSEEK_V4_ATTENTION if cfg.model_type.startswith("deepseek_v4") else {}
        return [(float(w), (f"{p}.{attn}.{name}",) + tuple(f"{p}.{attn}.{a}" for a in aliases.get(name, ())))
                for name, w in parts]
    if kind == "dense_mlp":
        names = ("gate_proj", "up_proj", "down_proj") if cfg.gated_mlp else ("up_proj", "down_proj")
        return [(1.0, (f"{p}.{mlp}.{n}",)) for n in names]
    if kind == "routed_experts":
        names = ("w1", "w3", "w2") if experts.startswith(("block_sparse_moe", "ffn")) else ("gate_proj", "up_proj", "down_proj")
        if experts.startswith("ffn"):  # DeepSeek-V4: vLLM loads w1 / w3 / w2 as gate_proj / up_proj / down_proj
            return [(1.0, (f"{p}.{experts}.{n}", f"{p}.{experts}.{vllm}"))
                    for n, vllm in zip(names, ("gate_proj", "up_proj", "down_proj"))]
        return [(1.0, (f"{p}.{experts}.{n}",)) for n in names]
    if kind == "latent_projections":  # Nemotron-H (modeling_nemotron_h.py), Kimi K3 (KimiSparseMoeBlock)
        return [(1.0, (f"{p}.mixer.{nemotron}", f"{p}.block_sparse_moe.{kimi}", f"{p}.mlp.{kimi}"))
                for nemotron, kimi in (("fc1_latent_proj", "routed_expert_down_proj"),
                                       ("fc2_latent_proj", "routed_expert_up_proj"))]
    if kind == "shared_experts":  # in the MoE block, which some families name apart from the dense MLP
        blocks = dict.fromkeys((mlp, experts.rsplit(".experts", 1)[0] if ".experts" in experts else mlp))
        return [(1.0, tuple(f"{p}.{b}.{shared}.{n}" for b in blocks for shared in ("shared_experts", "shared_expert")))
                for n in ("gate_proj", "up_proj", "down_proj")]
    if kind == "router":
        return [(1.0, (f"{p}.{router}",))]
    if kind == "linear_mixer":
        mixer = "mixer" if cfg.layer_types[i] == "mamba" else "linear_attn"
        return [(1.0, (f"{p}.{mixer}.{n}",)) for n in ("in_proj", "out_proj")]
    return [(1.0, (f"{p}.{kind}",))]


_PREFIX_VARIANTS = (
    ("model.language_model.", "model."),
    ("language_model.model.", "model."),
    ("language_model.", ""),
    ("model.model.", "model."),
    ("thinker.model.", "model."),
)


def _normalise_pattern(pattern: str) -> str:
    for old, new in _PREFIX_VARIANTS:
        if pattern.startswith(old):
            return new + pattern[len(old):]
    return pattern


class PatternMatcher:
    """Matches HF module names against a quantizer's ignore / target list.

    Semantics of the quantizers' configs: a ``re:`` prefix is a Python regex matched at the start
    (compressed-tensors ``ignore``/``targets``); a pattern with ``*``/``?``/``[`` is an fnmatch glob
    (ModelOpt ``exclude_modules``/``ignore``); a plain name matches that module, anything inside it,
    or a module whose dotted name ends with it (vLLM ``is_layer_skipped``). Multimodal prefixes
    (``model.language_model.``, ``language_model.model.``) are normalised to ``model.``.
    """

    def __init__(self, patterns: Iterable[str]):
        self.names: set[str] = set()
        regexes: list[str] = []
        for raw in patterns:
            if not isinstance(raw, str) or not raw:
                continue
            if raw.startswith("re:"):
                body = raw[3:]
                regexes.append(f"(?:{body})")
                plain = body.replace("\\.", ".")
                norm = _normalise_pattern(plain)
                if norm != plain:
                    regexes.append(f"(?:{_normalise_pattern(body)})")
                continue
            for pattern in {raw, _normalise_pattern(raw)}:
                if any(ch in pattern for ch in "*?["):
                    translated = fnmatch.translate(pattern)
                    regexes.append(translated[:-2] if translated.endswith("\\Z") else translated)
                else:
                    self.names.add(pattern)
        self.regex = re.compile("(?:" + "|".join(regexes) + r")\Z") if regexes else None

    def __bool__(self) -> bool:
        return bool(self.names) or self.regex is not None

    def match(self, name: str) -> bool:
        if self.names:
            parts = name.split(".")
            for i in range(len(parts)):
                for j in range(i + 1, len(parts) + 1):
                    if (i == 0 or j == len(parts)) and ".".join(parts[i:j]) in self.names:
                        return True
        return bool(self.regex is not None and self.regex.match(name))


@lru_cache(maxsize=256)
def _compile_patterns(patterns: tuple[str, ...]) -> Optional[PatternMatcher]:
    """A cached :class:`PatternMatcher` for a pattern list, or None when it is empty."""
    matcher = PatternMatcher(patterns)
    return matcher if matcher else None


def _unquantized_share(cfg: "ModelConfig", kind: str, layer: Optional[int], regex: Optional[PatternMatcher]) -> float:
    if kind not in QUANTIZED_BY_DEFAULT:
        return 1.0
    if regex is None:
        return 0.0
    leaves = _leaves(cfg, kind, layer)
    total = sum(w for w, _ in leaves) or 1.0
    hit = sum(w for w, names in leaves if any(regex.match(name) for name in names))
    return hit / total


def _mla_replicated_share(cfg: "ModelConfig") -> float:
    """Share of an MLA layer's attention weights that vLLM replicates on every TP rank:
    ``q_a_proj: H*r_q`` and ``kv_a_proj_with_mqa: H*(r_kv + d_rope)`` are ``ReplicatedLinear``
    (vllm/model_executor/models/deepseek_v2.py ``DeepseekV2MLAAttention``)."""
    h, n = cfg.hidden_size, cfg.num_attention_heads
    r_kv, r_q = cfg.kv_lora_rank or 0, cfg.q_lora_rank or 0
    nope, rope, dv = cfg.qk_nope_head_dim or 0, cfg.qk_rope_head_dim or 0, cfg.v_head_dim
    q = h * r_q + r_q * n * (nope + rope) if r_q else h * n * (nope + rope)
    total = q + h * (r_kv + rope) + r_kv * n * (nope + dv) + n * dv * h
    replicated = h * r_q + h * (r_kv + rope)
    return replicated / total if total else 0.0


@dataclass(frozen=True)
class LayerGroup:
    """Decoder layers whose per-layer config fields (:data:`~gpurec_core.model_config.PER_LAYER_FIELDS`)
    are all equal, so every per-layer formula gives them the same value: ``first`` stands for them all."""

    first: int
    layers: tuple[int, ...]  # ascending

    def count_in(self, stage: range) -> int:
        """How many of the group's layers lie in ``stage`` (a contiguous run of layers)."""
        return bisect_left(self.layers, stage.stop) - bisect_left(self.layers, stage.start)


def layer_groups(cfg: "ModelConfig") -> tuple[LayerGroup, ...]:
    """The model's layers grouped by their per-layer fields, by first layer; computed once per config.

    A uniform model is one group however deep it is, so per-layer work is done per group."""
    return memo_per_config(cfg, ("layer_groups",), lambda: _group_layers(cfg))


def _group_layers(cfg: "ModelConfig") -> tuple[LayerGroup, ...]:
    uniform = (None,) * cfg.num_hidden_layers
    columns = [getattr(cfg, name) or uniform for name in PER_LAYER_FIELDS]
    members: dict[tuple, list[int]] = {}
    for i, signature in enumerate(zip(*columns, strict=True)):
        members.setdefault(signature, []).append(i)
    return tuple(LayerGroup(layers[0], tuple(layers)) for layers in members.values())


@dataclass(frozen=True)
class ComponentGroup:
    """One weight component repeated on several layers: ``component`` is the copy on ``layers[0]``;
    ``layers`` is () for a component of no layer (embedding, lm_head, final norm)."""

    component: WeightComponent
    layers: tuple[int, ...]

    def count_in(self, stage: range) -> int:
        """Copies on the layers of ``stage`` (0 for a component of no layer)."""
        return bisect_left(self.layers, stage.stop) - bisect_left(self.layers, stage.start)


def weight_component_groups(cfg: "ModelConfig", params: "ParameterCount",
                            precision: Precision) -> tuple[ComponentGroup, ...]:
    """The model's parameters by component, each repeated over the layers that hold an identical copy,
    each marked with the share kept unquantized; kind by kind, computed once per (config, params, precision).

    Category totals come from ``count_parameters`` (gpurec_core/param_count.py); they are spread
    over the layers that have them: attention over attention layers in proportion to
    ``n*d + g*d + g*d_v + n*d_v``; dense MLPs in proportion to each layer's width; experts, latent-MoE
    projections, shared experts and routers over MoE layers; linear-attention/Mamba mixers over those
    layers; norms evenly. ``precision.modules_not_quantized`` patterns are matched against HF module names.
    """
    key = ("weight_component_groups", id(params), precision)
    return memo_per_config(cfg, key, lambda: (params, _component_groups(cfg, params, precision)))[1]


def _component_groups(cfg: "ModelConfig", params: "ParameterCount", precision: Precision) -> tuple[ComponentGroup, ...]:
    regex = _compile_patterns(tuple(precision.modules_not_quantized)) if precision.is_quantized else None
    quantized = precision.is_quantized
    groups = layer_groups(cfg)
    out: list[ComponentGroup] = []

    def add(kind: str, layers: tuple[int, ...], count: float, replicated: float = 0.0, kv: float = 0.0) -> None:
        if count <= 0:
            return
        if not layers:
            share = _unquantized_share(cfg, kind, None, regex) if quantized else 1.0
            out.append(ComponentGroup(WeightComponent(kind, None, count, share, replicated, kv), ()))
            return
        for share, members in _split_by_unquantized_share(cfg, kind, layers, regex, quantized):
            out.append(ComponentGroup(WeightComponent(kind, members[0], count, share, replicated, kv), members))

    add("embedding", (), params.embedding)
    add("lm_head", (), params.lm_head)

    attn_groups = [g for g in groups
                   if cfg.layer_types[g.first] in ("full_attention", "sliding_attention", "cross_attention")]
    if attn_groups and params.attention:
        weights = {}
        for group in attn_groups:
            i = group.first
            n, g = cfg.num_attention_heads, cfg.kv_heads_of_layer(i)
            d, dv = cfg.head_dim_of_layer(i), cfg.v_head_dim_of_layer(i)
            weights[i] = n * d + g * d + g * dv + n * dv
        total_w = sum(weights[group.first] * len(group.layers) for group in attn_groups) or 1
        mla_rep = _mla_replicated_share(cfg) if cfg.attention_kind == "MLA" else 0.0
        for group in attn_groups:
            i = group.first
            if cfg.attention_kind == "MLA":
                kv = 0.0
            else:
                n, g = cfg.num_attention_heads, cfg.kv_heads_of_layer(i)
                d, dv = cfg.head_dim_of_layer(i), cfg.v_head_dim_of_layer(i)
                kv = g * (d + dv) / max(1, weights[i])
            add("attention", group.layers, params.attention * weights[i] / total_w, mla_rep, kv)

    widths = {group.first: cfg.dense_intermediate_size_of_layer(group.first) for group in groups}
    total_width = sum(widths[group.first] * len(group.layers) for group in groups)
    if total_width and params.dense_mlp:
        for group in groups:
            add("dense_mlp", group.layers, params.dense_mlp * widths[group.first] / total_width)

    moe = [g for g in groups if cfg.moe_layers and cfg.moe_layers[g.first]]
    moe_layers = sum(len(g.layers) for g in moe)
    for kind, count in (("routed_experts", params.routed_experts), ("latent_projections", params.latent_projections),
                        ("shared_experts", params.shared_experts), ("router", params.router)):
        if count and moe:
            for group in moe:
                add(kind, group.layers, count / moe_layers)
        elif count:  # no per-layer MoE flags: spread over all layers
            for group in groups:
                add(kind, group.layers, count / cfg.num_hidden_layers)

    mixers = [g for g in groups if cfg.layer_types[g.first] in ("linear_attention", "mamba")]
    if params.linear_attention_and_mamba:
        spread = mixers or list(groups)
        spread_layers = sum(len(g.layers) for g in spread)
        for group in spread:
            add("linear_mixer", group.layers, params.linear_attention_and_mamba / spread_layers)

    final_norm = min(params.norms, hidden_norm_params(cfg))
    per_layer_norm = (params.norms - final_norm) / cfg.num_hidden_layers
    for group in groups:
        add("norms", group.layers, per_layer_norm)
    add("norms", (), final_norm)
    if params.other:
        for group in groups:
            add("other", group.layers, params.other / cfg.num_hidden_layers)
    return tuple(out)


def _split_by_unquantized_share(cfg: "ModelConfig", kind: str, layers: tuple[int, ...], regex: Optional[PatternMatcher],
                                quantized: bool) -> list[tuple[float, tuple[int, ...]]]:
    """``layers`` split by the share of their ``kind`` component kept unquantized: one part unless the
    ignore patterns name some layers and not others (only then are the layers' module names matched)."""
    if not quantized:
        return [(1.0, layers)]
    if regex is None or kind not in QUANTIZED_BY_DEFAULT:
        return [(_unquantized_share(cfg, kind, layers[0], regex), layers)]
    parts: dict[float, list[int]] = {}
    for i in layers:
        parts.setdefault(_unquantized_share(cfg, kind, i, regex), []).append(i)
    return [(share, tuple(members)) for share, members in parts.items()]


def weight_components(cfg: "ModelConfig", params: "ParameterCount", precision: Precision) -> list[WeightComponent]:
    """The model's parameters by component and layer (:func:`weight_component_groups` layer by layer):
    kind by kind, each kind's layers ascending, its layer-less component last."""
    out: list[WeightComponent] = []
    groups = weight_component_groups(cfg, params, precision)
    for _, same_kind in itertools.groupby(groups, key=lambda group: group.component.kind):
        copies = sorted(((i, group.component) for group in same_kind for i in group.layers or (None,)),
                        key=lambda copy: (copy[0] is None, copy[0] or 0))
        out += [component if component.layer == i else replace(component, layer=i) for i, component in copies]
    return out


def component_bytes(component: WeightComponent, precision: Precision) -> float:
    """Bytes of one component: quantized share x its kind's bytes per quantized parameter
    (:meth:`Precision.quantized_bytes_per_param`) + the rest x unquantized bytes."""
    q = component.params * (1.0 - component.unquantized_fraction)
    u = component.params * component.unquantized_fraction
    return q * precision.quantized_bytes_per_param(component.kind) + u * precision.unquantized_bytes_per_param


def weights_bytes(cfg: "ModelConfig", params: "ParameterCount", precision: Precision) -> float:
    """Bytes of all weights of the model (one copy, no parallelism), scales included.

    ``quantized linear params x their bytes per param + everything else x unquantized_bytes_per_param``,
    where "everything else" is the embedding, lm_head, norms and routers plus any module the
    checkpoint's ``modules_to_not_convert`` / ``ignore`` / ``exclude_modules`` names (see
    :func:`weight_components`). For an unquantized checkpoint it is ``total params x dtype bytes``
    (the HF checkpoint size without its MTP layers).
    """
    if not precision.is_quantized:
        return float(params.total) * precision.unquantized_bytes_per_param
    return sum(component_bytes(c, precision) for c in weight_components(cfg, params, precision))


# ---------------------------------------------------------------------------------------------
# KV cache
# ---------------------------------------------------------------------------------------------


def kv_heads_per_gpu(total_kv_heads: int, tensor_parallel_size: int) -> int:
    """KV heads each TP rank stores: ``g / t`` when t <= g, else 1 (each head replicated t/g times).

    Source: vllm/model_executor/layers/linear.py ``QKVParallelLinear`` (``num_kv_head_replicas``).
    """
    if total_kv_heads <= 0:
        return 0
    if tensor_parallel_size >= total_kv_heads:
        return 1
    return max(1, total_kv_heads // tensor_parallel_size)


def layer_kv_bytes_per_token(cfg: "ModelConfig", i: int, kv_bytes: float, tensor_parallel_size: int = 1) -> float:
    """KV-cache bytes one token costs in attention layer ``i`` on one GPU (0 for other layers).

    - MHA/GQA/MQA: ``g_gpu * (d + d_v) * b`` with ``g_gpu`` from :func:`kv_heads_per_gpu`
      (HF modeling_llama.py caches ``key_states``/``value_states`` of shape (g, d); vLLM
      ``AttentionSpec.real_page_size_bytes = 2 * block * g * d * b``).
    - MLA: ``(kv_lora_rank + qk_rope_head_dim) * b``, the same on every TP rank: the compressed latent
      is not split over heads (HF modeling_deepseek_v3.py ``kv_a_proj_with_mqa`` output; vLLM
      ``MLAAttentionSpec`` with ``num_kv_heads = 1``).
    - Sparse-attention indexer (DeepSeek-V3.2, GLM-5 DSA): ``+`` :func:`indexer_key_bytes_per_token`.
    - DeepSeek-V4 compressed layers: the latent divided by the layer's compression ratio.
    - Cross-attention layers (Llama 3.2 Vision): 0. Their K/V are computed from the image tokens once
      per request (HF modeling_mllama.py ``MllamaTextCrossAttention`` caches ``cross_attention_states``,
      not the generated tokens), so they cost nothing per token; that fixed per-request cache is not
      counted.
    """
    kind = cfg.layer_types[i]
    if kind not in ("full_attention", "sliding_attention"):  # cross_attention: K/V of the image, per request
        return 0.0
    if cfg.attention_kind == "MLA":
        per = ((cfg.kv_lora_rank or 0) + (cfg.qk_rope_head_dim or 0)) * kv_bytes
    else:
        g = kv_heads_per_gpu(cfg.kv_heads_of_layer(i), tensor_parallel_size)
        per = g * (cfg.head_dim_of_layer(i) + cfg.v_head_dim_of_layer(i)) * kv_bytes
    if cfg.layer_kv_compress_ratios:
        ratio = cfg.layer_kv_compress_ratios[i]
        if ratio:
            per = cfg.head_dim * kv_bytes / ratio
        else:
            per = cfg.head_dim * kv_bytes
    return float(per + indexer_key_bytes_per_token(cfg, i))


def indexer_key_bytes_per_token(cfg: "ModelConfig", i: int) -> float:
    """Bytes the sparse-attention indexer of layer ``i`` caches per token on one GPU (0 without one):
    ``index_head_dim + 4``, its key in fp8 with one fp32 scale, replicated on every TP rank (vLLM
    vllm/model_executor/models/deepseek_v2.py ``Indexer``: "no tensor parallel, just replicated").
    DeepSeek-V4's compressed layers keep theirs inside the compressed latent (0 here)."""
    if cfg.has_indexer_on_layer(i) and not cfg.layer_kv_compress_ratios:
        return float(cfg.index_head_dim + 4)
    return 0.0


def kv_bytes_per_token(cfg: "ModelConfig", precision: Precision, tensor_parallel_size: int = 1) -> float:
    """KV bytes per token on one GPU summed over every attention layer (full and sliding), uncapped.

    This is the marginal cost of a token while the context is shorter than any sliding window;
    :func:`kv_cache_detail` caps sliding layers at their window and adds recurrent state.
    """
    return sum(layer_kv_bytes_per_token(cfg, i, precision.kv_cache_bytes, tensor_parallel_size)
               for i in range(cfg.num_hidden_layers))


def full_attention_bytes_per_token(cfg: "ModelConfig", precision: Precision, tensor_parallel_size: int = 1) -> float:
    """KV bytes per token on one GPU of the full-attention layers only."""
    return sum(layer_kv_bytes_per_token(cfg, i, precision.kv_cache_bytes, tensor_parallel_size)
               for i in range(cfg.num_hidden_layers) if cfg.layer_types[i] == "full_attention")


def sliding_window_bytes_per_token(cfg: "ModelConfig", precision: Precision, tensor_parallel_size: int = 1) -> float:
    """KV bytes per token on one GPU of the sliding-window layers (a token costs this only while it
    is among the last ``sliding_window`` tokens of its sequence)."""
    return sum(layer_kv_bytes_per_token(cfg, i, precision.kv_cache_bytes, tensor_parallel_size)
               for i in range(cfg.num_hidden_layers) if cfg.layer_types[i] == "sliding_attention")


def _split(value: int, tensor_parallel_size: int) -> int:
    """Per-rank share of ``value`` heads/groups: divided when divisible, else replicated (Mamba n_groups=1)."""
    if value % tensor_parallel_size == 0:
        return value // tensor_parallel_size
    return value


def recurrent_state_bytes_per_layer(cfg: "ModelConfig", i: int, state_bytes: float, tensor_parallel_size: int = 1,
                                    ssm_state_bytes: Optional[float] = None) -> float:
    """Fixed per-sequence state of one linear-attention or Mamba layer on one GPU.

    ``state_bytes`` per element of the conv state, ``ssm_state_bytes`` (default: the same) of the
    SSM / recurrent state: engines keep them in different dtypes (vLLM ``mamba_ssm_cache_dtype``,
    SGLang fp32 SSM state).

    - Mamba-2 (vllm/model_executor/layers/mamba/mamba_utils.py ``mamba2_state_shape``): conv state
      ``(kernel - 1) * (I + 2 * G * N) / t`` + SSM state ``heads/t * head_dim * N`` with I = heads*head_dim,
      G = n_groups, N = state size.
    - Gated DeltaNet (``gated_delta_net_state_shape``): conv ``(kernel - 1) * (2 * n_k * d_k + n_v * d_v) / t``
      + recurrent ``n_v/t * d_k * d_v``.
    - Kimi Delta Attention: conv ``(kernel - 1) * 3 * heads * d / t`` + recurrent ``heads/t * d * d``.
    - MiniMax lightning attention (modeling_minimax_m1.py): recurrent ``heads/t * d * d``, no conv.
    """
    kind = cfg.layer_types[i]
    t = tensor_parallel_size
    ssm_bytes = state_bytes if ssm_state_bytes is None else ssm_state_bytes
    if kind == "mamba":
        heads, hd = cfg.mamba_num_heads or 0, cfg.mamba_head_dim or 0
        groups, n = cfg.mamba_n_groups or 1, cfg.mamba_state_size or 0
        kernel = cfg.mamba_conv_kernel or 4
        conv = (kernel - 1) * (heads * hd // t + 2 * _split(groups, t) * n)
        ssm = _split(heads, t) * hd * n
        return float(conv * state_bytes + ssm * ssm_bytes)
    if kind == "linear_attention":
        kernel = cfg.linear_conv_kernel_dim or 4
        if cfg.linear_attention_kind in ("kimi_delta", "lightning"):  # one d x d state per head
            heads, d = cfg.linear_num_value_heads or 0, cfg.linear_value_head_dim or 0
            conv = (kernel - 1) * 3 * heads * d // t if cfg.linear_attention_kind == "kimi_delta" else 0
            rec = _split(heads, t) * d * d
        else:
            nk, nv = cfg.linear_num_key_heads or 0, cfg.linear_num_value_heads or 0
            dk, dv = cfg.linear_key_head_dim or 0, cfg.linear_value_head_dim or 0
            conv = (kernel - 1) * (2 * nk * dk + nv * dv) // t
            rec = _split(nv, t) * dk * dv
        return float(conv * state_bytes + rec * ssm_bytes)
    return 0.0


#: Bytes per element of the dtypes a config may name for its recurrent state.
_STATE_DTYPE_BYTES = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0}


def ssm_state_bytes(cfg: "ModelConfig", precision: Precision) -> float:
    """Bytes per element of the SSM / recurrent state as vLLM 0.19 keeps it: the model dtype
    (``mamba_ssm_cache_dtype='auto'``), except where model_executor/models/config.py overrides it
    from the config: Qwen3.5 ``mamba_ssm_dtype``, Nemotron-H ``mamba_ssm_cache_dtype`` (else float16)."""
    if cfg.mamba_ssm_dtype:
        return _STATE_DTYPE_BYTES[cfg.mamba_ssm_dtype]
    if cfg.model_type == "nemotron_h":
        return _STATE_DTYPE_BYTES["float16"]
    return precision.unquantized_bytes_per_param


def recurrent_state_bytes_per_sequence(cfg: "ModelConfig", precision: Precision, tensor_parallel_size: int = 1) -> float:
    """Fixed bytes per sequence of all linear-attention / Mamba layers on one GPU: conv state in the
    model's unquantized dtype (vLLM ``mamba_cache_dtype='auto'``), SSM state in :func:`ssm_state_bytes`,
    whatever the KV dtype."""
    ssm = ssm_state_bytes(cfg, precision)
    return sum(recurrent_state_bytes_per_layer(cfg, i, precision.unquantized_bytes_per_param, tensor_parallel_size, ssm)
               for i in range(cfg.num_hidden_layers))


class KVCacheDetail(BaseModel):
    """KV cache of ``batch_size`` sequences of ``context_length`` tokens on one GPU, by layer kind."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    context_length: int = Field(ge=1, description="tokens per sequence")
    batch_size: int = Field(ge=1, description="sequences")
    tensor_parallel_size: int = Field(ge=1, description="TP size the per-GPU figures are for")
    kv_cache_dtype: str = Field(description="KV-cache dtype")
    kv_bytes_per_element: float = Field(gt=0, description="bytes per cached K or V element")
    full_attention_layers: int = Field(ge=0, description="layers attending the whole context")
    sliding_window_layers: int = Field(ge=0, description="layers attending a sliding window")
    sliding_window: Optional[int] = Field(default=None, description="window of the sliding layers, tokens")
    recurrent_layers: int = Field(ge=0, description="linear-attention / Mamba layers (fixed state per sequence)")
    full_attention_bytes_per_token: float = Field(ge=0, description="bytes per token, all full-attention layers, one GPU")
    sliding_window_bytes_per_token: float = Field(ge=0, description="bytes per token inside the window, all sliding layers")
    recurrent_state_bytes_per_sequence: float = Field(ge=0, description="fixed state bytes per sequence")
    full_attention_gib: float = Field(ge=0, description="full-attention KV, GiB")
    sliding_window_gib: float = Field(ge=0, description="sliding-window KV (capped at the window), GiB")
    recurrent_state_gib: float = Field(ge=0, description="linear-attention / Mamba state, GiB")
    total_gib: float = Field(ge=0, description="all of it, GiB")

    @property
    def bytes_per_token(self) -> float:
        """Bytes per token of full + sliding layers (the sliding part only while inside the window)."""
        return self.full_attention_bytes_per_token + self.sliding_window_bytes_per_token


def kv_cache_detail(cfg: "ModelConfig", precision: Precision, context_length: int = 1, batch_size: int = 1,
                    tensor_parallel_size: int = 1) -> KVCacheDetail:
    """KV cache of ``batch_size`` sequences of ``context_length`` tokens on one GPU.

    ``batch * (L * full_bytes_per_token + min(L, window) * sliding_bytes_per_token + state_bytes)``.
    Sliding layers keep only the last ``sliding_window`` tokens (HF ``SlidingWindowCache``);
    recurrent layers keep a fixed state per sequence (HF ``HybridMambaAttentionDynamicCache``).
    """
    if context_length < 1 or batch_size < 1:
        raise WorkloadError(f"context_length and batch_size must be >= 1, got {context_length} and {batch_size}")
    t = tensor_parallel_size
    full = full_attention_bytes_per_token(cfg, precision, t)
    sliding = sliding_window_bytes_per_token(cfg, precision, t)
    state = recurrent_state_bytes_per_sequence(cfg, precision, t)
    window = cfg.sliding_window
    sliding_tokens = min(context_length, window) if window else context_length
    counts = cfg.num_layers_of
    full_gib = batch_size * context_length * full / GIB
    sliding_gib = batch_size * sliding_tokens * sliding / GIB
    state_gib = batch_size * state / GIB
    return KVCacheDetail(
        context_length=context_length, batch_size=batch_size, tensor_parallel_size=t,
        kv_cache_dtype=precision.kv_cache_dtype, kv_bytes_per_element=precision.kv_cache_bytes,
        full_attention_layers=counts.get("full_attention", 0), sliding_window_layers=counts.get("sliding_attention", 0),
        sliding_window=window, recurrent_layers=counts.get("linear_attention", 0) + counts.get("mamba", 0),
        full_attention_bytes_per_token=full, sliding_window_bytes_per_token=sliding,
        recurrent_state_bytes_per_sequence=state, full_attention_gib=full_gib, sliding_window_gib=sliding_gib,
        recurrent_state_gib=state_gib, total_gib=full_gib + sliding_gib + state_gib,
    )


# ---------------------------------------------------------------------------------------------
# Tensor-parallel divisibility
# ---------------------------------------------------------------------------------------------


def quantization_group_size(cfg: "ModelConfig") -> Optional[int]:
    """Input-dimension group of the checkpoint's weight quantization (128 for AWQ/GPTQ g128, the
    block's k for fp8 block-wise, 16 NVFP4, 32 MXFP4), or None for per-tensor/per-channel/none."""
    q = cfg.quantization_config or {}
    hq = (cfg.hf_quant_config or {}).get("quantization", {}) if cfg.hf_quant_config else {}
    method = str(q.get("quant_method", "")).lower()
    if "weight_block_size" in q and q["weight_block_size"]:
        return int(q["weight_block_size"][-1])
    if method in ("awq", "gptq", "awq_marlin", "gptq_marlin") and q.get("group_size", -1) not in (None, -1, 0):
        return int(q["group_size"])
    if method == "mxfp4":
        return 32
    algo = str(q.get("quant_algo") or hq.get("quant_algo") or "").upper()
    if "NVFP4" in algo or (method.startswith("modelopt") and "FP4" in algo):
        return int(q.get("group_size") or hq.get("group_size") or 16)
    groups = q.get("config_groups") or {}
    for group in groups.values() if isinstance(groups, dict) else ():
        weights = (group or {}).get("weights") or {}
        if weights.get("group_size"):
            return int(weights["group_size"])
        if weights.get("block_structure"):
            return int(weights["block_structure"][-1])
    return None


def _tp_group_constraint(cfg: "ModelConfig") -> Optional[int]:
    """The group each TP shard's input width must be a multiple of: int4 group quantization (AWQ, GPTQ,
    compressed-tensors W4A16: ``verify_marlin_supports_shape``) and fp8 block quantization
    (``validate_fp8_block_shape``). MXFP4/NVFP4 kernels pad the shard instead (vLLM mxfp4.py rounds the
    expert width up), so they add no constraint."""
    group = quantization_group_size(cfg)
    if not group:
        return None
    q = cfg.quantization_config or {}
    method = str(q.get("quant_method", "")).lower()
    if method in ("mxfp4",) or (group in (16, 32) and method in ("modelopt", "modelopt_fp4", "")):
        return None
    groups = q.get("config_groups") or {}
    for spec in groups.values() if isinstance(groups, dict) else ():
        weights = (spec or {}).get("weights") or {}
        if str(weights.get("type", "int")).lower() == "float" and int(weights.get("num_bits") or 8) == 4:
            return None
    return group


def tensor_parallel_problems(cfg: "ModelConfig", tensor_parallel_size: int, engine: str = "vllm",
                             expert_parallel_size: int = 1, checkpoint_weights: bool = True) -> list[str]:
    """Why ``tensor_parallel_size`` is not allowed for this model, as sentences ([] = allowed).

    Rules from vLLM: ``ModelConfig.verify_with_parallel_config`` (query heads divisible by t);
    ``QKVParallelLinear`` (KV heads divisible by t, or t a multiple of them so heads are
    replicated); ``ColumnParallelLinear``/``RowParallelLinear`` ``divide()`` (intermediate_size and
    moe_intermediate_size divisible by t); quantized kernels need each shard's input dimension to
    be a multiple of the quantization group (gptq_marlin / awq_marlin ``verify_marlin_supports_shape``,
    fp8 block ``validate_fp8_block_shape``); Mamba/linear-attention heads divisible by t. The vocabulary
    is padded (to 64) so it never blocks a size. SGLang and TensorRT-LLM apply the same head and
    width rules. With expert parallelism of ``e`` ranks the routed experts are split over the EP
    ranks and each expert only over ``t / e`` ranks (``FusedMoE``: whole experts once ``e >= t``), so
    the width rules apply to ``moe_intermediate_size / max(1, t / e)``. An engine whose
    ``EngineInfo.mlp_tp_fits_blocks`` is set (TensorRT-LLM: ``gcd(width / block, t)`` ranks, see
    catalogs/engines/trtllm.toml) shrinks the TP of a dense MLP and of the shared experts instead, so
    those widths do not bind it. ``checkpoint_weights``
    False: the weights planned are not the checkpoint's (a what-if precision), so its quantization
    group does not bind.
    """
    t = tensor_parallel_size
    problems: list[str] = []
    if t < 1:
        return [f"tensor_parallel_size must be >= 1, got {t}"]
    if cfg.num_attention_heads % t:
        problems.append(f"num_attention_heads={cfg.num_attention_heads} is not divisible by {t}")
    if cfg.attention_kind != "MLA":
        kv_sizes = {cfg.kv_heads_of_layer(g.first) for g in layer_groups(cfg)} - {0} or {cfg.num_key_value_heads}
        for g in sorted(kv_sizes):
            if (t <= g and g % t) or (t > g and t % g):
                problems.append(f"num_key_value_heads={g} is neither divisible by {t} nor a divisor of it")
    group = _tp_group_constraint(cfg) if checkpoint_weights else None
    widths = []
    dense = {cfg.dense_intermediate_size_of_layer(g.first) for g in layer_groups(cfg)} - {0}
    shrinks_mlp = _mlp_tp_fits_blocks(engine)
    if not shrinks_mlp:
        widths += [("intermediate_size", w, t) for w in sorted(dense)]
    if cfg.is_moe and cfg.moe_intermediate_size:
        widths.append(("moe_intermediate_size", cfg.moe_intermediate_size, max(1, t // max(1, expert_parallel_size))))
    if cfg.shared_expert_intermediate_size and cfg.num_shared_experts <= 1 and not shrinks_mlp:
        widths.append(("shared_expert_intermediate_size", cfg.shared_expert_intermediate_size, t))
    for name, width, split in widths:
        if width % split:
            problems.append(f"{name}={width} is not divisible by {split}")
        elif group and (width // split) % group:
            problems.append(f"{name}/{split}={width // split} is not a multiple of the quantization group {group}")
    for name, value in (("mamba_num_heads", cfg.mamba_num_heads), ("linear_num_value_heads", cfg.linear_num_value_heads),
                        ("linear_num_key_heads", cfg.linear_num_key_heads)):
        if value and cfg.is_hybrid and value % t:
            problems.append(f"{name}={value} is not divisible by {t}")
    return problems


def _mlp_tp_fits_blocks(engine: str) -> bool:
    """``EngineInfo.mlp_tp_fits_blocks`` of the engine; False for a name no plugin lists."""
    from gpurec_core.errors import GpurecError
    from gpurec_core.plugins import engine_info

    try:
        return engine_info(engine).mlp_tp_fits_blocks
    except GpurecError:
        return False


def valid_tensor_parallel_sizes(cfg: "ModelConfig", engine: str = "vllm", max_size: Optional[int] = None) -> list[int]:
    """Tensor-parallel sizes the engine accepts for this model, ascending (see :func:`tensor_parallel_problems`).

    ``max_size`` defaults to the number of query heads (no larger size can divide them).
    """
    limit = max_size if max_size is not None else cfg.num_attention_heads
    limit = max(1, min(int(limit), cfg.num_attention_heads))
    return [t for t in _divisors(cfg.num_attention_heads) if t <= limit and not tensor_parallel_problems(cfg, t, engine)]


def _divisors(n: int) -> list[int]:
    """Divisors of ``n`` ascending, in O(sqrt n): the only TP sizes that can divide the query heads."""
    small, large = [], []
    d = 1
    while d * d <= n:
        if n % d == 0:
            small.append(d)
            if d * d != n:
                large.append(n // d)
        d += 1
    return small + large[::-1]


# ---------------------------------------------------------------------------------------------
# Precision overrides (vLLM's --dtype / --quantization / --kv-cache-dtype)
# ---------------------------------------------------------------------------------------------

_DTYPE_ALIASES = {
    "auto": None, "fp32": "fp32", "float32": "fp32", "float": "fp32", "torch.float32": "fp32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "torch.float16": "fp16",
    "bf16": "bf16", "bfloat16": "bf16", "torch.bfloat16": "bf16",
}
def dtype_name(text: str) -> str:
    """``bf16``, ``fp16`` or ``fp32`` for any of their spellings (``bfloat16``, ``half``, ``torch.float32`` ...);
    anything else unchanged (the caller's validation names it)."""
    return _DTYPE_ALIASES.get(text.strip().lower()) or text


_QUANT_ALIASES = {
    "fp8": "fp8", "fp8_e4m3": "fp8", "e4m3": "fp8", "float8": "fp8", "w8a8-fp8": "fp8", "fp8-dynamic": "fp8",
    "fp8-block": "fp8",  # aiconfigurator's gemm_quant_mode for DeepSeek-style 128x128 block scales
    "int8": "int8", "w8a8": "int8", "w8a8-int8": "int8",
    "int4": "int4", "w4a16": "int4", "awq": "int4", "gptq": "int4", "int4-awq": "int4", "int4-gptq": "int4",
    "awq-marlin": "int4", "gptq-marlin": "int4",  # vLLM's kernel names for the same checkpoints
    "w4a8": "int4",  # TensorRT-LLM's W4A8 AWQ: int4 weights, fp8 activations
    "nvfp4": "nvfp4", "fp4": "nvfp4", "modelopt-fp4": "nvfp4", "mxfp4": "mxfp4",
}
_KV_ALIASES = {
    "auto": None, "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "float8": "fp8",
    "bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "fp32": "fp32", "float32": "fp32",
}


def _spelling_key(text: str) -> str:
    """How precision names are matched: case and the separators files write (' ', '-', '_') do not count."""
    return re.sub(r"[\s\-_]+", "", text).lower()


#: Every spelling above by its key: 'FP8_DYNAMIC', 'fp8 dynamic' and 'fp8-dynamic' are one name.
_SPELLINGS = {_spelling_key(k): k for k in (*_DTYPE_ALIASES, *_QUANT_ALIASES, *_KV_ALIASES)}


def precision_spelling(text: str) -> str:
    """The alias of this module's tables that ``text`` spells (lower case, separators ignored), else ``text``
    in lower case."""
    key = str(text).strip().lower()
    return _SPELLINGS.get(_spelling_key(key), key)


#: What a weight precision means when the checkpoint is not already in it: the storage of the
#: typical export a user would serve (bits, group, scale bytes, zero-point bits, per-channel) and
#: the compute dtype. fp8 is vLLM's online ``--quantization fp8`` (per-tensor scale).
_ASSUMED_EXPORTS: dict[str, tuple[str, float, Optional[int], float, float, bool, str]] = {
    "fp8": ("fp8", 8, None, 0.0, 0.0, False, "vLLM --quantization fp8: per-tensor scales (vllm/model_executor/layers/quantization/fp8.py)"),
    "int8": ("int8", 8, None, 4.0, 0.0, True, "W8A8 int8 export, per-channel fp32 scales (compressed-tensors, RedHatAI *-quantized.w8a8)"),
    "int4": ("bf16", 4, 128, 2.0, 0.0, False, "W4A16 export, group 128 with bf16 scales (compressed-tensors pack-quantized, RedHatAI *-quantized.w4a16)"),
    "nvfp4": ("fp4", 4, 16, 1.0, 0.0, False, "ModelOpt NVFP4 export: fp8-e4m3 scale per 16 values"),
    "mxfp4": ("fp4", 4, 32, 1.0, 0.0, False, "MXFP4 export: e8m0 scale per 32 values (OCP MX)"),
}

#: How the notes name each format's export.
_EXPORT_NAMES = {"fp8": "FP8", "int8": "INT8 (W8A8)", "int4": "INT4 (W4A16)", "nvfp4": "NVFP4", "mxfp4": "MXFP4"}


def assumed_export_storage(weight: str) -> str:
    """How the typical ``weight`` export stores its weights (``_ASSUMED_EXPORTS``' source line)."""
    return _ASSUMED_EXPORTS[weight][-1]


def assumed_export_precision(base: Precision, weight: str, hidden_size: int) -> Precision:
    """``base`` re-stored as the typical ``weight`` export (see ``_ASSUMED_EXPORTS``)."""
    compute, bits, group, scale, zero, per_channel, source = _ASSUMED_EXPORTS[weight]
    bpp = quantized_bytes_per_param(bits, group, scale, zero, hidden_size if per_channel else None)
    modules = ("lm_head", "model.embed_tokens")
    if weight == "mxfp4":
        modules = modules + ("*self_attn*", "*.mlp.gate_proj", "*.mlp.up_proj", "*.mlp.down_proj", "*shared_expert*")
    return base.model_copy(update=dict(
        weight=weight, weight_bytes_per_param=bpp, compute_dtype=compute if weight != "int4" else base.unquantized_dtype,
        quant_method=weight if weight in ("fp8", "mxfp4") else f"assumed-{weight}", modules_not_quantized=modules,
        source=f"override {weight!r}: {source}",
    ))


def unquantized_precision(checkpoint: Precision) -> Precision:
    """The original model behind a quantized ``checkpoint``, the base of its what-if exports: every
    weight in the checkpoint's unquantized dtype, the KV cache in that dtype too (an fp8 KV cache a
    quantizer's config asked for belongs to that checkpoint; ``kv_cache_dtype='fp8'`` asks again)."""
    dtype = checkpoint.unquantized_dtype
    nbytes = DTYPE_BYTES[dtype]
    return Precision(weight=dtype, weight_bytes_per_param=nbytes, unquantized_dtype=dtype,
                     unquantized_bytes_per_param=nbytes, compute_dtype=dtype, kv_cache_dtype=dtype,
                     kv_cache_bytes=nbytes, source=f"the unquantized {dtype} weights")


def checkpoint_format(precision: Precision) -> str:
    """The checkpoint's weight format in a few words: 'bf16', or 'fp8 (FP8 e4m3 with fp32 scales per
    128x128 block)' for a quantized one (the part of its ``source`` that names the format)."""
    if not precision.is_quantized:
        return precision.weight
    source = precision.source
    detail = source.split(": ", 1)[1].split(";")[0].strip() if source.startswith("quantization_config") and ": " in source \
        else (precision.quant_method or "")
    return f"{precision.weight}: {detail}" if detail and detail != precision.weight else precision.weight


def _planned_export(model: Any, weight: str, export: str) -> str:
    """What a what-if ``weight`` export is planned as, in a few words. MXFP4 exports quantize only the routed
    experts (gpt-oss's checkpoints leave attention, the router, embeddings and lm_head unconverted:
    ``modules_to_not_convert``; QUANTIZED_BY_DEFAULT), so a model without them is planned unquantized."""
    planned = f"a typical {_EXPORT_NAMES[weight]} export of this model ({export})"
    if weight == "mxfp4":
        planned += ("; an MXFP4 export quantizes only the routed experts (gpt-oss's layout), and this model has none, "
                    "so its weights are planned unquantized" if not getattr(model, "is_moe", True) else
                    "; an MXFP4 export quantizes only the routed experts (gpt-oss's layout): attention, dense and "
                    "shared MLPs stay unquantized")
    return planned


def _what_if_note(model: Any, inferred: Precision, weight: str, planned: str) -> str:
    """The note a precision other than the checkpoint's carries: what the deployment needs, and what was planned."""
    model_id = getattr(model, "model_id", None) or "this model"
    note = f"{weight} weights need a pre-quantized {weight} checkpoint of {model_id} (it is {checkpoint_format(inferred)})"
    return note + (f"; what-if: planned as {planned}, not this checkpoint" if inferred.is_quantized
                   else f"; planned as {planned}")


def apply_precision_overrides(model: Any, inferred: Precision, precision: Optional[str],
                              kv_cache_dtype: Optional[str]) -> Precision:
    """The inferred precision with a user's ``precision`` and ``kv_cache_dtype`` applied.

    - ``precision`` a float dtype (``bf16``, ``fp16``, ``fp32``): vLLM's ``--dtype``; on a quantized
      checkpoint it changes only the unquantized modules and the compute dtype, and the note says
      so (vLLM's own meaning, which measured runs use: ``--dtype float16`` with an AWQ checkpoint;
      ``precision`` and ``dtype`` reach this function as one string, so a float dtype cannot also
      mean "the original model", which is another checkpoint, planned by its own id).
    - ``precision='fp8'`` on a float checkpoint: vLLM's online ``--quantization fp8`` (1 byte per
      linear weight, lm_head and embeddings stay in the dtype; no other checkpoint needed).
      ``int8``, ``int4``, ``nvfp4``, ``mxfp4`` on a float checkpoint mean "a typical export of this
      model in that format" (W8A8 per-channel, W4A16 group 128, NVFP4, MXFP4).
    - A quantized checkpoint asked for another weight precision is a what-if too: the typical export
      of the same architecture in that format (``assumed_export_precision`` of its unquantized
      weights), its KV cache in the unquantized dtype unless ``kv_cache_dtype`` says otherwise.
    - Whenever the precision planned is not the checkpoint's own, ``Precision.what_if_note`` says
      what was planned and what the deployment needs. Whether the GPU runs that format is the
      memory planner's check (``gpurec_capacity.planner.weight_format_support``).
    - ``kv_cache_dtype``: ``auto`` keeps the checkpoint's choice (its dtype, or fp8 when the
      checkpoint's quantization config says so); ``fp8`` / ``fp8_e4m3`` / ``fp8_e5m2`` = 1 byte.
      Whether the GPU supports an fp8 KV cache is the memory planner's check.
    """
    result = inferred
    key = None if precision is None else precision_spelling(precision)
    hidden = getattr(getattr(model, "config", None), "hidden_size", 4096)
    if key in (None, "", "auto", "none"):
        pass
    elif key in _DTYPE_ALIASES:
        dtype = _DTYPE_ALIASES[key]
        if dtype is not None:
            nbytes = DTYPE_BYTES[dtype]
            kv_follows = inferred.kv_cache_dtype == inferred.unquantized_dtype
            update: dict[str, Any] = dict(unquantized_dtype=dtype, unquantized_bytes_per_param=nbytes)
            if not inferred.is_quantized:
                update.update(weight=dtype, weight_bytes_per_param=nbytes, compute_dtype=dtype,
                              source=f"override dtype {dtype} (vLLM --dtype)")
            else:
                if inferred.compute_dtype in ("bf16", "fp16", "fp32"):
                    update["compute_dtype"] = dtype
                update["what_if_note"] = (
                    f"{dtype} on this quantized checkpoint (it is {checkpoint_format(inferred)}) is vLLM's --dtype: "
                    f"activations and the modules left unquantized in {dtype}, the quantized weights stay "
                    f"{inferred.weight}; the original {dtype} model is another checkpoint (plan it by its id)")
            if kv_follows:
                update.update(kv_cache_dtype=dtype, kv_cache_bytes=nbytes)
            result = inferred.model_copy(update=update)
    elif key in _QUANT_ALIASES:
        weight = _QUANT_ALIASES[key]
        export = _ASSUMED_EXPORTS[weight][-1]
        if weight == inferred.weight and inferred.is_quantized:
            result = inferred
        elif inferred.is_quantized:
            planned = _planned_export(model, weight, export)
            result = assumed_export_precision(unquantized_precision(inferred), weight, hidden)
            result = result.model_copy(update=dict(
                source=f"what-if {weight!r} export of the {inferred.unquantized_dtype} weights: {export}",
                what_if_note=_what_if_note(model, inferred, weight, planned)))
        elif weight == "fp8":
            result = assumed_export_precision(inferred, weight, hidden).model_copy(update=dict(what_if_note=(
                f"fp8 weights: vLLM and SGLang quantize this {inferred.weight} checkpoint when it loads "
                "(--quantization fp8, per-tensor scales), no other checkpoint needed; TensorRT-LLM needs an FP8 "
                "export (ModelOpt)")))
        else:
            planned = _planned_export(model, weight, export)
            result = assumed_export_precision(inferred, weight, hidden).model_copy(update=dict(
                what_if_note=_what_if_note(model, inferred, weight, planned)))
    else:
        choices = [k for k in list(_DTYPE_ALIASES) + list(_QUANT_ALIASES) if k != "auto"]
        raise WorkloadError(f"unknown precision {precision!r}.{did_you_mean(str(precision), choices)} "
                            "Choose one of fp32, fp16, bf16, fp8, int8, int4, nvfp4, mxfp4")

    kv_key = None if kv_cache_dtype is None else precision_spelling(kv_cache_dtype)
    if kv_key in (None, "", "auto"):
        return result
    if kv_key not in _KV_ALIASES:
        raise WorkloadError(f"unknown kv_cache_dtype {kv_cache_dtype!r}.{did_you_mean(str(kv_cache_dtype), list(_KV_ALIASES))} "
                            "Choose auto (the checkpoint's), fp8, bf16 or fp16")
    kv = _KV_ALIASES[kv_key]
    return result.model_copy(update=dict(kv_cache_dtype=kv, kv_cache_bytes=DTYPE_BYTES[kv]))


def iter_layers_of_stage(num_layers: int, pipeline_parallel_size: int, stage: int) -> range:
    """Decoder layers of pipeline stage ``stage``: ``L // pp`` each, the remainder added one by one
    to the stages before the last, walking backwards (vllm/distributed/utils.py ``get_pp_indices``)."""
    if pipeline_parallel_size < 1 or not 0 <= stage < pipeline_parallel_size:
        raise WorkloadError(f"stage {stage} is outside a pipeline of {pipeline_parallel_size}")
    parts = [num_layers // pipeline_parallel_size] * pipeline_parallel_size
    for i in range(2, num_layers % pipeline_parallel_size + 2):
        parts[-i] += 1
    start = sum(parts[:stage])
    return range(start, start + parts[stage])


def padded_vocab(vocab_size: int, padding: int = VOCAB_PADDING) -> int:
    """Vocabulary rows vLLM allocates: ``ceil(V / 64) * 64`` (``pad_vocab_size``)."""
    return int(math.ceil(vocab_size / padding) * padding)


def finite(values: Iterable[float]) -> bool:
    """True when every value is a finite number."""
    return all(math.isfinite(v) for v in values)
