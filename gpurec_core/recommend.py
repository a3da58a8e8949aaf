"""The search: every GPU x every parallel layout the engine accepts, ranked.

For each GPU type: every tensor-parallel size within a node (and ``max_tensor_parallel``),
expert parallelism for MoE models, pipeline stages across nodes when no single node holds the
model, and data-parallel replicas when a target load is given. Each candidate gets its memory
plan and, when ``estimate_performance_flag``, its performance at the workload's concurrency
(``batch_size``), at saturation, and the highest concurrency that meets the SLOs.

The search runs in phases: every candidate's memory plan, then the performance points of all
candidates that fit, then the result objects. The points go to the estimator in batches through
the ``estimate_performance_batch`` hook (the roofline answers a batch in a few numpy calls; an
estimator without a batch form is asked point by point by the core, GPU by GPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence, Union

from gpurec_core.api import check_positive
from gpurec_core.errors import GpurecError, WorkloadError
from gpurec_core.models import (
    MAX_CONCURRENCY,
    MAX_PARALLEL_SIZE,
    MAX_REPLICAS,
    MAX_TOKENS,
    GPUSpec,
    MemoryPlan,
    Parallelism,
    PerformanceEstimate,
    Workload,
)
from gpurec_core.pricing import GPUPrice, gpu_price
from gpurec_core.result import Cost, Deployment, GPURecommendation, Recommendation, RecommendationResult, SLOResult
from gpurec_core.speculative import acceptance_note

#: Pipeline stages tried across nodes when no single node holds the model.
MAX_PIPELINE_STAGES = 16
#: Binary-search steps of the deepest SLO search taken per batched round: each round evaluates the
#: up to 2**4 - 1 = 15 concurrencies the next steps may need, in one numpy call for all candidates.
SLO_SEARCH_LEVELS = 4


def _validate_arguments(input_length, output_length, context_length, batch_size, gpu_memory_utilization,
                        max_tensor_parallel, max_gpus, ttft_slo_ms, itl_slo_ms, target_tok, target_rps,
                        pipeline_parallel) -> None:
    for name, value in (("input_length", input_length), ("output_length", output_length),
                        ("context_length", context_length)):
        check_positive(name, value, maximum=MAX_TOKENS)
    check_positive("batch_size", batch_size, maximum=MAX_CONCURRENCY)
    if input_length + output_length > MAX_TOKENS:
        raise WorkloadError(f"input_length + output_length must be at most {MAX_TOKENS:,} tokens, "
                            f"got {input_length} + {output_length}")
    for name, value in (("max_tensor_parallel", max_tensor_parallel), ("max_gpus", max_gpus)):
        check_positive(name, value, allow_none=True)
    check_positive("pipeline_parallel", pipeline_parallel, allow_none=True, maximum=MAX_PARALLEL_SIZE)
    for name, value in (("ttft_slo_ms", ttft_slo_ms), ("itl_slo_ms", itl_slo_ms),
                        ("target_throughput_tokens_per_sec", target_tok), ("target_requests_per_sec", target_rps)):
        check_positive(name, value, allow_none=True, integer=False)
    if isinstance(gpu_memory_utilization, bool) or not isinstance(gpu_memory_utilization, (int, float)) \
            or not 0 < gpu_memory_utilization <= 1:
        raise WorkloadError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization!r}")


def _tensor_parallel_sizes(model, gpu: GPUSpec, engine: str, max_tensor_parallel: Optional[int]) -> list[int]:
    limit = min(gpu.gpus_per_node, max_tensor_parallel or gpu.gpus_per_node)
    return [tp for tp in model.possible_tensor_parallel_sizes(engine) if tp <= limit]


def _runs_expert_parallel(model, engine: str) -> bool:
    from gpurec_core.plugins import engine_info

    return model.is_moe and engine_info(engine).expert_parallel


def candidate_layouts(model, gpu: GPUSpec, engine: str, max_tensor_parallel: Optional[int],
                      pipeline_parallel: Optional[int]) -> list[Parallelism]:
    """Single-node layouts: each TP size, plus EP = TP for MoE models (when the engine runs EP); PP
    fixed when asked."""
    layouts = []
    pp = pipeline_parallel or 1
    expert = _runs_expert_parallel(model, engine)
    for tp in _tensor_parallel_sizes(model, gpu, engine, max_tensor_parallel):
        layouts.append(Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp))
        if expert and tp > 1:
            layouts.append(Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=tp))
    return layouts


def multi_node_layouts(model, gpu: GPUSpec, engine: str, max_tensor_parallel: Optional[int]) -> Iterable[Parallelism]:
    """Pipeline stages across nodes at the largest TP in a node: PP = 2, 3, ... up to MAX_PIPELINE_STAGES
    (none when the engine does not run pipeline parallelism)."""
    from gpurec_core.plugins import engine_info

    sizes = _tensor_parallel_sizes(model, gpu, engine, max_tensor_parallel)
    if not sizes or not engine_info(engine).pipeline_parallel:
        return
    tp = max(sizes)
    expert = _runs_expert_parallel(model, engine)
    for pp in range(2, MAX_PIPELINE_STAGES + 1):
        if pp > model.config.num_hidden_layers:
            return
        yield Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp)
        if expert and tp > 1:
            yield Parallelism(tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=tp)


#: Sizes of the expert-parallel group a wide-EP candidate spans (GPUs): one 8-GPU node and two,
#: the DP-attention deployments the engines document (vLLM's data-parallel deployment guide runs
#: DeepSeek with DP8/DP16 + EP; SGLang's --enable-dp-attention examples use --tp 8/16 --dp 8/16).
WIDE_EP_GROUP_SIZES = (8, 16)


def wide_ep_layouts(model, gpu: GPUSpec, engine: str, max_tensor_parallel: Optional[int]) -> Iterable[Parallelism]:
    """Attention data parallelism with the experts spread over every GPU (wide EP) for MoE models:
    EP = TP x DP over 8 or 16 GPUs, each DP rank a TP group within a node, the experts split evenly
    (none when the engine runs no expert or data parallelism)."""
    from gpurec_core.plugins import engine_info

    info = engine_info(engine)
    experts = model.config.num_experts or 0
    if not (model.is_moe and info.expert_parallel and info.data_parallel):
        return
    for group in WIDE_EP_GROUP_SIZES:
        if experts % group:
            continue
        for tp in _tensor_parallel_sizes(model, gpu, engine, max_tensor_parallel):
            if group % tp == 0 and group // tp >= 2:
                yield Parallelism(tensor_parallel_size=tp, expert_parallel_size=group, data_parallel_size=group // tp)


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


def _refused(memory: MemoryPlan) -> bool:
    """A plan the engine refused outright with a WorkloadError (:func:`_failed_plan`), e.g. a weight
    format nothing runs on this GPU: no layout of the same GPU can do better."""
    return memory.budget_gib == 0.0 and memory.weights_gib == 0.0 and not memory.fits


def saturation_concurrency(memory: MemoryPlan, workload: Workload, data_parallel_size: int = 1) -> int:
    """Largest number of requests of input+output tokens the KV pools hold at once (>= 1): one
    pool per data-parallel rank."""
    per_request = workload.input_length + workload.output_length
    return max(1, int(memory.kv_cache_tokens // per_request) * data_parallel_size)


class _Points:
    """Evaluated points, in the order asked: whether each has an estimate, its TTFT, ITL and
    throughput (plain lists), and its :class:`PerformanceEstimate` on demand."""

    __slots__ = ("ok", "ttft_ms", "itl_ms", "throughput", "_performance", "_offset")

    def __init__(self, ok: list[bool], ttft_ms: list[float], itl_ms: list[float], throughput: list[float],
                 performance: Callable[[int], PerformanceEstimate], offset: int = 0) -> None:
        self.ok, self.ttft_ms, self.itl_ms, self.throughput = ok, ttft_ms, itl_ms, throughput
        self._performance, self._offset = performance, offset

    @classmethod
    def of(cls, estimates: list[PerformanceEstimate]) -> "_Points":
        return cls([p.error is None for p in estimates], [p.time_to_first_token_ms or 0.0 for p in estimates],
                   [p.inter_token_latency_ms or 0.0 for p in estimates],
                   [p.throughput_tokens_per_sec or 0.0 for p in estimates], estimates.__getitem__)

    def performance(self, i: int) -> PerformanceEstimate:
        return self._performance(self._offset + i)

    def after(self, n: int) -> "_Points":
        """The points from the ``n``-th on."""
        return _Points(self.ok[n:], self.ttft_ms[n:], self.itl_ms[n:], self.throughput[n:], self._performance,
                       self._offset + n)

    def meets(self, i: int, ttft_slo: Optional[float], itl_slo: Optional[float]) -> bool:
        if not self.ok[i]:
            return False
        ok_ttft = ttft_slo is None or self.ttft_ms[i] <= ttft_slo
        ok_itl = itl_slo is None or self.itl_ms[i] <= itl_slo
        return ok_ttft and ok_itl


#: Evaluates (candidate index, concurrency) points, in order.
Evaluate = Callable[[list[tuple[int, int]]], _Points]


def _search_tree(low: int, high: int, levels: int) -> list[int]:
    """The concurrencies the next ``levels`` steps of the binary search on [low, high] may try."""
    if levels <= 0 or low >= high:
        return []
    mid = (low + high + 1) // 2
    return [mid] + _search_tree(mid, high, levels - 1) + _search_tree(low, mid - 1, levels - 1)


def slo_searches(ceilings: Sequence[int], evaluate: Evaluate, ttft_slo: Optional[float], itl_slo: Optional[float],
                 *, levels: int = 1) -> list[SLOResult]:
    """:func:`slo_search` for many candidates (candidate ``k`` searches [1, ``ceilings[k]``]) in rounds.

    Each round makes one ``evaluate`` call with the points every unfinished search may need in
    its next steps, then takes those steps. With ``levels`` = 1 a round is one step (and the
    first round concurrency 1 alone). With ``levels`` > 1 the deepest search takes ``levels``
    steps per round and the others as many as finish them in the same number of rounds; a round
    evaluates all 2**steps - 1 points those steps may visit (the first one also concurrency 1
    and the steps after it, guessing it meets the SLOs). The steps are the ones
    :func:`slo_search` takes for each candidate alone, so the results are the same; ``levels``
    > 1 trades extra points for fewer rounds, for evaluators that batch.
    """
    count = len(ceilings)
    low, high = [1] * count, list(ceilings)
    goodput = [0.0] * count
    results: list[Optional[SLOResult]] = [None] * count
    # A binary search on [1, n] ends within ceil(log2 n) steps; spread them evenly over the rounds.
    depths = [max(0, int(c) - 1).bit_length() for c in ceilings]
    rounds = max(1, -(-max(depths, default=0) // levels))
    per_round = [1 if levels == 1 else max(1, -(-d // rounds)) for d in depths]
    started = [False] * count
    active = list(range(count))
    while active:
        points = []
        for k in active:
            if started[k]:
                wanted = _search_tree(low[k], high[k], per_round[k])
            else:
                wanted = [1] + (_search_tree(1, ceilings[k], per_round[k]) if levels > 1 else [])
            points += [(k, c) for c in wanted]
        evaluated = evaluate(points)
        index = {point: i for i, point in enumerate(points)}
        still = []
        for k in active:
            steps = per_round[k]
            if not started[k]:
                started[k] = True
                first = index[(k, 1)]
                if not evaluated.meets(first, ttft_slo, itl_slo):
                    results[k] = SLOResult(ttft_slo_ms=ttft_slo, itl_slo_ms=itl_slo, meets_at_concurrency_1=False,
                                           max_concurrency=0, goodput_tokens_per_sec=0.0)
                    continue
                goodput[k] = evaluated.throughput[first]
                steps = steps if levels > 1 else 0
            for _ in range(steps):
                if low[k] >= high[k]:
                    break
                mid = (low[k] + high[k] + 1) // 2
                i = index[(k, mid)]
                if evaluated.meets(i, ttft_slo, itl_slo):
                    low[k], goodput[k] = mid, evaluated.throughput[i]
                else:
                    high[k] = mid - 1
            if low[k] < high[k]:
                still.append(k)
            else:
                results[k] = SLOResult(ttft_slo_ms=ttft_slo, itl_slo_ms=itl_slo, meets_at_concurrency_1=True,
                                       max_concurrency=low[k], goodput_tokens_per_sec=goodput[k])
        active = still
    return results


def slo_search(estimate_at: Callable[[int], PerformanceEstimate], ceiling: int,
               ttft_slo: Optional[float], itl_slo: Optional[float]) -> SLOResult:
    """Highest concurrency in [1, ceiling] meeting both SLOs (TTFT and ITL rise with concurrency):
    ``estimate_at(1)``, then a binary search."""
    return slo_searches([ceiling], lambda points: _Points.of([estimate_at(c) for _, c in points]),
                        ttft_slo, itl_slo)[0]


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
    needed = 1.0
    if target_tok is not None:
        capacity = goodput if goodput is not None else (per_replica.throughput_tokens_per_sec or 0.0)
        if capacity <= 0:
            return 1, "this layout carries no load within the SLOs"
        needed = max(needed, target_tok / capacity)
    if target_rps is not None:
        rps = per_replica.requests_per_sec or 0.0
        if goodput is not None and per_replica.throughput_tokens_per_sec:
            rps *= goodput / per_replica.throughput_tokens_per_sec
        if rps <= 0:
            return 1, "this layout completes no requests within the SLOs"
        needed = max(needed, target_rps / rps)
    if not needed <= MAX_REPLICAS:  # also catches inf from a target near the float maximum
        return 1, f"the target load needs more than {MAX_REPLICAS:,} replicas of this layout"
    return math.ceil(needed), ""


def deployment_cost(parts: Sequence[tuple[GPUSpec, GPUPrice, int]], loaded: Optional[PerformanceEstimate]) -> Cost:
    """$/hour of every (GPU, its price, how many) part of a deployment (the catalog's prices, or labelled
    estimates); $/M tokens at the loaded (saturation or SLO) throughput. Without a price for every part,
    only the GPUs x memory proxy ranks it."""
    proxy = sum(count * gpu.memory_gib for gpu, _, count in parts)
    prices = [price for _, price, _ in parts]
    basis = "; ".join(dict.fromkeys(price.basis for price in prices))
    if any(price.usd_per_hour is None for price in prices):
        return Cost(proxy_gpu_memory_gib=proxy, price_estimated=True, price_basis=basis)
    per_hour = sum(price.usd_per_hour * count for _, price, count in parts)
    per_m_out = per_m_in = None
    if loaded is not None and loaded.error is None:
        if loaded.throughput_tokens_per_sec:
            per_m_out = per_hour / (loaded.throughput_tokens_per_sec * 3600) * 1e6
        if loaded.input_tokens_per_sec:
            per_m_in = per_hour / (loaded.input_tokens_per_sec * 3600) * 1e6
    dates = [price.date for price in prices if price.date]
    return Cost(usd_per_hour=per_hour, usd_per_million_output_tokens=per_m_out, usd_per_million_input_tokens=per_m_in,
                price_date=min(dates) if dates else None, price_estimated=any(p.estimated for p in prices),
                price_basis=basis, proxy_gpu_memory_gib=proxy)


def loaded_at_slo(saturation: Optional[PerformanceEstimate], slo: Optional[SLOResult]) -> Optional[PerformanceEstimate]:
    """The load a deployment is priced at: its SLO goodput when it has one, else its saturation."""
    if slo is None or slo.max_concurrency <= 0 or saturation is None or saturation.error is not None:
        return saturation
    return saturation.model_copy(update={
        "throughput_tokens_per_sec": slo.goodput_tokens_per_sec,
        "input_tokens_per_sec": (saturation.input_tokens_per_sec or 0.0) * slo.goodput_tokens_per_sec
        / max(saturation.throughput_tokens_per_sec or 1.0, 1e-9)})


@dataclass
class _Candidate:
    """One GPU x layout while the search runs: its plan, then its performance points."""

    gpu: GPUSpec
    layout: Parallelism
    memory: MemoryPlan
    max_requests: int
    reasons: list[str] = field(default_factory=list)
    performance: Optional[PerformanceEstimate] = None
    saturation: Optional[PerformanceEstimate] = None
    slo: Optional[SLOResult] = None

    @property
    def fits(self) -> bool:
        return not self.reasons


def _plan_candidate(model, gpu, layout, workload, engine, batch_size) -> _Candidate:
    memory = _plan(model, gpu, layout, workload, engine)
    max_requests = int(memory.kv_cache_tokens // workload.context_length) * layout.data_parallel_size if memory.fits else 0
    reasons = [] if memory.fits else [memory.reason or "does not fit"]
    if memory.fits and max_requests < batch_size:
        reasons.append(f"the KV pool holds {max_requests} requests of {workload.context_length} tokens, "
                       f"fewer than batch_size {batch_size}")
    return _Candidate(gpu=gpu, layout=layout, memory=memory, max_requests=max_requests, reasons=reasons)


def _evaluator(model, candidates: list[_Candidate], workload, estimator) -> Evaluate:
    """Points of these candidates through the ``estimate_performance_batch`` facade, one call per round;
    an error of the whole call becomes every point's error."""
    from gpurec_core.batch import BatchEstimates, DeploymentSet, PerformanceBatch
    from gpurec_core.plugins import estimate_performance_batch

    deployments = DeploymentSet.of([(model, c.gpu, c.layout, workload, c.memory) for c in candidates])

    def evaluate(points: list[tuple[int, int]]) -> _Points:
        batch = PerformanceBatch.of(deployments, [k for k, _ in points], workload.input_length, workload.output_length,
                                    [c for _, c in points])
        try:
            estimates = estimate_performance_batch(batch, estimator)
        except GpurecError as exc:
            estimates = BatchEstimates.of([PerformanceEstimate(error=str(exc), estimator=estimator, concurrency=c)
                                           for _, c in points])
        return _Points(estimates.ok.tolist(), estimates.time_to_first_token_ms.tolist(),
                       estimates.inter_token_latency_ms.tolist(), estimates.throughput_tokens_per_sec.tolist(),
                       estimates.performance)
    return evaluate


