"""Bundled plugin: the ``llm-optimizer`` estimator, backed by BentoML's llm-optimizer.

BentoML's package is installed from git only::

    pip install git+https://github.com/bentoml/llm-optimizer.git

PyPI's ``llm-optimizer`` is an unrelated project; it is detected and refused
(:mod:`gpurec_llm_optimizer.detect`). ``llm_optimizer`` is imported only when this estimator is
listed or chosen, and the check is cached. How gpurec's inputs map onto llm-optimizer's API, and
what it cannot model, is in ``docs/estimators.md`` (section "llm-optimizer").
"""

from __future__ import annotations

from gpurec_core.errors import EstimatorUnavailableError
from gpurec_core.models import EstimatorInfo, PerformanceEstimate
from gpurec_core.plugins import hookimpl
from gpurec_llm_optimizer.detect import INSTALL_COMMAND, availability, clear_cache
from gpurec_llm_optimizer.mapping import (
    ESTIMATOR_NAME,
    check_layout,
    concurrency_per_replica,
    llm_optimizer_gpu_name,
    llm_optimizer_model_config,
    llm_optimizer_precision,
    to_performance_estimate,
)

__all__ = ["ESTIMATOR_NAME", "INSTALL_COMMAND", "clear_cache", "estimate_performance", "list_estimators"]

DESCRIPTION = "BentoML's llm-optimizer: analytical roofline (prefill compute, decode bandwidth), its own GPU table"


@hookimpl
def list_estimators():
    """One entry, ``llm-optimizer``: usable when BentoML's package is importable here."""
    state = availability()
    return [EstimatorInfo(name=ESTIMATOR_NAME, usable=state.usable, description=DESCRIPTION, reason=state.reason)]


@hookimpl
def estimate_performance(model, gpu, parallelism, workload, memory, estimator):
    """llm-optimizer's TTFT, ITL and throughput for one deployment; None for other estimators."""
    if estimator != ESTIMATOR_NAME:
        return None
    state = availability()
    if not state.usable or state.api is None:
        raise EstimatorUnavailableError(f"estimator 'llm-optimizer' cannot run: {state.reason}")
    api = state.api
    check_layout(parallelism)
    gpu_name = llm_optimizer_gpu_name(api, gpu)
    precision = llm_optimizer_precision(api, workload.precision, gpu_name)
    per_replica = concurrency_per_replica(workload, parallelism)
    if not memory.fits:
        return PerformanceEstimate(
            error=f"does not fit: {memory.reason}" if memory.reason else "does not fit in GPU memory",
            concurrency=workload.concurrency, max_concurrent_requests=0, estimator=ESTIMATOR_NAME,
        )
    model_config = llm_optimizer_model_config(api, model, precision)
    arguments = dict(
        num_gpus=parallelism.tensor_parallel_size,
        gpu_name=gpu_name,
        model_config=model_config,
        precision=precision,
        concurrency=per_replica,
        input_length=workload.input_length,
        output_length=workload.output_length,
    )
    if api.estimate_accepts("vram_util_factor"):
        arguments["vram_util_factor"] = workload.gpu_memory_utilization
    try:
        result = api.performance.estimate_llm_performance(**arguments)
    except ValueError as exc:  # llm-optimizer's way of saying "GPU or precision not supported"
        raise EstimatorUnavailableError(
            f"llm-optimizer refused {parallelism.tensor_parallel_size}x {gpu_name} at {precision}: {exc}; "
            "use estimator='roofline'"
        ) from exc
    return to_performance_estimate(result, workload=workload, parallelism=parallelism, memory=memory,
                                   per_replica=per_replica, gpu_name=gpu_name)
