"""ACME's gpurec plugin: one accelerator, one serving engine and one estimator, registered by entry point.

The ACME X1 and ACME Serve are fictional; their figures are example values, sourced as such.
"""

from gpurec_core import EngineInfo, EstimatorInfo, GPUSpec, LaunchFlags, PerformanceEstimate, hookimpl
from gpurec_core.plugins import estimate_memory as plan_with

_EXAMPLE = "example value from the gpurec-acme plugin (fictional accelerator)"
ENGINE = "acme-serve"


@hookimpl
def provide_gpu_specs():
    return [
        GPUSpec(
            name="ACME_X1",
            aliases=("acme-x1",),
            manufacturer="ACME",
            architecture="Roadrunner",
            compute_capability="acme1",
            release_year=2026,
            memory_gb=96.0,
            bandwidth_tb_s=4.0,
            bf16_tflops_dense=800.0,
            fp8_tflops_dense=1600.0,
            interconnect="ACME Link",
            interconnect_gb_s=800.0,
            gpus_per_node=8,
            confidence="low",
            sources={field: _EXAMPLE for field in
                     ("memory_gib", "bandwidth_tb_s", "bf16_tflops_dense", "fp8_tflops_dense", "interconnect_gb_s")},
        )
    ]


@hookimpl
def list_engines():
    """ACME Serve: a vLLM fork (fictional) that keeps vLLM's memory budget and scheduler, and runs
    no pipeline parallelism."""
    return [EngineInfo(
        name=ENGINE, version="1.0", description="ACME's serving engine (fictional example; a vLLM 0.19 fork)",
        memory_profile="vLLM 0.19's budget (it is a fork), reported under its own name",
        pipeline_parallel=False, expert_parallel=True, data_parallel=True, schedules_like="vllm",
        launch=LaunchFlags(command=("acme-serve", "--model"), tensor_parallel="--tp", expert_parallel="--ep",
                           expert_parallel_takes_size=True, data_parallel="--replicas", max_model_len="--max-len",
                           memory_fraction="--mem-fraction", kv_cache_dtype="--kv-dtype",
                           source="example flags of the fictional acme-serve launcher"),
    )]


@hookimpl
def estimate_memory(model, gpu, parallelism, workload, engine):
    """ACME Serve keeps vLLM's accounting: the vLLM plan, under ACME Serve's name."""
    if engine != ENGINE:
        return None
    plan = plan_with(model, gpu, parallelism, workload, "vllm")
    return plan.model_copy(update={"engine": ENGINE, "notes": plan.notes + ("acme-serve: vLLM 0.19's budget",)})


@hookimpl
def list_estimators():
    return [EstimatorInfo(name="acme-bandwidth", usable=True,
                          description="toy: ITL = weights per GPU / bandwidth; TTFT = 2 x params x input / compute")]


@hookimpl
def estimate_performance(model, gpu, parallelism, workload, memory, estimator):
    if estimator != "acme-bandwidth":
        return None
    bandwidth = (gpu.bandwidth_tb_s or 1.0) * 1e12
    compute = (gpu.bf16_tflops or 1.0) * 1e12 * parallelism.tensor_parallel_size
    itl_ms = memory.weights_gib * 2**30 / bandwidth * 1e3
    ttft_ms = 2 * model.active_parameters * workload.input_length / compute * 1e3
    return PerformanceEstimate(
        time_to_first_token_ms=ttft_ms,
        inter_token_latency_ms=itl_ms,
        throughput_tokens_per_sec=workload.concurrency * 1e3 / itl_ms,
        concurrency=workload.concurrency,
        estimator="acme-bandwidth",
    )
