"""Steady state of a continuous-batching engine serving ``c`` users in a closed loop (vectorised).

Each user sends a request of ``I`` prompt tokens, waits for its ``O`` output tokens, and sends the
next one at once. Per replica the engine runs at most ``B = min(c, KV-pool requests,
max_num_seqs)`` requests; the rest queue. A request holds its slot for its prefill (a few steps)
and then ``O - 1`` decode steps (its first token comes out of the prefill step), so in steady
state a step completes ``mu = B / (n_p + O - 1)`` requests and decodes ``d = mu (O - 1)``
sequences (Little's law over steps). New prompts enter at the same rate:

* engines that mix chunked prefill into decode steps (vLLM V1, TensorRT-LLM in-flight batching)
  run one token budget ``M`` per step: the running requests first (one token per decode), then the
  waiting prompts chunked into the remaining ``b = M - d`` tokens (vLLM v1/core/sched/scheduler.py;
  Agrawal et al., Sarathi-Serve, OSDI 2024). A prompt takes ``n = ceil(I / b)`` steps, ``n - 1`` of
  them full and a last one with the rest (:func:`prompt_chunks`). The mean step is a plain decode
  step plus ``mu`` prompts' chunk time, or, once every step carries prefill, a step with ``mu I``
  prompt tokens; that is what raises the inter-token latency as concurrency grows. TTFT =
  request overhead + the step in flight at arrival (``arrival_wait_steps`` x E[T^2]/E[T], the
  length-biased step) + the prompt's own chunk steps. Every term is steps x step time.
* prefill-first engines (SGLang's default scheduler) stop decoding while a prefill batch runs, so
  every decoding request also waits for the prefills of the requests that arrive meanwhile, and
  the users fall into lockstep clusters (:func:`prefill_cluster_wait_s`).

A closed-loop benchmark starts all users at once; the start-up burst is prefilled as a staircase
of full-budget steps (:func:`burst_passes`) and is one request in ``requests_per_user`` of the
measured mean, which :func:`serve` reports as TTFT (``ttft_steady_s`` and ``ttft_burst_s`` keep
the two apart). When ``c > B`` users queue: requests complete at ``lambda = B / (TTFT + (O-1)
ITL)`` and a user's cycle is ``c / lambda``, so TTFT = ``c / lambda - (O - 1) ITL`` (closed-loop
Little's law; this is how a saturated server's TTFT reaches tens of seconds in NVIDIA's NIM tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpurec_roofline.constants import (BenchmarkConstants, CommunicationConstants, EngineConstants, GenerationEfficiency,
                                       KernelConstants)
from gpurec_roofline.profile import DeploymentProfile
from gpurec_roofline.step import draft_pass_s, step_time_s

#: Fixed-point iterations of the steady-state solver (over-relaxed by SOLVER_RELAXATION): within 0.01 %
#: of the converged value on every measured row, and within 2 % (p99.9 1 %) on a random sweep of
#: lengths, users and KV limits (tests/test_roofline.py checks both).
SOLVER_ITERATIONS = 6
#: Over-relaxation of the steps-before-decoding iterate: the map contracts monotonically by about
#: half per iteration, so stepping 1.3x past each update converges in 6 instead of 10.
SOLVER_RELAXATION = 1.3
#: Prefill-first engines: a request arriving in a closed loop lands while a step is in flight and
#: waits for it to end, half a step on average (uniform arrival within the step).
WAIT_FRACTION_OF_STEP = 0.5


@dataclass
class ServingResult:
    """Per-replica steady state, arrays broadcast over the inputs (seconds and counts)."""

    ttft_s: np.ndarray
    itl_s: np.ndarray
    requests_per_s: np.ndarray
    batch: np.ndarray
    decode_seqs: np.ndarray
    prefill_tokens_per_step: np.ndarray
    queued: np.ndarray
    prefill_s: np.ndarray
    prefill_utilisation: np.ndarray
    parts: dict[str, np.ndarray]
    ttft_steady_s: np.ndarray
    ttft_burst_s: np.ndarray
    front_end_wait_s: np.ndarray


def replica_step_s(profile: DeploymentProfile, eff, comm, engine, kernels, decode_seqs, context, prefill_tokens,
                   prefill_seqs, prompt_length, others=None, draft_tokens=0.0):
    """Time for every running sequence of a replica to advance one step. ``others``: the tokens each
    other busy data-parallel rank runs in the same step (:func:`gpurec_roofline.step.step_time_s`).

    With speculative decoding (``draft_tokens`` k > 0) a step verifies in one target pass of 1 + k
    tokens per decoding sequence and drafts k tokens per sequence, one draft pass after another
    (:func:`gpurec_roofline.step.draft_pass_s`: vLLM's EAGLE/MTP proposer and SGLang's EAGLE worker
    run the draft module once per draft token), the first of them over every token of the step,
    prompt chunks included; the ``draft`` part holds the draft passes.

    Without pipeline parallelism this is one step. With P stages the engine splits the batch into
    P micro-batches that flow through the stages, so a sequence's next token needs P stage-steps
    of a 1/P batch plus P-1 activation transfers (GPipe-style; bubbles appear when the batch is
    smaller than P because a micro-batch cannot hold less than one sequence).

    A stacked profile (an array of P, one per row) takes the P-stage path for every row when any
    row has P > 1; for P = 1 it gives the same numbers (micro = d, total = stage) and a zero
    ``pipeline`` part.
    """
    P = profile.pipeline_stages
    d = np.asarray(decode_seqs, float)
    k = np.asarray(draft_tokens, float)
    queries = 1.0 + k
    if np.all(P == 1):
        total, parts = step_time_s(profile, eff, comm, engine, kernels, d, context, prefill_tokens, prefill_seqs,
                                   prompt_length, others, queries)
    else:
        micro = np.maximum(d / P, np.minimum(d, 1.0))
        stage, parts = step_time_s(profile, eff, comm, engine, kernels, micro, context,
                                   np.asarray(prefill_tokens, float) / P, np.asarray(prefill_seqs, float) / P,
                                   prompt_length, None if others is None else np.asarray(others, float) / P, queries)
        total = P * stage + (P - 1) * comm.p2p_latency_us * 1e-6
        parts = {name: P * v for name, v in parts.items()}
        parts["pipeline"] = np.broadcast_to((P - 1) * comm.p2p_latency_us * 1e-6, np.shape(total)).astype(float)
    if np.any(k > 0):
        first = draft_pass_s(profile, eff, comm, engine, kernels, d, context, prompt_length, prefill_tokens,
                             prefill_seqs, queries)
        later = draft_pass_s(profile, eff, comm, engine, kernels, d, context, prompt_length)
        parts["draft"] = np.where(k > 0, first + np.maximum(k - 1.0, 0.0) * later, 0.0)
        total = total + parts["draft"]
    return total, parts


def scheduler_limits(workload, memory, engine: EngineConstants) -> tuple[int, int]:
    """(prompt-token budget per step, cap on running requests) of a deployment: the workload's; else
    those its memory plan runs the engine with, which are the engine's defaults on that GPU (vLLM's
    get_batch_defaults: 2,048 tokens and 256 requests below 70 GiB and on A100; SGLang's
    chunked_prefill_size by GPU memory, 16,384 from 160 GiB; TensorRT-LLM's max_num_tokens and
    max_batch_size); else the estimator's fallback for the engine (``EngineConstants``)."""
    tokens = workload.max_num_batched_tokens or memory.max_num_batched_tokens or engine.max_num_batched_tokens
    seqs = workload.max_num_seqs or memory.max_num_seqs or engine.max_num_seqs
    return int(tokens), int(seqs)


