"""Weight and KV-cache precision of a checkpoint, from its config alone.

Reads ``quantization_config`` (config.json), ``hf_quant_config.json`` (ModelOpt) and ``torch_dtype``
the way vLLM 0.19 does (vllm/model_executor/layers/quantization/*.py, vllm/config/model.py
``_get_and_verify_dtype``, vllm/utils/torch_utils.py ``resolve_kv_cache_dtype_string``), and prices
every quantized weight with its real storage: scales, zero points and packed layouts included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from gpurec_core.memory_math import (
    _compile_patterns,
    quantized_bytes_per_param,
    weight_components,
)
from gpurec_core.models import DTYPE_BYTES, GPUSpec, Precision

_TORCH_DTYPES = {
    "bfloat16": "bf16", "torch.bfloat16": "bf16", "bf16": "bf16",
    "float16": "fp16", "torch.float16": "fp16", "fp16": "fp16", "half": "fp16",
    "float32": "fp32", "torch.float32": "fp32", "fp32": "fp32", "float": "fp32",
}


def serving_dtype(torch_dtype: Optional[str]) -> tuple[str, str]:
    """(dtype vLLM serves the unquantized weights in, why).

    ``--dtype auto`` keeps a bf16/fp16 checkpoint's dtype and serves an fp32 (or unstated) one in
    bf16 (vllm/config/model.py ``_get_and_verify_dtype``: "float32 -> bfloat16" on GPUs with bf16).
    """
    name = _TORCH_DTYPES.get(str(torch_dtype).lower()) if torch_dtype else None
    if name is None:
        return "bf16", "torch_dtype not given: bf16 (vLLM --dtype auto)"
    if name == "fp32":
        return "bf16", "torch_dtype float32: vLLM --dtype auto serves it in bf16"
    return name, f"torch_dtype {torch_dtype}"


def _weights_spec(group: dict[str, Any]) -> dict[str, Any]:
    return (group or {}).get("weights") or {}


def _format_from_spec(weights: dict[str, Any], fmt: str = "") -> tuple[str, float, str]:
    """(weight precision, bytes per param incl. scales, description) of one compressed-tensors /
    ModelOpt ``weights`` spec: num_bits, type int/float, strategy tensor/channel/group/block,
    group_size, symmetric (zero points for asymmetric int)."""
    bits = int(weights.get("num_bits") or 8)
    kind = str(weights.get("type") or "int").lower()
    strategy = str(weights.get("strategy") or ("group" if weights.get("group_size") else "tensor")).lower()
    group = weights.get("group_size")
    if group is not None and group <= 0:  # -1 / 0: no groups (compressed-tensors writes null)
        group = None
    fmt = (fmt or "").lower()
    if kind == "float" and bits == 4:
        if "mxfp4" in fmt or group == 32:
            return "mxfp4", quantized_bytes_per_param(4, 32, 1.0), "MXFP4, e8m0 scale per 32"
        return "nvfp4", quantized_bytes_per_param(4, int(group or 16), 1.0), f"NVFP4, fp8 scale per {group or 16}"
    name = ("fp8" if kind == "float" else "int8") if bits == 8 else ("int4" if bits == 4 else f"int{bits}")
    if name not in DTYPE_BYTES:
        name = "int4" if bits < 8 else "int8"
    zero_bits = 0.0 if weights.get("symmetric", True) else float(bits)
    if strategy == "group" and group:
        bpp = quantized_bytes_per_param(bits, int(group), 2.0, zero_bits)
        return name, bpp, f"{bits}-bit {kind}, group {group}, bf16 scales" + ("" if not zero_bits else ", zero points")
    if strategy == "block" and weights.get("block_structure"):
        bn, bk = weights["block_structure"][0], weights["block_structure"][-1]
        return name, quantized_bytes_per_param(bits, int(bn) * int(bk), 4.0), f"{bits}-bit {kind}, {bn}x{bk} blocks"
    if strategy == "channel":
        # one scale per output channel: amortised over the input dimension (~ hidden size)
        return name, quantized_bytes_per_param(bits, None, 2.0, 0, 4096), f"{bits}-bit {kind}, per-channel scales"
    return name, bits / 8.0, f"{bits}-bit {kind}, per-tensor scale"


def _modelopt_algo(algo: str, group: int = 0) -> tuple[str, float, str]:
    """(precision, bytes per param, description) of a ModelOpt ``quant_algo`` (modelopt/torch/export:
    NVFP4 = e2m1 + fp8 scale per 16, MXFP4/MXFP8 = e8m0 scale per 32, FP8 = per-tensor scale,
    W4A8_AWQ / W4A16 = int4 with bf16 scales per 128)."""
    algo = algo.upper()
    if "NVFP4" in algo:
        return "nvfp4", quantized_bytes_per_param(4, group or 16, 1.0), f"NVFP4, fp8 scale per {group or 16}"
    if "MXFP4" in algo:
        return "mxfp4", quantized_bytes_per_param(4, 32, 1.0), "MXFP4, e8m0 scale per 32"
    if "MXFP8" in algo:
        return "fp8", quantized_bytes_per_param(8, 32, 1.0), "MXFP8, e8m0 scale per 32"
    if "FP8" in algo:
        return "fp8", 1.0, "FP8, per-tensor scales"
    if "INT4" in algo or "W4A" in algo:
        return "int4", quantized_bytes_per_param(4, group or 128, 2.0), f"INT4, bf16 scale per {group or 128}"
    if "INT8" in algo or "W8A" in algo:
        return "int8", quantized_bytes_per_param(8, None, 2.0, 0, 4096), "INT8, per-channel scales"
    return "int8", 1.0, f"{algo or 'unknown'} (assumed 8-bit)"


def _kv_from_modelopt(q: dict[str, Any]) -> Optional[str]:
    """'fp8' when a ModelOpt config asks for an FP8 KV cache (vLLM 0.19 honours it under
    --kv-cache-dtype auto: vllm/utils/torch_utils.py ``get_kv_cache_quant_algo_string``)."""
    inner = q.get("quantization", q) if isinstance(q.get("quantization"), dict) else q
    algo = inner.get("kv_cache_scheme") or q.get("kv_cache_scheme") or inner.get("kv_cache_quant_algo") or q.get("kv_cache_quant_algo")
    if isinstance(algo, dict):
        return "fp8" if algo.get("num_bits") == 8 and algo.get("type") == "float" else None
    if isinstance(algo, str) and "fp8" in algo.lower():
        return "fp8"
    return None


def _effective_mixed(model: Any, rules: list[tuple[Any, float]], default_bpp: Optional[float],
                     unq_bytes: float, ignore: tuple[str, ...]) -> Optional[tuple[float, tuple[tuple[str, float], ...]]]:
    """Average bytes per quantized parameter of a mixed-precision checkpoint, overall and by weight
    component kind (``Precision.bytes_per_param_by_kind``): each quantizable component takes the bytes
    of the first rule whose pattern names it, else ``default_bpp`` (None = left unquantized). Returns
    None when the model's parameters are not available."""
    try:
        cfg, params = model.config, model.parameters
    except Exception:  # a model without a parameter count: caller falls back to the dominant format
        return None
    probe = Precision(weight="fp8", weight_bytes_per_param=1.0, quant_method="probe", modules_not_quantized=ignore,
                      unquantized_bytes_per_param=unq_bytes)
    from gpurec_core.memory_math import _leaves

    q_params = 0.0
    q_bytes = 0.0
    by_kind: dict[str, list[float]] = {}
    for comp in weight_components(cfg, params, probe):
        quantized = comp.params * (1.0 - comp.unquantized_fraction)
        if quantized <= 0:
            continue
        names = [n for _, aliases in _leaves(cfg, comp.kind, comp.layer) for n in aliases]
        bpp = default_bpp
        for regex, rule_bpp in rules:
            if any(regex.match(n) for n in names):
                bpp = rule_bpp
                break
        if bpp is None:
            continue
        q_params += quantized
        q_bytes += quantized * bpp
        kind = by_kind.setdefault(comp.kind, [0.0, 0.0])
        kind[0] += quantized
        kind[1] += quantized * bpp
    if not q_params:
        return None
    return q_bytes / q_params, tuple((k, b / n) for k, (n, b) in sorted(by_kind.items()))