def _estimate_candidates(model, candidates: list[_Candidate], workload, *, estimator, batch_size, ttft_slo, itl_slo,
                         batches) -> None:
    """Performance at ``batch_size``, at saturation, and the SLO search, of the candidates that fit.

    ``batches``: the estimator answers a batch at once, so the SLO search takes several steps per
    call; otherwise one step per call (each point costs a call)."""
    fitting = [c for c in candidates if c.fits]
    if not fitting:
        return
    evaluate, levels = _evaluator(model, fitting, workload, estimator), SLO_SEARCH_LEVELS if batches else 1
    ceilings = [saturation_concurrency(c.memory, workload, c.layout.data_parallel_size) for c in fitting]
    count = len(fitting)
    first = [(k, batch_size) for k in range(count)] + [(k, ceilings[k]) for k in range(count)]
    evaluated: list[_Points] = []
    if ttft_slo is not None or itl_slo is not None:
        def evaluate_with_first(points: list[tuple[int, int]]) -> _Points:
            if evaluated:
                return evaluate(points)
            evaluated.append(evaluate(first + points))  # the SLO search's first round carries them
            return evaluated[0].after(len(first))
        for candidate, slo in zip(fitting, slo_searches(ceilings, evaluate_with_first, ttft_slo, itl_slo, levels=levels)):
            candidate.slo = slo
    else:
        evaluated.append(evaluate(first))
    for k, candidate in enumerate(fitting):
        candidate.performance = evaluated[0].performance(k)
        candidate.saturation = evaluated[0].performance(count + k)


