"""The search: every GPU x every parallel layout the engine accepts, ranked.

For each GPU type: every tensor-parallel size within a node (and ``max_tensor_parallel``),
expert parallelism for MoE models, pipeline stages across nodes when no single node holds the
model, and data-parallel replicas when a target load is given. Each candidate gets its memory
plan and, when ``estimate_performance_flag``, its performance at the workload's concurrency
(``batch_size``), at saturation, and the highest concurrency that meets the SLOs.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Optional, Union

from gpurec_core.errors import GpurecError, WorkloadError
from gpurec_core.models import GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate, Workload
from gpurec_core.result import Cost, Deployment, GPURecommendation, Recommendation, RecommendationResult, SLOResult

#: Pipeline stages tried across nodes when no single node holds the model.
MAX_PIPELINE_STAGES = 16


def _check_positive(name: str, value, *, allow_none: bool = False, integer: bool = True) -> None:
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or value <= 0:
        raise WorkloadError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")


def _validate_arguments(input_length, output_length, context_length, batch_size, gpu_memory_utilization,
                        max_tensor_parallel, max_gpus, ttft_slo_ms, itl_slo_ms, target_tok, target_rps,
                        pipeline_parallel) -> None:
    for name, value in (("input_length", input_length), ("output_length", output_length),
                        ("context_length", context_length), ("batch_size", batch_size)):
        _check_positive(name, value)
    for name, value in (("max_tensor_parallel", max_tensor_parallel), ("max_gpus", max_gpus),
                        ("pipeline_parallel", pipeline_parallel)):
        _check_positive(name, value, allow_none=True)
    for name, value in (("ttft_slo_ms", ttft_slo_ms), ("itl_slo_ms", itl_slo_ms),
                        ("target_throughput_tokens_per_sec", target_tok), ("target_requests_per_sec", target_rps)):
        _check_positive(name, value, allow_none=True, integer=False)
    if isinstance(gpu_memory_utilization, bool) or not isinstance(gpu_memory_utilization, (int, float)) \
            or not 0 < gpu_memory_utilization <= 1:
        raise WorkloadError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization!r}")


def _tensor_parallel_sizes(model, gpu: GPUSpec, engine: str, max_tensor_parallel: Optional[int]) -> list[int]:
    limit = min(gpu.gpus_per_node, max_tensor_parallel or gpu.gpus_per_node)
    return [tp for tp in model.possible_tensor_parallel_sizes(engine) if tp <= limit]


def candidate_layouts(model, gpu: GPUSpec, engine: str, max_tensor_parallel: Optional[int],
                      pipeline_parallel: Optional[int]) -> list[Parallelism]:
    """Single-node layouts: each TP size, plus EP = TP for MoE models; PP fixed when asked."""
    layouts = []
    pp = pipeline_parallel or 1
    for tp in _tensor_parallel_sizes(model, gpu, engine, max_tensor_parallel):
        layouts.append(Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp))
        if model.is_moe and tp > 1:
            layouts.append(Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=tp))
    return layouts


def multi_node_layouts(model, gpu: GPUSpec, engine: str, max_tensor_parallel: Optional[int]) -> Iterable[Parallelism]:
    """Pipeline stages across nodes at the largest TP in a node: PP = 2, 3, ... up to MAX_PIPELINE_STAGES."""
    sizes = _tensor_parallel_sizes(model, gpu, engine, max_tensor_parallel)
    if not sizes:
        return
    tp = max(sizes)
    for pp in range(2, MAX_PIPELINE_STAGES + 1):
        if pp > model.config.num_hidden_layers:
            return
        yield Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp)
        if model.is_moe and tp > 1:
            yield Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=tp)


def _failed_plan(gpu: GPUSpec, engine: str, max_model_len: int, reason: str) -> MemoryPlan:
    return MemoryPlan(engine=engine, total_gib=gpu.memory_gib, budget_gib=0.0, weights_gib=0.0, activation_gib=0.0,
                      non_torch_gib=0.0, cuda_graph_gib=0.0, kv_cache_gib=0.0, kv_cache_tokens=0, kv_bytes_per_token=0.0,
                      max_model_len=max_model_len, max_concurrency=0.0, fits=False, reason=reason)


def _plan(model, gpu, layout, workload, engine) -> MemoryPlan:
    from gpurec_core.plugins import estimate_memory

    try:
        return estimate_memory(model, gpu, layout, workload, engine)
    except GpurecError as exc:
        if isinstance(exc, WorkloadError):
            return _failed_plan(gpu, engine, workload.context_length, str(exc))
        raise


def _estimate(model, gpu, layout, workload, memory, estimator, concurrency) -> PerformanceEstimate:
    from gpurec_core.plugins import estimate_performance

    try:
        return estimate_performance(model, gpu, layout, workload.model_copy(update={"concurrency": concurrency}),
                                    memory, estimator)
    except GpurecError as exc:
        return PerformanceEstimate(error=str(exc), estimator=estimator, concurrency=concurrency)


def saturation_concurrency(memory: MemoryPlan, workload: Workload) -> int:
    """Largest number of requests of input+output tokens the KV pool holds at once (>= 1)."""
    per_request = workload.input_length + workload.output_length
    return max(1, int(memory.kv_cache_tokens // per_request))


def _meets(perf: PerformanceEstimate, ttft_slo: Optional[float], itl_slo: Optional[float]) -> bool:
    if perf.error is not None:
        return False
    ok_ttft = ttft_slo is None or (perf.time_to_first_token_ms or 0.0) <= ttft_slo
    ok_itl = itl_slo is None or (perf.inter_token_latency_ms or 0.0) <= itl_slo
    return ok_ttft and ok_itl


def slo_search(estimate_at: Callable[[int], PerformanceEstimate], ceiling: int,
               ttft_slo: Optional[float], itl_slo: Optional[float]) -> SLOResult:
    """Highest concurrency in [1, ceiling] meeting both SLOs (TTFT and ITL rise with concurrency)."""
    first = estimate_at(1)
    if not _meets(first, ttft_slo, itl_slo):
        return SLOResult(ttft_slo_ms=ttft_slo, itl_slo_ms=itl_slo, meets_at_concurrency_1=False,
                         max_concurrency=0, goodput_tokens_per_sec=0.0)
    low, high, best = 1, ceiling, first
    while low < high:
        mid = (low + high + 1) // 2
        perf = estimate_at(mid)
        if _meets(perf, ttft_slo, itl_slo):
            low, best = mid, perf
        else:
            high = mid - 1
    return SLOResult(ttft_slo_ms=ttft_slo, itl_slo_ms=itl_slo, meets_at_concurrency_1=True, max_concurrency=low,
                     goodput_tokens_per_sec=best.throughput_tokens_per_sec or 0.0)


def _scale(perf: Optional[PerformanceEstimate], replicas: int) -> Optional[PerformanceEstimate]:
    """A deployment of ``replicas`` identical replicas: throughputs multiply, latencies stay."""
    if perf is None or replicas == 1 or perf.error is not None:
        return perf
    update = {}
    for name in ("throughput_tokens_per_sec", "input_tokens_per_sec", "requests_per_sec"):
        value = getattr(perf, name)
        if value is not None:
            update[name] = value * replicas
    if perf.concurrency is not None:
        update["concurrency"] = perf.concurrency * replicas
    return perf.model_copy(update=update)


def replicas_for_target(per_replica: Optional[PerformanceEstimate], goodput: Optional[float],
                        target_tok: Optional[float], target_rps: Optional[float]) -> tuple[int, str]:
    """Fewest data-parallel replicas that carry the target load (tokens/s or requests/s)."""
    if target_tok is None and target_rps is None:
        return 1, ""
    if per_replica is None or per_replica.error is not None:
        return 1, "no performance estimate to size replicas for the target load"
    needed = 1
    if target_tok is not None:
        capacity = goodput if goodput is not None else (per_replica.throughput_tokens_per_sec or 0.0)
        if capacity <= 0:
            return 1, "this layout carries no load within the SLOs"
        needed = max(needed, math.ceil(target_tok / capacity))
    if target_rps is not None:
        rps = per_replica.requests_per_sec or 0.0
        if goodput is not None and per_replica.throughput_tokens_per_sec:
            rps *= goodput / per_replica.throughput_tokens_per_sec
        if rps <= 0:
            return 1, "this layout completes no requests within the SLOs"
        needed = max(needed, math.ceil(target_rps / rps))
    return needed, ""


def _cost(gpu: GPUSpec, total_gpus: int, loaded: Optional[PerformanceEstimate]) -> Cost:
    """$/hour from the dated catalog price; $/M tokens at the loaded (saturation or SLO) throughput."""
    proxy = total_gpus * gpu.memory_gib
    if gpu.price_usd_per_hour is None:
        return Cost(proxy_gpu_memory_gib=proxy)
    per_hour = gpu.price_usd_per_hour * total_gpus
    per_m_out = per_m_in = None
    if loaded is not None and loaded.error is None:
        if loaded.throughput_tokens_per_sec:
            per_m_out = per_hour / (loaded.throughput_tokens_per_sec * 3600) * 1e6
        if loaded.input_tokens_per_sec:
            per_m_in = per_hour / (loaded.input_tokens_per_sec * 3600) * 1e6
    return Cost(usd_per_hour=per_hour, usd_per_million_output_tokens=per_m_out, usd_per_million_input_tokens=per_m_in,
                price_date=gpu.price_date, proxy_gpu_memory_gib=proxy)


def _evaluate(model, gpu, layout, workload, *, engine, estimator, batch_size, estimate_flag, ttft_slo, itl_slo,
              target_tok, target_rps, deployment) -> Recommendation:
    memory = _plan(model, gpu, layout, workload, engine)
    max_requests = int(memory.kv_cache_tokens // workload.context_length) if memory.fits else 0
    reasons = [] if memory.fits else [memory.reason or "does not fit"]
    if memory.fits and max_requests < batch_size:
        reasons.append(f"the KV pool holds {max_requests} requests of {workload.context_length} tokens, "
                       f"fewer than batch_size {batch_size}")
    fits = not reasons
    performance = saturation = slo = None
    replicas = 1
    if estimate_flag and fits:
        performance = _estimate(model, gpu, layout, workload, memory, estimator, batch_size)
        saturation = _estimate(model, gpu, layout, workload, memory, estimator, saturation_concurrency(memory, workload))
        if ttft_slo is not None or itl_slo is not None:
            slo = slo_search(lambda c: _estimate(model, gpu, layout, workload, memory, estimator, c),
                             saturation_concurrency(memory, workload), ttft_slo, itl_slo)
            if not slo.meets_at_concurrency_1:
                reasons.append("misses the SLOs even at concurrency 1")
        replicas, why = replicas_for_target(saturation, slo.goodput_tokens_per_sec if slo else None, target_tok, target_rps)
        if why:
            reasons.append(why)
    total = layout.gpus_per_replica * replicas
    nodes = max(1, math.ceil(layout.gpus_per_replica / gpu.gpus_per_node)) * replicas
    rec = GPURecommendation(
        gpu_spec=gpu, tensor_parallel_size=layout.tensor_parallel_size, total_gpus=total, model_fits=fits,
        memory_per_gpu_gb=round(memory.weights_gib, 4), available_memory_for_kv_gb=round(max(0.0, memory.kv_cache_gib), 4),
        max_concurrent_requests=max_requests, pipeline_parallel_size=layout.pipeline_parallel_size,
        expert_parallel_size=layout.expert_parallel_size, data_parallel_size=replicas, nodes=nodes, memory=memory,
        reasons=tuple(reasons))
    if slo is not None and replicas > 1:
        slo = slo.model_copy(update={"goodput_tokens_per_sec": slo.goodput_tokens_per_sec * replicas})
    performance, saturation = _scale(performance, replicas), _scale(saturation, replicas)
    loaded = saturation
    if slo is not None and slo.max_concurrency > 0 and saturation is not None and saturation.error is None:
        loaded = saturation.model_copy(update={
            "throughput_tokens_per_sec": slo.goodput_tokens_per_sec,
            "input_tokens_per_sec": (saturation.input_tokens_per_sec or 0.0) * slo.goodput_tokens_per_sec
            / max(saturation.throughput_tokens_per_sec or 1.0, 1e-9)})
    return Recommendation(recommendation=rec, performance=performance, saturation=saturation, slo=slo,
                          cost=_cost(gpu, total, loaded), deployment=deployment)


def recommend_gpus(
    model,
    input_length: int = 1024,
    output_length: int = 512,
    precision: Optional[str] = None,
    context_length: int = 2048,
    batch_size: int = 1,
    gpu_memory_utilization: float = 0.9,
    max_tensor_parallel: Optional[int] = None,
    estimate_performance_flag: bool = True,
    max_gpus: Optional[int] = None,
    *,
    gpus: Optional[list[Union[str, GPUSpec]]] = None,
    kv_cache_dtype: Optional[str] = None,
    engine: str = "vllm",
    estimator: str = "roofline",
    ttft_slo_ms: Optional[float] = None,
    itl_slo_ms: Optional[float] = None,
    target_throughput_tokens_per_sec: Optional[float] = None,
    target_requests_per_sec: Optional[float] = None,
    pipeline_parallel: Optional[int] = None,
    include_non_fitting: bool = True,
    hf_token: Optional[str] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> RecommendationResult:
    """Recommend GPUs and parallel layouts for serving ``model`` (the seed's parameters first).

    ``context_length`` is the engine's max-model-len (raised to input + output when shorter);
    ``batch_size`` the concurrent requests the KV cache must hold (and the concurrency the
    performance is estimated at). ``precision`` overrides the inferred weight precision. With
    ``ttft_slo_ms`` / ``itl_slo_ms`` each candidate reports its goodput; with a target load,
    the fewest replicas that carry it. Ranked: cheapest that fits and meets the SLOs first.
    ``progress(done, total)`` is called after each GPU type.
    """
    from gpurec_core.api import as_gpu, as_model, check_engine
    from gpurec_core.plugins import gpu_catalog

    _validate_arguments(input_length, output_length, context_length, batch_size, gpu_memory_utilization,
                        max_tensor_parallel, max_gpus, ttft_slo_ms, itl_slo_ms, target_throughput_tokens_per_sec,
                        target_requests_per_sec, pipeline_parallel)
    check_engine(engine)
    arch = as_model(model, hf_token)
    resolved = arch.resolve_precision(precision, kv_cache_dtype)
    max_model_len = max(context_length, input_length + output_length)
    notes = []
    if max_model_len > context_length:
        notes.append(f"context_length {context_length} < input + output; planned for {max_model_len} tokens")
    if max_model_len > arch.max_context_length():
        notes.append(f"{max_model_len} tokens exceed the model's maximum context {arch.max_context_length()}")
    workload = Workload(input_length=input_length, output_length=output_length, concurrency=batch_size,
                        max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization, precision=resolved)
    specs = [as_gpu(g) for g in gpus] if gpus else gpu_catalog().specs
    deployment = Deployment(model_id=arch.model_id, max_model_len=max_model_len,
                            gpu_memory_utilization=gpu_memory_utilization, engine=engine,
                            **_launch_precision_flags(arch, precision, kv_cache_dtype))
    args = dict(engine=engine, estimator=estimator, batch_size=batch_size, estimate_flag=estimate_performance_flag,
                ttft_slo=ttft_slo_ms, itl_slo=itl_slo_ms, target_tok=target_throughput_tokens_per_sec,
                target_rps=target_requests_per_sec, deployment=deployment)
    items: list[Recommendation] = []
    dropped = 0
    for done, gpu in enumerate(specs, 1):
        found = []
        for layout in candidate_layouts(arch, gpu, engine, max_tensor_parallel, pipeline_parallel):
            found.append(_evaluate(arch, gpu, layout, workload, **args))
        if pipeline_parallel is None and found and not any(r.recommendation.model_fits for r in found):
            for layout in multi_node_layouts(arch, gpu, engine, max_tensor_parallel):
                if max_gpus is not None and layout.gpus_per_replica > max_gpus:
                    break
                item = _evaluate(arch, gpu, layout, workload, **args)
                found.append(item)
                if item.recommendation.model_fits:
                    break
        for item in found:
            if max_gpus is not None and item.recommendation.total_gpus > max_gpus:
                dropped += 1
            elif include_non_fitting or item.recommendation.model_fits:
                items.append(item)
        if progress is not None:
            progress(done, len(specs))
    if dropped:
        notes.append(f"{dropped} candidate(s) needing more than max_gpus={max_gpus} GPUs left out")
    if resolved.weight != arch.precision.weight and precision in ("int4", "nvfp4", "mxfp4"):
        notes.append(f"{precision} weights need a pre-quantized checkpoint; the launch command assumes one")
    workload_info = {"input_length": input_length, "output_length": output_length, "context_length": max_model_len,
                     "batch_size": batch_size, "gpu_memory_utilization": gpu_memory_utilization, "engine": engine,
                     "estimator": estimator, "ttft_slo_ms": ttft_slo_ms, "itl_slo_ms": itl_slo_ms,
                     "target_throughput_tokens_per_sec": target_throughput_tokens_per_sec,
                     "target_requests_per_sec": target_requests_per_sec}
    result = RecommendationResult(items, model_id=arch.model_id, workload=workload_info, precision=resolved.weight,
                                  kv_cache_dtype=resolved.kv_cache_dtype, notes=tuple(notes))
    return result.rank()


def _launch_precision_flags(arch, precision: Optional[str], kv_cache_dtype: Optional[str]) -> dict:
    """vLLM/SGLang flags that reproduce a precision override on this checkpoint."""
    flags: dict = {}
    if precision in ("fp16", "bf16", "fp32"):
        flags["dtype"] = precision
    elif precision == "fp8" and arch.precision.weight != "fp8":
        flags["quantization"] = "fp8"
    if kv_cache_dtype == "fp8":
        flags["kv_cache_dtype"] = "fp8"
    return flags
