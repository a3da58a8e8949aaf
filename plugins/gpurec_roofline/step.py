"""Time of one engine step on one pipeline stage, from its batch composition (numpy, vectorised).

A step of a continuous-batching engine runs ``d`` decode sequences (one token each, at mean
context ``L``) and ``p`` prompt tokens of chunked prefills (whose causal attention covers on
average ``q`` keys per prompt token). Each function below is one term of the step time; every
argument may be a scalar or a numpy array (broadcast together), so a sweep of thousands of
batch shapes costs one call. The profile's fields may be arrays too, one entry per row
(:func:`gpurec_roofline.profile.stack_profiles`): then one call times many deployments at once,
with the same arithmetic per row as a scalar profile.

The roofline (Williams, Waterman & Patterson 2009) is applied per kernel group: a group takes the
longer of its compute time (FLOPs / achievable FLOP/s) and its memory time (bytes / achievable
bytes/s); groups run one after another, so their times add.
"""

from __future__ import annotations

from dataclasses import replace
from statistics import NormalDist

import numpy as np

from gpurec_roofline.constants import CommunicationConstants, EngineConstants, GenerationEfficiency, KernelConstants
from gpurec_roofline.profile import DeploymentProfile

TERA = 1e12
GIGA = 1e9
MS = 1e3


def experts_touched_fraction(tokens, num_experts: int, experts_per_token: int):
    """Expected fraction of one GPU's routed experts that ``tokens`` tokens touch in a layer.

    With uniform routing each token picks k of E experts, so an expert is missed by all b tokens
    with probability (1 - k/E)^b: expected distinct experts = E x (1 - (1 - k/E)^b) (the
    occupancy formula; e.g. vLLM's fused-MoE kernel only loads experts that received tokens).
    Expert-parallel ranks hold E/ep experts each and see the same fraction.
    """
    tokens = np.asarray(tokens, dtype=float)
    if np.ndim(num_experts) == 0:
        if num_experts <= 0:
            return np.zeros_like(tokens)
        miss = 1.0 - experts_per_token / num_experts
        return 1.0 - np.power(miss, np.maximum(tokens, 0.0))
    has_experts = num_experts > 0  # stacked profiles: one entry per row, dense models among them
    miss = 1.0 - experts_per_token / np.where(has_experts, num_experts, 1)
    return np.where(has_experts, 1.0 - np.power(miss, np.maximum(tokens, 0.0)), 0.0)


def expected_max_standard_normal(n):
    """Expected largest of ``n`` independent standard normal draws, by Blom's (1958) approximation of
    normal order statistics: Phi^-1((n - 0.375) / (n + 0.25)); 0 for n <= 1 (e.g. 1.42 for n = 8)."""
    n = np.asarray(n, float)
    values, where = np.unique(n, return_inverse=True)
    z = np.array([NormalDist().inv_cdf((v - 0.375) / (v + 0.25)) if v > 1 else 0.0 for v in values])
    return float(z[0]) if n.ndim == 0 else z[where].reshape(n.shape)


def busiest_rank_touched_fraction(tokens, num_experts, experts_per_token, expert_parallel):
    """Fraction of its routed experts that the busiest expert-parallel rank reads in one step.

    Under EP each rank holds m = E / ep whole experts; a step takes as long as the rank that must
    read the most of them. Each expert is touched with probability q (:func:`experts_touched_fraction`),
    so a rank's count is ~Binomial(m, q) (mean m q, s.d. sqrt(m q (1 - q))), and the expected
    largest of ep such counts is about m q + z(ep) sqrt(m q (1 - q)) with z(ep) the expected largest of
    ep standard normals (:func:`expected_max_standard_normal`), capped at m. Uniform routing: real
    routers are more skewed (hence DeepSeek's EPLB), so this is a lower bound. Tensor parallelism
    slices every expert instead and has no such imbalance (ep = 1: the mean fraction).
    """
    q = experts_touched_fraction(tokens, num_experts, experts_per_token)
    ep = np.asarray(expert_parallel, float)
    if ep.ndim == 0 and ep <= 1:
        return q
    m = np.maximum(np.asarray(num_experts, float) / np.maximum(ep, 1.0), 1.0)
    spread = expected_max_standard_normal(ep) * np.sqrt(q * (1.0 - q) / m)
    return np.where(ep > 1, np.minimum(1.0, q + spread), q)