def users_per_replica(concurrency, replicas):
    """(users on each data-parallel replica, the factor from one replica's request rate to the
    deployment's): ``ceil(c / r)`` users each, and ``c / ceil(c / r)`` (every user at the rate of a
    replica holding that many). The factor is ``r`` when r divides c; with fewer users than replicas
    only ``c`` replicas are busy, so one user on eight DP ranks is not eight users' throughput."""
    c = np.asarray(concurrency, float)
    users = np.ceil(c / np.asarray(replicas, float))
    return users, c / users


def prefill_cluster_wait_s(users, prefill_s, engine: EngineConstants):
    """Mean wait of a prompt behind the prompts that arrive together with it (prefill-first engines).

    A prefill-first scheduler (SGLang's default) stops decoding to run a batch of new prompts, so
    requests that arrive while a prefill batch runs are batched together next time, and the
    population locks into clusters that finish, and so re-send, in the same step; a prompt then
    waits for half of its cluster's other prefills: W = clustering x (c^exponent - 1) x S, capped at
    (c - 1)/2 x S (every user in one cluster). The lockstep is complete (exponent 1) with
    coefficient 1/2, the average position in a queue of c prefills; roofline.toml holds both.
    """
    c = np.maximum(np.asarray(users, float), 1.0)
    S = np.maximum(np.asarray(prefill_s, float), 0.0)
    wait = engine.prefill_clustering * (np.power(c, engine.prefill_clustering_exponent) - 1.0) * S
    return np.minimum(wait, (c - 1.0) / 2.0 * S)


