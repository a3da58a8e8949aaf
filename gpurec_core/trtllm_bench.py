"""The scheduler limits ``trtllm-bench throughput`` runs with when none are given.

TensorRT-LLM's published max-throughput tables (docs/source/performance/perf-overview.md) come from
``trtllm-bench --model M throughput --dataset D --backend pytorch`` with only CUDA-graph options,
so the engine's ``max_batch_size`` and ``max_num_tokens`` are the ones trtllm-bench derives from the
model, the GPUs and the dataset's mean lengths, not trtllm-serve's defaults (2048 and 8192). Each
step below is the tool's own, from NVIDIA/TensorRT-LLM ``tensorrt_llm/bench``:

* ``build/build.py`` ``get_benchmark_engine_settings``: the heuristic runs for NVFP4, FP8 (per-tensor
  or block scales) and unquantized checkpoints; any other format gets ``BuildConfig``'s defaults.
* ``build/tuning.py`` ``calc_engine_setting``: the KV cache may use ``fraction`` x (GPU memory x GPUs
  - parameter elements x bytes per element), at ``2 x layers x max(tp, KV heads) x head size x KV
  bytes`` per token, so it holds ``R`` requests of ``input + output`` tokens.
* ``finetune_setting``: ``b = min(R, 4096) / pp``, rounded up to a multiple of 32 (at least 64)
  under 256, of 128 under 1024, else of 256; ``t = min(b x (1 + input / output), 32768)``, rounded up to
  a multiple of 256 (at least 2048) under 4096, of 512 under 8192, else of 1024.
* ``benchmark/utils/general.py`` ``get_settings``: chunked prefill is off unless the options file
  turns it on, so ``max_num_tokens`` is raised to the longest prompt + ``max_batch_size``.

The parameter count is the checkpoint's safetensors element count (``build/dataclasses.py``
``ModelConfig.get_param_count``): a packed NVFP4 weight is half an element plus a one-byte scale per
16, so the tool's memory estimate for an FP4 export is below its real size (and its batch cap
optimistic), as in the tool. ``bench/build/utils.py`` reads the GPU's memory from NVML (its total);
we use the engine-visible memory of the catalog, about 0.5 GiB less on an 80 GB GPU.
"""

from __future__ import annotations

import math

from gpurec_core.memory_math import weight_components

#: Bytes per parameter element trtllm-bench assumes for the checkpoint's quantization
#: (tuning.py BYTES_PER_ELEM: FP8 and FP8 block scales 1, NVFP4 0.5, no quantization 2).
WEIGHT_BYTES_PER_ELEMENT = {"fp8": 1.0, "nvfp4": 0.5, None: 2.0}
#: ... and for the KV cache (the same table, keyed by the KV cache's quantization; anything else 2).
KV_BYTES_PER_ELEMENT = {"fp8": 1.0}
#: BuildConfig defaults, used for formats outside the heuristic (MXFP4, int4, int8 ...).
DEFAULT_LIMITS = (2048, 8192)
#: trtllm-bench throughput's --kv_cache_free_gpu_mem_fraction default.
DEFAULT_KV_FRACTION = 0.90


def _format(precision) -> str | None:
    """The quantization trtllm-bench keys its tables on: 'fp8', 'nvfp4', None (unquantized), or 'other'."""
    if not precision.is_quantized:
        return None
    return precision.weight if precision.weight in ("fp8", "nvfp4") else "other"


def parameter_elements(model, precision) -> float:
    """The checkpoint's safetensors element count: unquantized parameters one each, a quantized weight
    its stored bytes (one-byte elements: fp8 values, packed fp4 pairs, fp8 block scales), and any
    vision / audio tower of the checkpoint."""
    if not precision.is_quantized:
        return float(model.parameters.total + model.towers.total)
    elements = 0.0
    for c in weight_components(model.config, model.parameters, precision):
        elements += c.params * (1.0 - c.unquantized_fraction) * precision.quantized_bytes_per_param(c.kind)
        elements += c.params * c.unquantized_fraction
    return elements + model.towers.total


#: finetune_setting's rounding: (below this, round up to a multiple of this, at least this), in order.
BATCH_ROUNDING = ((256, 32, 64), (1024, 128, 0), (math.inf, 256, 0))
TOKEN_ROUNDING = ((4096, 256, 2048), (8192, 512, 0), (math.inf, 1024, 0))


def _rounded(raw: float, rounding) -> int:
    _, step, least = next(rule for rule in rounding if raw < rule[0])
    return max(least, step * math.ceil(raw / step))


def throughput_run_limits(model, gpu, precision, tensor_parallel_size: int, pipeline_parallel_size: int,
                          input_length: int, output_length: int,
                          kv_fraction: float = DEFAULT_KV_FRACTION) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) of a ``trtllm-bench throughput`` run (module docstring)."""
    fmt = _format(precision)
    if fmt == "other":
        batch, tokens = DEFAULT_LIMITS
    else:
        cfg = model.config
        kv_bytes = KV_BYTES_PER_ELEMENT.get(precision.kv_cache_dtype, 2.0)
        bytes_per_token = (2 * cfg.num_hidden_layers * max(tensor_parallel_size, cfg.num_key_value_heads)
                           * cfg.head_dim * kv_bytes)
        gpus = tensor_parallel_size * pipeline_parallel_size
        free = gpu.memory_gib * 2**30 * gpus - parameter_elements(model, precision) * WEIGHT_BYTES_PER_ELEMENT[fmt]
        requests = max(free, 0.0) * kv_fraction / (bytes_per_token * (input_length + output_length))
        raw_batch = min(requests, 4096) / pipeline_parallel_size
        batch = _rounded(raw_batch, BATCH_ROUNDING)
        tokens = _rounded(min(raw_batch * (1 + input_length / output_length), 32768), TOKEN_ROUNDING)
    return batch, max(tokens, input_length + batch)
