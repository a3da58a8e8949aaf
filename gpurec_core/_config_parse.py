"""Parse a HuggingFace ``config.json`` dict into a :class:`ModelConfig`, architecture by architecture.

No transformers, no ``trust_remote_code``: every family below reads the fields its HF
``configuration_*.py`` / ``modeling_*.py`` (transformers 5.x, or the model repo's remote code) reads,
with the same defaults. Multimodal configs are analysed through their ``text_config``.

Every malformed input raises :class:`ModelConfigError` naming the field and the model_type, e.g.
``config.json field 'num_attention_heads' must be a positive integer, got 'abc' (model_type llama)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional

from pydantic import ValidationError

from gpurec_core._quant_parse import check_hf_quant_config, check_quantization_config
from gpurec_core.config_defaults import attribute_map, class_defaults, sub_config_model_type
from gpurec_core.errors import ModelConfigError
from gpurec_core.model_config import MAX_LAYERS, PER_LAYER_FIELDS, ModelConfig

_MISSING: Any = object()

# No real decoder comes near this (the deepest in the catalog has 126 layers); a larger value is a
# corrupt config, and per-layer tuples of that length would exhaust memory. Checked before the
# per-layer tuples are built; the other bounds are ModelConfig's.
_MAX_LAYERS = MAX_LAYERS

# Keys under which multimodal configs keep their language model's config.
_TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config", "thinker_config")

# HF layer_types spellings -> ModelConfig.LayerKind.
_LAYER_KIND_ALIASES = {
    "full_attention": "full_attention",
    "attention": "full_attention",
    "global_attention": "full_attention",
    "global": "full_attention",
    "sliding_attention": "sliding_attention",
    "sliding_window_attention": "sliding_attention",
    "local_attention": "sliding_attention",
    "local": "sliding_attention",
    "chunked_attention": "sliding_attention",
    "linear_attention": "linear_attention",
    "mamba": "mamba",
    "mamba2": "mamba",
    # Sparse attention with a token indexer (DeepSeek-V3.2's DSA, Qwen4-Exp's QSA): every token's KV is
    # cached and the indexer picks which to read, so the cache is a full-attention layer's (the indexer's
    # own keys are read from index_n_heads/index_head_dim where a family parser knows them). transformers
    # 5.x writes "indexed_attention" (configuration_utils.ALLOWED_ATTN_LAYER_TYPES) and remaps the
    # older names below to it (_LEGACY_LAYER_TYPE_REMAP).
    "indexed_attention": "full_attention",
    "deepseek_sparse_attention": "full_attention",
    "qwen_sparse_attention": "full_attention",
}

# Fields that set a model's size. At the top level of a config.json they must be the config's own:
# transformers' to_diff_dict always writes a top-level config's model-specific keys, and a config
# class's defaults are a toy model (LlamaConfig's intermediate_size 11008 is wrong for most llamas),
# so gpurec never takes these from the class defaults there. (A nested text_config may leave any key
# to its class's defaults, as to_diff_dict drops the keys that equal them.)
_REQUIRED_AT_TOP = frozenset({
    "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
    # dense FFN width, and the families' names for it
    "intermediate_size", "intermediate_size_mlp", "dense_intermediate_size",
    # MoE: expert count, experts per token, expert width
    "num_local_experts", "num_experts", "n_routed_experts",
    "num_experts_per_tok", "num_experts_per_token", "experts_per_token", "top_k_experts",
    "moe_intermediate_size",
    # the same sizes under older families' names (their config classes' attribute_map: GPT-J, DBRX, EXAONE)
    "n_embd", "n_layer", "n_head", "d_model", "n_layers", "n_heads", "num_layers",
})
_EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
_TOP_K_KEYS = ("num_experts_per_tok", "experts_per_token", "top_k_experts")
# Older spellings that configs on the Hub use for a field a config class now names differently
# (not in the class's attribute_map): the class default of the new name must not shadow them.
_LEGACY_ALIASES = (("attention_head_dim", "head_dim"),)
_MISSING_HINT = ("; gpurec takes a model's sizes only from its own config.json, never from a config "
                 "class's defaults: use the model's complete config.json")


# --------------------------------------------------------------------------------------------
# Typed access to one config dict
# --------------------------------------------------------------------------------------------


class _Fields:
    """Typed, error-naming access to one config dict (the top level or its text_config)."""

    def __init__(self, raw: dict[str, Any], model_type: str, prefix: str = "") -> None:
        self.raw = raw
        self.model_type = model_type
        self.prefix = prefix

    def fail(self, name: str, requirement: str, value: Any = _MISSING, hint: str = "") -> ModelConfigError:
        got = "" if value is _MISSING else f", got {value!r}"
        return ModelConfigError(
            f"config.json field '{self.prefix}{name}' {requirement}{got} (model_type {self.model_type}){hint}"
        )

    def has(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def get(self, name: str, default: Any = None) -> Any:
        value = self.raw.get(name)
        return default if value is None else value

    def _int(self, name: str, value: Any, minimum: int, what: str) -> int:
        if isinstance(value, bool):
            raise self.fail(name, f"must be {what}", value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or value < minimum:
            raise self.fail(name, f"must be {what}", value)
        return value

    def _int_at_least(self, name: str, minimum: int, what: str, default: Any) -> int:
        if not self.has(name):
            if default is _MISSING:
                hint = _MISSING_HINT if name in _REQUIRED_AT_TOP else ""
                raise self.fail(name, f"is missing (or null); it must be {what}", hint=hint)
            return default
        return self._int(name, self.raw[name], minimum, what)

    def pos_int(self, name: str, default: Any = _MISSING) -> int:
        """A required (or defaulted) integer > 0."""
        return self._int_at_least(name, 1, "a positive integer", default)

    def nonneg_int(self, name: str, default: Any = _MISSING) -> int:
        """A required (or defaulted) integer >= 0."""
        return self._int_at_least(name, 0, "a non-negative integer", default)

    def opt_pos_int(self, name: str) -> Optional[int]:
        """An optional integer > 0; absent, null or 0 mean None."""
        if not self.has(name) or self.raw[name] == 0:
            return None
        return self._int(name, self.raw[name], 1, "a positive integer or null")

    def number(self, name: str, default: Any = _MISSING) -> float:
        if not self.has(name):
            if default is _MISSING:
                raise self.fail(name, "is missing (or null); it must be a number")
            return default
        value = self.raw[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(name, "must be a finite number", value)
        return float(value)

    def flag(self, name: str, default: bool = False) -> bool:
        if not self.has(name):
            return default
        value = self.raw[name]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise self.fail(name, "must be true or false", value)

    def text(self, name: str, default: Optional[str] = None) -> Optional[str]:
        if not self.has(name):
            return default
        value = self.raw[name]
        if not isinstance(value, str):
            raise self.fail(name, "must be a string", value)
        return value

    def int_list(self, name: str, length: Optional[int] = None, minimum: int = 0) -> Optional[list[int]]:
        if not self.has(name):
            return None
        value = self.raw[name]
        if not isinstance(value, (list, tuple)):
            raise self.fail(name, "must be a list of integers", value)
        out = [self._int(f"{name}[{i}]", v, minimum, f"an integer >= {minimum}") for i, v in enumerate(value)]
        if length is not None and len(out) != length:
            raise self.fail(name, f"must have {length} entries (one per layer), has {len(out)}")
        return out

    def str_list(self, name: str) -> Optional[list[str]]:
        if not self.has(name):
            return None
        value = self.raw[name]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "must be a list of strings", value)
        return list(value)

    def sub(self, name: str) -> Optional["_Fields"]:
        if not self.has(name):
            return None
        value = self.raw[name]
        if not isinstance(value, dict):
            raise self.fail(name, "must be a JSON object", value)
        return _Fields(value, self.model_type, f"{self.prefix}{name}.")


# --------------------------------------------------------------------------------------------
# Pieces shared by the families
# --------------------------------------------------------------------------------------------


def _attention_kind(num_heads: int, num_kv_heads: int, kv_lora_rank: Optional[int]) -> str:
    """MLA if the config has kv_lora_rank; MQA if 1 KV head; MHA if KV heads == query heads; else GQA."""
    if kv_lora_rank:
        return "MLA"
    if num_kv_heads == 1:
        return "MQA"
    if num_kv_heads == num_heads:
        return "MHA"
    return "GQA"


def _core(f: _Fields, head_dim: Optional[int] = None) -> dict[str, Any]:
    """Fields every decoder has: sizes, heads, vocabulary, context, dtype, activation.
    ``head_dim`` given by the caller (MLA: qk_nope + qk_rope) skips the config's head_dim."""
    hidden = f.pos_int("hidden_size")
    layers = f.pos_int("num_hidden_layers")
    if layers > _MAX_LAYERS:
        raise f.fail("num_hidden_layers", f"must be at most {_MAX_LAYERS:,}", layers)
    heads = f.pos_int("num_attention_heads")
    kv_heads = f.pos_int("num_key_value_heads", heads)
    if heads % kv_heads:
        raise f.fail("num_key_value_heads", f"must divide num_attention_heads ({heads})", kv_heads)
    if head_dim is not None:
        pass
    elif f.has("head_dim"):
        head_dim = f.pos_int("head_dim")
    else:
        if hidden % heads:
            raise f.fail("head_dim", f"is missing and hidden_size {hidden} is not a multiple of "
                         f"num_attention_heads {heads}")
        head_dim = hidden // heads
    act = f.text("hidden_act") or f.text("hidden_activation") or "silu"
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "v_head_dim": head_dim,
        "intermediate_size": f.nonneg_int("intermediate_size", 0),
        "vocab_size": f.pos_int("vocab_size"),
        "max_position_embeddings": f.pos_int("max_position_embeddings"),
        "hidden_act": act,
        "attention_bias": f.flag("attention_bias"),
        "mlp_bias": f.flag("mlp_bias"),
    }


def _map_layer_types(f: _Fields, name: str, layers: int) -> list[str]:
    kinds = f.str_list(name)
    assert kinds is not None
    mtp = f.nonneg_int("num_nextn_predict_layers", 0)
    if mtp and len(kinds) == layers + mtp:  # legacy hub configs pad per-layer lists with the MTP layers
        kinds = kinds[:layers]
    if len(kinds) != layers:
        raise f.fail(name, f"must have num_hidden_layers ({layers}) entries, has {len(kinds)}")
    out = []
    for i, kind in enumerate(kinds):
        if kind not in _LAYER_KIND_ALIASES:
            raise f.fail(f"{name}[{i}]", f"is not a known layer kind ({', '.join(sorted(_LAYER_KIND_ALIASES))})", kind)
        out.append(_LAYER_KIND_ALIASES[kind])
    return out


def _listed_or_every_nth_full(f: _Fields, layers: int, period_key: str, default_period: int, other: str) -> list[str]:
    """``layer_types`` when the config lists them, else every ``period_key``-th layer full attention
    and the rest ``other`` (Gemma 3/4 ``sliding_window_pattern``, Qwen3-Next ``full_attention_interval``)."""
    if f.has("layer_types"):
        return _map_layer_types(f, "layer_types", layers)
    period = f.pos_int(period_key, default_period)
    return ["full_attention" if (i + 1) % period == 0 else other for i in range(layers)]