def prompt_chunks(prompt_length, budget):
    """Chunks of a prompt under a per-step prefill budget, and the size of its last chunk.

    vLLM V1 and TensorRT-LLM give a prompt ``min(remaining, budget)`` tokens per step, so an
    ``I``-token prompt takes ``n = ceil(I / budget)`` steps: ``n - 1`` full-budget chunks and a
    last chunk of ``I - (n - 1) x budget`` tokens (e.g. 8,192 tokens with 64 decodes in an 8,192
    budget: 8,128 + 64, not two full steps).
    """
    I = np.asarray(prompt_length, float)
    n = np.maximum(1.0, np.ceil(I / budget))
    return n, I - (n - 1.0) * budget


def burst_passes(users, prompt_length, max_num_batched_tokens):
    """Mean number of full-budget steps before a request of the start-up burst gets its first token.

    A closed-loop benchmark starts all ``c`` users at once; FCFS chunked prefill serves the burst
    as a staircase, the k-th prompt finishing after ``ceil(k x)`` steps, x = I / M (aiconfigurator's
    queueing model, docs/design/queueing_model.md: "transient window = initial concurrency
    burst"). With x = n + r (n whole steps, r the fraction of a step), the mean over k = 1..c is
    x (c + 1) / 2 + h, where h is the mean rounding-up of the fractional parts k r:
    1 - r (c + 1)/2 when the whole burst's fractions fit one step (c r <= 1), (1 - r)(c + 1)/2 when
    they each need their own (c (1 - r) < 1), and (1 - 1/q)/2 otherwise (k r spread evenly over
    the q = M / gcd(I, M) possible fractions; exact when q divides c).
    """
    I = np.maximum(np.rint(np.asarray(prompt_length, float)), 1.0)
    M = np.maximum(np.rint(np.asarray(max_num_batched_tokens, float)), 1.0)
    c = np.maximum(np.asarray(users, float), 1.0)
    x = I / M
    r = x - np.floor(x)
    q = M / np.gcd(I.astype(np.int64), M.astype(np.int64))
    h = np.where(r <= 0.0, 0.0,
                 np.where(c * r <= 1.0, 1.0 - r * (c + 1.0) / 2.0,
                          np.where(c * (1.0 - r) < 1.0, (1.0 - r) * (c + 1.0) / 2.0, (1.0 - 1.0 / q) / 2.0)))
    return x * (c + 1.0) / 2.0 + h


