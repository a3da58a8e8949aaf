"""gpurec's default performance estimator, ``"roofline"``: per-step rooflines + a serving model.

Each engine step is timed from first principles (weights and KV bytes over achievable
bandwidth, FLOPs over achievable tensor throughput, TP all-reduces and EP all-to-alls over the
GPU's links, per-step engine overhead); a closed-loop continuous-batching model turns steps into
TTFT, inter-token latency and throughput. Constants: ``catalogs/engines/roofline.toml``;
accuracy against measurements: ``docs/accuracy.md``.

Besides the hooks, :func:`estimate_many` answers many points in a few numpy calls with the
hook's numbers; ``recommend_gpus`` and ``gpurec_core.sweep`` use it when this plugin is the one
that answers ``estimator="roofline"``.
"""

from __future__ import annotations

from gpurec_core.models import EstimatorInfo
from gpurec_core.plugins import hookimpl
from gpurec_roofline.estimator import ESTIMATOR_NAME, Deployments, Estimates, estimate, estimate_many

__all__ = ["ESTIMATOR_NAME", "Deployments", "Estimates", "estimate", "estimate_many", "estimate_performance",
           "list_estimators"]


@hookimpl(trylast=True)
def estimate_performance(model, gpu, parallelism, workload, memory, estimator):
    """Answer for ``estimator="roofline"``; None for any other name."""
    if estimator != ESTIMATOR_NAME:
        return None
    return estimate(model, gpu, parallelism, workload, memory)


@hookimpl
def list_estimators():
    return [EstimatorInfo(
        name=ESTIMATOR_NAME, usable=True,
        description="per-step roofline (bandwidth, FLOPs, all-reduce, engine overhead) with a closed-loop "
                    "continuous-batching model; calibrated on H100 measurements (docs/accuracy.md)",
    )]
