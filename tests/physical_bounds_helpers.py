"""Physical floors and ceilings of a serving estimate, for tests/test_physical_bounds.py.

Every bound here is physics, not a model of an engine: no efficiency factor, datasheet peaks
only (bandwidth in TB/s = 10**12 B/s, dense tensor TFLOPS = 10**12 FLOP/s). Their inputs are
the model facts the product computes once (:func:`gpurec_core.model_facts.facts_for`: weight
bytes, KV bytes and FLOPs per GPU) and, for an independent cross-check, the parameter count
(:class:`gpurec_core.param_count.ParameterCount`) times the storage bytes of the precision.

Bounds for one request of ``input_length`` prompt tokens, on one replica of ``t`` x ``P`` GPUs:

- decode step (ITL): a token passes every pipeline stage in turn, and on each stage a GPU must
  stream, at least once, every weight that is used for every token (``streamed_weight_bytes``:
  attention, dense MLP, shared experts, router, norms, lm_head; not the gathered embedding or
  the multimodal towers), the ``k / E`` share of its routed experts one token activates, and
  the request's own KV cache (``input_length`` tokens on full-attention layers, the window on
  sliding ones, the state once on recurrent ones);
- prefill (TTFT): on each stage, one GPU's matmul FLOPs for ``input_length`` tokens (2 x its
  active matmul parameters each) plus the lm_head of one token at the matmul dtype's peak, plus
  its causal attention FLOPs (``I (I + 1) / 2`` pairs, window-capped) at the attention dtype's
  peak; the largest stage's, not their sum (an engine may pipeline a prompt's chunks through the
  stages), and independently 2 x active matmul params x I / (peak x every GPU of the replica);
- throughput: at most one token per user per ITL, Little's law (``C x O`` tokens per E2E
  latency), and the tokens a replica forwards per second times their matmul FLOPs within the
  peak of each GPU.

"Peak of a dtype" is the fastest dense tensor rate of that dtype or of any *wider* float type
the chip has (an fp8 matmul may run on fp8 or bf16 units, never faster than the faster of
them), so the floor stays a floor whatever fallback an estimator picks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gpurec_core.model_facts import DeploymentFacts, facts_for
from gpurec_core.models import DTYPE_BYTES, GPUSpec, Parallelism, Precision

TERA = 1e12

#: Bytes per element of each compute dtype name a Precision or GPU table uses.
_WIDTH = {"fp4": 0.5, "nvfp4": 0.5, "mxfp4": 0.5, "fp8": 1.0, "int8": 1.0, "bf16": 2.0, "fp16": 2.0, "fp32": 4.0}
_FLOATS = ("fp4", "fp8", "bf16", "fp16", "fp32")


def peak_tflops(gpu: GPUSpec, dtype: str) -> Optional[float]:
    """The fastest dense tensor TFLOPS for operands of ``dtype``: that dtype's units or those of any
    float at least as wide (bf16 and fp16 share units; an unknown dtype may use any float unit);
    None when the chip lists none of them."""
    width = _WIDTH.get(dtype, 0.0)
    candidates = [dtype] + [d for d in _FLOATS if _WIDTH[d] >= width]
    rates = [gpu.tensor_tflops(d) for d in candidates]
    if gpu.tflops:
        rates.append(gpu.tflops)
    rates = [r for r in rates if r]
    return max(rates) if rates else None


def attention_dtype(precision: Precision) -> str:
    """The dtype attention's matmuls take: the KV cache's (fp8 only with an fp8 cache)."""
    return "fp8" if precision.kv_cache_dtype == "fp8" else (precision.unquantized_dtype or "bf16")


def causal_pairs(tokens: int, window: int) -> float:
    """(query, key) pairs of a causal prompt of ``tokens``: sum over j of min(j, window)."""
    n = float(tokens)
    if not window or n <= window:
        return n * (n + 1.0) / 2.0
    w = float(window)
    return w * (w + 1.0) / 2.0 + (n - w) * w


@dataclass(frozen=True)
class Floors:
    """The physical bounds of one deployment (model x GPU x layout x precision) at one input length."""

    itl_ms: float                 # weights + own KV streamed per decode step, all stages, at peak bandwidth
    itl_params_ms: float          # independent: active non-embedding params x storage bytes / (t x bandwidth)
    ttft_ms: Optional[float]      # largest stage's matmul + attention FLOPs of the prompt at peak (None: no peak)
    ttft_params_ms: Optional[float]  # independent: 2 x active matmul params x I / (t x P x peak)
    flops_per_forward_token: tuple[float, ...]  # per stage: matmul FLOPs one GPU spends per forwarded token
    lm_head_flops: tuple[float, ...]            # per stage: lm_head FLOPs per token with logits
    matmul_peak_tflops: Optional[float]
    weight_bytes_per_step: float  # the weight part of itl_ms, bytes (sum over stages)
    kv_bytes_per_step: float      # the KV part of itl_ms, bytes (sum over stages)


def deployment_floors(model, precision: Precision, parallelism: Parallelism, gpu: GPUSpec,
                      input_length: int, text_only: bool = False) -> Floors:
    """:class:`Floors` of ``model`` (a ModelArchitecture) served in ``precision`` on ``gpu`` in ``parallelism``."""
    facts: DeploymentFacts = facts_for(model, precision, parallelism, gpu, text_only)
    cfg = model.config
    active_share = cfg.num_experts_per_tok / cfg.num_experts if cfg.num_experts else 0.0
    bandwidth = float(gpu.bandwidth_tb_s) * TERA
    I = int(input_length)

    weight_bytes = kv_bytes = 0.0
    for stage in facts.stages:
        weight_bytes += stage.streamed_weight_bytes + stage.expert_weight_bytes * active_share
        for cache, layers in stage.cache_counts:
            if cache.kind == "state":
                kv_bytes += cache.bytes * layers
            elif cache.kind == "sliding" and cache.window:
                kv_bytes += cache.bytes * layers * min(I, cache.window)
            elif cache.topk:  # sparse attention: the indexer's keys of every token, the rest of the top-k only
                kv_bytes += ((cache.bytes - cache.topk_bytes) * I + cache.topk_bytes * min(I, cache.topk)) * layers
            else:
                kv_bytes += cache.bytes * layers * I
    itl_ms = (weight_bytes + kv_bytes) / bandwidth * 1e3

    params = model.parameters
    t = parallelism.tensor_parallel_size
    storage = min(DTYPE_BYTES.get(precision.weight, 0.5), precision.unquantized_bytes_per_param)
    itl_params_ms = (params.active_per_token - params.embedding) * storage / (t * bandwidth) * 1e3

    mm_peak = peak_tflops(gpu, precision.compute_dtype or "bf16")
    attn_peak = peak_tflops(gpu, attention_dtype(precision))
    ttft_ms = ttft_params_ms = None
    if mm_peak and attn_peak:
        seconds = 0.0
        for stage in facts.stages:  # every stage's GPUs must prefill the whole prompt: the largest bounds
            matmul = stage.matmul_flops_per_token * I + stage.lm_head_flops_per_token
            sliding = stage.attn_flops_per_pair_sliding * causal_pairs(I, facts.window)
            sparse = stage.attn_flops_per_pair_sparse * causal_pairs(I, facts.topk)
            attention = stage.attn_flops_per_pair_full * causal_pairs(I, 0) + sliding + sparse
            seconds = max(seconds, matmul / (mm_peak * TERA) + attention / (attn_peak * TERA))
        ttft_ms = seconds * 1e3
        # 2 FLOPs per multiply-add of every active parameter but the embedding (a gather), the
        # lm_head (one token's logits) and the norms (elementwise). 0.99: biases, conv taps, gates
        # and sinks counted among attention / mixer parameters are elementwise (< 0.1 % of them).
        matmul_params = params.active_per_token - params.embedding - params.lm_head - params.norms
        gpus = parallelism.gpus_per_replica
        ttft_params_ms = 0.99 * 2.0 * matmul_params * I / (gpus * mm_peak * TERA) * 1e3
    return Floors(
        itl_ms=itl_ms, itl_params_ms=itl_params_ms, ttft_ms=ttft_ms, ttft_params_ms=ttft_params_ms,
        flops_per_forward_token=tuple(s.matmul_flops_per_token for s in facts.stages),
        lm_head_flops=tuple(s.lm_head_flops_per_token for s in facts.stages),
        matmul_peak_tflops=mm_peak, weight_bytes_per_step=weight_bytes, kv_bytes_per_step=kv_bytes,
    )