def _sliding_window(f: _Fields, max_pos: int) -> Optional[int]:
    """The config's sliding_window, or None when absent or not smaller than the context (Phi-3 128k)."""
    window = f.opt_pos_int("sliding_window")
    if window is None or window >= max_pos:
        return None
    return window


def _uniform_or_listed_layer_types(f: _Fields, base: dict[str, Any]) -> list[str]:
    """layer_types if the config lists them; else Qwen2-style use_sliding_window/max_window_layers;
    else every layer sliding when a (smaller-than-context) sliding_window is set (Mistral v0.1); else full."""
    layers = base["num_hidden_layers"]
    if f.has("layer_types"):
        return _map_layer_types(f, "layer_types", layers)
    window = _sliding_window(f, base["max_position_embeddings"])
    if window is None:
        return ["full_attention"] * layers
    if "use_sliding_window" in f.raw:
        if not f.flag("use_sliding_window"):
            return ["full_attention"] * layers
        first = f.nonneg_int("max_window_layers", layers)
        return ["sliding_attention" if i >= first else "full_attention" for i in range(layers)]
    return ["sliding_attention"] * layers


def _finish_attention(out: dict[str, Any], f: _Fields) -> None:
    """Fill attention_kind and sliding_window from the layer pattern."""
    out.setdefault("attention_kind", _attention_kind(out["num_attention_heads"], out["num_key_value_heads"],
                                                     out.get("kv_lora_rank")))
    if "sliding_attention" in out["layer_types"]:
        if out.get("sliding_window") is None:
            window = f.opt_pos_int("sliding_window")
            if window is None:
                raise f.fail("sliding_window", "must be a positive integer when layers use sliding attention",
                             f.raw.get("sliding_window"))
            out["sliding_window"] = window
    else:
        out["sliding_window"] = None


# --------------------------------------------------------------------------------------------
# Families
# --------------------------------------------------------------------------------------------


#: Families whose o_proj has a bias exactly when q/k/v do (``bias=config.attention_bias`` on all four).
_O_PROJ_BIAS_FOLLOWS_ATTENTION_BIAS = frozenset({
    "cohere", "cohere2", "olmo", "olmo2", "olmo3", "olmoe", "phimoe", "exaone", "granitemoe", "granitemoeshared",
})

#: Gemma families whose layers alternate sliding / global: one global layer every n.
_GEMMA_GLOBAL_EVERY = {"gemma2": 2, "gemma3_text": 6}


def _parse_standard(f: _Fields) -> dict[str, Any]:
    """Llama-like decoders, dense or MoE: llama, mistral, mixtral, qwen2, qwen3, qwen3_moe, qwen3_vl(_moe)_text,
    granite, phi3, mimo, gemma, gemma2, gemma3_text, gpt_oss, minimax_m2, step3p7, and unknown model_types
    with llama fields.

    Source: transformers models/<family>/modeling_<family>.py (5.24): q/k/v/o projections, a
    (gated) MLP or a sparse MoE block per layer, RMSNorm before attention and MLP.
    """
    mt = f.model_type
    out = _core(f)
    layers = out["num_hidden_layers"]
    out["layer_types"] = _uniform_or_listed_layer_types(f, out)

    # Gemma 2 / 3: every n-th layer global, the rest sliding (configuration_gemma2.py: every 2nd;
    # configuration_gemma3.py: every sliding_window_pattern-th, default 6); four sandwich norms.
    if mt in _GEMMA_GLOBAL_EVERY:
        out["layer_types"] = _listed_or_every_nth_full(f, layers, "sliding_window_pattern", _GEMMA_GLOBAL_EVERY[mt],
                                                       "sliding_attention")
        out["norms_per_layer"] = 4
    if mt == "gemma3_text":
        out.update(qk_norm="per_head", gated_mlp=True)
    if mt in ("qwen3", "qwen3_moe", "qwen3_vl_text", "qwen3_vl_moe_text", "step3p7"):
        out["qk_norm"] = "per_head"
    if mt in ("qwen2", "qwen2_5_vl", "qwen2_5_vl_text") and "attention_bias" not in f.raw:
        out["attention_bias"] = True  # Qwen2Attention / Qwen2_5_VLAttention: q/k/v bias=True, o_proj bias=False
    if mt == "qwen2_moe":  # Qwen2MoeAttention: q/k/v bias=qkv_bias (default true), o_proj bias=False
        out["attention_bias"] = f.flag("qkv_bias", True)
    if mt in _O_PROJ_BIAS_FOLLOWS_ATTENTION_BIAS:
        out["attention_output_bias"] = out["attention_bias"]
    if mt in ("cohere", "cohere2"):  # one CohereLayerNorm (weight only) before the parallel attention + MLP
        out["norms_per_layer"] = 1
        if f.flag("use_qk_norm"):  # CohereLayerNorm over (heads, head_dim): n*d + g*d weights
            out["qk_norm"] = "per_layer"
    if mt == "cohere2":  # configuration_cohere2.py: every sliding_window_pattern-th layer global (4)
        out["layer_types"] = _listed_or_every_nth_full(f, layers, "sliding_window_pattern", 4, "sliding_attention")
    if mt == "olmo":  # OlmoLayerNorm has no weights
        out["parametric_norms"] = False
    if mt in ("olmo2", "olmo3", "olmoe"):  # q_norm/k_norm: RMSNorm over the whole q / k projection
        out["qk_norm"] = "per_layer"
    if mt in ("olmo2", "olmo3"):  # post-attention and post-feedforward RMSNorms only
        out["norms_per_layer"] = 2
    if mt == "olmo3":  # configuration_olmo3.py: every 4th layer full attention, the rest sliding
        out["layer_types"] = _listed_or_every_nth_full(f, layers, "sliding_window_pattern", 4, "sliding_attention")
    if mt == "glm4":  # Glm4DecoderLayer: input, post-attention, post-self-attn and post-mlp RMSNorms
        out.update(norms_per_layer=4, attention_bias=f.flag("attention_bias", True))
    if mt == "phimoe":  # nn.LayerNorm (with bias) everywhere; lm_head bias = lm_head_bias
        out.update(norm_bias=True, lm_head_bias=f.flag("lm_head_bias"))
    if mt == "mimo":
        out["num_mtp_layers"] = f.nonneg_int("num_nextn_predict_layers", 0)

    # Mixture of experts.
    count = next((n for n in _EXPERT_COUNT_KEYS if f.has(n)), None)
    experts = f.nonneg_int(count) if count else 0
    routed = next((n for n in _TOP_K_KEYS if type(f.get(n)) is int and f.get(n) > 0), None)
    if count and not experts and routed:
        raise f.fail(count, f"is 0 while {routed}={f.get(routed)} routes each token to experts: set the number "
                     f"of experts, or remove {routed} for a dense model")
    if experts:
        top_k_name = next((n for n in _TOP_K_KEYS if f.has(n)), "num_experts_per_tok")
        top_k = f.pos_int(top_k_name)
        if top_k > experts:
            raise f.fail(top_k_name, f"must not exceed the number of experts ({experts})", top_k)
        out.update(num_experts=experts, num_experts_per_tok=top_k)
        if f.has("moe_intermediate_size"):
            out["moe_intermediate_size"] = f.pos_int("moe_intermediate_size")
        else:  # Mixtral, gpt-oss, MiniMax-M2: experts are intermediate_size wide
            out["moe_intermediate_size"] = f.pos_int("intermediate_size")
            out["intermediate_size"] = 0
        if f.has("mlp_only_layers") or f.has("decoder_sparse_step"):  # Qwen-MoE
            exclude = tuple(f.int_list("mlp_only_layers") or ())
            step = f.pos_int("decoder_sparse_step", 1)
            out["moe_layers"] = [(i + 1) % step == 0 and i not in exclude for i in range(layers)]
        elif f.has("first_k_dense_replace"):  # Step-3.7
            first = f.nonneg_int("first_k_dense_replace")
            out["moe_layers"] = [i >= first for i in range(layers)]
        else:
            out["moe_layers"] = [True] * layers
        if all(out["moe_layers"]) and f.has("moe_intermediate_size"):
            out["intermediate_size"] = 0
        shared = f.nonneg_int("n_shared_experts", 0) or f.nonneg_int("num_shared_experts", 0)
        shared_width = (f.nonneg_int("shared_intermediate_size", 0) or f.nonneg_int("share_expert_dim", 0)
                        or f.nonneg_int("shared_expert_intermediate_size", 0))
        if shared_width and not shared:
            shared = 1
        if shared and not shared_width:
            # A count alone: each shared expert is one routed expert wide (DeepSeekMoE's layout; Bailing's
            # BailingMoeSparseMoeBlock: one MLP of moe_intermediate_size x num_shared_experts)
            shared_width = out["moe_intermediate_size"]
        if shared and shared_width:
            out.update(num_shared_experts=shared, shared_expert_intermediate_size=shared * shared_width)
        if mt == "gpt_oss":
            out.update(mlp_bias=True, router_bias=True)
        if mt == "qwen2_moe" and out.get("num_shared_experts"):  # Qwen2MoeSparseMoeBlock.shared_expert_gate
            out["shared_expert_gate"] = True
        if f.flag("use_routing_bias") or f.flag("use_moe_router_bias") or f.text("topk_method") == "noaux_tc":
            out["router_bias"] = True

    if mt == "gpt_oss":
        out.update(attention_output_bias=True, attention_sinks=True)
    if mt == "minimax_m2":
        if f.flag("use_qk_norm"):
            out["qk_norm"] = "per_layer" if f.text("qk_norm_type", "per_layer") == "per_layer" else "per_head"
        out["num_mtp_layers"] = f.nonneg_int("num_mtp_modules", 0) if f.flag("use_mtp") else 0
    if mt == "step3p7":
        out["attention_output_gate"] = "per_head"  # Step3p7Attention.g_proj, gating defaults to per-head
        out["num_mtp_layers"] = f.nonneg_int("num_nextn_predict_layers", 0)
    _finish_attention(out, f)
    return out


