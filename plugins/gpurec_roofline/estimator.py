"""The roofline estimator: deployments' TTFT, inter-token latency and throughput.

Pipeline: :func:`gpurec_roofline.profile.build_profile` (bytes and FLOPs per GPU) ->
:func:`gpurec_roofline.serving.serve` (closed-loop steady state over engine steps timed by
:mod:`gpurec_roofline.step`) -> a :class:`PerformanceEstimate` for the whole deployment
(data-parallel replicas multiply throughput; users are spread evenly over the replicas).
Constants come from ``catalogs/engines/roofline.toml`` (:mod:`gpurec_roofline.constants`).

:func:`estimate_many` evaluates many points (deployment x lengths x concurrency) in a few numpy
calls; :func:`estimate`, the hook's answer for one point, is that function with one row, so a
sweep or a recommendation that batches its points gets the hook's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional, Sequence

import numpy as np

from gpurec_core.batch import BatchEstimates
from gpurec_core.errors import EstimationError, GpurecError
from gpurec_core.models import GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate, Workload
from gpurec_core.calibration import scope_for
from gpurec_roofline.constants import EngineConstants, GenerationEfficiency, RooflineConstants, load_constants
from gpurec_roofline.fitting import with_factors
from gpurec_core.model_facts import towers_loaded
from gpurec_roofline.profile import DeploymentProfile, build_profile, profile_columns, stack_profiles, uniform_column
from gpurec_roofline.serving import scheduler_limits, serve, users_per_replica

ESTIMATOR_NAME = "roofline"
#: An estimate notes the queue when at least this share of its users are waiting for their first token.
QUEUE_NOTE_SHARE = 0.5

#: Rows per numpy call of the serving model: large enough to amortise numpy's per-call cost,
#: small enough that the temporaries stay in the CPU cache.
CHUNK_ROWS = 16384


def _scalar(x) -> float:
    if type(x) is float:
        return x
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def pool_capacity_requests(kv_cache_tokens, input_length, output_length):
    """Requests of ``input + output`` tokens a KV pool of ``kv_cache_tokens`` holds at once
    (worst case); numpy arrays broadcast."""
    return np.floor_divide(kv_cache_tokens, np.maximum(1, np.add(input_length, output_length)))


def kv_capacity_requests(memory: MemoryPlan, input_length: int, output_length: int) -> int:
    """Requests of ``input + output`` tokens the replica's KV pool holds at once (:func:`pool_capacity_requests`)."""
    return int(pool_capacity_requests(memory.kv_cache_tokens, input_length, output_length))


def fit_problem(model, gpu: GPUSpec, parallelism: Parallelism, memory: MemoryPlan) -> Optional[EstimationError]:
    """The error for a deployment whose memory plan does not fit, or None."""
    if memory.fits:
        return None
    # The planner's reason says what would help (more GPUs for a memory shortage, another cache dtype for
    # an fp8 KV cache on a GPU without FP8, ...).
    return EstimationError(
        f"{getattr(model, 'model_id', 'the model')} does not fit on {parallelism.gpus_per_replica}x {gpu.name}: "
        f"{memory.reason or 'the memory plan says it does not fit'}"
    )


def request_problem(memory: MemoryPlan, input_length: int, output_length: int) -> Optional[EstimationError]:
    """The error for a request longer than the KV pool holds, or None."""
    need = input_length + output_length
    if memory.kv_cache_tokens >= need:
        return None
    return EstimationError(
        f"the KV pool holds {memory.kv_cache_tokens} tokens but one request needs {need} "
        f"(input {input_length} + output {output_length}); add GPUs or shorten the request"
    )


def check_inputs(model, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, memory: MemoryPlan) -> None:
    """Raise EstimationError, with the reason and a way out, for deployments that cannot run."""
    problem = fit_problem(model, gpu, parallelism, memory) or request_problem(
        memory, workload.input_length, workload.output_length)
    if problem is not None:
        raise problem


def bottleneck_of(parts: dict[str, np.ndarray]) -> str:
    """What dominates the decode step: weight/KV streaming, matmul compute, or communication."""
    memory = _scalar(parts["gemm_memory"]) + _scalar(parts["attention_decode"]) + _scalar(parts["activations"])
    compute = _scalar(parts["gemm_compute"]) + _scalar(parts["attention_prefill"])
    comm = _scalar(parts["communication"]) + _scalar(parts.get("pipeline", 0.0))
    ranked = max((memory, "memory"), (compute, "compute"), (comm, "communication"))
    return ranked[1]