def _recommendation(candidate: _Candidate, *, estimate_flag, target_tok, target_rps, deployment,
                    price: GPUPrice) -> Recommendation:
    gpu, layout, memory = candidate.gpu, candidate.layout, candidate.memory
    reasons, fits = list(candidate.reasons), candidate.fits
    performance, saturation, slo = candidate.performance, candidate.saturation, candidate.slo
    replicas, why = 1, ""
    if estimate_flag and fits:
        if slo is not None and not slo.meets_at_concurrency_1:
            reasons.append("misses the SLOs even at concurrency 1")
        replicas, why = replicas_for_target(saturation, slo.goodput_tokens_per_sec if slo else None, target_tok, target_rps)
        if why:
            reasons.append(why)
    total = layout.total_gpus * replicas  # a wide-EP unit holds its DP ranks
    nodes = max(1, math.ceil(layout.total_gpus / gpu.gpus_per_node)) * replicas
    rec = GPURecommendation(
        gpu_spec=gpu, tensor_parallel_size=layout.tensor_parallel_size, total_gpus=total, model_fits=fits,
        memory_per_gpu_gb=round(memory.weights_gib, 4), available_memory_for_kv_gb=round(max(0.0, memory.kv_cache_gib), 4),
        max_concurrent_requests=candidate.max_requests, pipeline_parallel_size=layout.pipeline_parallel_size,
        expert_parallel_size=layout.expert_parallel_size, data_parallel_size=layout.data_parallel_size * replicas,
        nodes=nodes, memory=memory,
        reasons=tuple(reasons))
    if slo is not None and replicas > 1:
        slo = slo.model_copy(update={"goodput_tokens_per_sec": slo.goodput_tokens_per_sec * replicas})
    performance, saturation = _scale(performance, replicas), _scale(saturation, replicas)
    return Recommendation(recommendation=rec, performance=performance, saturation=saturation, slo=slo,
                          cost=deployment_cost([(gpu, price, total)], loaded_at_slo(saturation, slo)),
                          deployment=deployment, meets_target=not why)


