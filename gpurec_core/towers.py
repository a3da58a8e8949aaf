"""Parameters of what a multimodal checkpoint holds besides its language model.

A serving engine such as vLLM loads the vision tower, the audio tower and the multimodal projector
of a multimodal checkpoint (unless it runs text-only), and they sit on every GPU next to the
language model that ``gpurec_core.param_count`` counts. This module counts them from the full
HuggingFace ``config.json`` (the multimodal wrapper with ``vision_config`` / ``audio_config``).

Each family has one function whose docstring gives the formula and the transformers 5.25 module it
follows (``modeling_<family>.py``, the class's ``__init__``). Notation: ``Linear(i, o)`` holds
``i*o`` weights (``+ o`` with bias), ``Conv(in, out, k)`` ``in*out*prod(k)`` (``+ out``),
``LayerNorm(d)`` ``2d`` (``d`` without bias), ``RMSNorm(d)`` ``d``; H is the tower width, I its MLP
width, L its depth, p the patch size, t the temporal patch size, T the language model's width.

Counted: ``nn.Parameter`` tensors only, like ``param_count`` and like the ``total_parameters`` that
transformers writes into ``model.safetensors.index.json``. Persistent buffers that some checkpoints
also store (Gemma 4's ``std_bias``/``std_scale`` and clip bounds, at most a few thousand values) are
left out.

Nested sub-configs are completed with the defaults of their own config class, because
``save_pretrained`` drops keys that equal those defaults: ``defaults(model_type)`` returns that
dict (by default ``gpurec_core.config_defaults.class_defaults``). A sub-config absent from the
file counts zero (a trimmed catalog copy says nothing about the tower's size).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpurec_core.errors import GpurecError, ModelConfigError

Defaults = Callable[[str], Mapping[str, Any]]

_TRANSFORMERS = "transformers 5.25 "


class TowerParameters(BaseModel):
    """Parameters of a checkpoint's non-language-model parts. All counts are plain integers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vision: int = Field(ge=0, description="vision encoder: patch/position embeddings, encoder layers, its norms")
    audio: int = Field(ge=0, description="audio encoder: subsampling convolutions, encoder layers, output projection")
    projector: int = Field(ge=0, description="multimodal projector / merger / connector that maps tower features "
                           "into the language model's width (one per tower, deepstack mergers included)")
    total: int = Field(ge=0, description="vision + audio + projector")
    kind: str = Field(description="the tower family, e.g. 'siglip', 'qwen3_vl_vision', 'moonvit'; "
                      "'none' for text-only configs; ends in '_estimate' when no family formula applies")
    source: str = Field(description="the modeling file and classes the formula follows, or why it is an "
                        "approximation or an estimate")

    @model_validator(mode="after")
    def _total_is_the_sum(self) -> "TowerParameters":
        if self.total != self.vision + self.audio + self.projector:
            raise ValueError(f"total {self.total} != vision + audio + projector "
                             f"({self.vision} + {self.audio} + {self.projector})")
        return self


NO_TOWERS = TowerParameters(vision=0, audio=0, projector=0, total=0, kind="none",
                            source="text-only config: no vision_config or audio_config")


def _towers(kind: str, source: str, vision: int = 0, audio: int = 0, projector: int = 0) -> TowerParameters:
    return TowerParameters(vision=vision, audio=audio, projector=projector,
                           total=vision + audio + projector, kind=kind, source=source)


# ------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------


def linear(i: int, o: int, bias: bool = True) -> int:
    """``nn.Linear(i, o)``: ``i*o`` (+ ``o``)."""
    return i * o + (o if bias else 0)


def layer_norm(d: int, bias: bool = True) -> int:
    """``nn.LayerNorm(d)``: weight and bias ``2d`` (``d`` with ``bias=False``)."""
    return 2 * d if bias else d


def rms_norm(d: int) -> int:
    """An RMSNorm with a scale: ``d``."""
    return d


def conv(c_in: int, c_out: int, kernel: tuple[int, ...], bias: bool = True, groups: int = 1) -> int:
    """``nn.Conv{1,2,3}d``: ``c_in/groups * c_out * prod(kernel)`` (+ ``c_out``)."""
    return c_in // groups * c_out * math.prod(kernel) + (c_out if bias else 0)


def vit_layer(h: int, i: int, qkv_width: Optional[int] = None, gated: bool = False, bias: bool = True,
              norm: str = "layer") -> int:
    """One pre-norm ViT encoder layer: attention ``q,k,v: 3 * Linear(H, W) + o: Linear(W, H)`` (W the
    attention width, H by default), MLP ``Linear(H, I) + Linear(I, H)`` (gated: ``+ Linear(H, I)``)
    and two norms (``LayerNorm`` 2H each, ``RMSNorm`` H each)."""
    w = qkv_width or h
    attention = 3 * linear(h, w, bias) + linear(w, h, bias)
    mlp = linear(h, i, bias) + linear(i, h, bias) + (linear(h, i, bias) if gated else 0)
    norms = 2 * (layer_norm(h) if norm == "layer" else rms_norm(h))
    return attention + mlp + norms


# ------------------------------------------------------------------------------------------
# Reading configs
# ------------------------------------------------------------------------------------------


class _Cfg:
    """A (sub-)config completed with its class defaults; typed getters naming the key in errors."""

    def __init__(self, values: Mapping[str, Any], where: str) -> None:
        self.values, self.where = values, where

    def get(self, *names: str, default: Any = None) -> Any:
        for name in names:
            if self.values.get(name) is not None:
                return self.values[name]
        return default

    def int(self, *names: str, default: Any = None, minimum: int = 1) -> int:
        value = self.get(*names, default=default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            shown = "null or missing" if value is None else repr(value)
            raise ModelConfigError(f"config.json field '{self.where}{names[0]}' must be an integer >= {minimum} to count the "
                                   f"multimodal towers, got {shown}")
        return value

    def flag(self, *names: str, default: bool = False) -> bool:
        return bool(self.get(*names, default=default))

    def pair(self, *names: str, default: Any = None) -> tuple[int, int]:
        value = self.get(*names, default=default)
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value, value)
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            raise ModelConfigError(f"config.json field '{self.where}{names[0]}' must be an integer or a pair of integers, got {value!r}")
        return int(value[0]), int(value[1])

    def int_list(self, name: str) -> list[int]:
        value = self.get(name, default=[])
        if not isinstance(value, (list, tuple)):
            raise ModelConfigError(f"config.json field '{self.where}{name}' must be a list, got {value!r}")
        return list(value)


