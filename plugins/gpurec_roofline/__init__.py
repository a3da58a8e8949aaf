"""gpurec's default performance estimator, ``"roofline"``: per-step rooflines + a serving model.

Each engine step is timed from first principles (weights and KV bytes over achievable
bandwidth, FLOPs over achievable tensor throughput, TP all-reduces and EP all-to-alls over the
GPU's links, per-step engine overhead); a closed-loop continuous-batching model turns steps into
TTFT, inter-token latency and throughput. Constants: ``catalogs/engines/roofline.toml``;
accuracy against measurements: ``docs/accuracy.md``.

``estimate_performance_batch`` answers a search's or a sweep's points in a few numpy calls
(:func:`estimate_many`) with the numbers ``estimate_performance`` gives point by point; each
deployment is prepared once per search (``batch.deployments.prepared``). An engine a plugin adds
is timed with the constants of the bundled engine it ``schedules_like``.
"""

from __future__ import annotations

from gpurec_core.models import EstimatorInfo
from gpurec_core.plugins import hookimpl
from gpurec_roofline.estimator import ESTIMATOR_NAME, Deployments, Estimates, estimate, estimate_many

__all__ = ["ESTIMATOR_NAME", "Deployments", "Estimates", "estimate", "estimate_many", "estimate_performance",
           "estimate_performance_batch", "estimate_disaggregated", "fit_calibration", "list_estimators"]


@hookimpl
def estimate_performance(model, gpu, parallelism, workload, memory, estimator):
    """Answer for ``estimator="roofline"`` (gpurec asks this plugin for no other name)."""
    if estimator != ESTIMATOR_NAME:
        return None
    return estimate(model, gpu, parallelism, workload, memory)


@hookimpl
def estimate_performance_batch(batch, estimator):
    """Every point of ``batch`` in a few numpy calls; each deployment prepared once per search."""
    if estimator != ESTIMATOR_NAME:
        return None
    deployments = batch.deployments.prepared(ESTIMATOR_NAME, lambda found: Deployments(found.items))
    return estimate_many(deployments, batch.rows, batch.input_length, batch.output_length, batch.concurrency,
                         keep_parts=batch.keep_breakdown)


@hookimpl
def list_estimators():
    return [EstimatorInfo(
        name=ESTIMATOR_NAME, usable=True,
        description="per-step roofline (bandwidth, FLOPs, all-reduce, engine overhead) with a closed-loop "
                    "continuous-batching model; calibrated on H100 measurements (docs/accuracy.md); "
                    "`gpurec calibrate` fits it to your own runs",
    )]


@hookimpl
def fit_calibration(rows, estimator, files, file_dates, folds):
    """Fit this estimator's factors per GPU, engine and precision of the rows (gpurec calibrate)."""
    if estimator != ESTIMATOR_NAME:
        return None
    from gpurec_roofline.calibrate import fit_profile

    return fit_profile(list(rows), files=tuple(files), file_dates=tuple(file_dates), folds=folds)


@hookimpl
def estimate_disaggregated(model, deployment, workload, prefill_memory, decode_memory, estimator):
    """Prefill pool, KV transfer and decode pool in a closed loop (gpurec_roofline.disagg)."""
    if estimator != ESTIMATOR_NAME:
        return None
    from gpurec_roofline.disagg import estimate_disaggregated as estimate_xpyd

    return estimate_xpyd(model, deployment, workload, prefill_memory, decode_memory)