def other_rank_tokens(profile: DeploymentProfile, tokens, decode_seqs):
    """Tokens each other busy DP rank runs in the same step, when the caller has no better figure:
    its decodes (every busy rank decodes a batch like this one's, while a prompt chunk is this rank's
    own), or all of this rank's ``tokens`` where every rank prefills together (a disaggregated prefill
    pool, ``DeploymentProfile.ranks_prefill_together``). :func:`gpurec_roofline.serving.serve` passes
    their mean for FLOPs and exchanges: decodes plus the prompt tokens a rank prefills per step on
    average (:func:`gemm_time_s` says why weight reads keep the decodes)."""
    return np.where(profile.ranks_prefill_together, np.asarray(tokens, float), np.asarray(decode_seqs, float))


def expert_tokens(profile: DeploymentProfile, tokens, others):
    """Tokens one GPU's routed experts serve in a step: its own rank's ``tokens`` and, under wide EP,
    ``others`` from each of the other busy DP ranks (``expert_token_multiplier`` - 1 of them)."""
    return np.asarray(tokens, float) + (profile.expert_token_multiplier - 1.0) * np.asarray(others, float)


def weight_read_bytes(profile: DeploymentProfile, tokens, others, expert_read_ratio=1.0):
    """Weight bytes streamed from HBM in one step by the busiest rank: every dense weight once, plus
    the experts touched by the tokens they serve (:func:`expert_tokens`,
    :func:`busiest_rank_touched_fraction`), those counted 1 / ``expert_read_ratio`` times
    (``GenerationEfficiency.expert_read_ratio``: the grouped MoE kernels' share of the bandwidth
    relative to a dense GEMV's, against the fitted GPU's)."""
    touched = busiest_rank_touched_fraction(expert_tokens(profile, tokens, others),
                                            profile.num_experts, profile.experts_per_token,
                                            profile.expert_parallel)
    return profile.dense_weight_bytes + profile.expert_weight_bytes * touched / np.asarray(expert_read_ratio, float)


def gemm_flops(profile: DeploymentProfile, tokens, logit_tokens, others):
    """Matmul FLOPs of one step: 2 x active parameters per token, plus the lm_head for tokens that
    produce logits (every decode token, one per prefilling request: engines skip the rest). Under
    wide EP a GPU's experts also compute the routed tokens of the other busy DP ranks (``others``
    each, :func:`expert_tokens`)."""
    tokens = np.asarray(tokens, float)
    experts_of_other_ranks = profile.expert_matmul_flops_per_token * (expert_tokens(profile, tokens, others) - tokens)
    return (profile.matmul_flops_per_token * tokens + experts_of_other_ranks
            + profile.lm_head_flops_per_token * np.asarray(logit_tokens, float))


def gemm_time_s(profile: DeploymentProfile, eff: GenerationEfficiency, tokens, logit_tokens, others,
                others_decoding, moe_compute_efficiency: float = 1.0):
    """Linear layers: max(FLOPs / (peak x compute efficiency), weight bytes / (bandwidth x efficiency)).

    Under wide EP the experts' FLOPs, linear in tokens, count the other busy ranks' mean load
    (``others``); the experts they touch count only their decodes (``others_decoding``): a rank's
    prompt tokens arrive in a few steps of their own, so a typical step's reads are those of the
    decodes, and averaging the prompts over every step would overstate them (the touched fraction is
    concave in tokens).

    The routed experts' FLOPs run at ``moe_compute_efficiency`` x the dense efficiency: an engine's
    grouped MoE GEMM (many small per-expert matmuls after a token sort) reaches less of the peak
    than a dense GEMM of the same FLOPs (``EngineConstants.moe_compute_efficiency``).
    """
    peak = profile.peak_tflops * TERA * eff.compute_fraction(profile.compute_dtype)
    tokens = np.asarray(tokens, float)
    expert_flops = profile.expert_matmul_flops_per_token * expert_tokens(profile, tokens, others)
    dense_flops = gemm_flops(profile, tokens, logit_tokens, others) - expert_flops
    compute = dense_flops / peak + expert_flops / (peak * moe_compute_efficiency)
    bandwidth = profile.bandwidth_tb_s * TERA * eff.bandwidth_efficiency
    memory = weight_read_bytes(profile, tokens, others_decoding, eff.expert_read_ratio) / bandwidth
    return np.maximum(compute, memory), compute, memory


