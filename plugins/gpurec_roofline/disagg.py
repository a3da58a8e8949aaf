"""Disaggregated prefill/decode (xPyD) in steady state: a prefill pool and a decode pool, each request's
KV cache shipped between them (vLLM NixlConnector, SGLang ``--disaggregation-mode``, TensorRT-LLM's
disaggregated serving; DistServe, Zhong et al. OSDI 2024; Splitwise, Patel et al. ISCA 2024).

``c`` users in a closed loop. A request is prefilled by one of the prefill units (``x`` workers x their
attention-DP ranks), its KV cache moves to a decode unit, and it decodes there with the other requests
of that unit; prefill never stalls decode (the point of disaggregation), so the ITL is a plain decode
step at the decode unit's batch.

* **Prefill.** A prompt alone takes ``S1`` = its chunks (``ceil(I / M)`` steps of the token budget
  ``M``). Queued prompts share steps: ``k = max(1, floor(M / I))`` per step, so each costs
  ``Sb = step(k I tokens) / k`` of a unit's time. Utilisation ``rho = lambda Sb / units``; the wait
  is the M/D/1 mean ``rho Sb / (2 (1 - rho))`` (Pollaczek-Khinchine with a deterministic service),
  never more than every user's prompt ahead (``c Sb / units``).
* **KV transfer.** ``I`` tokens x the KV bytes per token each prefill GPU holds (the memory plan's,
  all layers), sent by every GPU of the worker at once over the link: NVLink when both pools sit in
  one NVLink domain of the same GPU type, else each GPU's RDMA NIC (``communication.scale_out_*``),
  plus a fixed per-request cost (``communication.kv_transfer_latency_us``).
* **Decode.** Each decode unit holds ``b = lambda (O - 1) ITL / units`` requests (Little's law),
  capped by its KV pool under the engine's admission rule (``serving.admitted_requests``), by
  ``max_num_seqs`` and by the pool's ``max_batch``. ``ITL = step(b decodes)``.
* **TTFT** = request overhead + prefill wait + ``S1`` + transfer + the first decode step.
  Throughput ``lambda O`` with ``lambda = c / (TTFT + (O - 1) ITL)``, held to what the slower pool
  can serve; users beyond it wait before their first token (closed-loop Little's law).
* **The benchmark's start-up burst.** A closed-loop benchmark starts all ``c`` users at once, so the
  first request of each user waits behind the burst's prompts on its prefill unit
  (:func:`gpurec_roofline.serving.burst_passes` full-budget steps); that request is one in
  ``benchmark.requests_per_user`` of the measured mean, as in the aggregated model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gpurec_roofline.serving import (admitted_requests, benchmark_mean_ttft, benchmark_requests_per_user, burst_passes,
                                     client_slot_wait_s, replica_step_s, scheduler_limits)

#: Fixed-point iterations of the closed loop (damped): converged within 0.1 % on the validation rows.
ITERATIONS = 40
DAMPING = 0.5
#: The loop stops early once no row's request rate moves by more than this fraction in an iteration
#: (a search's candidates take 6 iterations at the median, 23 at most).
CONVERGED = 1e-7


@dataclass(frozen=True)
class PoolTiming:
    """What the steady state needs of one pool: its step model and its units."""

    profile: object          # DeploymentProfile of one worker's GPU
    efficiency: object       # its GPU's efficiency, resolved for the engine (estimator.resolved_efficiency)
    units: np.ndarray        # workers x attention-DP ranks (engine instances that schedule separately)
    kv_tokens: float         # one unit's KV pool, tokens
    max_batch: np.ndarray    # the pool's max batch per unit (inf: none given)


@dataclass
class DisaggResult:
    ttft_s: np.ndarray
    itl_s: np.ndarray
    requests_per_s: np.ndarray
    prefill_wait_s: np.ndarray
    prefill_s: np.ndarray
    transfer_s: np.ndarray
    decode_batch: np.ndarray
    prefill_utilisation: np.ndarray
    limited_by: np.ndarray   # "prefill", "decode" or "users" per row
    ttft_steady_s: np.ndarray  # a request of a running benchmark (no start-up burst)
    ttft_burst_s: np.ndarray   # a first request of the start-up burst
    pool_wait_s: np.ndarray    # of the TTFT, the closed-loop wait of users the pools cannot serve at once


def serve_disaggregated(prefill: PoolTiming, decode: PoolTiming, comm, engine, kernels, input_length, output_length,
                        users, max_num_batched_tokens, max_num_seqs, transfer_s_per_token,
                        transfer_fixed_s, benchmark=None, draft_tokens=0.0, acceptance_length=1.0,
                        num_prompts=None) -> DisaggResult:
    """Closed-loop steady state of an xPyD deployment (arrays broadcast over rows); ``benchmark`` (the
    client, :class:`gpurec_roofline.constants.BenchmarkConstants`) adds its start-up burst and clock, the
    burst weighed by the run's request count ``num_prompts`` where it is known
    (:func:`gpurec_roofline.serving.benchmark_requests_per_user`).
    With speculative decoding (``draft_tokens`` k > 0) a decode step drafts and verifies
    (:func:`gpurec_roofline.serving.replica_step_s`) and advances a request ``acceptance_length``
    tokens, so the inter-token latency is the step over it (as :func:`gpurec_roofline.serving.serve`);
    the prefill workers run the draft module over each prompt too."""
    I = np.maximum(np.asarray(input_length, float), 1.0)
    O = np.maximum(np.asarray(output_length, float), 1.0)
    c = np.maximum(np.asarray(users, float), 1.0)
    M = np.maximum(np.asarray(max_num_batched_tokens, float), 1.0)
    units_p, units_d = np.asarray(prefill.units, float), np.asarray(decode.units, float)
    p_args = (replace(prefill.profile, ranks_prefill_together=True), prefill.efficiency, comm, engine, kernels)
    d_args = (decode.profile, decode.efficiency, comm, engine, kernels)

    chunks = np.ceil(I / M)
    chunk_t, _ = replica_step_s(*p_args, 0.0, I, I / chunks, 1.0, I, draft_tokens=draft_tokens)
    alone = chunks * chunk_t
    k = np.maximum(1.0, np.floor(M / I))
    shared_t, _ = replica_step_s(*p_args, 0.0, I, np.minimum(k * I, M), k, I, draft_tokens=draft_tokens)
    per_request = np.where(k > 1.0, shared_t / k, alone)
    transfer = transfer_fixed_s + I * transfer_s_per_token

    cap = np.minimum(np.minimum(admitted_requests(engine, decode.kv_tokens, I, O), np.asarray(max_num_seqs, float)),
                     decode.max_batch)
    cap = np.maximum(cap, 1.0)
    overhead = engine.request_overhead_ms / 1e3
    context = I + O / 2.0

    accepted = np.maximum(np.asarray(acceptance_length, float), 1.0)

    def token_latency(batch):
        step, _ = replica_step_s(*d_args, batch, context, 0.0, 0.0, I, draft_tokens=draft_tokens)
        return step / accepted

    b = np.minimum(c / units_d, cap)
    lam = np.zeros_like(I + c)
    for _ in range(ITERATIONS):
        itl = token_latency(b)
        rho = np.minimum(lam * per_request / units_p, 0.999)
        wait = np.minimum(rho * per_request / (2.0 * (1.0 - rho)), c * per_request / units_p)
        ttft = overhead + wait + alone + transfer + itl
        cycle = ttft + (O - 1.0) * itl
        lam_new = np.minimum.reduce([c / cycle, units_p / per_request, units_d * cap / np.maximum((O - 1.0) * itl, 1e-12)])
        previous, lam = lam, (lam_new if not lam.any() else (1.0 - DAMPING) * lam + DAMPING * lam_new)
        b = np.clip(lam * (O - 1.0) * itl / units_d, np.minimum(1.0, c / units_d), cap)
        if np.all(np.abs(lam - previous) <= CONVERGED * lam):
            break
    itl = token_latency(b)
    rho = np.minimum(lam * per_request / units_p, 0.999)
    wait = np.minimum(rho * per_request / (2.0 * (1.0 - rho)), c * per_request / units_p)
    ttft_served = overhead + wait + alone + transfer + itl
    prefill_cap, decode_cap = units_p / per_request, units_d * cap / np.maximum((O - 1.0) * itl, 1e-12)
    lam = np.minimum.reduce([c / (ttft_served + (O - 1.0) * itl), prefill_cap, decode_cap])
    steady = burst = ttft_served
    if benchmark is not None:
        # The start-up burst: a unit's share of the c prompts, as a staircase of full-budget steps.
        per_unit = np.maximum(c / units_p, 1.0)
        full = np.minimum(M, per_unit * I)
        full_t, _ = replica_step_s(*p_args, 0.0, I, full, full / I, I, draft_tokens=draft_tokens)
        burst = overhead + burst_passes(per_unit, I, M) * full_t + transfer + itl
        ttft_served = benchmark_mean_ttft(ttft_served, burst, benchmark_requests_per_user(benchmark, num_prompts, c))
    # Users the pools cannot serve at once wait before their first token (closed-loop Little's law).
    ttft = np.maximum(ttft_served, c / lam - (O - 1.0) * itl)
    pool_wait = ttft - ttft_served
    if benchmark is not None:
        ttft = ttft + client_slot_wait_s(benchmark, lam)
    limited = np.where(lam >= prefill_cap * 0.999, "prefill", np.where(lam >= decode_cap * 0.999, "decode", "users"))
    return DisaggResult(ttft_s=ttft, itl_s=itl, requests_per_s=lam, prefill_wait_s=wait, prefill_s=alone,
                        transfer_s=np.broadcast_to(transfer, np.shape(ttft)).astype(float), decode_batch=b,
                        prefill_utilisation=lam * per_request / units_p, limited_by=limited,
                        ttft_steady_s=steady, ttft_burst_s=burst, pool_wait_s=pool_wait)


def kv_link(deployment) -> tuple[str, float]:
    """The link a request's KV cache takes (``DisaggregatedDeployment.link``) and its per-direction
    bandwidth, GB/s (None: the network's, ``communication.scale_out_gb_s_per_direction``)."""
    from gpurec_roofline.profile import link_bandwidth_per_direction

    kind = deployment.link
    return kind, (link_bandwidth_per_direction(deployment.prefill.gpu) if kind == "nvlink" else None)


def estimate_disaggregated(model, deployment, workload, prefill_memory, decode_memory, constants=None):
    """A :class:`PerformanceEstimate` of a disaggregated deployment (see the module docstring)."""
    from gpurec_core.errors import EstimationError
    from gpurec_core.models import PerformanceEstimate
    from gpurec_core.model_facts import towers_loaded
    from gpurec_roofline.bands import current_table
    from gpurec_roofline.constants import load_constants
    from gpurec_roofline.estimator import (ESTIMATOR_NAME, fit_problem, request_problem, resolved_efficiency,
                                           scheduling_of)
    from gpurec_roofline.profile import build_profile

    constants = constants or load_constants()
    scheduling = scheduling_of(deployment.engine)
    engine = constants.engine(scheduling, workload.frontend)
    pools = []
    for pool, memory in ((deployment.prefill, prefill_memory), (deployment.decode, decode_memory)):
        problem = fit_problem(model, pool.gpu, pool.parallelism, memory) or request_problem(
            memory, workload.input_length, workload.output_length)
        if problem is not None:
            raise EstimationError(f"{pool.role} pool: {problem}")
        profile = build_profile(model.config, model.parameters, workload.precision, pool.gpu, pool.parallelism,
                                towers_loaded(model, workload.text_only))
        pools.append(PoolTiming(profile=profile, efficiency=resolved_efficiency(constants.efficiency_for(pool.gpu),
                                                                                profile, scheduling),
                                units=np.asarray(pool.workers * pool.parallelism.data_parallel_size, float),
                                kv_tokens=float(memory.kv_cache_tokens),
                                max_batch=np.asarray(pool.max_batch or np.inf, float)))
    comm = constants.communication
    kind, link = kv_link(deployment)
    bandwidth = (link or comm.scale_out_gb_s_per_direction) * 1e9 * comm.link_efficiency
    per_token = prefill_memory.kv_bytes_per_token / bandwidth
    budget = scheduler_limits(workload, prefill_memory, engine)[0]  # the prefill pool's token budget
    seqs = scheduler_limits(workload, decode_memory, engine)[1]  # the decode pool's running requests
    r = serve_disaggregated(pools[0], pools[1], comm, engine, constants.kernels, workload.input_length,
                            workload.output_length, workload.concurrency, budget, seqs, per_token,
                            comm.kv_transfer_latency_us * 1e-6, constants.benchmark, workload.speculative_tokens,
                            workload.tokens_per_step, workload.num_prompts)

    def one(x) -> float:
        return float(np.asarray(x, dtype=float).reshape(-1)[0])
    ttft, itl, rps = one(r.ttft_s) * 1e3, one(r.itl_s) * 1e3, one(r.requests_per_s)
    O, I = workload.output_length, workload.input_length
    breakdown = {"prefill_wait": one(r.prefill_wait_s) * 1e3, "prefill": one(r.prefill_s) * 1e3,
                 "kv_transfer": one(r.transfer_s) * 1e3, "decode_step": itl, "ttft": ttft,
                 "ttft_steady": one(r.ttft_steady_s) * 1e3, "ttft_startup_burst": one(r.ttft_burst_s) * 1e3,
                 "ttft_request_overhead": engine.request_overhead_ms,
                 "decode_batch_per_unit": one(r.decode_batch), "prefill_utilisation": one(r.prefill_utilisation),
                 "ttft_pool_wait": one(r.pool_wait_s) * 1e3}
    limited = str(np.asarray(r.limited_by).reshape(-1)[0])
    limit = "the users (neither pool is full)"
    if limited != "users":
        decoding = one(r.decode_batch) * float(np.asarray(pools[1].units).reshape(-1)[0])  # per decode unit x units
        limit = (f"the {limited} pool: {decoding:,.0f} requests decode at a time, so about "
                 f"{max(workload.concurrency - decoding, 0):,.0f} of the {workload.concurrency:,} users wait before "
                 f"their first token ({breakdown['ttft_pool_wait'] / 1e3:,.1f} s of the {ttft / 1e3:,.1f} s TTFT)")
    notes = (f"KV cache over {kind} ({'%.0f GB/s' % (bandwidth / 1e9)} per GPU at the link efficiency); "
             f"throughput limited by {limit}",)
    return PerformanceEstimate(
        time_to_first_token_ms=ttft, inter_token_latency_ms=itl, throughput_tokens_per_sec=rps * O,
        input_tokens_per_sec=rps * I, requests_per_sec=rps, e2e_latency_ms=ttft + (O - 1) * itl,
        max_batch_size=int(one(r.decode_batch)), concurrency=workload.concurrency, bottleneck="memory",
        estimator=ESTIMATOR_NAME, breakdown={k: round(v, 6) for k, v in breakdown.items()}, notes=notes,
        bands=current_table().disaggregated_bands())