def _fp4_routed_experts(make: Any, fp8_bpp: float, fp8_why: str, layer_rules: dict[str, Any]) -> Precision:
    """DeepSeek-V4 (config.json ``expert_dtype: "fp4"``): routed experts in an FP4 format, every other
    linear weight in the FP8 blocks of ``quantization_config``, lm_head and embeddings unquantized.

    - The released checkpoints: MXFP4 experts, e2m1 + an e8m0 scale per 32 (model card: "FP4 + FP8
      Mixed"; vLLM picks the expert kernels from ``expert_dtype``, vllm/model_executor/models/
      deepseek_v4.py). The matmuls take the checkpoint's FP8 activations (``activation_scheme:
      dynamic``, ``fmt: e4m3``), so they are planned at the FP8 rate: the FP4 rate needs both operands
      in FP4.
    - NVIDIA's NVFP4 conversions (nvidia/DeepSeek-V4-*-NVFP4, producer ``dsv4-nvfp4-experts``): the
      routed experts listed in ``quantized_layers`` in that algo (NVFP4, W4A4); the rest keeps the base
      checkpoint's FP8 blocks (the config keeps its ``quant_method: fp8`` and ``weight_block_size``; its
      ignore list names what was not converted, not what is unquantized). Planned at the FP4 rate.
    """
    if layer_rules:
        spec = next(iter(layer_rules.values())) or {}
        name, bpp, desc = _modelopt_algo(str(spec.get("quant_algo", "")), int(spec.get("group_size") or 0))
        compute = "fp4" if name in ("nvfp4", "mxfp4") else name
    else:
        name, bpp, desc, compute = "mxfp4", quantized_bytes_per_param(4, 32, 1.0), "MXFP4, e8m0 scale per 32", "fp8"
    return make("fp8", fp8_bpp, compute, f"{fp8_why}; routed experts {desc} (expert_dtype fp4)",
                ("lm_head", "model.embed_tokens")).model_copy(
        update=dict(routed_expert_weight=name, bytes_per_param_by_kind=(("routed_experts", bpp),)))