def _parse_llama4(f: _Fields) -> dict[str, Any]:
    """Llama 4 text model (models/llama4/modeling_llama4.py).

    MoE on every ``interleave_moe_layer_step``-th layer (layers step-1, 2*step-1, ...), each with
    ``num_local_experts`` routed experts and one shared expert, both ``intermediate_size`` wide;
    dense layers use ``intermediate_size_mlp``. Attention is chunked (``attention_chunk_size``) on
    the RoPE layers and global on the NoPE layers (every 4th, ``no_rope_layers``): chunked layers are
    represented as sliding_attention with ``sliding_window = attention_chunk_size`` (each query sees at
    most one chunk, so the KV it needs is bounded the same way). ``use_qk_norm`` is a weightless L2 norm.
    """
    out = _core(f)
    layers = out["num_hidden_layers"]
    step = f.pos_int("interleave_moe_layer_step", 1)
    moe = [i in range(step - 1, layers, step) for i in range(layers)]
    experts = f.pos_int("num_local_experts")
    expert_width = f.pos_int("intermediate_size")
    out.update(
        intermediate_size=f.pos_int("intermediate_size_mlp") if not all(moe) else 0,
        num_experts=experts,
        num_experts_per_tok=f.pos_int("num_experts_per_tok"),
        moe_intermediate_size=expert_width,
        num_shared_experts=1,
        shared_expert_intermediate_size=expert_width,
        moe_layers=moe,
    )
    chunk = f.opt_pos_int("attention_chunk_size")
    no_rope = f.int_list("no_rope_layers")
    if not no_rope:  # configuration_llama4.py default: every no_rope_layer_interval-th layer is NoPE
        interval = f.pos_int("no_rope_layer_interval", 4)
        no_rope = [int((i + 1) % interval != 0) for i in range(layers)]
    if len(no_rope) != layers:
        raise f.fail("no_rope_layers", f"must have num_hidden_layers ({layers}) entries", no_rope)
    if chunk and chunk < out["max_position_embeddings"]:
        out["layer_types"] = ["sliding_attention" if rope else "full_attention" for rope in no_rope]
        out["sliding_window"] = chunk
    else:
        out["layer_types"] = ["full_attention"] * layers
    _finish_attention(out, f)
    return out


def _mla_core(f: _Fields) -> dict[str, Any]:
    """The core fields of a multi-head latent attention model (DeepSeek-V2/V3 ``modeling_deepseek``): a
    compressed KV of ``kv_lora_rank`` per token, queries and keys ``qk_nope_head_dim + qk_rope_head_dim``
    wide (which must be positive), values ``v_head_dim``, and its MTP layers."""
    kv_lora = f.pos_int("kv_lora_rank")
    nope = f.nonneg_int("qk_nope_head_dim")
    rope = f.nonneg_int("qk_rope_head_dim")
    if nope + rope == 0:
        raise f.fail("qk_nope_head_dim", "plus qk_rope_head_dim must be positive", 0)
    out = _core(f, head_dim=nope + rope)
    out.update(attention_kind="MLA", kv_lora_rank=kv_lora, q_lora_rank=f.opt_pos_int("q_lora_rank"),
               qk_nope_head_dim=nope, qk_rope_head_dim=rope, head_dim=nope + rope, v_head_dim=f.pos_int("v_head_dim"),
               num_mtp_layers=f.nonneg_int("num_nextn_predict_layers", 0))
    return out


def _parse_mla(f: _Fields) -> dict[str, Any]:
    """DeepSeek-V2/V3/R1/V3.1/V3.2, Kimi K2/K2.5, GLM-5 (glm_moe_dsa): Multi-head Latent Attention + MoE.

    Source: models/deepseek_v3/modeling_deepseek_v3.py, deepseek_v32/, glm_moe_dsa/ (transformers 5.24).
    Layer i is MoE when ``n_routed_experts`` and ``i >= first_k_dense_replace`` and ``i % moe_layer_freq == 0``.
    ``num_hidden_layers`` excludes the ``num_nextn_predict_layers`` MTP layers (stored after them in
    the checkpoint, used only for speculative decoding). V3.2 / GLM-5 add a lightning indexer
    (``index_n_heads`` x ``index_head_dim``) on every layer.
    """
    out = _mla_core(f)
    layers = out["num_hidden_layers"]
    out["layer_types"] = ["full_attention"] * layers
    experts = f.nonneg_int("n_routed_experts", 0)
    if experts:
        first = f.nonneg_int("first_k_dense_replace", 0)
        freq = f.pos_int("moe_layer_freq", 1)
        moe = [i >= first and i % freq == 0 for i in range(layers)]
        shared = f.nonneg_int("n_shared_experts", 0)
        width = f.pos_int("moe_intermediate_size")
        out.update(
            num_experts=experts,
            num_experts_per_tok=f.pos_int("num_experts_per_tok"),
            moe_intermediate_size=width,
            num_shared_experts=shared,
            shared_expert_intermediate_size=shared * width,
            moe_layers=moe,
            router_bias=f.text("topk_method", "noaux_tc") == "noaux_tc",
        )
        if all(moe):
            out["intermediate_size"] = 0
    if f.has("index_n_heads"):
        out.update(index_n_heads=f.pos_int("index_n_heads"), index_head_dim=f.pos_int("index_head_dim"),
                   index_topk=f.opt_pos_int("index_topk"))
    _finish_attention(out, f)
    return out


def _parse_deepseek_v4(f: _Fields) -> dict[str, Any]:
    """DeepSeek-V4 Flash/Pro (models/deepseek_v4/modeling_deepseek_v4.py; sgl-project's ``deepseek_ref``).

    Shared-KV MQA: one KV head of ``head_dim`` (512) read as both K and V, q through a
    ``q_lora_rank`` bottleneck, a grouped low-rank output projection (``o_groups`` x ``o_lora_rank``),
    per-head sinks, ``hc_mult`` hyper-connection streams. Per layer ``compress_ratios[i]``: 0 = only a
    ``sliding_window`` (sliding_attention), 4 = compressed sparse attention with an indexer, 128 =
    heavily compressed attention; both of the latter also keep the sliding window and are
    represented as full_attention. ``compress_ratios`` has one extra entry for the MTP layer.
    Every layer is MoE (the first ``num_hash_layers`` route by token-id hash). ``expert_dtype: "fp4"``
    (the released Flash and Pro) stores the routed experts MXFP4 beside the FP8 block weights that
    ``quantization_config`` describes; the -Base checkpoints omit it and store the experts FP8.
    """
    out = _core(f)
    layers = out["num_hidden_layers"]
    ratios = f.int_list("compress_ratios")
    if ratios is None:
        ratios = [0] * layers
    mtp = f.nonneg_int("num_nextn_predict_layers", 0)
    if len(ratios) not in (layers, layers + mtp):
        raise f.fail("compress_ratios", f"must have num_hidden_layers ({layers}) entries (+ MTP layers)", ratios)
    ratios = ratios[:layers]
    experts = f.pos_int("n_routed_experts")
    width = f.pos_int("moe_intermediate_size")
    shared = f.nonneg_int("n_shared_experts", 0)
    out.update(
        attention_kind="MQA",
        num_key_value_heads=f.pos_int("num_key_value_heads", 1),
        q_lora_rank=f.pos_int("q_lora_rank"),
        qk_rope_head_dim=f.nonneg_int("qk_rope_head_dim", 0),
        o_lora_rank=f.pos_int("o_lora_rank"),
        o_groups=f.pos_int("o_groups"),
        hc_mult=f.pos_int("hc_mult", 1),
        attention_sinks=True,
        layer_types=["sliding_attention" if r == 0 else "full_attention" for r in ratios],
        layer_kv_compress_ratios=ratios,
        sliding_window=f.pos_int("sliding_window"),
        index_n_heads=f.pos_int("index_n_heads"),
        index_head_dim=f.pos_int("index_head_dim"),
        index_topk=f.opt_pos_int("index_topk"),
        indexer_layers=[r == 4 for r in ratios],
        num_experts=experts,
        num_experts_per_tok=f.pos_int("num_experts_per_tok"),
        moe_intermediate_size=width,
        num_shared_experts=shared,
        shared_expert_intermediate_size=shared * width,
        moe_layers=[True] * layers,
        intermediate_size=0,
        router_bias=True,
        num_mtp_layers=mtp,
        expert_weight_dtype=_expert_dtype(f),
    )
    return out


def _expert_dtype(f: _Fields) -> Optional[str]:
    """config.json ``expert_dtype`` ("fp4" or "fp8"; absent = None)."""
    value = f.text("expert_dtype")
    if value is not None and value not in ("fp4", "fp8"):
        raise f.fail("expert_dtype", "must be 'fp4' or 'fp8'", value)
    return value


def _parse_minimax_lightning(f: _Fields) -> dict[str, Any]:
    """MiniMax-M1 / MiniMax-Text-01: lightning (linear) attention with a softmax-attention layer in
    every eight, and a Mixtral-style MoE (``num_local_experts`` experts ``intermediate_size`` wide).

    Source: MiniMax-AI/MiniMax-M1 modeling_minimax_m1.py (``MiniMaxM1LightningAttention``: qkv_proj
    H -> 3D, output_gate H -> D, RMSNorm over D, out_proj D -> H with D = heads x head_dim; its cache
    is one d x d state per head) and its model.safetensors.index.json (70 layers with qkv_proj /
    output_gate / norm / out_proj, 10 with q/k/v/o_proj). Layer kinds from ``attn_type_list`` (0
    lightning, 1 softmax) or ``layer_types`` (transformers' MiniMaxConfig).
    """
    out = _parse_standard(f)
    layers = out["num_hidden_layers"]
    if f.has("layer_types"):
        out["layer_types"] = _map_layer_types(f, "layer_types", layers)
    else:
        kinds = f.int_list("attn_type_list", length=layers)
        if kinds is None:
            raise f.fail("attn_type_list", "is required (one entry per layer: 0 lightning attention, 1 softmax "
                         "attention), or layer_types", None)
        out["layer_types"] = ["full_attention" if k else "linear_attention" for k in kinds]
    heads, d = out["num_attention_heads"], out["head_dim"]
    out.update(linear_attention_kind="lightning", linear_num_key_heads=heads, linear_num_value_heads=heads,
               linear_key_head_dim=d, linear_value_head_dim=d)
    return out


def _parse_hybrid_linear(f: _Fields) -> dict[str, Any]:
    """Qwen3-Next and Qwen3.5 / 3.6 (dense and MoE): Gated DeltaNet linear attention interleaved with
    gated full attention.

    Source: models/qwen3_next/modeling_qwen3_next.py and qwen3_5(_moe)/. Layer kinds from
    ``layer_types`` or, failing that, every ``full_attention_interval``-th layer full. Full attention
    has an elementwise output gate (q_proj is 2x wide) and per-head q/k RMSNorm. MoE layers have a
    sigmoid-gated shared expert. ``mtp_num_hidden_layers`` MTP layers are excluded.
    """
    out = _core(f)
    layers = out["num_hidden_layers"]
    out["layer_types"] = _listed_or_every_nth_full(f, layers, "full_attention_interval", 4, "linear_attention")
    out.update(
        qk_norm="per_head",
        attention_output_gate="elementwise" if f.flag("attn_output_gate", True) else None,
        linear_attention_kind="gated_deltanet",
        linear_num_key_heads=f.pos_int("linear_num_key_heads"),
        linear_num_value_heads=f.pos_int("linear_num_value_heads"),
        linear_key_head_dim=f.pos_int("linear_key_head_dim"),
        linear_value_head_dim=f.pos_int("linear_value_head_dim"),
        linear_conv_kernel_dim=f.pos_int("linear_conv_kernel_dim", 4),
        num_mtp_layers=f.nonneg_int("mtp_num_hidden_layers", 0) or f.nonneg_int("num_nextn_predict_layers", 0),
    )
    experts = f.nonneg_int("num_experts", 0)
    if experts:
        exclude = tuple(f.int_list("mlp_only_layers") or ())
        step = f.pos_int("decoder_sparse_step", 1)
        moe = [(i + 1) % step == 0 and i not in exclude for i in range(layers)]
        shared_width = f.nonneg_int("shared_expert_intermediate_size", 0)
        out.update(
            num_experts=experts,
            num_experts_per_tok=f.pos_int("num_experts_per_tok"),
            moe_intermediate_size=f.pos_int("moe_intermediate_size"),
            num_shared_experts=1 if shared_width else 0,
            shared_expert_intermediate_size=shared_width,
            shared_expert_gate=bool(shared_width),
            moe_layers=moe,
        )
        if all(moe):
            out["intermediate_size"] = 0
    _finish_attention(out, f)
    return out