class _Reader:
    """The raw config plus the ``defaults`` function; builds completed sub-configs."""

    def __init__(self, raw: Mapping[str, Any], defaults: Defaults) -> None:
        self.raw, self._defaults = raw, defaults

    def defaults_of(self, model_type: str) -> dict[str, Any]:
        try:
            found = self._defaults(model_type)
        except (LookupError, ValueError, GpurecError):  # a class the defaults source does not know
            return {}
        return dict(found or {})

    def top(self, model_type: str) -> _Cfg:
        return _Cfg({**self.defaults_of(model_type), **self.raw}, "")

    def sub(self, key: str, model_type: Optional[str]) -> Optional[_Cfg]:
        """``raw[key]`` over the defaults of its class, or None: ``model_type``, the class the wrapper
        declares for it; None where the wrapper declares ``AutoConfig``, which transformers builds from
        the sub-config's own ``model_type`` (llava-hf's ``text_config`` is a LlamaConfig or
        MistralConfig that keeps only the keys that differ)."""
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ModelConfigError(f"config.json field '{key}' must be a JSON object, got {type(value).__name__} "
                                   f"(model_type {self.raw.get('model_type')}); fix or remove it")
        own = value.get("model_type")
        kind = model_type or (own if isinstance(own, str) else "")
        return _Cfg({**self.defaults_of(kind), **value}, f"{key}.")

    def text_hidden(self, text_model_type: Optional[str]) -> int:
        """The language model's width T: ``text_config.hidden_size`` (or the top level's)."""
        text = self.sub("text_config", text_model_type)
        if text is not None:
            return text.int("hidden_size")
        return _Cfg(self.raw, "").int("hidden_size", "text_hidden_size")


# ------------------------------------------------------------------------------------------
# One function per family
# ------------------------------------------------------------------------------------------