def infer_precision_from_model(model: Any) -> Precision:
    """Precision of a resolved model (``model.config`` a ModelConfig), as vLLM 0.19 would serve it."""
    cfg = model.config
    dtype, dtype_why = serving_dtype(cfg.torch_dtype)
    unq = DTYPE_BYTES[dtype]
    base = dict(unquantized_dtype=dtype, unquantized_bytes_per_param=unq, kv_cache_dtype=dtype, kv_cache_bytes=unq)
    q: dict[str, Any] = dict(cfg.quantization_config or {})
    hq = cfg.hf_quant_config or {}
    if not q and hq:
        # vLLM folds hf_quant_config.json into the config as quant_method "modelopt"
        q = dict(hq.get("quantization") or {})
        q.setdefault("quant_method", "modelopt")
        q["producer"] = hq.get("producer")
    if not q:
        return Precision(weight=dtype, weight_bytes_per_param=unq, compute_dtype=dtype, source=dtype_why, **base)

    method = str(q.get("quant_method") or "").lower()
    algo = str(q.get("quant_algo") or "").upper()
    producer = str((q.get("producer") or {}).get("name", "")) if isinstance(q.get("producer"), dict) else ""
    if not method and (algo or producer == "modelopt"):
        method = "modelopt"
    ignore = tuple(str(x) for x in (q.get("ignore") or q.get("exclude_modules") or q.get("modules_to_not_convert")
                                    or q.get("ignored_layers") or []) if x)
    modules = ("lm_head", "model.embed_tokens") + ignore
    kv = _kv_from_modelopt(q) if method.startswith("modelopt") or algo else None
    if kv == "fp8":
        base.update(kv_cache_dtype="fp8", kv_cache_bytes=1.0)
    kv_note = "; KV fp8 (kv_cache_quant_algo)" if kv == "fp8" else ""

    def make(weight: str, bpp: float, compute: str, why: str, mods: tuple[str, ...] = modules) -> Precision:
        return Precision(weight=weight, weight_bytes_per_param=bpp, compute_dtype=compute, quant_method=method or weight,
                         modules_not_quantized=mods, source=f"quantization_config {method or algo}: {why}; {dtype_why}{kv_note}",
                         **base)

    if method in ("awq", "awq_marlin"):
        bits, group = int(q.get("bits") or q.get("w_bit") or 4), int(q.get("group_size") or q.get("q_group_size") or 128)
        zero = bool(q.get("zero_point", True))
        if group <= 0:  # -1: one scale (and zero point) per output channel
            bpp = quantized_bytes_per_param(bits, None, 2.0 + (bits / 8.0 if zero else 0.0), 0, cfg.hidden_size)
        else:
            bpp = quantized_bytes_per_param(bits, group, 2.0, bits if zero else 0.0)
        return make("int4" if bits <= 4 else "int8", bpp, dtype, f"AWQ {bits}-bit g{group}, fp16 scales"
                    + (", packed zero points" if zero else ""))
    if method in ("gptq", "gptq_marlin"):
        bits, group = int(q.get("bits") or 4), int(q.get("group_size") or 128)
        if group <= 0:  # per-channel
            bpp = quantized_bytes_per_param(bits, None, 2.0 + bits / 8.0, 0, cfg.hidden_size)
        else:
            # qweight + fp16 scales + packed qzeros (stored even when sym) per group; g_idx int32 per input row
            bpp = quantized_bytes_per_param(bits, group, 2.0, bits) + 4.0 / max(1, cfg.hidden_size)
        return make("int4" if bits <= 4 else "int8", bpp, dtype,
                    f"GPTQ {bits}-bit g{group}, fp16 scales and zeros, g_idx")
    if method == "mxfp4":
        return make("mxfp4", quantized_bytes_per_param(4, 32, 1.0), "fp4",
                    "MXFP4 experts (e8m0 scale per 32), other modules unquantized",
                    modules + ("*self_attn*", "*.mlp.router", "*shared_expert*", "*.mlp.gate_proj", "*.mlp.up_proj", "*.mlp.down_proj"))
    if method == "mxfp8":
        # OCP MX: fp8 e4m3 values with one e8m0 (1-byte) scale per 32 (vLLM's mxfp8 quantization method;
        # the checkpoint's weight_block_size [1, 32] says the same)
        return make("fp8", quantized_bytes_per_param(8, 32, 1.0), "fp8", "MXFP8, e8m0 scale per 32")
    if method == "fbgemm_fp8":
        bpp = quantized_bytes_per_param(8, None, 4.0, 0, cfg.hidden_size)
        return make("fp8", bpp, "fp8", "FP8 with per-channel fp32 scales (fbgemm)")
    if method == "bitsandbytes":
        bits = 4 if q.get("load_in_4bit") else 8
        bpp = quantized_bytes_per_param(bits, 64, 4.0) if bits == 4 else quantized_bytes_per_param(8, None, 4.0, 0, cfg.hidden_size)
        return make("int4" if bits == 4 else "int8", bpp, dtype, f"bitsandbytes {bits}-bit")

    groups = q.get("config_groups") if isinstance(q.get("config_groups"), dict) else {}
    layer_rules = q.get("quantized_layers") if isinstance(q.get("quantized_layers"), dict) else {}
    v4_experts = cfg.expert_weight_dtype == "fp4" and all("experts" in str(k) for k in layer_rules)
    if method == "fp8" and (not layer_rules or v4_experts):
        block = q.get("weight_block_size")
        if block:
            bpp = quantized_bytes_per_param(8, int(block[0]) * int(block[-1]), 4.0)
            why = f"FP8 e4m3 with fp32 scales per {block[0]}x{block[-1]} block"
        else:
            bpp, why = 1.0, "FP8 e4m3, per-tensor scales"
        if v4_experts:
            return _fp4_routed_experts(make, bpp, why, layer_rules)
        return make("fp8", bpp, "fp8", why)

    if groups or method in ("compressed-tensors", "modelopt") or algo:
        fmt = str(q.get("format") or "")
        rules: list[tuple[Any, float]] = []
        summary: list[tuple[str, float, str, bool]] = []
        for group in groups.values():
            weights = _weights_spec(group)
            if not weights:
                continue
            name, bpp, why = _format_from_spec(weights, fmt)
            targets = tuple(t for t in (group.get("targets") or ["Linear"]) if isinstance(t, str))
            generic = not targets or any(t in ("Linear", "re:.*") for t in targets)
            summary.append((name, bpp, why, generic))
            if not generic:
                regex = _compile_patterns(targets)
                if regex is not None:
                    rules.append((regex, bpp))
        by_algo: dict[tuple[str, int], list[str]] = {}
        for pattern, spec in layer_rules.items():
            spec = spec or {}
            key = (str(spec.get("quant_algo", "")).upper(), int(spec.get("group_size") or 0))
            by_algo.setdefault(key, []).append(pattern)
        for (layer_algo, group), patterns in by_algo.items():
            name, bpp, why = _modelopt_algo(layer_algo, group)
            regex = _compile_patterns(tuple(patterns))
            if regex is not None:
                rules.append((regex, bpp))
            summary.append((name, bpp, why, False))
        if not summary:
            if method == "fp8" or ("FP8" in algo and q.get("weight_block_size")):
                block = q.get("weight_block_size")
                bpp = quantized_bytes_per_param(8, int(block[0]) * int(block[-1]), 4.0) if block else 1.0
                summary.append(("fp8", bpp, "FP8" + (" block" if block else ", per-tensor scales"), True))
            else:
                name, bpp, why = _modelopt_algo(algo, int(q.get("group_size") or 0))
                summary.append((name, bpp, f"ModelOpt {why}", True))
        generic_rules = [s for s in summary if s[3]]
        default_bpp: Optional[float] = generic_rules[0][1] if generic_rules else None
        if method == "fp8" and q.get("weight_block_size") and default_bpp is None:
            block = q["weight_block_size"]
            default_bpp = quantized_bytes_per_param(8, int(block[0]) * int(block[-1]), 4.0)
        dominant = max(summary, key=lambda s: (s[3], -s[1]))
        if rules:
            mixed = _effective_mixed(model, rules, default_bpp, unq, modules)
            weight = min(summary, key=lambda s: s[1])[0]
            if mixed is not None:
                effective, by_kind = mixed
                return make(weight, effective, "fp4" if weight in ("nvfp4", "mxfp4") else weight,
                            "mixed precision: " + ", ".join(sorted({s[2] for s in summary})) + f" (effective {effective:.4f} B/param)"
                            ).model_copy(update=dict(bytes_per_param_by_kind=by_kind))
            return make(weight, min(s[1] for s in summary), weight, "mixed precision (parameter count unavailable)")
        name, bpp, why, _ = dominant
        compute = {"fp8": "fp8", "int8": "int8", "nvfp4": "fp4", "mxfp4": "fp4"}.get(name, dtype)
        return make(name, bpp, compute, why)

    return _unknown_method(make, q, method, dtype)