@dataclass(frozen=True)
class StackedEfficiency:
    """The :class:`GenerationEfficiency` of each row of a stacked profile: arrays, or plain values
    all rows share.

    ``compute_fraction`` answers for that profile's ``compute_dtype`` (the same object) with each
    row's GEMM efficiency, resolved when the rows were stacked.
    """

    dtypes: object
    compute: object
    attention_efficiency: object
    bandwidth_efficiency: object
    kv_read_ratio: object
    mla_read_ratio: object
    link_ratio: object
    expert_read_ratio: object
    moe_compute_ratio: object = 1.0  # the engine's and dtype's (GenerationEfficiency.moe_ratio_for), per row

    def compute_fraction(self, dtype) -> np.ndarray:
        if dtype is not self.dtypes:
            raise ValueError("a StackedEfficiency answers only for the compute_dtype of the profile stacked with it")
        return self.compute


#: The GenerationEfficiency fields a stacked efficiency carries per row (all but the compute rate and the MoE ratio,
#: which depend on the deployment's compute dtype and engine).
STACKED_EFFICIENCY_FIELDS = tuple(f.name for f in fields(StackedEfficiency)
                                  if f.name not in ("dtypes", "compute", "moe_compute_ratio"))


def resolved_efficiency(eff: GenerationEfficiency, profile: DeploymentProfile, engine: str) -> StackedEfficiency:
    """``eff`` as the step model reads it for one deployment of ``engine`` (its scheduling name): the GEMM rate of
    the profile's compute dtype and the engine's MoE ratio for it resolved."""
    dtype = profile.compute_dtype
    return StackedEfficiency(dtypes=dtype, compute=eff.compute_fraction(dtype),
                             moe_compute_ratio=eff.moe_ratio_for(engine, dtype),
                             **{name: getattr(eff, name) for name in STACKED_EFFICIENCY_FIELDS})


