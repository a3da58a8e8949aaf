"""The disaggregated (xPyD) half of ``recommend_gpus(..., disaggregated=True)``.

For every pair of prefill and decode GPU types (each searched type with itself; every pairing of the
types ``prefill_gpus`` / ``decode_gpus`` allow or force, when given), the search takes the smallest
worker layouts that fit on each (single-node TP, and wide EP for MoE models), and pool sizes ``x:y``
from :data:`POOL_RATIOS`. Each combination is estimated through the ``estimate_disaggregated`` hook at
the requested concurrency, at saturation (every decode unit's KV pool full) and, with SLOs, on a
ladder of concurrencies for the highest one meeting them (its throughput is the goodput). Cost: both
pools' GPUs at their dated prices (or the labelled estimate), $/M output tokens at the loaded
throughput, as for aggregated candidates, so both modes rank together.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Optional

from gpurec_core.errors import GpurecError
from gpurec_core.models import DisaggregatedDeployment, GPUSpec, PerformanceEstimate, Pool, Workload
from gpurec_core.result import Deployment, GPURecommendation, Recommendation, SLOResult

#: (prefill workers, decode workers) tried for each pair of worker layouts: decode-heavy ratios first,
#: as decode needs more capacity than prefill when outputs are long (DistServe, OSDI 2024, sec. 4).
POOL_RATIOS = ((1, 1), (1, 2), (1, 3), (2, 1), (2, 3), (1, 4))
#: Fitting worker layouts kept per pool and GPU type (the smallest, by GPUs).
LAYOUTS_PER_POOL = 2


def _fitting_layouts(model, gpu: GPUSpec, workload: Workload, engine: str, max_tensor_parallel) -> list[tuple]:
    from gpurec_core.recommend import _plan, candidate_layouts, wide_ep_layouts

    layouts = candidate_layouts(model, gpu, engine, max_tensor_parallel, None)
    layouts += list(wide_ep_layouts(model, gpu, engine, max_tensor_parallel))
    found = []
    for layout in layouts:
        memory = _plan(model, gpu, layout, workload, engine)
        if memory.fits and memory.kv_cache_tokens >= workload.input_length + workload.output_length:
            found.append((layout, memory))
    found.sort(key=lambda item: (item[0].total_gpus, -item[1].kv_cache_tokens))
    return found[:LAYOUTS_PER_POOL]


def _estimate(model, deployment, workload, users, memories, estimator) -> Optional[PerformanceEstimate]:
    from gpurec_core.plugins import estimate_disaggregated

    try:
        estimate = estimate_disaggregated(model, deployment, workload.model_copy(update={"concurrency": users}),
                                          memories[0], memories[1], estimator)
    except GpurecError:
        return None
    return estimate if estimate.error is None else None


def _saturation_users(deployment: DisaggregatedDeployment, decode_memory, workload: Workload) -> int:
    units = deployment.decode.workers * deployment.decode.parallelism.data_parallel_size
    per_unit = decode_memory.kv_cache_tokens // (workload.input_length + workload.output_length)
    return max(1, min(int(per_unit) * units, 1_000_000))


def _slo(model, deployment, workload, memories, estimator, ceiling, ttft_slo, itl_slo) -> Optional[SLOResult]:
    if ttft_slo is None and itl_slo is None:
        return None

    def meets(perf: Optional[PerformanceEstimate]) -> bool:
        return perf is not None and (ttft_slo is None or perf.ttft_ms <= ttft_slo) and (
            itl_slo is None or perf.itl_ms <= itl_slo)
    best, best_perf, first = 0, None, None
    users = 1
    while users <= ceiling:
        perf = _estimate(model, deployment, workload, users, memories, estimator)
        if users == 1:
            first = meets(perf)
        if not meets(perf):
            break
        best, best_perf = users, perf
        users *= 2
    return SLOResult(ttft_slo_ms=ttft_slo, itl_slo_ms=itl_slo, meets_at_concurrency_1=bool(first),
                     max_concurrency=best, goodput_tokens_per_sec=best_perf.throughput_tokens_per_sec if best_perf else 0.0)


def gpu_pairs(searched: list[GPUSpec], prefill_gpus: list[GPUSpec], decode_gpus: list[GPUSpec]) -> list[tuple]:
    """The (prefill, decode) GPU types to pair. Without ``prefill_gpus`` / ``decode_gpus`` each searched type
    serves both of its pools; mixing types is asked for by naming them (the pool not named takes the searched
    types), so a whole-catalog ``--disagg`` tries n pairs, not n x n (34 x 34 took 5 minutes)."""
    if not prefill_gpus and not decode_gpus:
        return [(gpu, gpu) for gpu in searched]
    return [(p, d) for p in (prefill_gpus or searched) for d in (decode_gpus or searched)]


def disaggregated_candidates(model, workload: Workload, *, pairs: list[tuple[GPUSpec, GPUSpec]], engine: str,
                             estimator: str, batch_size: int, ttft_slo: Optional[float], itl_slo: Optional[float],
                             max_tensor_parallel: Optional[int], max_gpus: Optional[int], deployment: Deployment,
                             catalog, target_tok: Optional[float] = None,
                             target_rps: Optional[float] = None) -> list[Recommendation]:
    """Disaggregated candidates of the GPU ``pairs`` (:func:`gpu_pairs`), estimated and priced (only those
    whose pools fit)."""
    layouts = {}
    for gpu in {g.name: g for pair in pairs for g in pair}.values():
        layouts[gpu.name] = _fitting_layouts(model, gpu, workload, engine, max_tensor_parallel)
    items: list[Recommendation] = []
    for p_gpu, d_gpu in pairs:
        for (p_layout, p_memory), (d_layout, d_memory), (x, y) in product(layouts[p_gpu.name], layouts[d_gpu.name],
                                                                            POOL_RATIOS):
            pools = DisaggregatedDeployment(
                prefill=Pool(role="prefill", gpu=p_gpu, parallelism=p_layout, workers=x,
                             memory_fraction=p_memory.memory_fraction),
                decode=Pool(role="decode", gpu=d_gpu, parallelism=d_layout, workers=y,
                            memory_fraction=d_memory.memory_fraction), engine=engine)
            if max_gpus is not None and pools.total_gpus > max_gpus:
                continue
            item = _candidate(model, workload, pools, (p_memory, d_memory), estimator, batch_size,
                              ttft_slo, itl_slo, deployment, catalog, target_tok, target_rps)
            if item is not None and (max_gpus is None or item.recommendation.total_gpus <= max_gpus):
                items.append(item)
    return items


def _candidate(model, workload, pools, memories, estimator, batch_size, ttft_slo, itl_slo, deployment,
               catalog, target_tok=None, target_rps=None) -> Optional[Recommendation]:
    from gpurec_core.pricing import gpu_price
    from gpurec_core.recommend import _scale, deployment_cost, loaded_at_slo, replicas_for_target

    performance = _estimate(model, pools, workload, batch_size, memories, estimator)
    if performance is None:
        return None
    ceiling = _saturation_users(pools, memories[1], workload)
    saturation = _estimate(model, pools, workload, ceiling, memories, estimator)
    slo = _slo(model, pools, workload, memories, estimator, ceiling, ttft_slo, itl_slo)
    # Rate matching: a target load takes as many copies of this x:y unit as it needs (both pools scale
    # together); the search over x:y then keeps the cheapest ratio at that load.
    copies, why = replicas_for_target(saturation, slo.goodput_tokens_per_sec if slo else None, target_tok, target_rps)
    if why:
        return None
    if copies > 1:
        pools = pools.model_copy(update={
            "prefill": pools.prefill.model_copy(update={"workers": pools.prefill.workers * copies}),
            "decode": pools.decode.model_copy(update={"workers": pools.decode.workers * copies})})
        performance, saturation = _scale(performance, copies), _scale(saturation, copies)
        ceiling *= copies
        if slo is not None:
            slo = slo.model_copy(update={"goodput_tokens_per_sec": slo.goodput_tokens_per_sec * copies,
                                         "max_concurrency": slo.max_concurrency * copies})
    decode, memory = pools.decode, memories[1]
    nodes = sum(math.ceil(pool.parallelism.total_gpus / pool.gpu.gpus_per_node) * pool.workers
                for pool in (pools.prefill, pools.decode))
    reasons = ("misses the SLOs even at concurrency 1",) if slo is not None and not slo.meets_at_concurrency_1 else ()
    rec = GPURecommendation(
        gpu_spec=decode.gpu, tensor_parallel_size=decode.parallelism.tensor_parallel_size, total_gpus=pools.total_gpus,
        model_fits=True, memory_per_gpu_gb=round(memory.weights_gib, 4),
        available_memory_for_kv_gb=round(max(0.0, memory.kv_cache_gib), 4),
        max_concurrent_requests=ceiling, expert_parallel_size=decode.parallelism.expert_parallel_size,
        data_parallel_size=decode.parallelism.data_parallel_size * decode.workers, nodes=nodes, memory=memory,
        reasons=reasons, disaggregated=pools)
    parts = [(pool.gpu, gpu_price(pool.gpu, catalog), pool.gpus) for pool in (pools.prefill, pools.decode)]
    return Recommendation(recommendation=rec, performance=performance, saturation=saturation, slo=slo,
                          cost=deployment_cost(parts, loaded_at_slo(saturation, slo)), deployment=deployment)