#: Fields that name the weight bits in the quantization configs of AutoAWQ (``w_bit``), AutoGPTQ (``bits``),
#: compressed-tensors (``num_bits``), HQQ (``nbits``) and others (``weight_bits``).
_BITS_FIELDS = ("bits", "w_bit", "num_bits", "nbits", "weight_bits")


def _unknown_method(make, q: dict[str, Any], method: str, dtype: str) -> Precision:
    """A ``quant_method`` gpurec does not know: the weight bits its config names (8 when it names none),
    a group's fp16 scale when it names a ``group_size``, and ``Precision.assumed`` saying it is a guess."""
    field = next((f for f in _BITS_FIELDS if type(q.get(f)) is int and 1 <= q[f] <= 8), None)  # not a bool
    bits = q[field] if field else 8
    group = q["group_size"] if type(q.get("group_size")) is int and q["group_size"] > 0 else None
    where = f"its {field!r} field" if field else "no bits field"
    bpp = quantized_bytes_per_param(bits, group, 2.0 if group else 0.0)
    layout = f"group {group}, an fp16 scale per group (assumed)" if group else "scales not counted"
    why = f"unknown quant_method {method!r}: assumed {bits}-bit weights ({where}; {layout})"
    guess = f"{why}: gpurec does not know this format, so its {bpp:g} B/param weights are a guess; " \
        "--precision plans another"
    return make("int4" if bits <= 4 else "int8", bpp, dtype, why).model_copy(update={"assumed": guess})