@dataclass
class Estimates(BatchEstimates):
    """Roofline estimates of many points, one row each, in the order they were asked for.

    Arrays are per row; latencies in ms, throughputs for the whole deployment (data-parallel
    replicas multiply them). A row that is not ``ok`` holds NaN; :meth:`error` gives the
    :class:`GpurecError` :func:`estimate` raises for that point. :meth:`estimate` builds a row's
    :class:`PerformanceEstimate`, the object :func:`estimate` returns for that point.
    """

    deployments: "Deployments"
    rows: np.ndarray
    input_length: np.ndarray
    output_length: np.ndarray
    concurrency: np.ndarray
    ok: np.ndarray
    time_to_first_token_ms: np.ndarray
    inter_token_latency_ms: np.ndarray
    requests_per_sec: np.ndarray
    throughput_tokens_per_sec: np.ndarray
    input_tokens_per_sec: np.ndarray
    e2e_latency_ms: np.ndarray
    max_batch_size: np.ndarray
    max_concurrent_requests: np.ndarray
    ttft_steady_ms: np.ndarray
    ttft_burst_ms: np.ndarray
    front_end_wait_ms: np.ndarray
    pipelined: np.ndarray
    parts: Optional[dict[str, np.ndarray]] = None
    _lists: Optional[dict[str, list]] = None

    def __len__(self) -> int:
        return len(self.rows)

    def _columns(self) -> dict[str, list]:
        """The arrays :meth:`estimate` reads, as Python lists (made once, on first use)."""
        if self._lists is None:
            names = ("output_length", "time_to_first_token_ms", "inter_token_latency_ms", "throughput_tokens_per_sec",
                     "input_tokens_per_sec", "requests_per_sec", "e2e_latency_ms", "max_batch_size",
                     "max_concurrent_requests", "concurrency", "ttft_steady_ms", "ttft_burst_ms", "front_end_wait_ms",
                     "pipelined")
            lists = {name: getattr(self, name).tolist() for name in names}
            lists.update({f"part:{k}": np.broadcast_to(v, self.rows.shape).tolist() for k, v in (self.parts or {}).items()})
            self._lists = lists
        return self._lists

    def error(self, i: int) -> Optional[GpurecError]:
        """Why row ``i`` has no estimate (None when it has one), checked in :func:`estimate`'s order."""
        if self.ok[i]:
            return None
        d, deployments = self.rows[i], self.deployments
        I, O = int(self.input_length[i]), int(self.output_length[i])
        error = deployments.before[d] or request_problem(deployments.items[d][4], I, O) or deployments.after[d]
        if error is not None:
            return error
        return EstimationError(
            f"roofline produced a non-finite estimate for {deployments.items[d][1].name} "
            f"(ttft={float(self.time_to_first_token_ms[i])}, itl={float(self.inter_token_latency_ms[i])}); "
            "check the GPU's bandwidth and TFLOPS figures")

    def performance(self, i: int) -> PerformanceEstimate:
        """Row ``i``'s estimate, or one whose ``error`` says why it has none (the batch hook's answer)."""
        if self.ok[i]:
            return self.estimate(i)
        return PerformanceEstimate(error=str(self.error(i)), estimator=ESTIMATOR_NAME, concurrency=int(self.concurrency[i]))

    def engine_constants(self, i: int) -> EngineConstants:
        """Row ``i``'s engine constants behind its front end."""
        deps, group = self.deployments, int(self.deployments.engine_index[int(self.rows[i])])
        return deps.group_constants[group].engine(deps.engine_names[group], deps.engine_frontends[group])

    def estimate(self, i: int) -> PerformanceEstimate:
        """Row ``i`` as a :class:`PerformanceEstimate`; raises the row's error when it has one."""
        error = self.error(i)
        if error is not None:
            raise error
        if self.parts is None:
            raise ValueError("these estimates were made with keep_parts=False: there is no breakdown to report")
        row = self._columns()
        O = row["output_length"][i]
        ttft_ms, itl_ms = row["time_to_first_token_ms"][i], row["inter_token_latency_ms"][i]
        engine = self.engine_constants(i)
        d = int(self.rows[i])
        parts = {k: row[f"part:{k}"][i] for k in self.parts
                 if (k != "pipeline" or row["pipelined"][i]) and (k != "draft" or self.deployments.draft_tokens[d])}
        decode_ms = sum(v for k, v in parts.items() if k not in ("gemm_compute", "gemm_memory")) * 1e3
        per_step = float(self.deployments.tokens_per_step[d])  # tokens a request advances per decode step
        breakdown = {f"decode_step_{k}": round(v * 1e3, 6) for k, v in parts.items()}
        if self.deployments.draft_tokens[d]:
            breakdown["tokens_per_decode_step"] = per_step
        breakdown.update({
            "decode_step_total": round(decode_ms, 6),
            "prefill_interference": round(max(0.0, itl_ms - decode_ms / per_step), 6),
            "ttft": round(ttft_ms, 6),
            "ttft_steady": round(row["ttft_steady_ms"][i], 6),
            "ttft_startup_burst": round(row["ttft_burst_ms"][i], 6),
            "ttft_request_overhead": engine.request_overhead_ms,
            "ttft_front_end_wait": round(row["front_end_wait_ms"][i], 6),
            "decode_phase": round((O - 1) * itl_ms, 6),
        })
        from gpurec_roofline.bands import calibrated_bands, performance_bands  # p10-p90 by engine and regime

        users, batch = int(row["concurrency"][i]), int(row["max_batch_size"][i])
        waiting = users - batch * max(1, int(self.deployments.replicas[d]))  # not running: queued
        notes = ()
        if row["front_end_wait_ms"][i] >= QUEUE_NOTE_SHARE * ttft_ms:
            notes = (f"the front end streams at most {engine.delivery_tokens_per_s:,.0f} output tokens/s per replica, "
                     f"fewer than the engine makes at {users:,} users, so requests wait "
                     f"{row['front_end_wait_ms'][i] / 1e3:,.1f} s for it before the engine sees them (most of the TTFT); "
                     "more replicas, each with its own front end, serve them",)
        elif waiting >= QUEUE_NOTE_SHARE * users:
            notes = (f"the deployment runs {batch:,} requests at a time per replica (its KV pool "
                     f"and max_num_seqs), so about {waiting:,.0f} of the {users:,} users are waiting for their first "
                     f"token at any moment and the {ttft_ms / 1e3:,.1f} s TTFT is mostly that wait; more replicas or "
                     "GPUs serve them",)
        return PerformanceEstimate(
            time_to_first_token_ms=ttft_ms,
            inter_token_latency_ms=itl_ms,
            throughput_tokens_per_sec=row["throughput_tokens_per_sec"][i],
            input_tokens_per_sec=row["input_tokens_per_sec"][i],
            requests_per_sec=row["requests_per_sec"][i],
            e2e_latency_ms=row["e2e_latency_ms"][i],
            max_batch_size=row["max_batch_size"][i],
            max_concurrent_requests=row["max_concurrent_requests"][i],
            concurrency=row["concurrency"][i],
            bottleneck=bottleneck_of(parts),
            estimator=ESTIMATOR_NAME,
            breakdown=breakdown,
            bands=calibrated_bands(performance_bands(self, i, breakdown), self.deployments.calibration[d]),
            notes=notes,
        )