def _parse_gemma4(f: _Fields) -> dict[str, Any]:
    """Gemma 4 text model (models/gemma4/modeling_gemma4.py).

    Sliding layers: ``num_key_value_heads`` x ``head_dim``; full layers: ``num_global_key_value_heads``
    x ``global_head_dim``, and with ``attention_k_eq_v`` no v_proj (V is K). Four sandwich norms per
    layer, per-head q/k norms, tied embeddings. ``enable_moe_block`` adds, on every layer, a routed
    MoE (``num_experts`` x ``moe_intermediate_size``, top ``top_k_experts``) in parallel with the dense
    MLP; the dense MLP is represented as one always-active shared expert of ``intermediate_size``.
    """
    out = _core(f)
    layers = out["num_hidden_layers"]
    out["layer_types"] = _listed_or_every_nth_full(f, layers, "sliding_window_pattern", 6, "sliding_attention")
    if f.nonneg_int("num_kv_shared_layers", 0) or f.nonneg_int("hidden_size_per_layer_input", 0):
        raise f.fail("num_kv_shared_layers", "(KV sharing / per-layer inputs, Gemma 3n-style) is not supported yet")
    global_dim = f.pos_int("global_head_dim", out["head_dim"])
    global_kv = f.pos_int("num_global_key_value_heads", out["num_key_value_heads"])
    full = [k == "full_attention" for k in out["layer_types"]]
    out.update(
        layer_head_dim=[global_dim if is_full else out["head_dim"] for is_full in full],
        layer_v_head_dim=[global_dim if is_full else out["head_dim"] for is_full in full],
        layer_num_key_value_heads=[global_kv if is_full else out["num_key_value_heads"] for is_full in full],
        attention_k_eq_v=f.flag("attention_k_eq_v"),
        qk_norm="per_head",
        norms_per_layer=4,
        attention_kind=_attention_kind(out["num_attention_heads"], global_kv, None),
    )
    if f.flag("enable_moe_block") and f.nonneg_int("num_experts", 0):
        experts = f.pos_int("num_experts")
        dense = out["intermediate_size"]
        out.update(
            num_experts=experts,
            num_experts_per_tok=f.pos_int("top_k_experts"),
            moe_intermediate_size=f.pos_int("moe_intermediate_size"),
            num_shared_experts=1,
            shared_expert_intermediate_size=dense,
            moe_layers=[True] * layers,
            intermediate_size=0,
            router_bias=True,  # Gemma4TextRouter.per_expert_scale (num_experts)
            norms_per_layer=4 + 3 + 1,  # + post_feedforward_layernorm_1/_2, pre_feedforward_layernorm_2, router scale
        )
    _finish_attention(out, f)
    return out


def _parse_nemotron_h(f: _Fields) -> dict[str, Any]:
    """Nemotron-H / Nemotron-3 (models/nemotron_h/modeling_nemotron_h.py): one mixer per block.

    ``hybrid_override_pattern`` (or ``layers_block_type``): ``M`` Mamba-2, ``*`` attention, ``-`` MLP,
    ``E`` MoE. Each character is one HF block (one norm + one mixer), so ``-``/``E`` blocks are
    ``mlp_only`` layers. MLPs and experts are non-gated (up, relu2, down). With ``moe_latent_size``
    routed experts run in that latent width between two projections.
    """
    kinds: list[str] = []
    mlp: list[str] = []
    if f.has("layers_block_type"):
        # transformers 5.x writes a Mamba-2 block as "linear_attention" (NemotronHConfig._pattern_to_list).
        names = {"mamba": ("mamba", ""), "linear_attention": ("mamba", ""), "attention": ("full_attention", ""),
                 "full_attention": ("full_attention", ""), "mlp": ("mlp_only", "mlp"), "moe": ("mlp_only", "moe")}
        for i, name in enumerate(f.str_list("layers_block_type") or []):
            if name not in names:
                raise f.fail(f"layers_block_type[{i}]", "must be one of mamba (or linear_attention), attention (or "
                             "full_attention), mlp, moe", name)
            kinds.append(names[name][0])
            mlp.append(names[name][1])
    elif f.has("hybrid_override_pattern"):
        pattern = f.text("hybrid_override_pattern") or ""
        chars = {"M": ("mamba", ""), "*": ("full_attention", ""), "-": ("mlp_only", "mlp"), "E": ("mlp_only", "moe")}
        for i, ch in enumerate(pattern):
            if ch not in chars:
                raise f.fail("hybrid_override_pattern", f"has unknown block {ch!r} at {i} (expected M, *, -, E)", pattern)
            kinds.append(chars[ch][0])
            mlp.append(chars[ch][1])
    else:
        raise f.fail("hybrid_override_pattern", "is missing (nor is layers_block_type given)")
    if not kinds:
        raise f.fail("hybrid_override_pattern", "must name at least one block", "")
    raw = dict(f.raw)
    raw["num_hidden_layers"] = len(kinds)  # NemotronHConfig: the pattern wins over num_hidden_layers
    if "head_dim" not in raw and "attention_head_dim" in raw:
        raw["head_dim"] = raw["attention_head_dim"]
    g = _Fields(raw, f.model_type, f.prefix)
    out = _core(g)
    dense_width = out["intermediate_size"]
    out.update(
        layer_types=kinds,
        layer_intermediate_sizes=[dense_width if m == "mlp" else 0 for m in mlp],
        moe_layers=[m == "moe" for m in mlp],
        gated_mlp=False,
        hidden_act=g.text("mlp_hidden_act", "relu2"),
        norms_per_layer=1,
        mamba_num_heads=g.pos_int("mamba_num_heads"),
        mamba_head_dim=g.pos_int("mamba_head_dim"),
        mamba_state_size=g.pos_int("ssm_state_size"),
        mamba_n_groups=g.pos_int("n_groups", 1),
        mamba_conv_kernel=g.pos_int("conv_kernel", 4),
        num_mtp_layers=g.nonneg_int("num_nextn_predict_layers", 0),
    )
    if any(out["moe_layers"]):
        shared = g.nonneg_int("n_shared_experts", 0)
        out.update(
            num_experts=g.pos_int("n_routed_experts"),
            num_experts_per_tok=g.pos_int("num_experts_per_tok"),
            moe_intermediate_size=g.pos_int("moe_intermediate_size"),
            num_shared_experts=shared,
            shared_expert_intermediate_size=shared * g.nonneg_int("moe_shared_expert_intermediate_size", 0),
            moe_latent_size=g.opt_pos_int("moe_latent_size"),
            router_bias=True,
        )
        if "mlp" not in mlp:
            out["intermediate_size"] = 0
    _finish_attention(out, g)
    return out


def _ffn_mult_to_intermediate_size(ffn_mult: float, hidden: int) -> int:
    """DeciLM: ``int(2 * ffn_mult * hidden / 3)`` rounded up to a multiple of 256
    (nvidia/Llama-3_3-Nemotron-Super-49B-v1 modeling_decilm.py ``_ffn_mult_to_intermediate_size``)."""
    size = int(2 * ffn_mult * hidden / 3)
    return size if size % 256 == 0 else size + 256 - size % 256


