"""Translate gpurec's model, GPU, precision and workload into llm-optimizer's terms, and back.

llm-optimizer's entry point is ``llm_optimizer.performance.estimate_llm_performance(num_gpus,
gpu_name, model_config, precision, concurrency, input_length, output_length, mfu_prefill,
mfu_decode, vram_util_factor)``. It looks GPUs up by name in its own table
(``llm_optimizer/predefined/gpus.py``, ``GPU_SPECS``) and accepts no custom figures, and it knows
the precisions of ``common.get_precision_bytes_per_param`` (fp16, bf16, fp8). Everything it
cannot represent is refused here with :class:`EstimatorUnavailableError`, never approximated.
"""

from __future__ import annotations

import math
from typing import Any

from gpurec_core.errors import EstimatorUnavailableError
from gpurec_core.models import (
    GPUSpec,
    MemoryPlan,
    Parallelism,
    PerformanceEstimate,
    Precision,
    Workload,
    normalize_gpu_name,
)

from gpurec_llm_optimizer.detect import LLMOptimizerAPI, field_names

ESTIMATOR_NAME = "llm-optimizer"
#: gpurec's weight precisions, in the order they are offered to llm-optimizer.
GPUREC_PRECISIONS = ("fp32", "fp16", "bf16", "fp8", "int8", "int4", "nvfp4", "mxfp4")
#: What llm-optimizer's first releases accept, used when it offers no way to ask.
FALLBACK_PRECISIONS = ("fp16", "bf16", "fp8")
_OTHER_ESTIMATOR = "use estimator='roofline'"


# ---------------------------------------------------------------------------------------------
# GPU
# ---------------------------------------------------------------------------------------------


def llm_optimizer_gpu_name(api: LLMOptimizerAPI, gpu: GPUSpec) -> str:
    """llm-optimizer's table name for ``gpu``: the entry whose name equals gpu's name or an alias.

    Names are compared the way gpurec compares GPU names (case, '-', '_' and spaces ignored),
    so gpurec's ``A100_40GB`` is llm-optimizer's ``A100-40GB``. Variants with other figures
    (``H100_PCIE``, ``H100_NVL``, ``H200_NVL``) match nothing and are refused.
    """
    ours = {normalize_gpu_name(gpu.name), *(normalize_gpu_name(alias) for alias in gpu.aliases)}
    names = api.gpu_names()
    for name in names:
        if normalize_gpu_name(name) in ours:
            return name
    raise EstimatorUnavailableError(
        f"llm-optimizer has no figures for GPU {gpu.name!r}: its table (llm_optimizer/predefined/gpus.py) "
        f"lists only {', '.join(names) or 'nothing'}, and it takes no custom GPU specifications; "
        f"choose one of those GPUs, or {_OTHER_ESTIMATOR}"
    )


# ---------------------------------------------------------------------------------------------
# precision
# ---------------------------------------------------------------------------------------------


def supported_precisions(api: LLMOptimizerAPI) -> tuple[str, ...]:
    """The gpurec precision names llm-optimizer's ``get_precision_bytes_per_param`` accepts."""
    bytes_per_param = getattr(api.common, "get_precision_bytes_per_param", None)
    if not callable(bytes_per_param):
        return FALLBACK_PRECISIONS
    accepted = []
    for name in GPUREC_PRECISIONS:
        try:
            bytes_per_param(name)
        except (ValueError, KeyError, TypeError):
            continue
        accepted.append(name)
    return tuple(accepted)


def llm_optimizer_precision(api: LLMOptimizerAPI, precision: Precision, gpu_name: str) -> str:
    """The precision string to pass: the weight precision, when llm-optimizer and the GPU support it.

    llm-optimizer uses one precision for weights, KV cache and compute: its bytes per
    parameter (``common.get_precision_bytes_per_param``) and its tensor TFLOPS
    (``predefined.gpus.get_precision_tflops``: FP16_TFLOPS, or FP8_TFLOPS).
    """
    accepted = supported_precisions(api)
    weight = precision.weight
    if weight not in accepted:
        method = f" ({precision.quant_method})" if precision.quant_method else ""
        raise EstimatorUnavailableError(
            f"llm-optimizer cannot model {weight}{method} weights: it supports only {', '.join(accepted)} "
            f"(llm_optimizer/common.py, get_precision_bytes_per_param); serve the model in one of those "
            f"precisions or {_OTHER_ESTIMATOR}"
        )
    if weight == "fp8":
        specs = api.gpu_specs(gpu_name)
        if "FP8_TFLOPS" in specs and not specs["FP8_TFLOPS"]:
            raise EstimatorUnavailableError(
                f"llm-optimizer has no FP8 figure for {gpu_name} (FP8_TFLOPS is empty in its GPU table), so it "
                f"cannot model fp8 weights there; use bf16/fp16, a GPU with FP8 units, or estimator='roofline'"
            )
    return weight


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------