def benchmark_requests_per_user(benchmark: BenchmarkConstants, num_prompts, users):
    """Requests each closed-loop user sends in the measured run: ``num_prompts / users`` (the deployment's
    users) where the run's request count is known (vllm bench serve sends ``--num-prompts`` through
    ``--max-concurrency`` slots), else ``benchmark.requests_per_user`` (``num_prompts`` None, or nan entries)."""
    n = np.asarray(np.nan if num_prompts is None else num_prompts, float)
    return np.where(np.isnan(n), benchmark.requests_per_user, np.maximum(n / np.maximum(users, 1.0), 1.0))


def benchmark_mean_ttft(steady, burst, requests_per_user):
    """The mean TTFT a closed-loop benchmark reports: one request per user in ``requests_per_user``
    is its first, sent in the start-up burst (``burst``, never less than a steady request's); the
    rest see the running server (``steady``)."""
    w = 1.0 / requests_per_user
    return (1.0 - w) * steady + w * np.maximum(burst, steady)


def client_slot_wait_s(benchmark: BenchmarkConstants, completions_per_s):
    """Time a request spends on the benchmark client's TTFT clock before it is sent:
    ``benchmark.client_slot_wait`` inter-completion gaps of the whole deployment, ``1 / lambda``.

    A client that keeps every concurrency slot busy and creates the next request before a slot frees
    (timing it from creation) makes it wait for the next completion, one gap; vllm bench serve starts
    the clock after it takes a slot, so none (roofline.toml ``[benchmark]``). Measured TTFT then grows
    with the output length by ``delta(O x ITL) / c`` at fixed prompt and users, which is how a user's
    runs show it to ``gpurec calibrate``."""
    rate = np.maximum(np.asarray(completions_per_s, float), 1e-12)
    return benchmark.client_slot_wait / rate


def budget_backlog_steps(batch, input_length, decode_steps, max_num_batched_tokens, queries_per_seq=1.0):
    """Steps an admitted request of a mixed-step engine waits for prefill budget before decoding:
    ``B / mu_budget - G`` with ``mu_budget = M / (I + G q)`` completions per step when every step is
    full, ``G`` the request's decode steps (``O - 1``, or ``(O - 1) / a`` with speculative decoding)
    and ``q`` the budget tokens each takes (1, or 1 + the draft tokens: vLLM's scheduler charges a
    running request its spec tokens); 0 when the budget does not bind."""
    G = np.asarray(decode_steps, float)
    mu_budget = np.asarray(max_num_batched_tokens, float) / (np.asarray(input_length, float)
                                                             + G * np.asarray(queries_per_seq, float))
    return np.maximum(0.0, np.asarray(batch, float) / mu_budget - G)


def admitted_requests(engine: EngineConstants, kv_cache_tokens, input_length, output_length):
    """Requests a replica's KV pool of ``kv_cache_tokens`` keeps running at once, by the engine's
    admission rule (``EngineConstants.admission``, sourced in roofline.toml).

    * ``full_reservation`` (TensorRT-LLM's GUARANTEED_NO_EVICT): every running request holds blocks
      for its whole ``I + O`` tokens, so ``floor(pool / (I + O))`` run.
    * ``current_tokens`` (vLLM V1): a request holds blocks only for the tokens it has; at staggered
      stages a running request holds ``I + O/2`` on average (Kwon et al., PagedAttention, SOSP 2023),
      so the pool sustains ``floor(pool / (I + O/2))`` running requests. vLLM admits more when their
      prompts fit and preempts the excess as the running ones grow: the engine's throughput is that
      of the sustained batch.
    * ``reserve_ratio`` (SGLang ``PrefillAdder.add_one_req``): a newcomer is admitted only when its
      prompt and its whole output ``C = min(O, reserve_clip_tokens)`` fit beside what the running
      requests hold (``I + O/2`` each) and still reserve (``r x min(O/2, C)`` each, r the decayed
      ``new_token_ratio``): ``n = floor((pool - I - C) / (I + O/2 + r min(O/2, C))) + 1`` run.
    """
    I = np.asarray(input_length, float)
    O = np.asarray(output_length, float)
    pool = np.asarray(kv_cache_tokens, dtype=float)
    if engine.admission == "reserve_ratio":
        clip = np.minimum(O, float(engine.reserve_clip_tokens))
        held = I + O / 2.0 + engine.reserve_ratio * np.minimum(O / 2.0, clip)
        fits = pool >= I + clip
        return np.where(fits, np.floor_divide(np.maximum(pool - I - clip, 0.0), np.maximum(1.0, held)) + 1.0, 0.0)
    held = I + O if engine.admission == "full_reservation" else I + O / 2.0
    return np.floor_divide(pool, np.maximum(1.0, held))