# ---------------------------------------------------------------------------------------------
# Whether a GPU runs a weight format, per engine
# ---------------------------------------------------------------------------------------------
#
# Sources of the rules below (engine code and docs, read through the project's search tools):
# - vLLM docs features/quantization, "Supported Hardware" (current): Marlin (GPTQ/AWQ/FP8/FP4) on
#   Turing*, Ampere, Ada, Hopper, not Volta, not AMD GPUs ("*Turing does not support Marlin MXFP4");
#   INT8 (W8A8) on Turing and later, not Volta; FP8 (W8A8) on Ada, Hopper and AMD GPUs.
# - vLLM docs features/quantization/fp8: "FP8 models will run on compute capability >= 7.5 (Turing)
#   as weight-only W8A16, utilizing FP8 Marlin"; vllm/model_executor/layers/quantization/utils/
#   marlin_utils_fp8.py ``is_fp8_marlin_supported``: ``has_device_capability(75)``. Marlin on SM75
#   came with vllm-project/vllm PR #29901 (reviewed December 2025; its docs PR #34319, February
#   2026); that vLLM 0.19, the version the capacity plugin follows, includes it is a guess from the dates.
# - vllm/.../utils/marlin_utils_fp4.py ``is_fp4_marlin_supported``: ``has_device_capability(75)``
#   ("For GPUs that lack FP4 hardware support ... weight-only FP4"); modelopt.py
#   ``ModelOptNvFp4Config.get_min_capability``: 75.
# - vllm/.../quantization/mxfp4.py ``Mxfp4Config.get_min_capability``: 80; vLLM gpt-oss recipe
#   (vllm-project/recipes OpenAI/GPT-OSS.md): H100, H200, B200, MI300x, MI325x, MI355x; "works on
#   Ampere devices by default, using ... Marlin MXFP4 MoE".
# - sglang/srt/layers/quantization/fp8_utils.py ``can_auto_enable_marlin_fp8``: ``80 <= sm < 89``,
#   and FP8 Marlin only ``if _is_cuda`` (fp8.py); sglang marlin_utils_fp4.py: not off CUDA.
# - TensorRT-LLM support matrix (docs reference/support-matrix): Ampere (SM80, SM86) runs FP32,
#   FP16, BF16, INT8, INT4; FP8 from Ada (SM89). TensorRT Model Optimizer support matrix: FP4
#   "GPUs: Blackwell and Later", deployed with TensorRT-LLM.
# - gpt-oss-120b (MXFP4) served by TensorRT-LLM 1.3.0rc1 and vLLM 0.18 on H100 in this project's
#   measurements (tests/fixtures/measurements/serving_h100.csv, aiconfigurator-core silicon data).