def _parse_nemotron_nas(f: _Fields) -> dict[str, Any]:
    """DeciLM / Llama-Nemotron NAS (``nemotron-nas``): a Llama whose layers each have their own
    ``block_configs[i]``: attention ``n_heads_in_group`` (KV heads = heads / n_heads_in_group) or
    ``no_op`` (layer becomes mlp_only), FFN ``ffn_mult`` (width per ``_ffn_mult_to_intermediate_size``)."""
    blocks = f.raw.get("block_configs")
    if not isinstance(blocks, list) or not blocks:
        raise f.fail("block_configs", "must be a non-empty list of per-layer block configs", blocks)
    raw = dict(f.raw)
    raw["intermediate_size"] = 0
    heads = f.pos_int("num_attention_heads")
    raw.setdefault("num_key_value_heads", None)
    raw["num_key_value_heads"] = raw["num_key_value_heads"] or heads
    g = _Fields(raw, f.model_type, f.prefix)
    out = _core(g)
    layers = out["num_hidden_layers"]
    if len(blocks) != layers:
        raise f.fail("block_configs", f"must have num_hidden_layers ({layers}) entries, has {len(blocks)}")
    kinds, kv, widths = [], [], []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("attention"), dict) or not isinstance(block.get("ffn"), dict):
            raise f.fail(f"block_configs[{i}]", "must have 'attention' and 'ffn' objects", block)
        b = _Fields(block["attention"], f.model_type, f"{f.prefix}block_configs[{i}].attention.")
        n = _Fields(block["ffn"], f.model_type, f"{f.prefix}block_configs[{i}].ffn.")
        if b.flag("replace_with_linear") or n.flag("replace_with_linear"):
            raise b.fail("replace_with_linear", "(a linear layer in place of attention/FFN) is not supported yet", True)
        if b.flag("no_op"):
            kinds.append("mlp_only")
            kv.append(0)
        else:
            group = b.pos_int("n_heads_in_group")
            if heads % group:
                raise b.fail("n_heads_in_group", f"must divide num_attention_heads ({heads})", group)
            kinds.append("full_attention")
            kv.append(heads // group)
        widths.append(0 if n.flag("no_op") else _ffn_mult_to_intermediate_size(n.number("ffn_mult"), out["hidden_size"]))
    attn_kv = sorted({k for k in kv if k})
    out.update(
        layer_types=kinds,
        layer_num_key_value_heads=kv,
        layer_intermediate_sizes=widths,
        num_key_value_heads=attn_kv[0] if attn_kv else heads,
        intermediate_size=max(widths),
    )
    _finish_attention(out, g)
    return out


def _parse_minimax_m3(f: _Fields) -> dict[str, Any]:
    """MiniMax-M3 (models/minimax_m3_vl/modeling_minimax_m3_vl.py, text part).

    GQA with per-head q/k norm; the layers flagged by ``sparse_attention_config.sparse_attention_freq``
    carry a block-sparse indexer (``sparse_num_index_heads`` x ``sparse_index_dim``); ``moe_layer_freq``
    (a per-layer list) marks MoE layers, the others use ``dense_intermediate_size``. Routed experts
    are ``intermediate_size`` wide; one shared expert of ``shared_intermediate_size``.
    """
    raw = dict(f.raw)
    g = _Fields(raw, f.model_type, f.prefix)
    out = _core(g)
    layers = out["num_hidden_layers"]
    freq = g.int_list("moe_layer_freq", length=layers) if isinstance(raw.get("moe_layer_freq"), list) else None
    if freq is None:
        first = g.nonneg_int("first_k_dense_replace", 0)
        freq = [int(i >= first) for i in range(layers)]
    moe = [bool(v) for v in freq]
    experts = g.pos_int("num_local_experts")
    shared = g.nonneg_int("n_shared_experts", 1)
    out.update(
        layer_types=["full_attention"] * layers,
        qk_norm="per_head" if g.flag("use_qk_norm", True) else None,
        attention_output_gate="elementwise" if g.flag("attention_output_gate") else None,
        intermediate_size=g.pos_int("dense_intermediate_size"),
        num_experts=experts,
        num_experts_per_tok=g.pos_int("num_experts_per_tok"),
        moe_intermediate_size=g.pos_int("moe_intermediate_size", g.pos_int("intermediate_size")),
        num_shared_experts=shared,
        shared_expert_intermediate_size=shared * g.nonneg_int("shared_intermediate_size", 0),
        moe_layers=moe,
        router_bias=g.flag("use_routing_bias"),
        num_mtp_layers=g.nonneg_int("num_nextn_predict_layers", 0) or g.nonneg_int("num_mtp_modules", 0),
    )
    sparse = g.sub("sparse_attention_config")
    if sparse is not None and sparse.flag("use_sparse_attention"):
        sf = sparse.int_list("sparse_attention_freq", length=layers) or [1] * layers
        out.update(
            index_n_heads=sparse.pos_int("sparse_num_index_heads"),
            index_head_dim=sparse.pos_int("sparse_index_dim"),
            index_topk=sparse.pos_int("sparse_topk_blocks") * sparse.pos_int("sparse_block_size", 128),
            indexer_layers=[bool(v) for v in sf],
        )
    _finish_attention(out, g)
    return out


def _parse_mimo_v2_flash(f: _Fields) -> dict[str, Any]:
    """MiMo-V2-Flash (models/mimo_v2_flash/modeling_mimo_v2_flash.py).

    ``hybrid_layer_pattern[i]`` 1 = sliding-window layer (``swa_num_key_value_heads`` KV heads, sinks),
    0 = full attention (``num_key_value_heads``); q/k ``head_dim`` 192, v ``v_head_dim`` 128;
    ``moe_layer_freq`` (per-layer list) marks MoE layers (no shared expert).
    """
    out = _core(f)
    layers = out["num_hidden_layers"]
    pattern = f.int_list("hybrid_layer_pattern", length=layers) or [0] * layers
    sliding = [bool(v) for v in pattern]
    kv_full = out["num_key_value_heads"]
    kv_swa = f.pos_int("swa_num_key_value_heads", kv_full)
    hd_swa = f.pos_int("swa_head_dim", out["head_dim"])
    v_full = f.pos_int("v_head_dim", out["head_dim"])
    v_swa = f.pos_int("swa_v_head_dim", v_full)
    out.update(
        layer_types=["sliding_attention" if s else "full_attention" for s in sliding],
        sliding_window=f.pos_int("sliding_window", f.pos_int("sliding_window_size", 128)),
        v_head_dim=v_full,
        layer_num_key_value_heads=[kv_swa if s else kv_full for s in sliding],
        layer_head_dim=[hd_swa if s else out["head_dim"] for s in sliding],
        layer_v_head_dim=[v_swa if s else v_full for s in sliding],
    )
    freq = f.raw.get("moe_layer_freq")
    moe = [bool(v) for v in f.int_list("moe_layer_freq", length=layers)] if isinstance(freq, list) else [True] * layers
    experts = f.nonneg_int("n_routed_experts", 0)
    if experts:
        out.update(num_experts=experts, num_experts_per_tok=f.pos_int("num_experts_per_tok"),
                   moe_intermediate_size=f.pos_int("moe_intermediate_size"), moe_layers=moe,
                   router_bias=True)
    out["num_mtp_layers"] = f.nonneg_int("num_nextn_predict_layers", 0)
    _finish_attention(out, f)
    return out


def _parse_kimi_linear(f: _Fields) -> dict[str, Any]:
    """Kimi Linear / Kimi K3 text model (models/kimi_linear/modeling_kimi_linear.py + K3 extensions).

    ``linear_attn_config.full_attn_layers`` / ``kda_layers`` are 1-based layer numbers: MLA layers
    (full_attention) and Kimi Delta Attention layers (linear_attention, ``num_heads`` x ``head_dim``).
    MoE per DeepSeek rules (``first_k_dense_replace``, ``moe_layer_freq``); K3's
    ``routed_expert_hidden_size`` is a latent width for the routed experts (moe_latent_size).
    """
    out = _mla_core(f)
    layers = out["num_hidden_layers"]
    lin = f.sub("linear_attn_config")
    kinds = ["full_attention"] * layers
    if lin is not None:
        full = lin.int_list("full_attn_layers", minimum=1) or []
        kda = lin.int_list("kda_layers", minimum=1) or []
        for n in full + kda:
            if n > layers:
                raise lin.fail("full_attn_layers", f"names layer {n} beyond num_hidden_layers ({layers})", n)
        for n in kda:
            kinds[n - 1] = "linear_attention"
        out.update(
            linear_attention_kind="kimi_delta",
            linear_num_key_heads=lin.pos_int("num_heads"),
            linear_num_value_heads=lin.pos_int("num_heads"),
            linear_key_head_dim=lin.pos_int("head_dim"),
            linear_value_head_dim=lin.pos_int("head_dim"),
            linear_conv_kernel_dim=lin.pos_int("short_conv_kernel_size", 4),
        )
    out.update(layer_types=kinds, attention_output_gate="elementwise" if f.flag("mla_use_output_gate") else None)
    experts = f.nonneg_int("num_experts", 0) or f.nonneg_int("n_routed_experts", 0)
    if experts:
        first = f.nonneg_int("first_k_dense_replace", 0)
        freq = f.pos_int("moe_layer_freq", 1)
        moe = [i >= first and i % freq == 0 for i in range(layers)]
        shared = f.nonneg_int("num_shared_experts", 0) or f.nonneg_int("n_shared_experts", 0)
        width = f.pos_int("moe_intermediate_size")
        top_k = f.pos_int("num_experts_per_token") if f.has("num_experts_per_token") else f.pos_int("num_experts_per_tok")
        out.update(num_experts=experts, num_experts_per_tok=top_k, moe_intermediate_size=width,
                   num_shared_experts=shared, shared_expert_intermediate_size=shared * width,
                   moe_layers=moe, router_bias=True, moe_latent_size=f.opt_pos_int("routed_expert_hidden_size"))
    _finish_attention(out, f)
    return out


# --------------------------------------------------------------------------------------------
# Older and non-llama families: their own field names, LayerNorms with biases, fused projections
# --------------------------------------------------------------------------------------------


def _full_layers(out: dict[str, Any]) -> list[str]:
    return ["full_attention"] * out["num_hidden_layers"]


def _parse_gptj(f: _Fields) -> dict[str, Any]:
    """GPT-J (models/gptj/modeling_gptj.py) and CodeGen (models/codegen/modeling_codegen.py, the same
    block with q/k/v fused in one bias-free ``qkv_proj``): ``n_embd``/``n_layer``/``n_head``/
    ``n_positions`` (the config class's attribute_map), MHA q/k/v/out_proj without biases, a parallel
    attention + MLP block behind one LayerNorm (``ln_1``, with bias), a non-gated MLP
    ``fc_in``/``fc_out`` with biases, ``n_inner`` wide (null = 4 * n_embd), an untied ``lm_head`` with
    a bias. ``rotary_dim`` (partial rotary) changes no size."""
    out = _core(f)
    out.update(
        intermediate_size=f.pos_int("n_inner", 4 * out["hidden_size"]),
        hidden_act=f.text("activation_function") or "gelu_new",
        gated_mlp=False, mlp_bias=True, attention_bias=False, norms_per_layer=1, norm_bias=True,
        lm_head_bias=True, layer_types=_full_layers(out),
    )
    _finish_attention(out, f)
    return out


def _parse_gpt2(f: _Fields) -> dict[str, Any]:
    """GPT-2 (models/gpt2/modeling_gpt2.py) and GPTBigCode: StarCoder 1, SantaCoder
    (models/gpt_bigcode/modeling_gpt_bigcode.py). ``n_embd``/``n_layer``/``n_head``/``n_positions``
    through the config class's attribute_map; a learned position embedding ``wpe`` of n_positions rows;
    per block ``ln_1``, ``c_attn`` (H -> 3H; GPTBigCode's ``multi_query``, default true: H -> H + 2d,
    one KV head) and ``c_proj`` with biases, ``ln_2``, a non-gated ``c_fc``/``c_proj`` MLP ``n_inner``
    wide (null = 4H) with biases; ``ln_f``; ``lm_head`` tied to ``wte`` (PretrainedConfig's default)."""
    out = _core(f)
    out.update(
        intermediate_size=f.pos_int("n_inner", 4 * out["hidden_size"]),
        hidden_act=f.text("activation_function") or "gelu_new",
        gated_mlp=False, mlp_bias=True, attention_bias=True, attention_output_bias=True, norms_per_layer=2,
        norm_bias=True, layer_types=_full_layers(out), position_embedding_rows=out["max_position_embeddings"],
    )
    if f.model_type == "gpt_bigcode" and f.flag("multi_query", True):
        out["num_key_value_heads"] = 1
    _finish_attention(out, f)
    return out


def _parse_gpt_neox(f: _Fields) -> dict[str, Any]:
    """GPT-NeoX / Pythia (models/gpt_neox/modeling_gpt_neox.py): fused ``query_key_value`` and ``dense``
    with biases (``attention_bias``, default true), MHA, non-gated MLP with biases, two LayerNorms per
    layer (with bias) whether or not ``use_parallel_residual``, untied ``embed_out`` without bias.
    ``rotary_pct`` changes no size."""
    out = _core(f)
    bias = f.flag("attention_bias", True)
    out.update(
        num_key_value_heads=out["num_attention_heads"], attention_bias=bias, attention_output_bias=bias,
        gated_mlp=False, mlp_bias=True, norms_per_layer=2, norm_bias=True, layer_types=_full_layers(out),
    )
    _finish_attention(out, f)
    return out


def _parse_opt(f: _Fields) -> dict[str, Any]:
    """OPT (models/opt/modeling_opt.py): MHA ``q/k/v/out_proj`` with biases (``enable_bias``, default
    true), a LayerNorm with bias before attention and before the MLP and a final one, a non-gated
    ``fc1``/``fc2`` MLP of ``ffn_dim`` with biases, a learned position embedding of
    ``max_position_embeddings + 2`` rows (OPTLearnedPositionalEmbedding's offset of 2), an lm_head tied to
    the embedding. ``word_embed_proj_dim`` other than ``hidden_size`` (OPT-350m's project_in/out) is refused."""
    raw = dict(f.raw)
    if raw.get("intermediate_size") is None:
        raw["intermediate_size"] = raw.get("ffn_dim")
    f = _Fields(raw, f.model_type, f.prefix)
    hidden = f.pos_int("hidden_size")
    if f.pos_int("word_embed_proj_dim", hidden) != hidden:
        raise f.fail("word_embed_proj_dim", f"other than hidden_size {hidden} (project_in/project_out, OPT-350m) "
                     "is not supported yet", raw.get("word_embed_proj_dim"))
    if not f.flag("do_layer_norm_before", True):
        raise f.fail("do_layer_norm_before", "false (post-LayerNorm OPT, OPT-350m) is not supported yet", False)
    out = _core(f)
    bias = f.flag("enable_bias", True)
    out.update(intermediate_size=f.pos_int("intermediate_size"), hidden_act=f.text("activation_function") or "relu",
               gated_mlp=False, mlp_bias=bias, attention_bias=bias, attention_output_bias=bias, norms_per_layer=2,
               norm_bias=True, layer_types=_full_layers(out), position_embedding_rows=out["max_position_embeddings"] + 2)
    _finish_attention(out, f)
    return out


def _parse_nemotron(f: _Fields) -> dict[str, Any]:
    """Nemotron-4 / Minitron / Nemotron-Mini (models/nemotron/modeling_nemotron.py): GQA q/k/v/o (biases
    only with ``attention_bias``), a non-gated ``up_proj``/``down_proj`` MLP with squared ReLU (biases
    only with ``mlp_bias``), LayerNorm1P (weight and bias) before attention and MLP and at the end, an
    untied ``lm_head``. ``partial_rotary_factor`` changes no size."""
    out = _core(f)
    bias = f.flag("attention_bias", False)
    out.update(gated_mlp=False, mlp_bias=f.flag("mlp_bias", False), attention_bias=bias,
               attention_output_bias=bias, norms_per_layer=2, norm_bias=True, layer_types=_full_layers(out))
    _finish_attention(out, f)
    return out


_FALCON_DEFAULT_CONTEXT = 2048
"""configuration_falcon.py ``max_position_embeddings`` default, for the RefinedWeb configs that predate the field."""


def _parse_falcon(f: _Fields) -> dict[str, Any]:
    """Falcon (models/falcon/modeling_falcon.py; the older ``RefinedWeb*`` names ``n_head``,
    ``n_layer``, ``n_head_kv`` are read too). ``query_key_value`` is ``(n + 2g) * d`` wide: g =
    ``num_kv_heads`` with ``new_decoder_architecture`` (Falcon-40B/180B), 1 with ``multi_query``
    (Falcon-7B), else n. ``bias`` puts biases on it, ``dense`` and the MLP. Non-gated MLP of
    ``ffn_hidden_size`` (null = 4H). Norms (LayerNorm with bias): two per layer unless ``parallel_attn``
    without the new architecture (one ``input_layernorm``), or ``num_ln_in_parallel_attn``. Tied
    embeddings by default; ``alibi`` changes no size."""
    raw = dict(f.raw)
    for old, new in (("n_head", "num_attention_heads"), ("n_layer", "num_hidden_layers"), ("n_embed", "hidden_size")):
        if raw.get(old) is not None and old in f.raw and new not in _explicit_keys(f):
            raw[new] = raw[old]
    f = _Fields(raw, f.model_type, f.prefix)
    heads = f.pos_int("num_attention_heads")
    new_arch = f.flag("new_decoder_architecture")
    kv_name = "num_kv_heads" if f.has("num_kv_heads") else "n_head_kv"
    if new_arch or not f.flag("multi_query", True):
        kv = f.pos_int(kv_name, heads)
    else:
        kv = 1
    raw["num_key_value_heads"] = kv
    raw.pop("head_dim", None)  # FalconConfig.head_dim is hidden_size // num_attention_heads
    if raw.get("max_position_embeddings") is None:  # RefinedWeb configs: FalconConfig's default 2048
        raw["max_position_embeddings"] = _FALCON_DEFAULT_CONTEXT
    f = _Fields(raw, f.model_type, f.prefix)
    out = _core(f)
    bias = f.flag("bias")
    parallel = f.flag("parallel_attn", True)
    norms = f.pos_int("num_ln_in_parallel_attn", 2 if new_arch else 1) if parallel else 2
    out.update(
        intermediate_size=f.pos_int("ffn_hidden_size", 4 * out["hidden_size"]),
        hidden_act=f.text("activation") or "gelu",
        gated_mlp=False, mlp_bias=bias, attention_bias=bias, attention_output_bias=bias,
        norms_per_layer=norms, norm_bias=True, layer_types=_full_layers(out),
    )
    _finish_attention(out, f)
    return out


def _explicit_keys(f: _Fields) -> set[str]:
    return {k for k, v in f.raw.items() if v is not None}


def _parse_phi(f: _Fields) -> dict[str, Any]:
    """Phi-1/1.5/2 (models/phi/modeling_phi.py): q/k/v/dense with biases, a parallel attention + MLP
    block behind one LayerNorm (with bias), non-gated ``fc1``/``fc2`` with biases, final LayerNorm,
    untied ``lm_head`` with a bias. ``partial_rotary_factor`` changes no size; ``qk_layernorm``
    (LayerNorms over head_dim, no released checkpoint uses it) is refused."""
    if f.flag("qk_layernorm"):
        raise f.fail("qk_layernorm", "(per-head LayerNorms on q and k) is not supported yet", True)
    out = _core(f)
    out.update(gated_mlp=False, mlp_bias=True, attention_bias=True, attention_output_bias=True,
               norms_per_layer=1, norm_bias=True, lm_head_bias=True, layer_types=_full_layers(out))
    _finish_attention(out, f)
    return out


def _parse_starcoder2(f: _Fields) -> dict[str, Any]:
    """StarCoder2 (models/starcoder2/modeling_starcoder2.py): GQA q/k/v/o and a non-gated ``c_fc``/
    ``c_proj`` MLP, all with biases when ``use_bias`` (default true), two LayerNorms per layer with
    bias; every layer attends a ``sliding_window`` when the config sets one below the context."""
    out = _core(f)
    bias = f.flag("use_bias", True)
    out.update(gated_mlp=False, mlp_bias=bias, attention_bias=bias, attention_output_bias=bias,
               norms_per_layer=2, norm_bias=True)
    out["layer_types"] = _uniform_or_listed_layer_types(f, out)
    _finish_attention(out, f)
    return out


def _parse_dbrx(f: _Fields) -> dict[str, Any]:
    """DBRX (models/dbrx/modeling_dbrx.py): ``d_model``/``n_heads``/``n_layers``/``max_seq_len``; KV heads
    ``attn_config.kv_n_heads``; every layer MoE with ``ffn_config.moe_num_experts`` gated experts
    (w1, v1, w2) ``ffn_config.ffn_hidden_size`` wide, top ``ffn_config.moe_top_k``; fused Wqkv without
    bias; two LayerNorms per layer without bias (H each); untied lm_head."""
    attn = f.sub("attn_config")
    ffn = f.sub("ffn_config")
    if ffn is None:
        raise f.fail("ffn_config", "is missing (or null); it must be a JSON object with moe_num_experts, "
                     "moe_top_k and ffn_hidden_size", hint=_MISSING_HINT)
    raw = dict(f.raw)
    heads = f.pos_int("num_attention_heads")
    raw["num_key_value_heads"] = attn.pos_int("kv_n_heads", heads) if attn is not None else heads
    out = _core(_Fields(raw, f.model_type, f.prefix))
    experts = ffn.pos_int("moe_num_experts")
    top_k = ffn.pos_int("moe_top_k")
    if top_k > experts:
        raise ffn.fail("moe_top_k", f"must not exceed moe_num_experts ({experts})", top_k)
    out.update(
        intermediate_size=0, num_experts=experts, num_experts_per_tok=top_k,
        moe_intermediate_size=ffn.pos_int("ffn_hidden_size"), moe_layers=[True] * out["num_hidden_layers"],
        layer_types=_full_layers(out), norms_per_layer=2,
    )
    _finish_attention(out, f)
    return out


def _parse_moe_first_dense(f: _Fields) -> dict[str, Any]:
    """DeepSeek-MoE v1 (``deepseek``, remote code modeling_deepseek.py) and GLM-4.5/4.6/4.7
    (``glm4_moe``, models/glm4_moe/modeling_glm4_moe.py; GLM-4.5V's ``glm4v_moe_text``, the same decoder): standard attention (GLM: q/k/v biases with
    ``attention_bias``, per-head q/k RMSNorm with ``use_qk_norm``), dense MLP of ``intermediate_size``
    on the first ``first_k_dense_replace`` layers, then (every ``moe_layer_freq``-th layer) ``n_routed_experts``
    experts of ``moe_intermediate_size`` plus ``n_shared_experts`` shared ones. GLM's router has an
    ``e_score_correction_bias``; its ``num_nextn_predict_layers`` MTP layers are excluded."""
    out = _core(f)
    layers = out["num_hidden_layers"]
    experts = f.pos_int("n_routed_experts")
    top_k = f.pos_int("num_experts_per_tok")
    if top_k > experts:
        raise f.fail("num_experts_per_tok", f"must not exceed n_routed_experts ({experts})", top_k)
    first = f.nonneg_int("first_k_dense_replace", 0)
    freq = f.pos_int("moe_layer_freq", 1)
    width = f.pos_int("moe_intermediate_size")
    shared = f.nonneg_int("n_shared_experts", 0)
    moe = [i >= first and i % freq == 0 for i in range(layers)]
    out.update(
        num_experts=experts, num_experts_per_tok=top_k, moe_intermediate_size=width, num_shared_experts=shared,
        shared_expert_intermediate_size=shared * width, moe_layers=moe, layer_types=_full_layers(out),
    )
    if all(moe):
        out["intermediate_size"] = 0
    if f.model_type in ("glm4_moe", "glm4v_moe_text"):
        out.update(router_bias=True, num_mtp_layers=f.nonneg_int("num_nextn_predict_layers", 0),
                   qk_norm="per_head" if f.flag("use_qk_norm") else None)
    _finish_attention(out, f)
    return out


def _parse_remote_llama_like(f: _Fields) -> dict[str, Any]:
    """Remote-code llama-like families, read from the config alone (no transformers class): InternLM2
    (``internlm2``, packed ``wqkv``/``wo`` with biases when ``bias``, default true in its
    configuration_internlm2.py) and Baichuan / Baichuan2 (``baichuan``, packed ``W_pack`` without bias;
    MHA; the 13B models use ALiBi and give their context only as ``model_max_length``)."""
    raw = dict(f.raw)
    if f.model_type == "baichuan" and not f.has("max_position_embeddings") and f.has("model_max_length"):
        raw["max_position_embeddings"] = raw["model_max_length"]
    f = _Fields(raw, f.model_type, f.prefix)
    out = _core(f)
    if f.model_type == "internlm2":
        bias = f.flag("bias", True)
        out.update(attention_bias=bias, attention_output_bias=bias)
    else:
        out.update(attention_bias=False)
    out["layer_types"] = _full_layers(out)
    _finish_attention(out, f)
    return out


def _parse_chatglm(f: _Fields) -> dict[str, Any]:
    """ChatGLM2/3 and the original GLM-4-9B (``chatglm``, remote code modeling_chatglm.py), read from the
    config alone: ``num_layers``, ``padded_vocab_size``, ``seq_length``, ``kv_channels`` (head dim),
    ``multi_query_group_num`` KV heads when ``multi_query_attention``, a SwiGLU MLP of
    ``ffn_hidden_size`` (``dense_h_to_4h`` is 2x wide), ``query_key_value`` biases with
    ``add_qkv_bias``, ``add_bias_linear`` on the dense and MLP projections, RMSNorms (LayerNorms with
    bias when ``rmsnorm`` is false), a separate ``output_layer``."""
    raw = dict(f.raw)
    for old, new in (("num_layers", "num_hidden_layers"), ("padded_vocab_size", "vocab_size"),
                     ("seq_length", "max_position_embeddings"), ("kv_channels", "head_dim"),
                     ("ffn_hidden_size", "intermediate_size")):
        if raw.get(new) is None and raw.get(old) is not None:
            raw[new] = raw[old]
    heads = f.pos_int("num_attention_heads")
    raw["num_key_value_heads"] = f.pos_int("multi_query_group_num") if f.flag("multi_query_attention") else heads
    g = _Fields(raw, f.model_type, f.prefix)
    out = _core(g)
    linear_bias = g.flag("add_bias_linear")
    out.update(
        intermediate_size=g.pos_int("intermediate_size"), attention_bias=g.flag("add_qkv_bias"),
        attention_output_bias=linear_bias, mlp_bias=linear_bias, norm_bias=not g.flag("rmsnorm", True),
        layer_types=_full_layers(out),
    )
    _finish_attention(out, g)
    return out


def _parse_mllama_text(f: _Fields) -> dict[str, Any]:
    """Llama 3.2 Vision's language model (``mllama_text_model``, models/mllama/modeling_mllama.py
    ``MllamaTextModel``): a Llama decoder whose ``cross_attention_layers`` (indices, counted in
    num_hidden_layers) are ``MllamaCrossAttentionDecoderLayer``s: q/k/v/o over the image states with
    per-head q/k RMSNorms and two scalar tanh gates, no self-attention and so no per-token KV cache
    (layer kind ``cross_attention``). ``embed_tokens`` has ``vocab_size + 8`` rows (the image and
    padding tokens); the lm_head keeps ``vocab_size``."""
    out = _core(f)
    layers = out["num_hidden_layers"]
    cross = f.int_list("cross_attention_layers") or []
    for j, index in enumerate(cross):
        if index >= layers:
            raise f.fail(f"cross_attention_layers[{j}]", f"must be a layer index below num_hidden_layers ({layers})",
                         index)
    out["layer_types"] = ["cross_attention" if i in set(cross) else "full_attention" for i in range(layers)]
    out["embedding_rows"] = out["vocab_size"] + _MLLAMA_EXTRA_EMBEDDING_ROWS
    _finish_attention(out, f)
    return out


#: modeling_mllama.py ``MllamaTextModel``: ``nn.Embedding(config.vocab_size + 8, config.hidden_size)``.
_MLLAMA_EXTRA_EMBEDDING_ROWS = 8


def _parse_phi3small(f: _Fields) -> dict[str, Any]:
    """Phi-3-small (``phi3small``, remote code modeling_phi3_small.py), read from the config alone:
    ``query_key_value: Linear(H, (n + 2g)*d)`` and ``dense: Linear(H, H)``, both with bias (d = H/n);
    ``Phi3SmallMLP``: ``up_proj: Linear(H, 2*I)`` (the gegelu gate and linear halves interleaved) and
    ``down_proj: Linear(I, H)``, both with bias, I = ``ff_intermediate_size``; two LayerNorms with bias per
    layer and a final one; lm_head tied to the embedding (``_tied_weights_keys``; the config class
    keeps PretrainedConfig's ``tie_word_embeddings=True``). The blocksparse attention of every layer
    but each ``dense_attention_every_n_layers``-th changes which cached tokens a query reads, not the
    weights or the KV cache (every token's K/V is kept), so all layers are ``full_attention``. The muP
    multipliers scale activations and hold no weights."""
    raw = dict(f.raw)
    if raw.get("ff_intermediate_size") is not None:
        raw["intermediate_size"] = raw["ff_intermediate_size"]
    elif raw.get("intermediate_size") is None:
        raise f.fail("ff_intermediate_size", "is missing (or null); gpurec reads Phi-3-small's MLP width only from "
                     "it (ff_dim_multiplier is not supported)", hint=_MISSING_HINT)
    raw.pop("head_dim", None)  # Phi3SmallSelfAttention always uses hidden_size // num_attention_heads
    g = _Fields(raw, f.model_type, f.prefix)
    out = _core(g)
    out.update(intermediate_size=g.pos_int("intermediate_size"), gated_mlp=True, mlp_bias=True,
               attention_bias=True, attention_output_bias=True, norm_bias=True, layer_types=_full_layers(out))
    _finish_attention(out, g)
    return out


@functools.lru_cache(maxsize=None)
def _warn_unknown_type(model_type: str, latent: bool = False) -> None:
    """Once per model_type: it is read as a llama-like decoder, or (``latent``: its config has
    ``kv_lora_rank``) as a DeepSeek-style MLA decoder, which may not be what it is."""
    import warnings

    from gpurec_core.errors import ModelConfigWarning

    what = ("a DeepSeek-V3-style decoder (multi-head latent attention of kv_lora_rank, MoE of n_routed_experts "
            "after first_k_dense_replace dense layers)" if latent else
            "a llama-like decoder (q/k/v/o attention, a gated MLP or MoE of the config's sizes, RMSNorm)")
    warnings.warn(ModelConfigWarning(
        f"model_type {model_type!r} has no parser of its own in gpurec: it is read as {what}; a family with "
        "another MLP, norms or extra modules is counted wrong (online, the checkpoint's safetensors headers give "
        "the exact parameter count)"), stacklevel=3)


_PARSERS: dict[str, Callable[[_Fields], dict[str, Any]]] = {
    "llama4_text": _parse_llama4,
    "deepseek_v2": _parse_mla,
    "deepseek_v3": _parse_mla,
    "glm4_moe_lite": _parse_mla,  # GLM-4.7-Flash: DeepSeek-V3's MLA + MoE layout (modeling_glm4_moe_lite.py)
    "deepseek_v32": _parse_mla,
    "kimi_k2": _parse_mla,
    "glm_moe_dsa": _parse_mla,
    "deepseek_v4": _parse_deepseek_v4,
    "deepseek_ref": _parse_deepseek_v4,
    "qwen3_next": _parse_hybrid_linear,
    "qwen3_5_text": _parse_hybrid_linear,
    "qwen3_5_moe_text": _parse_hybrid_linear,
    "gemma4_text": _parse_gemma4,
    "nemotron_h": _parse_nemotron_h,
    "nemotron-nas": _parse_nemotron_nas,
    "minimax_m3": _parse_minimax_m3,
    "minimax_m1": _parse_minimax_lightning,
    "minimax": _parse_minimax_lightning,
    "minimax_m3_vl": _parse_minimax_m3,
    "mimo_v2_flash": _parse_mimo_v2_flash,
    "kimi_linear": _parse_kimi_linear,
    "gptj": _parse_gptj,
    "codegen": _parse_gptj,
    "gpt_neox": _parse_gpt_neox,
    "gpt2": _parse_gpt2,
    "gpt_bigcode": _parse_gpt2,
    "falcon": _parse_falcon,
    "nemotron": _parse_nemotron,
    "opt": _parse_opt,
    "phi": _parse_phi,
    "starcoder2": _parse_starcoder2,
    "dbrx": _parse_dbrx,
    "deepseek": _parse_moe_first_dense,
    "glm4_moe": _parse_moe_first_dense,
    "glm4v_moe_text": _parse_moe_first_dense,  # GLM-4.5V's language model: the GLM-4.5-Air decoder
    "internlm2": _parse_remote_llama_like,
    "baichuan": _parse_remote_llama_like,
    "chatglm": _parse_chatglm,
    "mllama_text_model": _parse_mllama_text,
    "phi3small": _parse_phi3small,
}

# model_types handled by _parse_standard (listed so docs/tests can enumerate what is known; any other
# model_type with llama fields is read the same way, with a warning). The second group are families of
# bundled configs known only through those configs: each plans in the tests (test_catalog_names), and
# those with a published total are checked against it (Ling-lite-1.5 16.8B, StableLM-3B-4E1T 2.8B, ...).
STANDARD_MODEL_TYPES = (
    "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "qwen3_vl_text", "qwen3_vl_moe_text",
    "granite", "phi3", "mimo", "gemma", "gemma2", "gemma3_text", "gpt_oss", "minimax_m2", "step3p7",
    "qwen2_moe", "cohere", "cohere2", "olmo", "olmo2", "olmo3", "olmoe", "phimoe", "glm4", "exaone",
    "granitemoe", "granitemoeshared",
    "bailing_moe", "stablelm", "qwen2_5_vl", "qwen2_5_vl_text", "mimo_v2", "mistral3", "ministral3", "laguna",
    "exaone4", "qwen2_vl", "qwen2_vl_text", "internlm3",
)
SUPPORTED_MODEL_TYPES = tuple(sorted(set(STANDARD_MODEL_TYPES) | set(_PARSERS)))

# Text model_type of multimodal wrappers whose text_config has no model_type of its own.
_TEXT_TYPE_OF_WRAPPER = {
    "gemma3": "gemma3_text", "gemma4": "gemma4_text", "llama4": "llama4_text", "qwen3_vl": "qwen3_vl_text",
    "qwen3_vl_moe": "qwen3_vl_moe_text", "qwen3_5": "qwen3_5_text", "qwen3_5_moe": "qwen3_5_moe_text",
    "kimi_k25": "kimi_k2", "kimi_k3": "kimi_linear", "minimax_m3_vl": "minimax_m3", "mllama": "mllama_text_model",
}


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _text_section(raw: dict[str, Any], outer_type: str) -> tuple[dict[str, Any], str, bool]:
    """(language-model config, its key prefix for messages, is_multimodal)."""
    for key in _TEXT_CONFIG_KEYS:
        if key in raw and raw[key] is not None:
            text = raw[key]
            if not isinstance(text, dict):
                raise ModelConfigError(
                    f"config.json field '{key}' must be a JSON object, got {text!r} (model_type {outer_type})")
            return text, f"{key}.", True
    return raw, "", False


def _with_class_defaults(text: dict[str, Any], model_type: str, nested: bool) -> dict[str, Any]:
    """``text`` over the defaults of ``model_type``'s transformers config class (its explicit values,
    explicit nulls included, win). At the top level the size fields (_REQUIRED_AT_TOP) are not
    defaulted. A key the config spells by an alias (the class's ``attribute_map``, or a legacy
    spelling) suppresses the default of the other spelling, and both spellings are then readable."""
    defaults = class_defaults(model_type)
    aliases = attribute_map(model_type)
    pairs = list(aliases.items()) + list(_LEGACY_ALIASES)
    for alias, stored in pairs:
        if alias in text:
            defaults.pop(stored, None)
        if stored in text:
            defaults.pop(alias, None)
    if not nested:
        for alias, stored in aliases.items():
            if alias in _REQUIRED_AT_TOP or stored in _REQUIRED_AT_TOP:
                defaults.pop(alias, None)
                defaults.pop(stored, None)
        for name in _REQUIRED_AT_TOP:
            defaults.pop(name, None)
    merged = {**defaults, **text}
    for alias, stored in aliases.items():
        if alias not in merged and stored in merged:
            merged[alias] = merged[stored]
        elif stored not in merged and alias in merged:
            merged[stored] = merged[alias]
    return merged


def _require_moe_fields(f: _Fields, model_type: str, parser: Callable[[_Fields], dict[str, Any]]) -> None:
    """A top-level config of a MoE family (its class has a positive expert count) must give its own
    expert count, and, where the class has a separate ``moe_intermediate_size``, its own expert width:
    without them the parsers would read the model as dense, or its experts as ``intermediate_size`` wide."""
    if parser in (_parse_nemotron_h, _parse_gemma4):
        return  # the layout (Nemotron-H's pattern, Gemma 4's enable_moe_block) says whether there are experts
    defaults = class_defaults(model_type)
    if not any(f.has(name) for name in _EXPERT_COUNT_KEYS):
        for name in _EXPERT_COUNT_KEYS:
            value = defaults.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                raise f.fail(name, "is missing (or null); it must be a positive integer (the number of "
                             "routed experts)", hint=_MISSING_HINT)
        return
    if "moe_intermediate_size" in defaults and not f.has("moe_intermediate_size") \
            and any(f.raw.get(name) for name in _EXPERT_COUNT_KEYS):
        raise f.fail("moe_intermediate_size", "is missing (or null); it must be a positive integer (the "
                     "width of each routed expert)", hint=_MISSING_HINT)


def _require_dense_width(f: _Fields, fields: dict[str, Any]) -> None:
    """A model with dense-MLP layers needs a positive dense width (never a silent 0)."""
    if fields.get("layer_intermediate_sizes") or fields.get("intermediate_size", 0) > 0:
        return
    moe = fields.get("moe_layers") or ()
    if moe and all(moe):
        return
    if f.has("intermediate_size"):
        raise f.fail("intermediate_size", "must be a positive integer for a model with dense MLP layers",
                     f.raw["intermediate_size"])
    raise f.fail("intermediate_size", "is missing (or null); it must be a positive integer (the dense MLP "
                 "width)", hint=_MISSING_HINT)


def _tie_word_embeddings(f: _Fields, text: dict[str, Any], outer: _Fields, wrapper_type: Optional[str]) -> bool:
    """The text config's explicit value, else the wrapper's explicit value, else the text config
    class's default: transformers' ``PreTrainedModel.tie_weights`` reads
    ``config.get_text_config(decoder=True).tie_word_embeddings`` (the text sub-config, built with its
    own class's defaults), and vLLM builds the language model from ``text_config``; e.g.
    Mistral-Small-3.1's text_config names no value and MistralConfig's default is False, so its
    checkpoint carries lm_head (24.0 B in all, 23.57 B of text model)."""
    if text.get("tie_word_embeddings") is not None:
        return f.flag("tie_word_embeddings")
    if wrapper_type is not None and outer.has("tie_word_embeddings"):
        return outer.flag("tie_word_embeddings")
    return f.flag("tie_word_embeddings", _TIED_BY_DEFAULT.get(f.model_type, False))


#: Remote-code families whose config class leaves PretrainedConfig's ``tie_word_embeddings=True`` in
#: force and whose checkpoint ties lm_head (transformers has no class to ask for the default).
_TIED_BY_DEFAULT = {"phi3small": True}


def _dict_or_none(value: Any, name: str, model_type: str) -> Optional[dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ModelConfigError(f"{name} must be a JSON object, got {value!r} (model_type {model_type})")
    return value


def parse_hf_config(raw: dict[str, Any], hf_quant_config: Optional[dict[str, Any]] = None) -> ModelConfig:
    """Normalise a HuggingFace config.json dict (and ModelOpt's hf_quant_config.json) into a ModelConfig.

    Multimodal configs are analysed through their text config (``is_multimodal=True``). An unknown
    ``model_type`` with the standard llama fields (hidden_size, num_hidden_layers, num_attention_heads,
    vocab_size, ...) is parsed as a generic decoder, or as DeepSeek-V3's layout when it has
    ``kv_lora_rank`` (multi-head latent attention). Raises ModelConfigError naming the bad field.
    """
    if not isinstance(raw, dict):
        raise ModelConfigError(
            f"config.json must be a JSON object (a dict of fields), got {type(raw).__name__}: {raw!r:.80}")
    odd_keys = [k for k in raw if not isinstance(k, str)]
    if odd_keys:
        raise ModelConfigError(f"config.json keys must be strings (field names), got {odd_keys[0]!r:.80}")
    outer_type = raw.get("model_type", "unknown")
    if not isinstance(outer_type, str) or not outer_type or not outer_type.isprintable():
        raise ModelConfigError(f"config.json field 'model_type' must be a non-empty printable name, got {outer_type!r:.80}")
    text, prefix, is_multimodal = _text_section(raw, outer_type)
    text_type = text.get("model_type") if is_multimodal else outer_type
    if text_type is not None and (not isinstance(text_type, str) or not text_type.isprintable()):
        raise ModelConfigError(f"config.json field '{prefix}model_type' must be a printable name, got {text_type!r:.80} "
                               f"(model_type {outer_type})")
    sub_type = sub_config_model_type(outer_type, prefix[:-1]) if is_multimodal else None
    if not text_type:
        text_type = _TEXT_TYPE_OF_WRAPPER.get(outer_type) or sub_type or outer_type
    if text_type == "deepseek_ref":
        text_type = "deepseek_v4"
    # A nested text config takes the defaults of the class its wrapper declares for it (transformers
    # builds it with that class), else of its own model_type's class.
    defaults_type = sub_type or text_type
    merged = _with_class_defaults(text, defaults_type, nested=is_multimodal)
    f = _Fields(merged, text_type, prefix)

    parser = _PARSERS.get(text_type)
    if parser is None:
        if text_type not in STANDARD_MODEL_TYPES and not all(
            f.has(n) for n in ("hidden_size", "num_hidden_layers", "num_attention_heads")
        ):
            raise ModelConfigError(
                f"config.json of model_type {text_type!r} is too unusual to parse: gpurec knows "
                f"{', '.join(SUPPORTED_MODEL_TYPES)}, and reads other model_types only when they have the "
                "llama-style fields hidden_size, num_hidden_layers, num_attention_heads, vocab_size, "
                "intermediate_size. Pass a config with those fields, or open an issue for this architecture."
            )
        parser = _parse_mla if f.has("kv_lora_rank") else _parse_standard
        if text_type not in STANDARD_MODEL_TYPES:
            _warn_unknown_type(text_type, parser is _parse_mla)
    if not is_multimodal:
        _require_moe_fields(f, defaults_type, parser)
    fields = parser(f)
    _require_dense_width(f, fields)

    outer = _Fields(raw, text_type, "")
    quant = raw.get("quantization_config", text.get("quantization_config"))
    architectures = raw.get("architectures") or text.get("architectures") or ()
    if not isinstance(architectures, (list, tuple)) or not all(isinstance(a, str) for a in architectures):
        raise outer.fail("architectures", "must be a list of strings", architectures)
    dtype = text.get("torch_dtype") or text.get("dtype") or raw.get("torch_dtype") or raw.get("dtype")
    if dtype is not None and not isinstance(dtype, str):
        raise outer.fail("torch_dtype", "must be a string such as 'bfloat16'", dtype)
    tie = _tie_word_embeddings(f, text, outer, outer_type if is_multimodal else None)
    quant = _dict_or_none(quant, "config.json field 'quantization_config'", text_type)
    hf_quant_config = _dict_or_none(hf_quant_config, "hf_quant_config.json", text_type)
    check_quantization_config(quant, text_type)
    check_hf_quant_config(hf_quant_config, text_type)
    fields.update(
        model_type=text_type,
        architectures=tuple(architectures),
        torch_dtype=dtype,
        tie_word_embeddings=tie,
        quantization_config=quant,
        hf_quant_config=hf_quant_config,
        is_multimodal=is_multimodal,
        mamba_ssm_dtype=f.text("mamba_ssm_dtype") or f.text("mamba_ssm_cache_dtype"),
    )
    return _build(fields, text_type, prefix)


def _build(fields: dict[str, Any], model_type: str, prefix: str = "") -> ModelConfig:
    """Construct the ModelConfig, turning a pydantic error into a ModelConfigError naming the field."""
    for key in PER_LAYER_FIELDS:
        if key in fields:
            fields[key] = tuple(fields[key])
    layers = fields["num_hidden_layers"]
    for key in PER_LAYER_FIELDS:
        if fields.get(key) and len(fields[key]) != layers:
            raise ModelConfigError(f"config.json describes {len(fields[key])} layers in '{key}' but "
                                   f"num_hidden_layers is {layers} (model_type {model_type})")
    kinds = set(fields.get("layer_types") or ())
    if kinds and not kinds & {"full_attention", "sliding_attention"}:
        raise ModelConfigError(
            f"config.json describes no attention layer (only {', '.join(sorted(kinds))}): a pure state-space or "
            "linear-attention model keeps a fixed state per sequence, not a KV cache per token, and gpurec plans "
            f"models with at least one attention layer (model_type {model_type})")
    experts, top_k = fields.get("num_experts", 0), fields.get("num_experts_per_tok", 0)
    if experts and not 0 < top_k <= experts:
        raise ModelConfigError(f"config.json field 'num_experts_per_tok' must be between 1 and the number of "
                               f"experts ({experts}), got {top_k!r} (model_type {model_type})")
    if experts and not fields.get("moe_intermediate_size"):
        raise ModelConfigError(f"config.json field 'moe_intermediate_size' must be a positive integer for a "
                               f"MoE model, got {fields.get('moe_intermediate_size')!r} (model_type {model_type})")
    try:
        return ModelConfig(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ModelConfigError(
            f"config.json field '{prefix}{loc}' {err['msg'].lower()}, got {err.get('input')!r:.120} "
            f"(model_type {model_type}); fix the config"
        ) from None