def siglip_vision(v: _Cfg) -> int:
    """SigLIP vision tower (modeling_siglip.py ``SiglipVisionModel``):
    ``patch_embedding: Conv(C, H, p) + bias + position_embedding: (image_size/p)^2 * H
    + L * (q,k,v,o: 4 * Linear(H, H) + fc1: Linear(H, I) + fc2: Linear(I, H) + 2 LayerNorm(H))
    + post_layernorm: LayerNorm(H)``; with ``vision_use_head`` the attention-pooling head
    ``probe: H + MultiheadAttention: 3H*H + 3H + H*H + H + LayerNorm(H) + MLP``."""
    h, i, p = v.int("hidden_size"), v.int("intermediate_size"), v.int("patch_size")
    image, c, layers = v.int("image_size"), v.int("num_channels", default=3), v.int("num_hidden_layers")
    total = conv(c, h, (p, p)) + (image // p) ** 2 * h + layers * vit_layer(h, i) + layer_norm(h)
    if v.flag("vision_use_head", default=True):
        total += h + (3 * h * h + 3 * h) + linear(h, h) + layer_norm(h) + linear(h, i) + linear(i, h)
    return total


def clip_vision(v: _Cfg) -> int:
    """CLIP vision tower (modeling_clip.py ``CLIPVisionTransformer``): ``class_embedding: H
    + patch_embedding: Conv(C, H, p, no bias) + position_embedding: ((image_size/p)^2 + 1) * H
    + pre_layrnorm: LayerNorm(H) + L * (q,k,v,out_proj: 4 * Linear(H, H) + fc1: Linear(H, I)
    + fc2: Linear(I, H) + 2 LayerNorm(H)) + post_layernorm: LayerNorm(H)``. The checkpoint's count:
    vLLM's LLaVA stops at ``vision_feature_layer`` (-2 leaves out the last layer and the post norm,
    1/L of the tower), which is not modelled."""
    h, i, p = v.int("hidden_size"), v.int("intermediate_size"), v.int("patch_size")
    image, c, layers = v.int("image_size"), v.int("num_channels", default=3), v.int("num_hidden_layers")
    embeddings = h + conv(c, h, (p, p), bias=False) + ((image // p) ** 2 + 1) * h
    return embeddings + 2 * layer_norm(h) + layers * vit_layer(h, i)


def llava_towers(r: _Reader) -> TowerParameters:
    """LLaVA 1.5 and LLaVA-NeXT (modeling_llava.py, modeling_llava_next.py): the CLIP tower
    (:func:`clip_vision`) and ``LlavaMultiModalProjector``: ``linear_1: Linear(H * F, T)
    + linear_2: Linear(T, T)`` (biases unless ``multimodal_projector_bias`` is false; F the number
    of vision layers fed, ``len(vision_feature_layer)`` when it is a list), plus LLaVA-NeXT's
    ``image_newline: T``. A Pixtral ``vision_config`` (mistral-community's pixtral-12b is a
    LlavaForConditionalGeneration) is the Pixtral encoder (:func:`pixtral_vision`)."""
    v = r.sub("vision_config", None)  # LlavaConfig's sub-configs are AutoConfig
    if v is None:
        return NO_TOWERS
    pixtral = v.values.get("model_type") == "pixtral"
    t = r.text_hidden(None)
    top = r.top(str(r.raw.get("model_type")))
    fed = top.get("vision_feature_layer", default=-2)
    fed = len(fed) if isinstance(fed, list) else 1
    bias = top.flag("multimodal_projector_bias", default=True)
    projector = linear(v.int("hidden_size") * fed, t, bias) + linear(t, t, bias)
    if r.raw.get("model_type") == "llava_next":
        projector += t  # image_newline
    if pixtral:
        return _towers("pixtral", _TRANSFORMERS + "modeling_pixtral.py PixtralVisionModel + modeling_llava.py "
                       "LlavaMultiModalProjector", vision=pixtral_vision(v), projector=projector)
    return _towers("clip", _TRANSFORMERS + "modeling_clip.py CLIPVisionTransformer + modeling_llava.py "
                   "LlavaMultiModalProjector", vision=clip_vision(v), projector=projector)


def gemma3_towers(r: _Reader) -> TowerParameters:
    """Gemma 3 (modeling_gemma3.py ``Gemma3Model``): the SigLIP tower (:func:`siglip_vision`,
    ``vision_config`` over ``SiglipVisionConfig``) and ``Gemma3MultiModalProjector``:
    ``mm_input_projection_weight: H * T + mm_soft_emb_norm: RMSNorm(H)`` (the average pool has none)."""
    v = r.sub("vision_config", "siglip_vision_model")
    if v is None:
        return NO_TOWERS
    h, t = v.int("hidden_size"), r.text_hidden("gemma3_text")
    return _towers("siglip", _TRANSFORMERS + "modeling_siglip.py SiglipVisionModel + modeling_gemma3.py "
                   "Gemma3MultiModalProjector", vision=siglip_vision(v), projector=h * t + rms_norm(h))


def gemma4_vision(v: _Cfg) -> int:
    """Gemma 4 vision tower (modeling_gemma4.py ``Gemma4VisionModel``), with n heads, g KV heads,
    d head_dim: ``input_proj: Linear(3*p^2, H, no bias) + position_embedding_table: 2 * P * H``
    (P = position_embedding_size) ``+ L * (q: H*n*d + k, v: 2 * H*g*d + o: n*d*H + q/k norms 2d
    + gated MLP 3*H*I + 4 RMSNorm(H))``; no bias anywhere, v_norm and the pooler have no weights."""
    h, i, layers = v.int("hidden_size"), v.int("intermediate_size"), v.int("num_hidden_layers")
    n = v.int("num_attention_heads")
    g = v.int("num_key_value_heads", default=n)
    d = v.int("head_dim", default=h // n)
    p = v.int("patch_size")
    layer = h * n * d + 2 * h * g * d + n * d * h + 2 * d + 3 * h * i + 4 * h
    return linear(3 * p * p, h, bias=False) + 2 * v.int("position_embedding_size") * h + layers * layer


def gemma4_audio(a: _Cfg) -> int:
    """Gemma 4 audio tower (modeling_gemma4.py ``Gemma4AudioModel``, a Conformer), with
    c0, c1 = subsampling_conv_channels, k = conv_kernel_size, d = H / heads:
    ``subsampling: Conv(1, c0, 3x3) + LayerNorm(c0, no bias) + Conv(c0, c1, 3x3) + LayerNorm(c1, no bias)
    + input_proj_linear: (c0/4 * c1) * H`` ``+ L * (2 feed-forwards: 2 * (H*4H + 4H*H + 2 RMSNorm(H))
    + attention q,k,v,post: 4H^2 + relative_k_proj: H^2 + per_dim_scale: d
    + light conv: linear_start H*2H + linear_end H*H + depthwise conv H*k + 2 RMSNorm(H)
    + norm_pre_attn, norm_post_attn, norm_out: 3 RMSNorm(H))
    + output_proj: Linear(H, output_proj_dims)``."""
    h, layers, heads = a.int("hidden_size"), a.int("num_hidden_layers"), a.int("num_attention_heads")
    c0, c1 = a.pair("subsampling_conv_channels")
    k = a.int("conv_kernel_size")
    subsample = (conv(1, c0, (3, 3), bias=False) + layer_norm(c0, bias=False)
                 + conv(c0, c1, (3, 3), bias=False) + layer_norm(c1, bias=False)
                 + linear(c0 // 4 * c1, h, bias=False))
    feed_forward = linear(h, 4 * h, bias=False) + linear(4 * h, h, bias=False) + 2 * h
    attention = 4 * h * h + h * h + h // heads
    light_conv = 2 * h * h + h * h + conv(h, h, (k,), bias=False, groups=h) + 2 * h
    layer = 2 * feed_forward + attention + light_conv + 3 * h
    return subsample + layers * layer + linear(h, a.int("output_proj_dims"))


def gemma4_towers(r: _Reader) -> TowerParameters:
    """Gemma 4 (modeling_gemma4.py ``Gemma4Model``): :func:`gemma4_vision` and :func:`gemma4_audio`
    for the sub-configs present, each with a ``Gemma4MultimodalEmbedder`` projector
    ``embedding_projection: Linear(H or output_proj_dims, T, no bias)`` (its pre-norm has no scale)."""
    v = r.sub("vision_config", "gemma4_vision")
    a = r.sub("audio_config", "gemma4_audio")
    if v is None and a is None:
        return NO_TOWERS
    t = r.text_hidden("gemma4_text")
    vision = gemma4_vision(v) if v is not None else 0
    audio = gemma4_audio(a) if a is not None else 0
    projector = (v.int("hidden_size") * t if v is not None else 0) + \
                (a.int("output_proj_dims") * t if a is not None else 0)
    kind = "+".join(k for k, c in (("gemma4_vision", v), ("gemma4_audio", a)) if c is not None)
    return _towers(kind, _TRANSFORMERS + "modeling_gemma4.py Gemma4VisionModel / Gemma4AudioModel + "
                   "Gemma4MultimodalEmbedder", vision=vision, audio=audio, projector=projector)


def llama4_towers(r: _Reader) -> TowerParameters:
    """Llama 4 (modeling_llama4.py ``Llama4ForConditionalGeneration``). Vision
    (``Llama4VisionModel``): ``patch_embedding: Linear(C*p^2, H, no bias) + class_embedding: H
    + positional_embedding_vlm: ((image_size/p)^2 + 1) * H + layernorm_pre/post: 2 LayerNorm(H)
    + L * (q,k,v,o: 4 * Linear(H, H) + fc1: Linear(H, I) + fc2: Linear(I, H) + 2 LayerNorm(H))``.
    Projector: the pixel-shuffle adapter (``vision_adapter``, inside the vision model in the
    checkpoint) ``fc1: I * projector_input_dim + fc2: projector_output_dim^2`` (no bias) and
    ``Llama4MultiModalProjector.linear_1: vision_output_dim * T`` (no bias)."""
    v = r.sub("vision_config", "llama4_vision_model")
    if v is None:
        return NO_TOWERS
    h, i, p = v.int("hidden_size"), v.int("intermediate_size"), v.int("patch_size")
    c, image, layers = v.int("num_channels", default=3), v.int("image_size"), v.int("num_hidden_layers")
    vision = (linear(c * p * p, h, bias=False) + h + ((image // p) ** 2 + 1) * h + 2 * layer_norm(h)
              + layers * vit_layer(h, i))
    out = v.int("projector_output_dim")
    adapter = linear(i, v.int("projector_input_dim"), bias=False) + linear(out, out, bias=False)
    projector = adapter + linear(v.int("vision_output_dim"), r.text_hidden("llama4_text"), bias=False)
    return _towers("llama4_vision", _TRANSFORMERS + "modeling_llama4.py Llama4VisionModel (+ "
                   "Llama4VisionPixelShuffleMLP) + Llama4MultiModalProjector", vision=vision, projector=projector)


def _qwen_vision_and_mergers(v: _Cfg, deepstack: int) -> tuple[int, int]:
    """(vision, mergers) of the Qwen3-VL / Qwen3.5 tower; see :func:`qwen3_vl_towers`."""
    h, i, layers = v.int("hidden_size"), v.int("intermediate_size"), v.int("depth")
    p, tp, c = v.int("patch_size"), v.int("temporal_patch_size"), v.int("in_channels", default=3)
    m, out = v.int("spatial_merge_size"), v.int("out_hidden_size")
    vision = conv(c, h, (tp, p, p)) + v.int("num_position_embeddings") * h + layers * vit_layer(h, i)
    hm = h * m * m
    merger = linear(hm, hm) + linear(hm, out)
    return vision, (layer_norm(h) + merger) + deepstack * (layer_norm(hm) + merger)


def qwen3_vl_towers(r: _Reader) -> TowerParameters:
    """Qwen3-VL and Qwen3-VL-MoE (modeling_qwen3_vl.py / modeling_qwen3_vl_moe.py
    ``Qwen3VLVisionModel``), with m = spatial_merge_size, M = H*m^2, O = out_hidden_size. Vision:
    ``patch_embed: Conv3d(C, H, (t, p, p)) + bias + pos_embed: num_position_embeddings * H
    + depth * (qkv: Linear(H, 3H) + proj: Linear(H, H) + linear_fc1: Linear(H, I) + linear_fc2: Linear(I, H)
    + norm1, norm2: 2 LayerNorm(H))``. Projector (``Qwen3VLVisionPatchMerger``): ``merger: LayerNorm(H)
    + Linear(M, M) + Linear(M, O)`` plus one deepstack merger per ``deepstack_visual_indexes`` entry,
    each ``LayerNorm(M) + Linear(M, M) + Linear(M, O)``."""
    moe = r.raw.get("model_type") == "qwen3_vl_moe"
    v = r.sub("vision_config", "qwen3_vl_moe_vision" if moe else "qwen3_vl_vision")
    if v is None:
        return NO_TOWERS
    vision, projector = _qwen_vision_and_mergers(v, len(v.int_list("deepstack_visual_indexes")))
    module = "modeling_qwen3_vl_moe.py Qwen3VLMoeVisionModel" if moe else "modeling_qwen3_vl.py Qwen3VLVisionModel"
    return _towers("qwen3_vl_vision", _TRANSFORMERS + module + " (blocks + merger + deepstack_merger_list)",
                   vision=vision, projector=projector)


def qwen3_5_towers(r: _Reader) -> TowerParameters:
    """Qwen3.5 and Qwen3.5-MoE (modeling_qwen3_5.py / modeling_qwen3_5_moe.py ``Qwen3_5VisionModel``):
    the Qwen3-VL tower and merger of :func:`qwen3_vl_towers` without deepstack mergers (the class
    builds none, whatever ``deepstack_visual_indexes`` says)."""
    moe = r.raw.get("model_type") == "qwen3_5_moe"
    v = r.sub("vision_config", "qwen3_5_moe_vision" if moe else "qwen3_5_vision")
    if v is None:
        return NO_TOWERS
    vision, projector = _qwen_vision_and_mergers(v, deepstack=0)
    module = "modeling_qwen3_5_moe.py Qwen3_5MoeVisionModel" if moe else "modeling_qwen3_5.py Qwen3_5VisionModel"
    return _towers("qwen3_5_vision", _TRANSFORMERS + module + " (blocks + merger)", vision=vision, projector=projector)


def kimi_k25_towers(r: _Reader) -> TowerParameters:
    """Kimi K2.5 / K2.6 MoonViT-3D (modeling_kimi_k25.py ``Kimi_K25Model``); the remote-code config
    names (``vt_hidden_size``, ``init_pos_emb_height``, ``mm_hidden_size`` ...) are read as well as
    transformers' own. Vision (``Kimi_K25VisionModel``): ``patch_embed.proj: Conv(3, H, p) + bias
    + pos_emb: pos_emb_height * pos_emb_width * H`` (the temporal table is a fixed sinusoid)
    ``+ L * (q,k,v,proj: 4 * Linear(H, H) + fc1: Linear(H, I) + fc2: Linear(I, H) + 2 LayerNorm(H))
    + final_layernorm: LayerNorm(H)``. Projector (``Kimi_K25MultimodalProjection``), with
    M = H * kh * kw: ``pre_norm: LayerNorm(projection_hidden_size) + in_proj: Linear(M, M)
    + out_proj: Linear(M, T)``."""
    v = r.sub("vision_config", "kimi_k25_vision")
    if v is None:
        return NO_TOWERS
    top = r.top("kimi_k25")
    h = v.int("vt_hidden_size", "hidden_size")
    i = v.int("vt_intermediate_size", "intermediate_size")
    layers = v.int("vt_num_hidden_layers", "num_hidden_layers")
    p = v.int("patch_size")
    kh, kw = v.pair("merge_kernel_size")
    vision = (conv(3, h, (p, p)) + v.int("init_pos_emb_height", "pos_emb_height")
              * v.int("init_pos_emb_width", "pos_emb_width") * h + layers * vit_layer(h, i) + layer_norm(h))
    m = h * kh * kw
    t = v.int("text_hidden_size") if v.get("text_hidden_size") is not None else r.text_hidden("deepseek_v3")
    pre_norm = v.int("mm_hidden_size", default=top.get("projection_hidden_size"))
    projector = layer_norm(pre_norm) + linear(m, m) + linear(m, t)
    return _towers("moonvit", _TRANSFORMERS + "modeling_kimi_k25.py Kimi_K25VisionModel + "
                   "Kimi_K25MultimodalProjection", vision=vision, projector=projector)


def kimi_k3_towers(r: _Reader) -> TowerParameters:
    """Kimi K3 MoonViT-3D with the ``patchmergerv2`` projector. APPROXIMATION: the family's modeling
    code (``modeling_kimi_k3.py``) is remote code, not in transformers; the formula follows the
    architecture the config describes, as re-implemented in public ports of that file (module names
    ``vision_tower.*`` / ``mm_projector.*``). With W = qkv_hidden_size, all linears biased only when
    ``attn_bias`` / ``linear_bias`` / ``patch_embed_proj_bias`` say so, norms RMSNorm when
    ``norm_type == 'rmsnorm'`` (else LayerNorm): ``patch_embed: Conv(3, H, p) + pos_emb:
    init_pos_emb_height * init_pos_emb_width * H + L * (wqkv: Linear(H, 3W) + wo: Linear(W, H)
    + mlp2 fc0: Linear(H, I) + fc1: Linear(I, H) + norm0, norm1) + final_layernorm``. Projector, with
    M = mm_hidden_size * kh * kw: ``Linear(M, M) + Linear(M, text_hidden_size)`` (no bias)
    ``+ post_norm: RMSNorm(text_hidden_size)``."""
    v = r.sub("vision_config", "kimi_k3_vision")
    if v is None:
        return NO_TOWERS
    h, i = v.int("vt_hidden_size", "hidden_size"), v.int("vt_intermediate_size", "intermediate_size")
    layers = v.int("vt_num_hidden_layers", "num_hidden_layers")
    w = v.int("qkv_hidden_size", default=h)
    p = v.int("patch_size", default=14)
    kh, kw = v.pair("merge_kernel_size", default=(2, 2))
    attn_bias, mlp_bias = v.flag("attn_bias"), v.flag("linear_bias")
    norm = rms_norm if v.get("norm_type", default="rmsnorm") == "rmsnorm" else layer_norm
    layer = (linear(h, 3 * w, attn_bias) + linear(w, h, attn_bias) + linear(h, i, mlp_bias)
             + linear(i, h, mlp_bias) + 2 * norm(h))
    vision = (conv(3, h, (p, p), bias=v.flag("patch_embed_proj_bias"))
              + v.int("init_pos_emb_height", default=64) * v.int("init_pos_emb_width", default=64) * h
              + layers * layer + norm(h))
    m = v.int("mm_hidden_size", default=h) * kh * kw
    t = v.int("text_hidden_size") if v.get("text_hidden_size") is not None else r.text_hidden("deepseek_v3")
    projector = linear(m, m, bias=False) + linear(m, t, bias=False) + rms_norm(t)
    return _towers("moonvit3d", "approximation: remote-code modeling_kimi_k3.py (not in transformers) "
                   "MoonViT3d + PatchMergerMLPV2, from the architecture its vision_config describes",
                   vision=vision, projector=projector)


def minimax_m3_vl_towers(r: _Reader) -> TowerParameters:
    """MiniMax-M3 VL (modeling_minimax_m3_vl.py ``MiniMaxM3VLModel``); the checkpoint's own
    ``img_token_compression_config`` (spatial_merge_size, temporal_patch_size) is read too. Vision
    (``MiniMaxM3VLVisionModel``, CLIP-like with 3D RoPE, no learned positions):
    ``Conv3d(C, H, (t, p, p), no bias) + pre_layrnorm: LayerNorm(H)
    + L * (q,k,v,out_proj: 4 * Linear(H, H) + fc1: Linear(H, I) + fc2: Linear(I, H) + 2 LayerNorm(H))``.
    Projector (``MiniMaxM3VLMultiModalProjector``), with P = projector_hidden_size, m = spatial_merge_size:
    ``linear_1: Linear(H, P) + linear_2: Linear(P, T) + merge_linear_1: Linear(T*m^2, P)
    + merge_linear_2: Linear(P, T)``, all biased."""
    v = r.sub("vision_config", "minimax_m3_vl_vision")
    if v is None:
        return NO_TOWERS
    compression = v.get("img_token_compression_config") or r.raw.get("img_token_compression_config") or {}
    if not isinstance(compression, Mapping):
        compression = {}
    h, i, layers = v.int("hidden_size"), v.int("intermediate_size"), v.int("num_hidden_layers")
    p, c = v.int("patch_size"), v.int("num_channels", default=3)
    tp = v.int("temporal_patch_size", default=compression.get("temporal_patch_size"))
    m = v.int("spatial_merge_size", default=compression.get("spatial_merge_size"))
    vision = conv(c, h, (tp, p, p), bias=False) + layer_norm(h) + layers * vit_layer(h, i)
    t = r.text_hidden("minimax_m3_vl_text")
    proj = r.top("minimax_m3_vl").int("projector_hidden_size")
    projector = linear(h, proj) + linear(proj, t) + linear(t * m * m, proj) + linear(proj, t)
    return _towers("minimax_m3_vl_vision", _TRANSFORMERS + "modeling_minimax_m3_vl.py MiniMaxM3VLVisionModel + "
                   "MiniMaxM3VLMultiModalProjector", vision=vision, projector=projector)


def qwen2_5_vl_towers(r: _Reader) -> TowerParameters:
    """Qwen2.5-VL (modeling_qwen2_5_vl.py ``Qwen2_5_VisionTransformerPretrainedModel``), with
    m = spatial_merge_size, M = H*m^2, O = out_hidden_size. Vision: ``patch_embed: Conv3d(C, H, (t, p, p),
    no bias)`` (no learned positions, 2D RoPE) ``+ depth * (qkv: Linear(H, 3H) + proj: Linear(H, H)
    + gated MLP gate/up: 2 * Linear(H, I) + down: Linear(I, H)`` (all biased) ``+ norm1, norm2: 2 RMSNorm(H))``.
    Projector (``Qwen2_5_VLPatchMerger``): ``ln_q: RMSNorm(H) + Linear(M, M) + Linear(M, O)``."""
    v = r.sub("vision_config", "qwen2_5_vl_vision")
    if v is None:
        return NO_TOWERS
    h, i, layers = v.int("hidden_size"), v.int("intermediate_size"), v.int("depth")
    p, tp = v.int("patch_size"), v.int("temporal_patch_size")
    c, m, out = v.int("in_channels", "in_chans", default=3), v.int("spatial_merge_size"), v.int("out_hidden_size")
    layer = linear(h, 3 * h) + linear(h, h) + 2 * linear(h, i) + linear(i, h) + 2 * rms_norm(h)
    vision = conv(c, h, (tp, p, p), bias=False) + layers * layer
    hm = h * m * m
    projector = rms_norm(h) + linear(hm, hm) + linear(hm, out)
    return _towers("qwen2_5_vl_vision", _TRANSFORMERS + "modeling_qwen2_5_vl.py "
                   "Qwen2_5_VisionTransformerPretrainedModel (blocks + merger)", vision=vision, projector=projector)


def qwen2_vl_towers(r: _Reader) -> TowerParameters:
    """Qwen2-VL (modeling_qwen2_vl.py ``Qwen2VisionTransformerPretrainedModel``), with E = embed_dim, r =
    mlp_ratio, m = spatial_merge_size, M = E*m^2, O = hidden_size (the merger's output: the text width).
    Vision: ``patch_embed: Conv3d(C, E, (t, p, p), no bias) + depth * (qkv: Linear(E, 3E) + proj: Linear(E, E)
    + fc1: Linear(E, rE) + fc2: Linear(rE, E)`` (all biased) ``+ norm1, norm2: 2 LayerNorm(E))``. Projector
    (``PatchMerger``): ``ln_q: LayerNorm(E) + Linear(M, M) + Linear(M, O)``. Unlike Qwen2.5-VL the vision
    config's ``hidden_size`` is the output width, not the tower's (the module printout of
    Qwen2VLForConditionalGeneration, e.g. zhenhua32/Qwen2-VL READ.md: Conv3d(3, 1280, (2, 14, 14), bias=False),
    32 blocks of qkv 1280->3840, fc1 1280->5120, merger 5120->5120->3584)."""
    v = r.sub("vision_config", "qwen2_vl_vision")
    if v is None:
        return NO_TOWERS
    e, layers, ratio = v.int("embed_dim"), v.int("depth"), v.int("mlp_ratio")
    p, tp = v.int("patch_size"), v.int("temporal_patch_size")
    c, m, out = v.int("in_chans", "in_channels", default=3), v.int("spatial_merge_size"), v.int("hidden_size")
    layer = linear(e, 3 * e) + linear(e, e) + linear(e, ratio * e) + linear(ratio * e, e) + 2 * layer_norm(e)
    vision = conv(c, e, (tp, p, p), bias=False) + layers * layer
    em = e * m * m
    projector = layer_norm(e) + linear(em, em) + linear(em, out)
    return _towers("qwen2_vl_vision", _TRANSFORMERS + "modeling_qwen2_vl.py "
                   "Qwen2VisionTransformerPretrainedModel (blocks + merger)", vision=vision, projector=projector)


def glm4v_moe_towers(r: _Reader) -> TowerParameters:
    """GLM-4.5V (modeling_glm4v_moe.py ``Glm4vMoeVisionModel``), with O = out_hidden_size, m =
    spatial_merge_size. Vision: ``patch_embed: Conv3d(C, H, (t, p, p)) + bias + embeddings.position_embedding:
    (image_size/p)^2 * H + depth * (qkv: Linear(H, 3H, bias=attention_bias) + proj: Linear(H, H, no bias)
    + gated MLP of width O`` (``Glm4vMoeisionMlp`` takes ``out_hidden_size`` as its width, no bias)
    ``+ norm1, norm2: 2 RMSNorm(H)) + post_conv_layernorm, post_layernorm: 2 RMSNorm(H)``. Projector:
    ``downsample: Conv2d(H, O, m x m) + bias`` and ``merger`` (``Glm4vMoeVisionPatchMerger``, no bias):
    ``proj: Linear(O, O) + post_projection_norm: LayerNorm(O) + gate/up: 2 * Linear(O, I) + down: Linear(I, O)``."""
    v = r.sub("vision_config", "glm4v_moe_vision")
    if v is None:
        return NO_TOWERS
    h, i, layers = v.int("hidden_size"), v.int("intermediate_size"), v.int("depth")
    p, tp, c = v.int("patch_size"), v.int("temporal_patch_size"), v.int("in_channels", default=3)
    m, out, image = v.int("spatial_merge_size"), v.int("out_hidden_size"), v.int("image_size")
    qkv_bias = v.flag("attention_bias")
    layer = (linear(h, 3 * h, qkv_bias) + linear(h, h, bias=False) + 2 * linear(h, out, bias=False)
             + linear(out, h, bias=False) + 2 * rms_norm(h))
    vision = conv(c, h, (tp, p, p)) + (image // p) ** 2 * h + layers * layer + 2 * rms_norm(h)
    merger = (linear(out, out, bias=False) + layer_norm(out) + 2 * linear(out, i, bias=False)
              + linear(i, out, bias=False))
    projector = conv(h, out, (m, m)) + merger
    return _towers("glm4v_moe_vision", _TRANSFORMERS + "modeling_glm4v_moe.py Glm4vMoeVisionModel "
                   "(blocks + downsample + merger)", vision=vision, projector=projector)


def pixtral_vision(v: _Cfg) -> int:
    """Pixtral vision encoder (modeling_pixtral.py ``PixtralVisionModel``): ``patch_conv: Conv(C, H, p, no bias)
    + ln_pre: RMSNorm(H) + L * (q,k,v,o: 4 * Linear(H, H, no bias) + gated MLP 3 * H*I (no bias)
    + attention_norm, ffn_norm: 2 RMSNorm(H))``; positions are 2D RoPE (no weights)."""
    h, i, layers = v.int("hidden_size"), v.int("intermediate_size"), v.int("num_hidden_layers")
    p, c = v.int("patch_size"), v.int("num_channels", default=3)
    layer = 4 * linear(h, h, bias=False) + 3 * linear(h, i, bias=False) + 2 * rms_norm(h)
    return conv(c, h, (p, p), bias=False) + rms_norm(h) + layers * layer


def mistral3_towers(r: _Reader) -> TowerParameters:
    """Mistral 3 (Mistral Small 3.x, Devstral Small 2; modeling_mistral3.py ``Mistral3Model``): the Pixtral
    tower (:func:`pixtral_vision`) and ``Mistral3MultiModalProjector``, with m = spatial_merge_size,
    F = the number of vision_feature_layer entries (1 for an int): ``norm: RMSNorm(H)
    + patch_merger.merging_layer: Linear(H*m^2, H, no bias) + linear_1: Linear(H*F, T)
    + linear_2: Linear(T, T)`` (biased when ``multimodal_projector_bias``)."""
    v = r.sub("vision_config", "pixtral")
    if v is None:
        return NO_TOWERS
    top = r.top("mistral3")
    h, t, m = v.int("hidden_size"), r.text_hidden("mistral"), top.int("spatial_merge_size")
    layers = top.get("vision_feature_layer", default=-1)
    features = len(layers) if isinstance(layers, (list, tuple)) else 1
    bias = top.flag("multimodal_projector_bias")
    projector = rms_norm(h) + linear(h * m * m, h, bias=False) + linear(h * features, t, bias) + linear(t, t, bias)
    return _towers("pixtral", _TRANSFORMERS + "modeling_pixtral.py PixtralVisionModel + modeling_mistral3.py "
                   "Mistral3MultiModalProjector", vision=pixtral_vision(v), projector=projector)


def voxtral_towers(r: _Reader) -> TowerParameters:
    """Voxtral (modeling_voxtral.py ``VoxtralForConditionalGeneration``). Audio (``VoxtralEncoder``,
    Whisper-style), with n = num_mel_bins, H = d_model, I = encoder_ffn_dim: ``conv1: Conv(n, H, 3) + bias
    + conv2: Conv(H, H, 3) + bias + embed_positions: max_source_positions * H`` (a frozen nn.Embedding,
    still a parameter) ``+ L * (q, v, out_proj: 3 * Linear(H, H) + k_proj: Linear(H, H, no bias)
    + fc1: Linear(H, I) + fc2: Linear(I, H) + 2 LayerNorm(H)) + layer_norm: LayerNorm(H)``.
    Projector (``VoxtralMultiModalProjector``, no bias): ``linear_1: Linear(I, T) + linear_2: Linear(T, T)``
    (the encoder output is regrouped into I-wide frames before it)."""
    a = r.sub("audio_config", "voxtral_encoder")
    if a is None:
        return NO_TOWERS
    h, i = a.int("hidden_size", "d_model"), a.int("intermediate_size", "encoder_ffn_dim")
    layers, mels = a.int("num_hidden_layers", "encoder_layers"), a.int("num_mel_bins")
    layer = 3 * linear(h, h) + linear(h, h, bias=False) + linear(h, i) + linear(i, h) + 2 * layer_norm(h)
    audio = (conv(mels, h, (3,)) + conv(h, h, (3,)) + a.int("max_source_positions") * h + layers * layer
             + layer_norm(h))
    t = r.text_hidden("llama")
    projector = linear(i, t, bias=False) + linear(t, t, bias=False)
    return _towers("voxtral_audio", _TRANSFORMERS + "modeling_voxtral.py VoxtralEncoder + "
                   "VoxtralMultiModalProjector", audio=audio, projector=projector)


def generic_towers(r: _Reader) -> TowerParameters:
    """ESTIMATE for families without a formula here: a ViT from ``vision_config`` and a transformer
    encoder from ``audio_config``. Vision: ``Conv(C, H, (t, p, p)) + bias + (image_size/p)^2 * H
    (when image_size is given) + L * (4 * Linear(H, H) + Linear(H, I) + Linear(I, H) + 2 LayerNorm(H))
    + LayerNorm(H)``; audio: the same layers (``d_model`` / ``encoder_layers`` / ``encoder_ffn_dim``
    accepted) plus a LayerNorm; projector per tower: a LLaVA-style ``Linear(H * m^2, T) + Linear(T, T)``
    (m = spatial_merge_size, 1 if absent). Real towers differ (gated MLPs, merges, class tokens)."""
    t = _text_hidden_or_none(r)
    vision = audio = projector = 0
    parts = []
    for key, is_audio in (("vision_config", False), ("audio_config", True)):
        sub = r.raw.get(key)
        if not isinstance(sub, Mapping):
            continue
        c = _Cfg(sub, f"{key}.")
        h = c.get("hidden_size", "vt_hidden_size", "d_model", "embed_dim", "width")
        layers = c.get("num_hidden_layers", "depth", "vt_num_hidden_layers", "encoder_layers", "num_layers")
        if not isinstance(h, int) or not isinstance(layers, int) or h <= 0 or layers <= 0:
            continue
        i = c.get("intermediate_size", "vt_intermediate_size", "encoder_ffn_dim", "mlp_dim", default=4 * h)
        i = i if isinstance(i, int) and i > 0 else 4 * h
        encoder = layers * vit_layer(h, i) + layer_norm(h)
        if is_audio:
            audio += encoder
        else:
            p = _positive(c.get("patch_size", default=14), 14)
            tp = _positive(c.get("temporal_patch_size", default=1), 1)
            channels = _positive(c.get("num_channels", "in_channels", default=3), 3)
            image = c.get("image_size")
            positions = (image // p) ** 2 * h if isinstance(image, int) and image > 0 else 0
            vision += conv(channels, h, (tp, p, p)) + positions + encoder
        m = _positive(c.get("spatial_merge_size", default=1), 1)
        if t:
            projector += linear(h * m * m, t) + linear(t, t)
        parts.append("audio" if is_audio else "vision")
    if not parts:
        return _towers("unknown", "no size keys (hidden_size / num_hidden_layers or their aliases) in "
                       "vision_config / audio_config: nothing counted")
    return _towers("vit_estimate", f"estimate: generic ViT / encoder formula for the {'+'.join(parts)} tower of "
                   f"model_type {r.raw.get('model_type')!r}, no family formula in gpurec_core.towers",
                   vision=vision, audio=audio, projector=projector)


def mllama_vision(v: _Cfg) -> int:
    """Llama 3.2 Vision tower (modeling_mllama.py ``MllamaVisionModel``), with P = (image_size/p)^2 + 1
    patches (class token included), M = max_num_tiles, A = len(supported_aspect_ratios):
    ``patch_embedding: Conv(C, H, p, no bias) + class_embedding: H
    + gated_positional_embedding (MllamaPrecomputedPositionEmbedding): gate 1 + embedding P*H
      + tile_embedding: (A+1) * M*P*H
    + pre/post_tile_positional_embedding (MllamaPrecomputedAspectRatioEmbedding, gated): 2 * ((A+1) * M*H + 1)
    + layernorm_pre, layernorm_post: 2 LayerNorm(H)
    + transformer: L * layer + global_transformer: L_g * (layer + gate_attn, gate_ffn: 2)``, where
    ``layer = q,k,v,o: 4 * Linear(H, H, no bias) + fc1: Linear(H, I) + fc2: Linear(I, H) + 2 LayerNorm(H)``."""
    h, i, p = v.int("hidden_size"), v.int("intermediate_size"), v.int("patch_size")
    c, tiles = v.int("num_channels", default=3), v.int("max_num_tiles")
    ratios = len(v.int_list("supported_aspect_ratios"))
    if ratios == 0:
        raise ModelConfigError(f"config.json field '{v.where}supported_aspect_ratios' must be a non-empty list to count "
                               "the mllama vision tower")
    patches = (v.int("image_size") // p) ** 2 + 1
    layer = 4 * linear(h, h, bias=False) + linear(h, i) + linear(i, h) + 2 * layer_norm(h)
    positional = 1 + patches * h + (ratios + 1) * tiles * patches * h
    tile_positional = 2 * ((ratios + 1) * tiles * h + 1)
    return (conv(c, h, (p, p), bias=False) + h + positional + tile_positional + 2 * layer_norm(h)
            + v.int("num_hidden_layers") * layer + v.int("num_global_layers") * (layer + 2))


def mllama_towers(r: _Reader) -> TowerParameters:
    """Llama 3.2 Vision (modeling_mllama.py ``MllamaForConditionalGeneration``): :func:`mllama_vision`
    and ``MllamaMultiModalProjector``: ``Linear(vision_output_dim, T)`` with bias (vision_output_dim
    concatenates the final and the ``intermediate_layers_indices`` hidden states). The cross-attention
    layers that read the projected image live in the language model (``param_count``)."""
    v = r.sub("vision_config", "mllama_vision_model")
    if v is None:
        return NO_TOWERS
    t = r.text_hidden("mllama_text_model")
    return _towers("mllama_vision", _TRANSFORMERS + "modeling_mllama.py MllamaVisionModel + MllamaMultiModalProjector",
                   vision=mllama_vision(v), projector=linear(v.int("vision_output_dim"), t))


def _positive(value: Any, fallback: int) -> int:
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else fallback


def _text_hidden_or_none(r: _Reader) -> Optional[int]:
    """The language model's width for the generic projector: the text config's (its class's default
    when it omits it, :meth:`_Reader.sub`), else the top level's."""
    text = r.raw.get("text_config")
    text = r.sub("text_config", None).values if isinstance(text, Mapping) else {}
    for where in (text, r.raw):
        value = where.get("hidden_size")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


# ------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------

_FAMILIES: dict[str, Callable[[_Reader], TowerParameters]] = {
    "gemma3": gemma3_towers,
    "gemma4": gemma4_towers,
    "llama4": llama4_towers,
    "qwen3_vl": qwen3_vl_towers,
    "qwen3_vl_moe": qwen3_vl_towers,
    "qwen3_5": qwen3_5_towers,
    "qwen3_5_moe": qwen3_5_towers,
    "kimi_k25": kimi_k25_towers,
    "kimi_k3": kimi_k3_towers,
    "minimax_m3_vl": minimax_m3_vl_towers,
    "qwen2_5_vl": qwen2_5_vl_towers,
    "qwen2_vl": qwen2_vl_towers,
    "glm4v_moe": glm4v_moe_towers,
    "mistral3": mistral3_towers,
    "voxtral": voxtral_towers,
    "mllama": mllama_towers,
    "llava": llava_towers,
    "llava_next": llava_towers,
}

#: The config ``model_type`` values with a family formula (others with towers get an estimate).
SUPPORTED_MODEL_TYPES = tuple(sorted(_FAMILIES))


def _class_defaults(model_type: str) -> Mapping[str, Any]:
    from gpurec_core.config_defaults import class_defaults  # lazily: it imports transformers

    return class_defaults(model_type)


def tower_parameters(raw_config: Mapping[str, Any], defaults: Optional[Defaults] = None) -> TowerParameters:
    """Count the vision tower, audio tower and projector of the full HF ``config.json`` ``raw_config``.

    ``defaults(model_type)`` returns the class defaults of a config class (keys that
    ``save_pretrained`` omitted); by default ``gpurec_core.config_defaults.class_defaults``.
    Text-only configs (no ``vision_config`` / ``audio_config``) return all zeros (``kind='none'``);
    families without a formula here get a generic estimate (``kind='vit_estimate'``).
    Raises :class:`ModelConfigError` when a size the formula needs is missing or not a positive integer.
    """
    if not isinstance(raw_config, Mapping):
        raise ModelConfigError(f"config must be a JSON object, got {type(raw_config).__name__}")
    if raw_config.get("vision_config") is None and raw_config.get("audio_config") is None:
        return NO_TOWERS
    reader = _Reader(raw_config, defaults or _class_defaults)
    family = _FAMILIES.get(str(raw_config.get("model_type") or ""))
    return family(reader) if family else generic_towers(reader)