#: The tensor unit each low-precision compute dtype needs (``GPUSpec.tensor_tflops`` names).
_UNIT_OF_COMPUTE = {"fp8": "fp8", "fp4": "fp4", "int8": "int8"}

ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "trtllm": "TensorRT-LLM"}


@dataclass(frozen=True)
class _Fallback:
    """What an engine does with a weight format on an NVIDIA GPU without the tensor unit the format
    computes in: from compute capability ``weight_only_from`` on it runs the format weight-only
    (``kernel``, citing ``cite``); below ``refused_below`` nothing runs it (``reason``); between
    the two, or with neither set, support is not verified and the plan says so."""

    weight_only_from: Optional[float]
    refused_below: Optional[float]
    kernel: str
    cite: str
    reason: str


#: (engine, weight format) -> what runs it on an NVIDIA GPU lacking the format's tensor unit.
NVIDIA_FALLBACKS: dict[tuple[str, str], _Fallback] = {
    ("vllm", "fp8"): _Fallback(
        7.5, 7.5, "W8A16 through FP8 Marlin", "vLLM docs, features/quantization/fp8",
        "vLLM runs FP8 on FP8 tensor units (compute capability 8.9 and later) or weight-only through FP8 Marlin "
        "from compute capability 7.5 (vLLM docs, features/quantization/fp8)"),
    ("vllm", "nvfp4"): _Fallback(
        7.5, 7.5, "W4A16 through FP4 Marlin", "vLLM marlin_utils_fp4.py is_fp4_marlin_supported",
        "vLLM runs NVFP4 on FP4 tensor units (Blackwell) or weight-only through FP4 Marlin from compute "
        "capability 7.5 (vLLM marlin_utils_fp4.py is_fp4_marlin_supported)"),
    ("vllm", "mxfp4"): _Fallback(
        8.0, 8.0, "W4A16 through Marlin MXFP4 or the triton MoE kernels",
        "vLLM mxfp4.py Mxfp4Config.get_min_capability 80; vLLM gpt-oss recipe",
        "vLLM runs MXFP4 from compute capability 8.0 (mxfp4.py Mxfp4Config.get_min_capability; its docs: "
        "'Turing does not support Marlin MXFP4')"),
    ("vllm", "int8"): _Fallback(
        None, 7.5, "", "",
        "vLLM runs INT8 W8A8 on Turing and later, not Volta (vLLM docs, features/quantization supported hardware)"),
    ("sglang", "fp8"): _Fallback(
        8.0, 8.0, "W8A16 through FP8 Marlin", "SGLang fp8_utils.py can_auto_enable_marlin_fp8",
        "SGLang runs FP8 on FP8 tensor units or weight-only through FP8 Marlin on compute capability 8.0 to 8.8 "
        "(sglang fp8_utils.py can_auto_enable_marlin_fp8)"),
    ("trtllm", "fp8"): _Fallback(
        None, 99.0, "", "",
        "TensorRT-LLM runs FP8 on Ada, Hopper and Blackwell only (its support matrix: Ampere runs FP32, FP16, BF16, "
        "INT8, INT4)"),
    ("trtllm", "nvfp4"): _Fallback(
        None, 99.0, "", "",
        "TensorRT-LLM runs NVFP4 on Blackwell only (TensorRT Model Optimizer support matrix: FP4 'GPUs: Blackwell "
        "and Later')"),
    ("trtllm", "mxfp4"): _Fallback(
        9.0, None, "gpt-oss's MXFP4 MoE kernels",
        "gpt-oss-120b measured with TensorRT-LLM on H100, tests/fixtures/measurements/serving_h100.csv", ""),
}