def attended_keys(context, window: int):
    """Keys one decode query attends: the whole context, or at most ``window`` of them (the window of a
    sliding layer, the top-k a sparse-attention layer's indexer selects)."""
    context = np.asarray(context, float)
    if np.ndim(window) == 0:
        return np.minimum(context, window) if window else context
    return np.where(window > 0, np.minimum(context, window), context)


def mean_prefill_keys(prompt_length, window: int):
    """Mean keys a prompt token attends under a causal mask: (I + 1) / 2 for full attention.

    The sum over positions j = 1..I of min(j, w) is I(I+1)/2 when I <= w, else
    w(w+1)/2 + (I - w) w; divided by I. Chunking the prompt does not change the total. A sparse-
    attention layer's query attends min(j, top-k) keys, the same count with w = top-k.
    """
    i = np.maximum(np.asarray(prompt_length, float), 1.0)
    full = (i + 1.0) / 2.0
    if np.ndim(window) == 0 and not window:
        return full, full
    has_window = np.asarray(window) > 0
    w = np.where(has_window, window, 1.0).astype(float)
    windowed = np.where(i <= w, full, (w * (w + 1.0) / 2.0 + (i - w) * w) / i)
    return full, np.where(has_window, windowed, full)


def attention_time_s(profile: DeploymentProfile, eff: GenerationEfficiency, decode_seqs, context,
                     prefill_tokens, prompt_length, queries_per_seq=1.0):
    """Attention kernels: decode reads each sequence's KV cache (memory-bound, FlashDecoding);
    prefill computes QK^T and PV over the causal triangle (compute-bound, FlashAttention).

    decode: max(decode FLOPs per pair x keys x d_seqs, KV bytes/token x keys x d_seqs read at the
    bandwidth x bandwidth_efficiency x kv_read_ratio, x mla_read_ratio for MLA latents), keys per span:
    every cached key (full layers and sparse-attention indexers), the last ``window`` (sliding
    layers), the ``sparse_topk`` a sparse layer's indexer selects; MLA decodes in its absorbed form,
    whose FLOPs per pair can make it compute-bound with many heads per GPU
    (:func:`gpurec_core.model_facts.attention_flops_per_pair`);
    prefill: 2 n/t (d+d_v) x mean keys x p FLOPs at the attention efficiency, plus writing the new
    tokens' KV. Recurrent (linear-attention/Mamba) layers read and write their state once per
    decode sequence per step.

    ``queries_per_seq``: the queries each decoding sequence attends with in the step, 1 + the draft
    tokens a speculative-decoding verify step checks. They attend the same cached keys, which a
    decode kernel reads once for all of a sequence's queries (FlashMLA, FlashInfer and
    FlashAttention take several query tokens per sequence for this), so they multiply the FLOPs
    and the KV written, not the KV read.
    """
    d = np.asarray(decode_seqs, float)
    p = np.asarray(prefill_tokens, float)
    peak = profile.attention_peak_tflops * TERA
    bw = profile.bandwidth_tb_s * TERA * eff.bandwidth_efficiency
    keys_full = np.asarray(context, float)
    keys_win = attended_keys(context, profile.window)
    keys_top = attended_keys(context, profile.sparse_topk)
    dec_flops = d * np.asarray(queries_per_seq, float) * (profile.attn_decode_flops_per_pair_full * keys_full
                     + profile.attn_decode_flops_per_pair_window * keys_win
                     + profile.attn_decode_flops_per_pair_sparse * keys_top)
    dec_bytes = d * (profile.kv_bytes_per_token_full * keys_full + profile.kv_bytes_per_token_window * keys_win
                     + profile.kv_bytes_per_token_sparse * keys_top + 2.0 * profile.state_bytes_per_sequence)
    kv_read = eff.kv_read_ratio * np.where(profile.latent_kv, eff.mla_read_ratio, 1.0)
    decode = np.maximum(dec_flops / (peak * eff.attention_efficiency), dec_bytes / (bw * kv_read))
    pf_full, pf_win = mean_prefill_keys(prompt_length, profile.window)
    pf_top = mean_prefill_keys(prompt_length, profile.sparse_topk)[1]
    pre_flops = p * (profile.attn_flops_per_pair_full * pf_full + profile.attn_flops_per_pair_window * pf_win
                     + profile.attn_flops_per_pair_sparse * pf_top)
    write_bytes = (d * np.asarray(queries_per_seq, float) + p) * (profile.kv_bytes_per_token_full + profile.kv_bytes_per_token_window
                             + profile.kv_bytes_per_token_sparse)
    prefill = pre_flops / (peak * eff.attention_efficiency) + write_bytes / bw
    return decode, prefill