def gpu_list(name: str, value) -> Optional[list]:
    """``value`` (one GPU name or GPUSpec, or a non-empty list or tuple of them; None for the whole catalog)
    as a list, or a WorkloadError naming the option."""
    if value is None:
        return None
    if isinstance(value, (str, GPUSpec)):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(g, (str, GPUSpec)) for g in value):
        raise WorkloadError(f"{name} must be a list of GPU names or GPUSpecs (`gpurec gpus` lists the names), "
                            f"got {value!r:.80}")
    if not value:
        raise WorkloadError(f"{name} names no GPU: give at least one, or None for every GPU of the catalog")
    return list(value)


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
    text_only: bool = False,
    disaggregated: bool = False,
    prefill_gpus: Optional[list[Union[str, GPUSpec]]] = None,
    decode_gpus: Optional[list[Union[str, GPUSpec]]] = None,
    frontend: str = "engine",
    speculative_tokens: int = 0,
    acceptance_length: Optional[float] = None,
) -> RecommendationResult:
    """Recommend GPUs and parallel layouts for serving ``model`` (the seed's parameters first).

    ``context_length`` is the engine's max-model-len (raised to input + output when shorter);
    ``batch_size`` the concurrent requests the KV cache must hold (and the concurrency the
    performance is estimated at). ``precision`` overrides the inferred weight precision. With
    ``ttft_slo_ms`` / ``itl_slo_ms`` each candidate reports its goodput; with a target load,
    the fewest replicas that carry it. Ranked: cheapest that fits and meets the SLOs first.
    ``disaggregated``: also search prefill/decode pools (xPyD) and rank them with the aggregated
    candidates (each GPU type serving both of its pools); ``prefill_gpus`` / ``decode_gpus`` allow or
    force the GPU types of each pool, mixed types included (either implies ``disaggregated``).
    ``progress(done, total)`` is called after each GPU type is planned (and, with an estimator
    that has no batch form, estimated). ``text_only`` plans a multimodal checkpoint served
    without its vision / audio towers (vLLM ``--language-model-only``). ``frontend``: what takes the
    requests, the engine's own server (``"engine"``) or NVIDIA Dynamo's frontend (``"dynamo"``).
    ``speculative_tokens`` / ``acceptance_length``: MTP / EAGLE speculative decoding, as for
    :func:`gpurec_core.api.estimate_performance` (a disaggregated candidate's decode pool drafts and verifies).
    """
    from gpurec_core.api import _build, as_gpu, as_model, check_engine, check_estimator, check_layout
    from gpurec_core.plugins import gpu_catalog, plugin_problems

    _validate_arguments(input_length, output_length, context_length, batch_size, gpu_memory_utilization,
                        max_tensor_parallel, max_gpus, ttft_slo_ms, itl_slo_ms, target_throughput_tokens_per_sec,
                        target_requests_per_sec, pipeline_parallel)
    engine = check_engine(engine)
    if pipeline_parallel is not None:
        check_layout(engine, Parallelism(pipeline_parallel_size=pipeline_parallel))
    arch = as_model(model, hf_token)
    if estimate_performance_flag:
        check_estimator(estimator)
    if pipeline_parallel is not None and pipeline_parallel > arch.config.num_hidden_layers:
        raise WorkloadError(f"pipeline_parallel={pipeline_parallel} exceeds the {arch.config.num_hidden_layers} decoder "
                            f"layers of {arch.model_id}; every stage needs at least one layer")
    resolved = arch.resolve_precision(precision, kv_cache_dtype)
    max_model_len = max(context_length, input_length + output_length)
    notes = [n for n in (arch.resolution_note, resolved.assumed) if n]
    if max_model_len > context_length:
        notes.append(f"context_length {context_length} < input + output; planned for {max_model_len} tokens")
    if frontend == "dynamo":
        notes.append("timed behind NVIDIA Dynamo's frontend; --launch prints the engine's own server: behind Dynamo "
                     f"the same engine flags go to its Dynamo worker (python -m dynamo.{engine}) and "
                     "`python -m dynamo.frontend` takes the requests" if engine in DYNAMO_WORKERS else
                     f"timed behind NVIDIA Dynamo's frontend, which has no worker for {engine} "
                     f"({', '.join(DYNAMO_WORKERS)} only)")
    if max_model_len > arch.max_context_length():
        notes.append(f"{max_model_len} tokens exceed the model's maximum context {arch.max_context_length()}")
    workload = _build(Workload, "workload", input_length=input_length, output_length=output_length,
                      concurrency=batch_size, max_model_len=max_model_len,
                      gpu_memory_utilization=gpu_memory_utilization, precision=resolved, text_only=bool(text_only),
                      frontend=frontend, speculative_tokens=speculative_tokens, acceptance_length=acceptance_length)
    if workload.speculative_tokens:
        notes.append(acceptance_note(workload.speculative_tokens, workload.acceptance_length, estimator))
    gpus, prefill_gpus, decode_gpus = (gpu_list(name, value) for name, value in (
        ("gpus", gpus), ("prefill_gpus", prefill_gpus), ("decode_gpus", decode_gpus)))
    if progress is not None and not callable(progress):
        raise WorkloadError(f"progress must be a function progress(done, total), got {progress!r:.80}")
    if not gpus and (prefill_gpus or decode_gpus):  # the pools' GPU types bound the aggregated search too
        gpus = list(dict.fromkeys([*(prefill_gpus or []), *(decode_gpus or [])]))
    specs = [as_gpu(g) for g in gpus] if gpus else gpu_catalog().specs
    deployment = Deployment(model_id=arch.model_id, max_model_len=max_model_len,
                            gpu_memory_utilization=gpu_memory_utilization, engine=engine,
                            has_towers=arch.towers.total > 0, text_only=bool(text_only), moe=arch.config.is_moe,
                            speculative_tokens=workload.speculative_tokens, mtp_layers=arch.config.num_mtp_layers > 0,
                            **_launch_precision_flags(arch, resolved, precision, kv_cache_dtype))
    if deployment.checkpoint_note or resolved.what_if_note:  # the precision planned is not the checkpoint's
        notes.append(deployment.checkpoint_note or resolved.what_if_note)
    # An estimator with a batch form gets every candidate's points together after the plans; one
    # without is asked point by point, GPU by GPU (progress follows it).
    from gpurec_core.plugins import estimator_batches

    batches = estimate_performance_flag and estimator_batches(estimator)
    estimate_args = dict(estimator=estimator, batch_size=batch_size, ttft_slo=ttft_slo_ms, itl_slo=itl_slo_ms,
                         batches=batches)
    groups: list[list[_Candidate]] = []
    for done, gpu in enumerate(specs, 1):
        found = [_plan_candidate(arch, gpu, layout, workload, engine, batch_size)
                 for layout in candidate_layouts(arch, gpu, engine, max_tensor_parallel, pipeline_parallel)]
        single_node = list(found)
        if pipeline_parallel in (None, 1):
            found += [_plan_candidate(arch, gpu, layout, workload, engine, batch_size)
                      for layout in wide_ep_layouts(arch, gpu, engine, max_tensor_parallel)
                      if max_gpus is None or layout.total_gpus <= max_gpus]
        if pipeline_parallel is None and single_node and not any(c.fits for c in single_node) \
                and not all(_refused(c.memory) for c in single_node):  # more stages cannot help a refused GPU
            for layout in multi_node_layouts(arch, gpu, engine, max_tensor_parallel):
                if max_gpus is not None and layout.gpus_per_replica > max_gpus:
                    break
                candidate = _plan_candidate(arch, gpu, layout, workload, engine, batch_size)
                found.append(candidate)
                if candidate.fits:
                    break
        groups.append(found)
        if estimate_performance_flag and not batches:
            _estimate_candidates(arch, found, workload, **estimate_args)
        if progress is not None:
            progress(done, len(specs))
    if batches:
        _estimate_candidates(arch, [c for found in groups for c in found], workload, **estimate_args)
    items: list[Recommendation] = []
    dropped = 0
    catalog = gpu_catalog().specs
    for gpu, found in zip(specs, groups):
        price = gpu_price(gpu, catalog)
        for candidate in found:
            item = _recommendation(candidate, estimate_flag=estimate_performance_flag,
                                   target_tok=target_throughput_tokens_per_sec, target_rps=target_requests_per_sec,
                                   deployment=deployment, price=price)
            if max_gpus is not None and item.recommendation.total_gpus > max_gpus:
                dropped += 1
            elif include_non_fitting or item.recommendation.model_fits:
                items.append(item)
    if disaggregated or prefill_gpus or decode_gpus:
        if not estimate_performance_flag:
            raise WorkloadError("disaggregated candidates are ranked by their estimated speed: drop "
                                "estimate_performance_flag=False (--no-performance) or disaggregated")
        from gpurec_core.recommend_disagg import disaggregated_candidates, gpu_pairs

        pairs = gpu_pairs(specs, [as_gpu(g) for g in prefill_gpus or []], [as_gpu(g) for g in decode_gpus or []])
        found = disaggregated_candidates(
            arch, workload, pairs=pairs, engine=engine, estimator=estimator,
            batch_size=batch_size, ttft_slo=ttft_slo_ms, itl_slo=itl_slo_ms, max_tensor_parallel=max_tensor_parallel,
            max_gpus=max_gpus, deployment=deployment, catalog=catalog, target_tok=target_throughput_tokens_per_sec,
            target_rps=target_requests_per_sec)
        items += found
        notes.append(f"{len(found)} disaggregated (xPyD) candidate(s) ranked with the aggregated ones "
                     "(docs/disaggregated.md)")
    if dropped:
        notes.append(f"{dropped} candidate(s) needing more than max_gpus={max_gpus} GPUs left out")
    if not items:
        notes.append(_why_empty(groups, max_tensor_parallel, pipeline_parallel))
    notes += plugin_problems()
    workload_info = {"input_length": input_length, "output_length": output_length, "context_length": max_model_len,
                     "batch_size": batch_size, "gpu_memory_utilization": gpu_memory_utilization, "engine": engine,
                     "frontend": workload.frontend, "speculative_tokens": workload.speculative_tokens,
                     "tokens_per_step": workload.tokens_per_step, "estimator": estimator, "ttft_slo_ms": ttft_slo_ms,
                     "itl_slo_ms": itl_slo_ms,
                     "target_throughput_tokens_per_sec": target_throughput_tokens_per_sec,
                     "target_requests_per_sec": target_requests_per_sec}
    result = RecommendationResult(items, model_id=arch.model_id, workload=workload_info, precision=resolved.weight,
                                  kv_cache_dtype=resolved.kv_cache_dtype, notes=tuple(notes),
                                  routed_expert_precision=resolved.routed_expert_weight)
    return result.rank()