def scheduling_of(engine: str) -> str:
    """The engine whose ``[engines.*]`` constants time ``engine``'s steps: its own, or the bundled
    engine it declares it schedules like (``EngineInfo.schedules_like``)."""
    from gpurec_core.errors import WorkloadError
    from gpurec_core.plugins import engine_info

    try:
        return engine_info(engine).schedules_like or engine
    except WorkloadError:  # not a listed engine: the constants lookup names what the roofline knows
        return engine


class Deployments:
    """Deployments prepared for :func:`estimate_many`: each one's checks, profile and limits, once.

    ``items`` holds ``(model, gpu, parallelism, workload, memory)`` tuples; a workload gives the
    precision and engine limits (its lengths and concurrency are not used). Errors are kept in
    the order :func:`estimate` checks them: the engine's constants, the memory plan's fit, then
    (per point) the request length, then the profile (GPU figures, layout).
    """

    def __init__(self, items: Sequence[tuple], constants: Optional[RooflineConstants] = None) -> None:
        self.constants = constants = constants or load_constants()
        self.items = list(items)
        count = len(self.items)
        self.before: list[Optional[GpurecError]] = [None] * count
        self.after: list[Optional[GpurecError]] = [None] * count
        self.kv_tokens = np.zeros(count, dtype=np.int64)
        self.replicas = np.ones(count, dtype=np.int64)
        self.budget = np.ones(count, dtype=np.int64)
        self.max_seqs = np.ones(count, dtype=np.int64)
        self.pipelined = np.zeros(count, dtype=bool)
        self.draft_tokens = np.zeros(count)  # speculative decoding: drafts per request per step
        self.tokens_per_step = np.ones(count)  # and the tokens a request advances per step
        self.num_prompts = np.full(count, np.nan)  # a measured run's requests in all (nan: a long run)
        self.engine_names: list[str] = []  # per group of deployments timed with the same constants
        self.engine_frontends: list[str] = []  # and taking their requests through the same front end
        self.group_constants: list[RooflineConstants] = []
        self.engine_index = np.full(count, -1, dtype=np.int64)  # the group of each deployment
        self.calibration: list[Optional[tuple]] = [None] * count  # (profile, scope) of a calibrated deployment
        group_keys: list[tuple] = []
        calibrated: dict[tuple, RooflineConstants] = {}
        self.compact = np.full(count, -1, dtype=np.intp)  # index among the deployments with a profile
        profiles: list[DeploymentProfile] = []
        effs: list[StackedEfficiency] = []  # each deployment's, resolved for its dtype and engine
        schedulings: dict[str, str] = {}  # engine -> the engine whose step constants time it
        for d, (model, gpu, parallelism, workload, memory) in enumerate(self.items):
            self.kv_tokens[d], self.replicas[d] = memory.kv_cache_tokens, parallelism.data_parallel_size
            self.pipelined[d] = parallelism.pipeline_parallel_size > 1
            self.draft_tokens[d], self.tokens_per_step[d] = workload.speculative_tokens, workload.tokens_per_step
            if workload.num_prompts is not None:
                self.num_prompts[d] = workload.num_prompts
            scheduling = schedulings.get(memory.engine) or schedulings.setdefault(memory.engine,
                                                                                  scheduling_of(memory.engine))
            try:
                engine = constants.engine(scheduling, workload.frontend)
            except GpurecError as exc:
                self.before[d] = exc
                continue
            self.before[d] = fit_problem(model, gpu, parallelism, memory)
            if self.before[d] is not None:
                continue
            try:
                eff = constants.efficiency_for(gpu)
                profile = build_profile(model.config, model.parameters, workload.precision, gpu, parallelism,
                                        towers_loaded(model, workload.text_only))
            except GpurecError as exc:
                self.after[d] = exc
                continue
            timed_by = constants
            found = scope_for(ESTIMATOR_NAME, gpu.name, memory.engine, workload.precision.weight, model.model_id)
            if found is not None:  # a calibration profile's factors for this GPU, engine, precision (and model)
                key = (id(found[1]), constants.generation_of(gpu), scheduling, profile.compute_dtype)
                if key not in calibrated:
                    calibrated[key] = with_factors(constants, found[1].fitted(), *key[1:])
                timed_by, self.calibration[d] = calibrated[key], found
                eff, engine = timed_by.efficiency_for(gpu), timed_by.engine(scheduling, workload.frontend)
            group = (scheduling, workload.frontend, id(timed_by))
            if group not in group_keys:
                group_keys.append(group)
                self.engine_names.append(scheduling)
                self.engine_frontends.append(workload.frontend)
                self.group_constants.append(timed_by)
            self.engine_index[d] = group_keys.index(group)
            self.budget[d], self.max_seqs[d] = scheduler_limits(workload, memory, engine)
            self.compact[d] = len(profiles)
            profiles.append(profile)
            effs.append(resolved_efficiency(eff, profile, scheduling))
        self.failing = np.array([b is not None or a is not None for b, a in zip(self.before, self.after)], dtype=bool)
        self.columns = profile_columns(profiles, constants.communication.fallback_link_gb_s_per_direction)
        self.compute_efficiency = uniform_column([e.compute for e in effs])
        self.efficiency_columns = {name: uniform_column([getattr(e, name) for e in effs])
                                   for name in (*STACKED_EFFICIENCY_FIELDS, "moe_compute_ratio")}

    def __len__(self) -> int:
        return len(self.items)

    def stacked(self, rows: np.ndarray) -> tuple[DeploymentProfile, StackedEfficiency]:
        """The stacked profile and efficiency of ``rows`` (deployments that have a profile)."""
        compact = self.compact[rows]
        profile = stack_profiles(self.columns, compact)

        def take(column):
            return column[compact] if isinstance(column, np.ndarray) else column
        return profile, StackedEfficiency(dtypes=profile.compute_dtype, compute=take(self.compute_efficiency),
                                          **{name: take(c) for name, c in self.efficiency_columns.items()})