def llm_optimizer_model_config(api: LLMOptimizerAPI, model: Any, precision: str) -> Any:
    """llm-optimizer's ``common.ModelConfig`` for ``model``.

    Fields: ``num_params`` = the model's total parameter count (gpurec's exact count, not
    llm-optimizer's own estimate from the config); ``num_layers`` = num_hidden_layers;
    ``hidden_dim`` = hidden_size; ``num_heads`` = num_attention_heads; ``num_kv_heads`` =
    num_key_value_heads; ``vocab_size``; ``inferred_precision`` = the precision passed.
    """
    config = model.config
    values = {
        "num_params": int(model.num_parameters),
        "num_layers": int(config.num_hidden_layers),
        "hidden_dim": int(config.hidden_size),
        "num_heads": int(config.num_attention_heads),
        "num_kv_heads": int(config.num_key_value_heads),
        "vocab_size": int(config.vocab_size),
        "inferred_precision": precision,
    }
    accepted = field_names(api.common.ModelConfig)
    return api.common.ModelConfig(**{key: value for key, value in values.items() if key in accepted})


# ---------------------------------------------------------------------------------------------
# workload and layout
# ---------------------------------------------------------------------------------------------


def check_layout(parallelism: Parallelism) -> None:
    """llm-optimizer models one replica as ``num_gpus`` pooled GPUs: tensor parallelism only."""
    if parallelism.pipeline_parallel_size > 1:
        raise EstimatorUnavailableError(
            f"llm-optimizer models only tensor parallelism (num_gpus); it cannot model "
            f"pipeline_parallel_size={parallelism.pipeline_parallel_size}; set pipeline_parallel_size=1 or "
            f"{_OTHER_ESTIMATOR}"
        )


def concurrency_per_replica(workload: Workload, parallelism: Parallelism) -> int:
    """Users each data-parallel replica serves: the workload's concurrency split evenly, rounded up."""
    return max(1, math.ceil(workload.concurrency / parallelism.data_parallel_size))


def requests_kv_pool_holds(memory: MemoryPlan, workload: Workload, parallelism: Parallelism) -> int:
    """Requests of input + output tokens the deployment's KV pools hold (gpurec's memory plan)."""
    per_request = max(1, workload.input_length + workload.output_length)
    return int(memory.kv_cache_tokens // per_request) * parallelism.data_parallel_size


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------


def _finite(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def to_performance_estimate(
    result: Any,
    *,
    workload: Workload,
    parallelism: Parallelism,
    memory: MemoryPlan,
    per_replica: int,
    gpu_name: str,
) -> PerformanceEstimate:
    """Map llm-optimizer's ``PerformanceResult`` of one replica onto the deployment's estimate.

    TTFT, ITL and end-to-end latency are llm-optimizer's own (``e2e_latency_s`` is its
    ``ttft + output_length x itl``). Its rates are per replica at ``per_replica`` users; the
    deployment's are scaled by ``concurrency / per_replica`` (= the number of replicas when the
    users split evenly). ``max_concurrent_requests`` comes from gpurec's memory plan.
    """
    ttft_ms = float(result.ttft_ms)
    itl_ms = float(result.itl_ms)
    e2e_ms = float(result.e2e_latency_s) * 1000.0
    output_tps = float(result.output_throughput_tps)
    holds = requests_kv_pool_holds(memory, workload, parallelism)
    if not _finite(ttft_ms, itl_ms, e2e_ms, output_tps):
        needed = getattr(result, "memory_needed_gb", None)
        usable = getattr(result, "usable_vram_gb", None)
        amounts = (f"{needed:.1f} GiB, more than the {usable:.1f} GiB it counts usable"
                   if _finite(needed, usable) else "more memory than it counts usable")
        return PerformanceEstimate(
            error=(f"llm-optimizer: weights + KV cache for {per_replica} requests of "
                   f"{workload.input_length + workload.output_length} tokens need {amounts} on "
                   f"{parallelism.tensor_parallel_size}x {gpu_name} at {workload.gpu_memory_utilization:g} "
                   "utilization; lower the concurrency or add GPUs"),
            concurrency=workload.concurrency,
            max_concurrent_requests=holds,
            bottleneck="memory",
            estimator=ESTIMATOR_NAME,
        )
    scale = workload.concurrency / per_replica
    input_tps = getattr(result, "input_throughput_tps", None)
    requests_ps = getattr(result, "requests_per_sec", None)
    decode_memory_bound = getattr(result, "decode_is_memory_bound", getattr(result, "bottleneck_is_memory", None))
    bottleneck = "unknown" if decode_memory_bound is None else ("memory" if decode_memory_bound else "compute")
    return PerformanceEstimate(
        time_to_first_token_ms=ttft_ms,
        inter_token_latency_ms=itl_ms,
        throughput_tokens_per_sec=output_tps * scale,
        max_batch_size=per_replica,
        max_concurrent_requests=holds,
        e2e_latency_ms=e2e_ms,
        input_tokens_per_sec=float(input_tps) * scale if _finite(input_tps) else None,
        requests_per_sec=float(requests_ps) * scale if _finite(requests_ps) else None,
        concurrency=workload.concurrency,
        bottleneck=bottleneck,
        estimator=ESTIMATOR_NAME,
        breakdown={"prefill": ttft_ms, "decode_step": itl_ms},
    )
