"""Steady state of a continuous-batching engine serving ``c`` users in a closed loop (vectorised).

Each user sends a request of ``I`` prompt tokens, waits for its ``O`` output tokens, and sends the
next one at once. Per replica the engine runs at most ``B = min(c, KV-pool requests,
max_num_seqs)`` requests; the rest queue. A request holds its slot for its prefill (a few steps)
and then ``O - 1`` decode steps (its first token comes out of the prefill step), so in steady
state a step completes ``mu = B / (n_p + O - 1)`` requests and decodes ``d = mu (O - 1)``
sequences (Little's law over steps). New prompts enter at the same rate:

* engines that mix chunked prefill into decode steps (vLLM V1, TensorRT-LLM in-flight batching)
  put ``mu I`` prompt tokens into an average step, up to the token budget ``M`` (Agrawal et al.,
  Sarathi-Serve, OSDI 2024); a fraction ``f`` of steps carries a prefill and those steps are
  slower, which is what raises the mean inter-token latency as concurrency grows;
* prefill-first engines (SGLang's default scheduler) stop decoding while a prefill batch runs, so
  every decoding request also waits for the prefills of the requests that arrive meanwhile.

TTFT = request overhead + waiting for the step in flight + the prefill step(s). When ``c > B``
users queue: requests complete at ``lambda = B / (TTFT + (O-1) ITL)`` and a user's cycle is
``c / lambda``, so TTFT = ``c / lambda - (O - 1) ITL`` (closed-loop Little's law; this is how a
saturated server's TTFT reaches tens of seconds in NVIDIA's NIM tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpurec_roofline.constants import CommunicationConstants, EngineConstants, GenerationEfficiency, KernelConstants
from gpurec_roofline.profile import DeploymentProfile
from gpurec_roofline.step import step_time_s

#: Fixed-point iterations of the steady-state solver (it converges in 4-6 on every measured row).
SOLVER_ITERATIONS = 12
#: A request arriving in a closed loop lands while a step is in flight and waits for it to end:
#: half a step on average (uniform arrival within the step).
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


def replica_step_s(profile: DeploymentProfile, eff, comm, engine, kernels, decode_seqs, context, prefill_tokens,
                   prefill_seqs, prompt_length):
    """Time for every running sequence of a replica to advance one token.

    Without pipeline parallelism this is one step. With P stages the engine splits the batch into
    P micro-batches that flow through the stages, so a sequence's next token needs P stage-steps
    of a 1/P batch plus P-1 activation transfers (GPipe-style; bubbles appear when the batch is
    smaller than P because a micro-batch cannot hold less than one sequence).
    """
    P = profile.pipeline_stages
    d = np.asarray(decode_seqs, float)
    if P == 1:
        return step_time_s(profile, eff, comm, engine, kernels, d, context, prefill_tokens, prefill_seqs, prompt_length)
    micro = np.maximum(d / P, np.minimum(d, 1.0))
    stage, parts = step_time_s(profile, eff, comm, engine, kernels, micro, context, np.asarray(prefill_tokens, float) / P,
                               np.asarray(prefill_seqs, float) / P, prompt_length)
    total = P * stage + (P - 1) * comm.p2p_latency_us * 1e-6
    parts = {k: P * v for k, v in parts.items()}
    parts["pipeline"] = np.broadcast_to((P - 1) * comm.p2p_latency_us * 1e-6, np.shape(total)).astype(float)
    return total, parts


def prefill_cluster_wait_s(users, prefill_s, engine: EngineConstants):
    """Mean wait of a prompt behind the prompts that arrive together with it.

    In a closed loop with equal request lengths users drift into clusters that finish, and so
    re-send, in the same step; a prompt then waits for half of its cluster's other prefills:
    W = clustering x (c^exponent - 1) x S, capped at (c - 1)/2 x S (every user in one cluster).
    For prefill-first schedulers the whole population moves in lockstep (exponent 1, coefficient
    1/2: the average position in a queue of c prefills); for mixed chunked-prefill schedulers the
    clusters grow like the sqrt(c) fluctuation of c independent renewal processes (exponent 1/2),
    with a coefficient fitted per engine (roofline.toml).
    """
    c = np.maximum(np.asarray(users, float), 1.0)
    S = np.maximum(np.asarray(prefill_s, float), 0.0)
    wait = engine.prefill_clustering * (np.power(c, engine.prefill_clustering_exponent) - 1.0) * S
    return np.minimum(wait, (c - 1.0) / 2.0 * S)


def serve(profile: DeploymentProfile, eff: GenerationEfficiency, comm: CommunicationConstants,
          engine: EngineConstants, kernels: KernelConstants, input_length, output_length, users, kv_capacity_requests,
          max_num_batched_tokens, max_num_seqs) -> ServingResult:
    """Solve the closed-loop steady state of one replica (all arguments broadcast as numpy arrays)."""
    I = np.maximum(np.asarray(input_length, float), 1.0)
    O = np.maximum(np.asarray(output_length, float), 1.0)
    c = np.maximum(np.asarray(users, float), 1.0)
    M = np.maximum(np.asarray(max_num_batched_tokens, float), 1.0)
    B = np.maximum(np.minimum(np.minimum(c, np.asarray(kv_capacity_requests, float)), np.asarray(max_num_seqs, float)), 1.0)
    queued = c > B
    context = I + O / 2.0  # mean KV length of a decoding sequence
    chunks = np.maximum(1.0, np.ceil(I / M))
    n_p = chunks.copy()  # steps a request holds its slot before decoding
    args = (profile, eff, comm, engine, kernels)

    for _ in range(SOLVER_ITERATIONS):
        mu_slots = B / (n_p + O - 1.0)
        mu_budget = M / (I + O - 1.0)  # the prefill token budget binds: every step is full
        mu = np.minimum(mu_slots, mu_budget)
        d = mu * (O - 1.0)
        if engine.prefill_first:
            # Lockstep: all B requests decode together; their prompts are prefilled in batches of
            # up to M tokens while decoding pauses, so prefill time shows in TTFT, not in ITL.
            d = B * (O - 1.0) / (n_p + O - 1.0)
            decode_t, _ = replica_step_s(*args, B, context, 0.0, 0.0, I)
            batch_tokens = np.minimum(M, I * B)
            prefill_t, _ = replica_step_s(*args, 0.0, context, batch_tokens, batch_tokens / I, I)
            per_request = prefill_t * I / batch_tokens  # GPU time one request's prefill costs
            # The lockstep is imperfect: a share of the other users' prefill batches runs while a
            # request decodes, spread over its O - 1 tokens.
            itl = decode_t + engine.prefill_in_decode_fraction * B * per_request / np.maximum(O - 1.0, 1.0)
            own = prefill_t * chunks
            queue = np.maximum(0.0, prefill_cluster_wait_s(B, per_request, engine)
                               - prefill_cluster_wait_s(batch_tokens / I, per_request, engine))
        else:
            budget = np.maximum(M - d, 1.0)
            chunks_here = np.maximum(1.0, np.ceil(I / budget))
            f = np.minimum(1.0, mu * chunks_here)  # fraction of steps that carry prefill work
            tokens_in_pf_step = np.minimum(budget, np.maximum(np.minimum(I, budget), mu * I / np.maximum(f, 1e-12)))
            plain_t, _ = replica_step_s(*args, d, context, 0.0, 0.0, I)
            mixed_t, _ = replica_step_s(*args, d, context, tokens_in_pf_step, tokens_in_pf_step / I, I)
            single_t, _ = replica_step_s(*args, d, context, np.minimum(I, budget), 1.0, I)
            itl = (1.0 - f) * plain_t + f * mixed_t
            per_request = (single_t - plain_t) * chunks_here
            own = chunks_here * mixed_t
            queue = prefill_cluster_wait_s(B, per_request, engine)
        ttft_svc = engine.request_overhead_ms / 1e3 + WAIT_FRACTION_OF_STEP * itl + queue + own
        # When the prefill budget binds, admitted requests also wait inside the engine for budget.
        backlog = np.where((mu_slots > mu_budget) & (not engine.prefill_first), B / mu - (O - 1.0), 0.0) * itl
        ttft_svc = np.maximum(ttft_svc, engine.request_overhead_ms / 1e3 + backlog)
        n_p = np.maximum(chunks, ttft_svc / np.maximum(itl, 1e-12))

    cycle = ttft_svc + (O - 1.0) * itl
    lam = np.where(queued, B / cycle, c / cycle)
    ttft = np.where(queued, np.maximum(ttft_svc, c / lam - (O - 1.0) * itl), ttft_svc)
    _, parts = replica_step_s(*args, d, context, 0.0, 0.0, I)
    return ServingResult(ttft_s=ttft, itl_s=itl, requests_per_s=lam, batch=B, decode_seqs=d,
                         prefill_tokens_per_step=mu * I, queued=queued, prefill_s=per_request,
                         prefill_utilisation=mu * per_request / np.maximum(itl, 1e-12), parts=parts)