def activation_time_s(profile: DeploymentProfile, eff: GenerationEfficiency, tokens):
    """Activations written and re-read between kernels (norms, residuals, MLP intermediates)."""
    return np.asarray(tokens, float) * profile.activation_bytes_per_token / (profile.bandwidth_tb_s * TERA * eff.bandwidth_efficiency)


def allreduce_time_s(message_bytes, ranks: int, link_gb_s: float, comm: CommunicationConstants,
                     crosses_nodes=False):
    """One ring all-reduce: latency + 2 (n-1)/n x bytes / (per-direction link bandwidth x efficiency).

    A ring all-reduce moves 2 (n-1)/n of the message over each GPU's link (reduce-scatter then
    all-gather; Patarasuk & Yuan 2009, NCCL's "bus bandwidth"); small messages are dominated by the
    per-call latency floor.
    """
    if np.ndim(ranks) == 0 and ranks <= 1:
        return np.zeros_like(np.asarray(message_bytes, float))
    volume = 2.0 * (ranks - 1) / ranks * np.asarray(message_bytes, float)
    # A TP group larger than a node reduces over the scale-out network: its per-GPU NIC bounds the ring.
    latency = np.where(crosses_nodes, comm.scale_out_allreduce_latency_us, comm.allreduce_latency_us) * 1e-6
    link = np.where(crosses_nodes, comm.scale_out_gb_s_per_direction, link_gb_s)
    seconds = latency + volume / (link * GIGA * comm.link_efficiency)
    return seconds if np.ndim(ranks) == 0 else np.where(ranks > 1, seconds, 0.0)


def alltoall_time_s(message_bytes, ranks: int, link_gb_s: float, comm: CommunicationConstants,
                    crosses_nodes=False):
    """One MoE all-to-all (dispatch or combine): latency + (n-1)/n x bytes / link bandwidth.

    An EP group larger than a node sends over the scale-out network instead (its per-GPU bandwidth
    and latency floor, ``communication.scale_out_*``): the slowest path bounds the exchange.
    """
    if np.ndim(ranks) == 0 and ranks <= 1:
        return np.zeros_like(np.asarray(message_bytes, float))
    volume = (ranks - 1) / ranks * np.asarray(message_bytes, float)
    latency = np.where(crosses_nodes, comm.scale_out_alltoall_latency_us, comm.alltoall_latency_us) * 1e-6
    link = np.where(crosses_nodes, comm.scale_out_gb_s_per_direction, link_gb_s)
    seconds = latency + volume / (link * GIGA * comm.link_efficiency)
    return seconds if np.ndim(ranks) == 0 else np.where(ranks > 1, seconds, 0.0)


