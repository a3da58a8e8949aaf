"""The roofline estimator: one deployment's TTFT, inter-token latency and throughput.

Pipeline: :func:`gpurec_roofline.profile.build_profile` (bytes and FLOPs per GPU) ->
:func:`gpurec_roofline.serving.serve` (closed-loop steady state over engine steps timed by
:mod:`gpurec_roofline.step`) -> a :class:`PerformanceEstimate` for the whole deployment
(data-parallel replicas multiply throughput; users are spread evenly over the replicas).
Constants come from ``catalogs/engines/roofline.toml`` (:mod:`gpurec_roofline.constants`).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from gpurec_core.errors import EstimationError
from gpurec_core.models import GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate, Workload
from gpurec_roofline.constants import RooflineConstants, load_constants
from gpurec_roofline.profile import DeploymentProfile, build_profile
from gpurec_roofline.serving import ServingResult, serve

ESTIMATOR_NAME = "roofline"


def _scalar(x) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def kv_capacity_requests(memory: MemoryPlan, input_length: int, output_length: int) -> int:
    """Requests of ``input + output`` tokens the replica's KV pool holds at once (worst case)."""
    return int(memory.kv_cache_tokens // max(1, input_length + output_length))


def kv_batch_limit(memory: MemoryPlan, input_length: int, output_length: int) -> int:
    """Running requests the KV pool sustains in steady state: paged KV caches (vLLM, SGLang,
    TensorRT-LLM) allocate blocks as tokens are generated, and requests at staggered stages hold
    ``input + output/2`` tokens on average (Kwon et al., PagedAttention, SOSP 2023)."""
    return int(memory.kv_cache_tokens // max(1.0, input_length + output_length / 2.0))


def check_inputs(model, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, memory: MemoryPlan) -> None:
    """Raise EstimationError, with the reason and a way out, for deployments that cannot run."""
    if not memory.fits:
        raise EstimationError(
            f"{getattr(model, 'model_id', 'the model')} does not fit on {parallelism.gpus_per_replica}x {gpu.name}: "
            f"{memory.reason or 'memory plan says it does not fit'}; use more GPUs (tensor/pipeline parallel), "
            "a smaller context or a lower precision"
        )
    need = workload.input_length + workload.output_length
    if memory.kv_cache_tokens < need:
        raise EstimationError(
            f"the KV pool holds {memory.kv_cache_tokens} tokens but one request needs {need} "
            f"(input {workload.input_length} + output {workload.output_length}); add GPUs or shorten the request"
        )


def solve(model, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, memory: MemoryPlan,
          constants: Optional[RooflineConstants] = None, profile: Optional[DeploymentProfile] = None
          ) -> tuple[ServingResult, DeploymentProfile, int, int]:
    """Steady state of one replica for this deployment (users per replica, KV capacity)."""
    constants = constants or load_constants()
    check_inputs(model, gpu, parallelism, workload, memory)
    engine = constants.engine(memory.engine)
    eff = constants.efficiency_for(gpu)
    if profile is None:
        profile = build_profile(model.config, model.parameters, workload.precision, gpu, parallelism)
    users = math.ceil(workload.concurrency / parallelism.data_parallel_size)
    capacity = kv_capacity_requests(memory, workload.input_length, workload.output_length)
    batch_limit = kv_batch_limit(memory, workload.input_length, workload.output_length)
    result = serve(profile, eff, constants.communication, engine, constants.kernels,
                   workload.input_length, workload.output_length, users, batch_limit,
                   workload.max_num_batched_tokens or engine.max_num_batched_tokens,
                   workload.max_num_seqs or engine.max_num_seqs, constants.benchmark)
    return result, profile, users, capacity


def bottleneck_of(parts: dict[str, np.ndarray]) -> str:
    """What dominates the decode step: weight/KV streaming, matmul compute, or communication."""
    memory = _scalar(parts["gemm_memory"]) + _scalar(parts["attention_decode"]) + _scalar(parts["activations"])
    compute = _scalar(parts["gemm_compute"]) + _scalar(parts["attention_prefill"])
    comm = _scalar(parts["communication"]) + _scalar(parts.get("pipeline", 0.0))
    ranked = max((memory, "memory"), (compute, "compute"), (comm, "communication"))
    return ranked[1]


def estimate(model, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, memory: MemoryPlan,
             constants: Optional[RooflineConstants] = None) -> PerformanceEstimate:
    """A :class:`PerformanceEstimate` for the whole deployment at ``workload.concurrency`` users."""
    result, profile, users, capacity = solve(model, gpu, parallelism, workload, memory, constants)
    dp = parallelism.data_parallel_size
    ttft_ms = _scalar(result.ttft_s) * 1e3
    itl_ms = _scalar(result.itl_s) * 1e3
    rps = _scalar(result.requests_per_s) * dp
    values = (ttft_ms, itl_ms, rps)
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise EstimationError(f"roofline produced a non-finite estimate for {gpu.name} (ttft={ttft_ms}, itl={itl_ms}); "
                              "check the GPU's bandwidth and TFLOPS figures")
    O = workload.output_length
    parts = result.parts
    decode_ms = sum(_scalar(v) for k, v in parts.items() if k not in ("gemm_compute", "gemm_memory")) * 1e3
    breakdown = {f"decode_step_{k}": round(_scalar(v) * 1e3, 6) for k, v in parts.items()}
    breakdown.update({
        "decode_step_total": round(decode_ms, 6),
        "prefill_interference": round(max(0.0, itl_ms - decode_ms), 6),
        "ttft": round(ttft_ms, 6),
        "ttft_steady": round(_scalar(result.ttft_steady_s) * 1e3, 6),
        "ttft_startup_burst": round(_scalar(result.ttft_burst_s) * 1e3, 6),
        "decode_phase": round((O - 1) * itl_ms, 6),
    })
    return PerformanceEstimate(
        time_to_first_token_ms=ttft_ms,
        inter_token_latency_ms=itl_ms,
        throughput_tokens_per_sec=rps * O,
        input_tokens_per_sec=rps * workload.input_length,
        requests_per_sec=rps,
        e2e_latency_ms=ttft_ms + (O - 1) * itl_ms,
        max_batch_size=int(_scalar(result.batch)),
        max_concurrent_requests=capacity * dp,
        concurrency=workload.concurrency,
        bottleneck=bottleneck_of(parts),
        estimator=ESTIMATOR_NAME,
        breakdown=breakdown,
    )