#: (engine, weight format) -> (AMD ISAs that run it without the format's tensor unit, citation).
AMD_WEIGHT_ONLY: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("vllm", "mxfp4"): (("gfx942",), "vLLM gpt-oss recipe: MI300x and MI325x"),
}
#: (engine, weight format) -> why nothing runs it on an AMD GPU without the format's tensor unit.
AMD_REFUSED = {
    ("vllm", "fp8"): "vLLM runs FP8 on AMD GPUs with FP8 units only; its weight-only FP8 Marlin is CUDA-only "
                     "(vLLM docs, features/quantization supported hardware)",
    ("vllm", "nvfp4"): "vLLM's weight-only FP4 Marlin is CUDA-only (vLLM docs, features/quantization supported "
                       "hardware)",
    ("sglang", "fp8"): "SGLang's weight-only FP8 Marlin is CUDA-only (sglang fp8.py)",
    ("sglang", "nvfp4"): "SGLang's weight-only FP4 Marlin is CUDA-only (sglang marlin_utils_fp4.py)",
}


@dataclass(frozen=True)
class WeightSupport:
    """How an engine runs a precision's weights on a GPU: ``mode`` 'native' (the GPU has the unit
    the format computes in, or the format needs none), 'weight-only' (dequantized in the matmul
    kernel, computing in ``compute_dtype``; planned so), 'unverified' (planned as the GPU's units
    allow, support not confirmed) or 'refused' (nothing runs it; ``note`` is the error)."""

    mode: str
    note: str = ""
    compute_dtype: str = ""


def _compute_capability(gpu: GPUSpec) -> Optional[float]:
    """An NVIDIA GPU's compute capability as a number (9.0), or None (another vendor, or not given)."""
    if (gpu.manufacturer or "NVIDIA").upper() != "NVIDIA":
        return None
    try:
        return float(gpu.compute_capability)
    except (TypeError, ValueError):
        return None


def _wide_dtype(gpu: GPUSpec) -> str:
    """The dtype a weight-only kernel computes in on this GPU: bf16, or fp16 where it has no bf16 (V100, T4)."""
    return "bf16" if gpu.bf16_tflops_dense else "fp16"