def communication_time_s(profile: DeploymentProfile, comm: CommunicationConstants, tokens, others=0.0,
                         collectives: str = "all_to_all", link_ratio=1.0):
    """TP all-reduces (2 per layer) and the wide-EP MoE exchange (2 collectives per MoE layer) of one
    step on one stage. ``tokens`` are this rank's (decodes plus prefill chunk), ``others`` those of
    each other busy DP rank in the same step (:func:`other_rank_tokens`).

    ``collectives`` is the engine's wide-EP exchange (``EngineConstants.wide_ep_collectives``):

    * ``all_to_all``: each token goes to its k experts' ranks and back, k x H bytes (DeepEP-style).
    * ``allgather_reducescatter`` (vLLM's default ``--all2all-backend``,
      ``vllm/distributed/device_communicators/all2all.py`` ``AgRsAll2AllManager``; SGLang's DP
      attention, ``layers/dp_attention.py`` dp_gather / dp_scatter): the hidden states of every busy
      DP rank (H bytes per token: this rank's tokens and the others') are all-gathered over
      the DP group and the expert outputs reduce-scattered back; the MoE output is still all-reduced
      over the rank's TP group like a dense MLP's.

    ``link_ratio`` (``GenerationEfficiency.link_ratio``) scales the GPU's own link, not the scale-out
    network: the share of it the engines' collectives reach relative to the fitted GPU's.
    """
    link = profile.link_gb_s_per_direction
    if link is None:  # a stacked profile has the fallback filled in already
        link = comm.fallback_link_gb_s_per_direction
    link = link * np.asarray(link_ratio, float)
    tokens = np.asarray(tokens, float)
    reduce = allreduce_time_s(tokens * profile.allreduce_bytes_per_token, profile.tensor_parallel, link, comm,
                              profile.allreduce_crosses_nodes)
    t = profile.allreduces_per_step * reduce
    if collectives == "allgather_reducescatter":
        dp_group = np.maximum(1.0, np.asarray(profile.expert_parallel, float) / profile.tensor_parallel)
        gathered = expert_tokens(profile, tokens, others) * profile.allreduce_bytes_per_token
        exchange = alltoall_time_s(gathered, dp_group, link, comm, profile.alltoall_crosses_nodes)
        return t + profile.alltoalls_per_step * exchange + profile.alltoalls_per_step / 2.0 * reduce
    return t + profile.alltoalls_per_step * alltoall_time_s(tokens * profile.alltoall_bytes_per_token,
                                                            profile.expert_parallel, link, comm,
                                                            profile.alltoall_crosses_nodes)


def overhead_time_s(engine: EngineConstants, kernels: KernelConstants, layers: float, sequences):
    """Time per step outside the rooflines: engine CPU work not hidden by the GPU (fixed + per
    running sequence) and the launch/tail gaps of each layer's kernels."""
    return (engine.step_overhead_ms / MS + np.asarray(sequences, float) * engine.per_sequence_overhead_us * 1e-6
            + layers * kernels.per_layer_overhead_us * 1e-6)


def step_time_s(profile: DeploymentProfile, eff: GenerationEfficiency, comm: CommunicationConstants,
                engine: EngineConstants, kernels: KernelConstants, decode_seqs, context, prefill_tokens, prefill_seqs,
                prompt_length, others=None, queries_per_seq=1.0, logits_per_seq=None):
    """Wall time of one step of one pipeline stage, and its named parts (all numpy arrays, seconds).

    step = linear layers + attention + activations + communication + engine overhead. ``others``:
    the tokens each other busy DP rank runs in the step (default :func:`other_rank_tokens`).
    ``queries_per_seq``: tokens each decoding sequence runs, 1 + its draft tokens in a speculative
    verify step (each one a token through every linear layer and a query in attention).
    ``logits_per_seq``: the logits each decoding sequence computes, by default one per query (a
    verify step needs all of them to accept or reject the drafts); a draft pass over the same tokens
    computes one.
    """
    d = np.asarray(decode_seqs, float)
    p = np.asarray(prefill_tokens, float)
    ps = np.asarray(prefill_seqs, float)
    dq = d * np.asarray(queries_per_seq, float)
    d_logits = dq if logits_per_seq is None else d * np.asarray(logits_per_seq, float)
    tokens = dq + p
    others_decoding = other_rank_tokens(profile, tokens, dq)
    if others is None:
        others = others_decoding
    moe_efficiency = np.minimum(engine.moe_compute_efficiency * getattr(eff, "moe_compute_ratio", 1.0), 1.0)
    gemm, gemm_compute, gemm_memory = gemm_time_s(profile, eff, tokens, d_logits + ps, others, others_decoding,
                                                  moe_efficiency)
    attn_decode, attn_prefill = attention_time_s(profile, eff, d, context, p, prompt_length, queries_per_seq)
    act = activation_time_s(profile, eff, tokens)
    comm_t = communication_time_s(profile, comm, tokens, others, engine.wide_ep_collectives, eff.link_ratio)
    over = overhead_time_s(engine, kernels, profile.layers_per_stage, d + ps)
    total = gemm + attn_decode + attn_prefill + act + comm_t + over
    parts = {"gemm": gemm, "gemm_compute": gemm_compute, "gemm_memory": gemm_memory,
             "attention_decode": attn_decode, "attention_prefill": attn_prefill,
             "activations": act, "communication": comm_t, "overhead": over}
    return total, parts