def wait_before_first_token(engine: EngineConstants, input_length, output_length):
    """Share of a queued request's wait for KV space that falls before its first token.

    ``full_reservation`` and ``reserve_ratio`` engines admit nothing until the request's (estimated)
    need fits, so all of the wait is TTFT. ``current_tokens`` engines admit a request once its prompt fits and it gets its first
    token; the newest running request is the first to be preempted when the others grow (vLLM V1
    Scheduler.schedule; SGLang retract_decode), so the rest of the wait comes as stalls between
    output tokens (in the measured ITL). The split is taken as the share of a request's mean KV
    footprint it needs before its first token, ``I / (I + O/2)``: the wait for space is shared in
    proportion to the space each phase holds. This split is a modelling assumption (not fitted);
    the total wait, and so the throughput, does not depend on it.
    """
    I = np.asarray(input_length, float)
    O = np.asarray(output_length, float)
    if engine.admission != "current_tokens":
        return np.ones_like(I + O)
    return np.where(O > 1.0, I / np.maximum(I + O / 2.0, 1.0), 1.0)


def closed_loop_throughput(users: float, output_length: float, ttft_ms: float, itl_ms: float) -> float:
    """Output tokens/s of ``users`` in a closed loop, each completing one request of ``output_length`` tokens per
    TTFT + (output_length - 1) ITL (Little's law)."""
    return users * output_length / (ttft_ms + (output_length - 1) * itl_ms) * 1e3


def delivered_requests_per_s(engine: EngineConstants, completions_per_s, output_length):
    """Completions per second once the front end has streamed every output token: at most
    ``delivery_tokens_per_s / O`` per replica (``EngineConstants.delivery_tokens_per_s``, the
    front end's ceiling; none when it is not known).

    Every streamed token passes one process of the front end (its per-token work runs on one core),
    so its rate does not grow with the GPU or the model: a single Python API server of an engine
    delivers about 11.5k chunks/s whatever the model or GPU count (ROCm/ATOM PR #1837), and one
    NVIDIA Dynamo frontend replica saturates at a fixed request rate past which requests queue in its
    request plane and TTFT rises by orders of magnitude (ai-dynamo/dynamo issue #9466). In a closed loop
    the users' cycle then stretches to ``c / rate``; the requests wait before the engine sees them, so
    the extra time is TTFT (:func:`serve`)."""
    rate = np.asarray(completions_per_s, float)
    if engine.delivery_tokens_per_s is None:
        return rate
    return np.minimum(rate, engine.delivery_tokens_per_s / np.maximum(np.asarray(output_length, float), 1.0))


