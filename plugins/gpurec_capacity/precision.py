"""Weight and KV-cache precision of a checkpoint, from its config alone.

Reads ``quantization_config`` (config.json), ``hf_quant_config.json`` (ModelOpt) and ``torch_dtype``
the way vLLM 0.19 does (vllm/model_executor/layers/quantization/*.py, vllm/config/model.py
``_get_and_verify_dtype``, vllm/utils/torch_utils.py ``resolve_kv_cache_dtype_string``), and prices
every quantized weight with its real storage: scales, zero points and packed layouts included.
"""

from __future__ import annotations

from typing import Any, Optional

from gpurec_core.memory_math import (
    _compile_patterns,
    quantized_bytes_per_param,
    weight_components,
)
from gpurec_core.models import DTYPE_BYTES, Precision

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
                     unq_bytes: float, ignore: tuple[str, ...]) -> Optional[float]:
    """Average bytes per quantized parameter of a mixed-precision checkpoint: each quantizable
    component takes the bytes of the first rule whose pattern names it, else ``default_bpp``
    (None = left unquantized). Returns None when the model's parameters are not available."""
    try:
        cfg, params = model.config, model.parameters
    except Exception:  # a model without a parameter count: caller falls back to the dominant format
        return None
    probe = Precision(weight="fp8", weight_bytes_per_param=1.0, quant_method="probe", modules_not_quantized=ignore,
                      unquantized_bytes_per_param=unq_bytes)
    from gpurec_core.memory_math import _leaves

    q_params = 0.0
    q_bytes = 0.0
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
    return q_bytes / q_params if q_params else None


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
        return make("int4" if bits == 4 else "int8", bpp, dtype, f"AWQ {bits}-bit g{group}, fp16 scales"
                    + (", packed zero points" if zero else ""))
    if method in ("gptq", "gptq_marlin"):
        bits, group = int(q.get("bits") or 4), int(q.get("group_size") or 128)
        if group <= 0:  # per-channel
            bpp = quantized_bytes_per_param(bits, None, 2.0 + bits / 8.0, 0, cfg.hidden_size)
        else:
            # qweight + fp16 scales + packed qzeros (stored even when sym) per group; g_idx int32 per input row
            bpp = quantized_bytes_per_param(bits, group, 2.0, bits) + 4.0 / max(1, cfg.hidden_size)
        return make("int4" if bits == 4 else "int8", bpp, dtype, f"GPTQ {bits}-bit g{group}, fp16 scales and zeros, g_idx")
    if method == "mxfp4":
        return make("mxfp4", quantized_bytes_per_param(4, 32, 1.0), "fp4",
                    "MXFP4 experts (e8m0 scale per 32), other modules unquantized",
                    modules + ("*self_attn*", "*.mlp.router", "*shared_expert*", "*.mlp.gate_proj", "*.mlp.up_proj", "*.mlp.down_proj"))
    if method == "fbgemm_fp8":
        bpp = quantized_bytes_per_param(8, None, 4.0, 0, cfg.hidden_size)
        return make("fp8", bpp, "fp8", "FP8 with per-channel fp32 scales (fbgemm)")
    if method == "bitsandbytes":
        bits = 4 if q.get("load_in_4bit") else 8
        bpp = quantized_bytes_per_param(bits, 64, 4.0) if bits == 4 else quantized_bytes_per_param(8, None, 4.0, 0, cfg.hidden_size)
        return make("int4" if bits == 4 else "int8", bpp, dtype, f"bitsandbytes {bits}-bit")

    groups = q.get("config_groups") if isinstance(q.get("config_groups"), dict) else {}
    if method == "fp8" and not q.get("quantized_layers"):
        block = q.get("weight_block_size")
        if block:
            bpp = quantized_bytes_per_param(8, int(block[0]) * int(block[-1]), 4.0)
            return make("fp8", bpp, "fp8", f"FP8 e4m3 with fp32 scales per {block[0]}x{block[-1]} block")
        return make("fp8", 1.0, "fp8", "FP8 e4m3, per-tensor scales")

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
        layer_rules = q.get("quantized_layers") if isinstance(q.get("quantized_layers"), dict) else {}
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
            effective = _effective_mixed(model, rules, default_bpp, unq, modules)
            weight = min(summary, key=lambda s: s[1])[0]
            if effective is not None:
                return make(weight, effective, "fp4" if weight in ("nvfp4", "mxfp4") else weight,
                            "mixed precision: " + ", ".join(sorted({s[2] for s in summary})) + f" (effective {effective:.4f} B/param)")
            return make(weight, min(s[1] for s in summary), weight, "mixed precision (parameter count unavailable)")
        name, bpp, why, _ = dominant
        compute = {"fp8": "fp8", "int8": "int8", "nvfp4": "fp4", "mxfp4": "fp4"}.get(name, dtype)
        return make(name, bpp, compute, why)

    # An unknown method: assume an 8-bit linear format and say so.
    return make("int8", 1.0, dtype, f"unknown quant_method {method!r}: assumed 8-bit weights")