#: Engines NVIDIA Dynamo has a worker for, started as ``python -m dynamo.<engine>`` beside ``python -m
#: dynamo.frontend`` (ai-dynamo/dynamo: PR #5544 dynamo.vllm, issue #5086 dynamo.trtllm, PR #14660 dynamo.sglang).
DYNAMO_WORKERS = ("vllm", "sglang", "trtllm")

#: Weight precisions no engine quantizes a checkpoint to at load time: they need a pre-quantized one.
PRE_QUANTIZED_ONLY = ("int8", "int4", "nvfp4", "mxfp4")


def _why_empty(groups: list[list[_Candidate]], max_tensor_parallel: Optional[int],
               pipeline_parallel: Optional[int]) -> str:
    """Why a search left nothing to show, in one sentence."""
    candidates = [c for found in groups for c in found]
    if not candidates:
        limits = [f"max_tensor_parallel={max_tensor_parallel}"] if max_tensor_parallel else []
        limits += [f"pipeline_parallel={pipeline_parallel}"] if pipeline_parallel else []
        return ("no layout to try: no tensor-parallel size the model allows fits within one node of these GPUs"
                + (f" under {', '.join(limits)}" if limits else ""))
    fitting = [c for c in candidates if c.fits]
    if not fitting:
        closest = min(candidates, key=lambda c: c.memory.weights_gib * c.layout.total_gpus)
        return (f"none of the {len(candidates)} candidates fits (e.g. {closest.gpu.name} "
                f"{GPURecommendation.layout_of(closest.layout)}: {'; '.join(closest.reasons)})")
    return f"{len(fitting)} candidate(s) fit but none is within the limits given"


def _launch_precision_flags(arch, resolved, precision: Optional[str], kv_cache_dtype: Optional[str]) -> dict:
    """Launch settings that reproduce a precision override on this checkpoint: ``--dtype``, the
    online ``--quantization fp8`` method (vLLM and SGLang quantize bf16 weights to fp8 at load
    time), or the precision's what-if note when it needs another checkpoint (``resolved`` is the
    precision planned, ``Precision.what_if_note`` set when it is not the checkpoint's own)."""
    flags: dict = {}
    online_fp8 = resolved.weight == "fp8" and not arch.precision.is_quantized
    if str(precision or "auto").strip().lower() not in ("auto", "none", "") and resolved.weight in ("fp16", "bf16", "fp32"):
        flags["dtype"] = resolved.weight
    elif online_fp8:
        flags["quantization"] = "fp8"
    if resolved.what_if_note and resolved.weight != arch.precision.weight and not online_fp8:
        flags["checkpoint_note"] = f"{resolved.what_if_note}; the launch command assumes MODEL names one"
    if kv_cache_dtype == "fp8":
        flags["kv_cache_dtype"] = "fp8"
    return flags