def serial_bound_s(args, input_length, output_length, users, chunks, overhead, decode_steps, draft_tokens=0.0):
    """Physical ceiling on TTFT: every other user's request prefilled and decoded one after another
    before this one, then this one's prefill: ``(c - 1)(P + G D) + P`` with ``P`` one prompt's
    prefill alone (its chunks), ``D`` a decode step of one sequence and ``G`` a request's decode
    steps (``O - 1``; fewer with speculative decoding). No scheduler that keeps the GPU busy can make
    a request wait longer than that."""
    I, O, c = input_length, output_length, users
    chunk = I / chunks
    prefill_t, _ = replica_step_s(*args, 0.0, I, chunk, 1.0, I, draft_tokens=draft_tokens)
    decode_t, _ = replica_step_s(*args, 1.0, I + O / 2.0, 0.0, 0.0, I, draft_tokens=draft_tokens)
    one = overhead + chunks * prefill_t
    return (c - 1.0) * (one + decode_steps * decode_t) + one


def serve(profile: DeploymentProfile, eff: GenerationEfficiency, comm: CommunicationConstants,
          engine: EngineConstants, kernels: KernelConstants, input_length, output_length, users, kv_cache_tokens,
          max_num_batched_tokens, max_num_seqs, benchmark: BenchmarkConstants, replicas=1.0,
          draft_tokens=0.0, acceptance_length=1.0, num_prompts=None) -> ServingResult:
    """Solve the closed-loop steady state of one replica (all arguments broadcast as numpy arrays);
    ``replicas`` (the busy data-parallel copies of it behind one client) only sets the client's gap between
    completions (:func:`client_slot_wait_s`); ``num_prompts`` (the measured run's requests in all, None or nan:
    not recorded) the start-up burst's share of the reported mean TTFT (:func:`benchmark_requests_per_user`).

    Speculative decoding (``draft_tokens`` k > 0): a decode step drafts k tokens per sequence and
    verifies them (:func:`replica_step_s`), and a sequence advances ``acceptance_length`` a tokens per
    step on average (the accepted drafts and the verifier's own token; Leviathan et al. 2023), so a
    request decodes in ``G = (O - 1) / a`` steps, takes 1 + k budget tokens a step, and its
    inter-token latency is the step over a. Every step count of the loop below is in steps.
    """
    I = np.maximum(np.asarray(input_length, float), 1.0)
    O = np.maximum(np.asarray(output_length, float), 1.0)
    k = np.asarray(draft_tokens, float)
    a = np.maximum(np.asarray(acceptance_length, float), 1.0)
    queries = 1.0 + k  # budget tokens (and verified tokens) per decoding sequence per step
    G = (O - 1.0) / a  # decode steps per request
    spread = np.where(O > 1.0, G, 1.0)  # steps a request's decode phase spreads a wait or a share over
    c = np.maximum(np.asarray(users, float), 1.0)
    M = np.maximum(np.asarray(max_num_batched_tokens, float), 1.0)
    kv_limit = admitted_requests(engine, kv_cache_tokens, I, O)
    seq_limit = np.asarray(max_num_seqs, float)
    B = np.maximum(np.minimum(np.minimum(c, kv_limit), seq_limit), 1.0)
    kv_binds = kv_limit < np.minimum(c, seq_limit)  # else max_num_seqs holds the rest back before admission
    queued = c > B
    context = I + O / 2.0  # mean KV length of a decoding sequence
    chunks = np.maximum(1.0, np.ceil(I / M))
    n_p = chunks.copy()  # steps a request holds its slot before decoding
    args = (profile, eff, comm, engine, kernels)

    def step(*batch, others=None):
        return replica_step_s(*args, *batch, others, draft_tokens=k)
    overhead = engine.request_overhead_ms / 1e3
    # Data-parallel ranks of one MoE engine (wide EP) run every step together; another busy rank
    # keeps the group stepping even when this rank's users are all waiting or new.
    lockstep = np.asarray(profile.expert_token_multiplier, float) > 1.0

    for _ in range(SOLVER_ITERATIONS):
        mu_slots = B / (n_p + G)
        mu_budget = M / (I + G * queries)  # the prefill token budget binds: every step is full
        mu = np.minimum(mu_slots, mu_budget)
        d = mu * G
        if engine.prefill_first:
            # Lockstep: all B requests decode together; their prompts are prefilled in batches of
            # up to M tokens while decoding pauses, so prefill time shows in TTFT, not in ITL.
            d = B * G / (n_p + G)
            # Another busy DP rank (wide EP) runs its mean step alongside: its decodes and the prompt
            # tokens a rank prefills per step on average (mu x I), whatever this rank runs.
            neighbour_tokens = d + mu * I
            decode_t, _ = step(B, context, 0.0, 0.0, I, others=neighbour_tokens)
            batch_tokens = np.minimum(M, I * B)
            prefill_t, _ = step(0.0, context, batch_tokens, batch_tokens / I, I, others=neighbour_tokens)
            per_request = prefill_t * I / batch_tokens  # GPU time one request's prefill costs
            # The lockstep is imperfect: a share of the other users' prefill batches runs while a
            # request decodes, spread over its O - 1 tokens.
            itl = decode_t + engine.prefill_in_decode_fraction * B * per_request / spread
            own = prefill_t * chunks
            queue = np.maximum(0.0, prefill_cluster_wait_s(B, per_request, engine)
                               - prefill_cluster_wait_s(batch_tokens / I, per_request, engine))
            step_wait = WAIT_FRACTION_OF_STEP * itl
            ttft_svc = overhead + step_wait + queue + own
        else:
            # Mixed steps (vLLM V1, TensorRT-LLM): decodes take one budget token each, first;
            # prompts are chunked into the rest, b = M - d tokens per step.
            budget = np.maximum(M - d * queries, 1.0)
            n_chunks, last = prompt_chunks(I, budget)
            neighbour_tokens = d * queries + mu * I  # another busy DP rank's mean step (wide EP), as above
            plain_t, _ = step(d, context, 0.0, 0.0, I, others=neighbour_tokens)
            full_t, _ = step(d, context, budget, 1.0, I, others=neighbour_tokens)
            # The prompt's last chunk shares its step with the prompts that arrived with it
            # (mu x I tokens per step on average).
            co_tokens = np.minimum(budget - last, mu * I)
            ride_t, _ = step(d, context, last + co_tokens, 1.0 + co_tokens / I, I, others=neighbour_tokens)
            shared_tokens = np.minimum(budget, mu * I)
            shared_t, _ = step(d, context, shared_tokens, shared_tokens / I, I, others=neighbour_tokens)
            # GPU time one prompt adds to the steps it rides in: its full chunks, and its share of
            # the last step (prefill time is linear in tokens once compute-bound)
            per_request = ((n_chunks - 1.0) * (full_t - plain_t)
                           + (ride_t - plain_t) * last / np.maximum(last + co_tokens, 1.0))
            # Mean step: prompts arrive mu per step; while their chunks rarely meet (mu x chunks < 1)
            # each adds its own chunk time to an otherwise plain decode step; once every step carries
            # prefill, each step holds mu x I prompt tokens.
            sparse = mu * n_chunks < 1.0
            itl = np.where(sparse, plain_t + mu * per_request, shared_t)
            # The step in flight when the prompt arrives is length-biased (inspection paradox): a
            # step lasting T is met with probability ~ T, so it lasts E[T^2] / E[T] on average.
            second = np.where(sparse, (1.0 - mu * n_chunks) * plain_t ** 2 + mu * (n_chunks - 1.0) * full_t ** 2
                              + mu * ride_t ** 2, shared_t ** 2)
            in_flight = second / np.maximum(np.where(sparse, (1.0 - mu * n_chunks) * plain_t
                                                     + mu * (n_chunks - 1.0) * full_t + mu * ride_t, shared_t), 1e-12)
            # TTFT: waiting for (part of) the step in flight, then the prompt's own chunks: n - 1 full
            # steps and the last step. A lone user finds the engine idle: a step is in flight only
            # when another request is in the engine (always, in a closed loop of two or more), or
            # when other data-parallel ranks of the same MoE engine are busy: the ranks step in
            # lockstep, an idle one running dummy batches (vLLM docs, data_parallel_deployment).
            own = (n_chunks - 1.0) * full_t + ride_t
            busy = np.where(lockstep, 1.0, np.minimum(1.0, B - 1.0))
            step_wait = engine.arrival_wait_steps * busy * in_flight
            ttft_svc = overhead + step_wait + own
        # When the prefill budget binds (B requests would need more prompt tokens per step than M),
        # completions are held to mu_budget per step and admitted requests wait inside the engine
        # for budget: they hold their slot B / mu_budget - (O - 1) steps before decoding. Written
        # without a branch on the previous iterate, so the fixed point cannot oscillate.
        if not engine.prefill_first:
            backlog = budget_backlog_steps(B, I, G, M, queries) * itl
            ttft_svc = np.maximum(ttft_svc, overhead + backlog)
        n_p = np.maximum(chunks, n_p + SOLVER_RELAXATION * (ttft_svc / np.maximum(itl, 1e-12) - n_p))

    cycle = ttft_svc + G * itl
    lam = np.where(queued, B / cycle, c / cycle)
    # Users beyond the batch wait (c / lambda - cycle per request, closed-loop Little's law); where
    # that wait shows depends on the engine's admission (wait_before_first_token).
    wait = np.where(queued, np.maximum(0.0, c / lam - cycle), 0.0)
    before = np.where(kv_binds, wait_before_first_token(engine, I, O), 1.0)
    ttft_run = ttft_svc
    burst = ttft_svc
    if not engine.prefill_first:
        # The benchmark's mean TTFT includes its start-up burst (all users arriving at once), one
        # request in requests_per_user of them; prefill-first engines are in that lockstep anyway.
        burst_tokens = np.minimum(M, B * I)
        # every rank's users arrive at t = 0: the busy ranks prefill together
        burst_t, _ = replica_step_s(*args, 0.0, I, burst_tokens, burst_tokens / I, I, burst_tokens, draft_tokens=k)
        burst = overhead + burst_passes(B, I, M) * burst_t
        per_user = benchmark_requests_per_user(benchmark, num_prompts, c * np.asarray(replicas, float))
        ttft_run = benchmark_mean_ttft(ttft_svc, burst, per_user)
    ttft = np.where(queued, ttft_svc + before * wait, ttft_run)
    stall = np.where(queued, (1.0 - before) * wait / np.maximum(O - 1.0, 1.0), 0.0)  # per output token
    # A front end that cannot stream the tokens as fast as the engine makes them holds requests back
    # before the engine: the users' longer cycle is TTFT.
    delivered = delivered_requests_per_s(engine, lam, O)
    held = c / delivered - c / lam
    ttft = ttft + held
    lam = delivered
    # The serial ceiling counts this rank's users only; ranks in lockstep add the step in flight.
    ttft = np.minimum(ttft, serial_bound_s(args, I, O, c, chunks, overhead, G, k) + np.where(lockstep, step_wait, 0.0))
    ttft = ttft + client_slot_wait_s(benchmark, lam * np.asarray(replicas, float))
    _, parts = step(d, context, 0.0, 0.0, I, others=neighbour_tokens)
    utilisation = mu * per_request / np.maximum(itl, 1e-12)
    itl = itl / a + stall  # per output token: a step advances a sequence by a tokens
    return ServingResult(ttft_s=ttft, itl_s=itl, requests_per_s=lam, batch=B, decode_seqs=d,
                         prefill_tokens_per_step=mu * I, queued=queued, prefill_s=per_request,
                         prefill_utilisation=utilisation, parts=parts,
                         ttft_steady_s=np.where(queued, ttft, ttft_svc + held), ttft_burst_s=burst,
                         front_end_wait_s=held)