def draft_profile(profile: DeploymentProfile) -> DeploymentProfile:
    """The draft module of MTP / EAGLE speculative decoding as a profile: one mean layer of the
    target model (its weights, FLOPs, caches and collectives divided by the stage's layers) and the
    target's whole logits matrix (``head_weight_bytes``, ``lm_head_flops_per_token``; per-stage means
    times the stages, since only the last stage holds it).

    DeepSeek-V3's MTP module is one Transformer block of the model's own shape sharing the embedding
    and output head (DeepSeek-V3 technical report, section 2.2); EAGLE's draft head is one decoder
    layer of the target's width (Li et al., EAGLE, ICML 2024; EAGLE-3, 2025). A draft pass runs it
    over one token per sequence, so its time is a one-layer step of the same rooflines. The memory
    plan holds the same mean layer (:func:`gpurec_core.model_facts.draft_module`).
    """
    per_layer = 1.0 / np.asarray(profile.layers_per_stage, float)
    stages = np.asarray(profile.pipeline_stages, float)
    layer_dense = (profile.dense_weight_bytes - profile.head_weight_bytes) * per_layer
    scaled = {name: getattr(profile, name) * per_layer for name in (
        "weight_bytes_held", "expert_weight_bytes", "moe_layers_per_stage", "matmul_flops_per_token",
        "expert_matmul_flops_per_token", "attn_flops_per_pair_full", "attn_flops_per_pair_window",
        "attn_flops_per_pair_sparse", "attn_decode_flops_per_pair_full", "attn_decode_flops_per_pair_window",
        "attn_decode_flops_per_pair_sparse", "kv_bytes_per_token_full", "kv_bytes_per_token_window",
        "kv_bytes_per_token_sparse", "state_bytes_per_sequence", "activation_bytes_per_token",
        "allreduces_per_step", "alltoalls_per_step")}
    return replace(profile, layers_per_stage=1.0, pipeline_stages=1,
                   dense_weight_bytes=layer_dense + profile.head_weight_bytes * stages,
                   head_weight_bytes=profile.head_weight_bytes * stages,
                   lm_head_flops_per_token=profile.lm_head_flops_per_token * stages, **scaled)


def draft_pass_s(profile: DeploymentProfile, eff: GenerationEfficiency, comm: CommunicationConstants,
                 engine: EngineConstants, kernels: KernelConstants, decode_seqs, context, prompt_length,
                 prefill_tokens=0.0, prefill_seqs=0.0, queries_per_seq=1.0):
    """One draft pass of speculative decoding on the :func:`draft_profile` (its linear layers,
    attention over the context, activations and collectives, plus one layer's kernel gaps) over
    ``decode_seqs`` sequences of ``queries_per_seq`` tokens each and the step's ``prefill_tokens``,
    computing one logit row per sequence and prompt.

    The first pass of a step runs over every token the target ran: the prompts' chunks and each
    decoding sequence's verified tokens (vLLM ``EagleProposer.propose`` feeds the draft model all the
    step's target tokens and hidden states, and takes logits at each request's last; SGLang's EAGLE
    worker runs a draft extend over a prompt after its target prefill, on prefill workers too in
    NVIDIA/srt-slurm's disaggregated MTP recipes); the later ones over one token per decoding
    sequence. A pass runs inside the engine step that verifies, so the engine's per-step and
    per-sequence CPU overheads are not counted again; none where the step runs no token."""
    d = np.asarray(decode_seqs, float)
    p = np.asarray(prefill_tokens, float)
    draft = draft_profile(profile)
    total, parts = step_time_s(draft, eff, comm, engine, kernels, d, context, p, prefill_seqs, prompt_length,
                               None, queries_per_seq, logits_per_seq=1.0)
    own = total - parts["overhead"] + kernels.per_layer_overhead_us * 1e-6
    return np.where((d > 0) | (p > 0), own, 0.0)
