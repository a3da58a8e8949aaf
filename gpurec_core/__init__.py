"""gpurec: which accelerators, how many and in what layout to serve an LLM.

The public names load lazily so that ``import gpurec_core`` stays fast and quiet.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "hookimpl": "gpurec_core.plugins",
    "get_plugin_manager": "gpurec_core.plugins",
    "GPUSpec": "gpurec_core.models",
    "Precision": "gpurec_core.models",
    "Parallelism": "gpurec_core.models",
    "Workload": "gpurec_core.models",
    "MemoryPlan": "gpurec_core.models",
    "PerformanceEstimate": "gpurec_core.models",
    "EstimatorInfo": "gpurec_core.models",
    "EngineInfo": "gpurec_core.models",
    "LaunchFlags": "gpurec_core.models",
    "ModelConfig": "gpurec_core.model_config",
    "ModelArchitecture": "gpurec_core.architecture",
    "list_available_gpus": "gpurec_core.gpus",
    "get_gpu_spec": "gpurec_core.gpus",
    "plan_memory": "gpurec_core.api",
    "estimate_performance": "gpurec_core.api",
    "estimate_disaggregated": "gpurec_core.api",
    "launch_disaggregated": "gpurec_core.disagg_launch",
    "Pool": "gpurec_core.models",
    "DisaggregatedDeployment": "gpurec_core.models",
    "PerformanceBands": "gpurec_core.models",
    "recommend_gpus": "gpurec_core.recommend",
    "sweep": "gpurec_core.sweep_grid",
    "GPURecommendation": "gpurec_core.result",
    "Recommendation": "gpurec_core.result",
    "RecommendationResult": "gpurec_core.result",
    "GpurecError": "gpurec_core.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gpurec_core' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from gpurec_core.api import estimate_disaggregated, estimate_performance, plan_memory
    from gpurec_core.architecture import ModelArchitecture
    from gpurec_core.disagg_launch import launch_disaggregated
    from gpurec_core.errors import GpurecError
    from gpurec_core.gpus import get_gpu_spec, list_available_gpus
    from gpurec_core.model_config import ModelConfig
    from gpurec_core.models import (DisaggregatedDeployment, EngineInfo, EstimatorInfo, GPUSpec, LaunchFlags,
                                    MemoryPlan, Parallelism, PerformanceBands, PerformanceEstimate, Pool, Precision,
                                    Workload)
    from gpurec_core.plugins import get_plugin_manager, hookimpl
    from gpurec_core.recommend import recommend_gpus
    from gpurec_core.sweep_grid import sweep
    from gpurec_core.result import GPURecommendation, Recommendation, RecommendationResult