def weight_format_support(precision: Precision, gpu: GPUSpec, engine: str, _suggest: bool = True) -> WeightSupport:
    """Whether ``engine`` runs ``precision``'s weights on ``gpu``, and how (see :class:`WeightSupport`).

    Only formats that compute in a low-precision unit are checked (W8A8 fp8 and int8, NVFP4,
    MXFP4); weight-only formats (GPTQ, AWQ, W4A16) and float weights run wherever the engine does.
    The rules are the engines' own (:data:`NVIDIA_FALLBACKS`, :data:`AMD_WEIGHT_ONLY`,
    :data:`AMD_REFUSED`; sources above); a GPU or engine they do not cover is planned as its units
    allow, with a note that support is not verified.
    """
    unit = _UNIT_OF_COMPUTE.get(precision.compute_dtype)
    if unit is None:
        return WeightSupport("native")
    weight = precision.weight if precision.weight in ("nvfp4", "mxfp4", "fp8", "int8") else unit
    amd = (gpu.manufacturer or "").upper() == "AMD"
    has_unit = bool(gpu.tensor_tflops(unit))
    if has_unit and not (amd and weight == "nvfp4"):  # AMD's FP4 units are OCP MXFP4
        return WeightSupport("native", compute_dtype=unit)
    wide = _wide_dtype(gpu)
    name = ENGINE_NAMES.get(engine, engine)
    what = f"{gpu.name} has no {unit.upper()} tensor units" if not has_unit else f"{gpu.name}'s FP4 units are OCP MXFP4"
    cc = _compute_capability(gpu)
    key = (engine, weight)
    if cc is not None and key in NVIDIA_FALLBACKS:
        rule = NVIDIA_FALLBACKS[key]
        if rule.weight_only_from is not None and cc >= rule.weight_only_from:
            return WeightSupport("weight-only", f"{what}: {name} runs {weight} weights on it weight-only "
                                 f"({rule.kernel}), computing in {wide}; planned so ({rule.cite})", wide)
        if rule.refused_below is not None and cc < rule.refused_below:
            note = _refusal(precision, gpu, engine, weight, f"compute capability {cc:.1f}", rule.reason) \
                if _suggest else ""
            return WeightSupport("refused", note, wide)
    if amd:
        isa = (gpu.compute_capability or "").strip().lower()
        known = AMD_WEIGHT_ONLY.get(key)
        if known and any(isa.startswith(k) for k in known[0]):
            return WeightSupport("weight-only", f"{what}: {name} runs {weight} weights on it weight-only, computing "
                                 f"in {wide}; planned so ({known[1]})", wide)
        if key in AMD_REFUSED and not has_unit:
            note = _refusal(precision, gpu, engine, weight, isa or "AMD", AMD_REFUSED[key]) if _suggest else ""
            return WeightSupport("refused", note, wide)
    if has_unit:
        return WeightSupport("unverified", f"{what}: whether {name} runs {weight} weights on it is not verified; "
                             f"planned at its {unit.upper()} rate", unit)
    return WeightSupport("unverified", f"{what}: whether {name} runs {weight} weights on it is not verified; "
                         f"planned weight-only (computing in {wide})", wide)


def _refusal(precision: Precision, gpu: GPUSpec, engine: str, weight: str, basis: str, reason: str) -> str:
    """The one-line error for a format nothing runs on this GPU: GPU, precision, why, what to choose instead."""
    instead = [f"engine={e!r} (it runs {weight} on {gpu.name})" for e in ("vllm", "sglang", "trtllm")
               if e != engine and weight_format_support(precision, gpu, e, _suggest=False).mode in ("native", "weight-only")]
    if _compute_capability(gpu) is not None:
        instead.append("precision='int4' (a W4A16 export: GPTQ runs from Volta on)")
    wide = _wide_dtype(gpu)
    instead.append(f"{wide} weights (precision='{wide}' for a float checkpoint, the original model's id for a "
                   "quantized one)")
    instead.append({"fp8": "a GPU with FP8 units (Ada, Hopper, Blackwell, MI300 and later)",
                    "int8": "a Turing or later GPU"}.get(weight, "a Blackwell GPU (FP4 units)"))
    return (f"{ENGINE_NAMES.get(engine, engine)} cannot run {weight} weights on {gpu.name} ({basis}): {reason}; "
            f"choose {', '.join(instead[:-1])} or {instead[-1]}")