def estimate_many(deployments, rows, input_length, output_length, concurrency,
                  constants: Optional[RooflineConstants] = None, *, keep_parts: bool = True) -> Estimates:
    """Estimates of many points in a few numpy calls: row ``i`` is deployment ``rows[i]`` serving
    ``concurrency[i]`` users (closed loop) with requests of ``input_length[i]`` + ``output_length[i]``
    tokens (lengths and concurrency broadcast against ``rows``).

    ``deployments`` is a :class:`Deployments` or a sequence of ``(model, gpu, parallelism,
    workload, memory)`` tuples (then ``constants`` applies). Per replica a row is the
    closed-loop steady state of :func:`serve` for ``ceil(concurrency / replicas)`` users and a KV
    pool of ``memory.kv_cache_tokens`` (:func:`pool_capacity_requests`; how many run at once is the engine's admission rule,
    :func:`gpurec_roofline.serving.admitted_requests`);
    throughput is multiplied by the busy replicas (:func:`gpurec_roofline.serving.users_per_replica`).
    The rows' profiles are stacked (:func:`gpurec_roofline.profile.stack_profiles`) and :func:`serve`
    runs over them in chunks,
    with the same arithmetic per row as for one point. A point that cannot be estimated is not
    ``ok``; ``Estimates.error(i)`` is the error :func:`estimate` raises for it. ``keep_parts=False``
    drops the decode-step breakdown (for sweeps).
    """
    if not isinstance(deployments, Deployments):
        deployments = Deployments(deployments, constants)
    constants = deployments.constants
    rows = np.asarray(rows, dtype=np.intp).reshape(-1)
    n = len(rows)
    I = np.broadcast_to(np.asarray(input_length, dtype=np.int64), (n,))
    O = np.broadcast_to(np.asarray(output_length, dtype=np.int64), (n,))
    C = np.broadcast_to(np.asarray(concurrency, dtype=np.int64), (n,))
    kv_tokens = deployments.kv_tokens[rows]

    ok = ~(deployments.failing[rows] | (kv_tokens < I + O))

    out = {name: np.full(n, np.nan) for name in ("ttft_s", "itl_s", "requests_per_s", "batch", "ttft_steady_s",
                                                  "ttft_burst_s", "front_end_wait_s")}
    parts_out: Optional[dict[str, np.ndarray]] = {} if keep_parts else None
    scale = deployments.replicas[rows]
    users, busy = users_per_replica(C, scale)
    row_engine = deployments.engine_index[rows]
    for e, name in enumerate(deployments.engine_names):  # one serve call per engine (normally one) and chunk
        picked = np.flatnonzero(ok & (row_engine == e))
        group_constants = deployments.group_constants[e]  # the bundled constants, or a calibrated scope's
        engine = group_constants.engine(name, deployments.engine_frontends[e])
        for start in range(0, len(picked), CHUNK_ROWS):
            sel = picked[start:start + CHUNK_ROWS]
            dep = rows[sel]
            profile, eff = deployments.stacked(dep)
            # Wide EP: a GPU's experts serve the tokens of the busy DP ranks only (ranks without
            # users run empty steps to keep the collectives in step).
            profile = replace(profile, expert_token_multiplier=np.minimum(profile.expert_token_multiplier,
                                                                          np.maximum(C[sel], 1)))
            result = serve(profile, eff, group_constants.communication, engine, group_constants.kernels, I[sel], O[sel],
                           users[sel], kv_tokens[sel], deployments.budget[dep], deployments.max_seqs[dep],
                           group_constants.benchmark, busy[sel], deployments.draft_tokens[dep],
                           deployments.tokens_per_step[dep],
                           deployments.num_prompts[dep])
            for key in out:
                out[key][sel] = getattr(result, key)
            if parts_out is not None:
                for key, value in result.parts.items():
                    parts_out.setdefault(key, np.zeros(n))[sel] = value

    ttft_ms, itl_ms, rps = out["ttft_s"] * 1e3, out["itl_s"] * 1e3, out["requests_per_s"] * busy
    with np.errstate(invalid="ignore"):
        sound = (np.isfinite(ttft_ms) & np.isfinite(itl_ms) & np.isfinite(rps)
                 & (ttft_ms >= 0) & (itl_ms >= 0) & (rps >= 0))
    ok &= sound
    return Estimates(
        deployments=deployments, rows=rows, input_length=I, output_length=O, concurrency=C, ok=ok,
        time_to_first_token_ms=ttft_ms, inter_token_latency_ms=itl_ms, requests_per_sec=rps,
        throughput_tokens_per_sec=rps * O, input_tokens_per_sec=rps * I, e2e_latency_ms=ttft_ms + (O - 1) * itl_ms,
        max_batch_size=np.where(ok, out["batch"], 0).astype(np.int64),
        max_concurrent_requests=pool_capacity_requests(kv_tokens, I, O) * scale,
        ttft_steady_ms=out["ttft_steady_s"] * 1e3, ttft_burst_ms=out["ttft_burst_s"] * 1e3,
        front_end_wait_ms=out["front_end_wait_s"] * 1e3, pipelined=deployments.pipelined[rows], parts=parts_out,
    )


def estimate(model, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, memory: MemoryPlan,
             constants: Optional[RooflineConstants] = None) -> PerformanceEstimate:
    """A :class:`PerformanceEstimate` for the whole deployment at ``workload.concurrency`` users:
    :func:`estimate_many` with one row."""
    batch = estimate_many([(model, gpu, parallelism, workload, memory)], [0], workload.input_length,
                          workload.output_length, workload.concurrency, constants)
    return batch.estimate(0)
