"""The hooks of gpurec. Each docstring is the hook's contract.

Plugins implement them with ``from gpurec_core import hookimpl`` and register through the
entry-point group ``gpurec``::

    [project.entry-points.gpurec]
    acme = "gpurec_acme.plugin"

Never give a hook implementation's argument a default: pluggy never fills it. Implementations
may take any subset of a hook's arguments. pluggy's hook wrappers (``@hookimpl(wrapper=True)``),
``pm.enable_tracing()`` and ``pm.add_hookcall_monitoring`` see every call.

Ownership: an estimator name belongs to the plugin that lists it in ``list_estimators``, an
engine name to the plugin that lists it in ``list_engines`` (a bundled plugin keeps its names).
``estimate_performance`` and ``estimate_performance_batch`` for estimator ``X`` call only the
owner of ``X``; ``estimate_memory`` for engine ``E`` only the owner of ``E`` (wrappers of every
plugin still run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

import pluggy

from gpurec_core._names import PROJECT_NAME

if TYPE_CHECKING:  # pragma: no cover
    from gpurec_core.architecture import ModelArchitecture
    from gpurec_core.batch import BatchEstimates, PerformanceBatch
    from gpurec_core.models import (EngineInfo, EstimatorInfo, GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate,
                                    Precision, Workload)

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def provide_gpu_specs() -> Iterable["GPUSpec"]:
    """Return the GPUs this plugin knows.

    Every plugin's result is collected and merged by the plugin manager. A GPU whose name or alias
    is already taken (by a bundled GPU, or by a plugin loaded before this one) is skipped with a
    warning; users let a plugin replace bundled GPUs with ``GPUREC_ALLOW_GPU_OVERRIDE=plugin``, or
    replace one themselves with a ``GPUREC_GPU_CATALOG`` TOML file (the replacement is reported).

    :return: an iterable of :class:`gpurec_core.GPUSpec`; an empty one when the plugin has none.

    Example::

        @hookimpl
        def provide_gpu_specs():
            return [GPUSpec(name="ACME_X1", memory_gb=96, bandwidth_tb_s=4.0, bf16_tflops_dense=900,
                            sources={"memory_gib": "ACME X1 datasheet", ...})]
    """


@hookspec(firstresult=True)
def infer_precision(model: "ModelArchitecture") -> Optional["Precision"]:
    """Work out how a model's weights and KV cache are stored.

    Return None when the model is not this plugin's to judge ("not mine"); the bundled
    ``gpurec_capacity`` plugin is ``trylast`` and always answers. Stops at first non-None result.

    :param model: the resolved model; ``model.config`` is its :class:`ModelConfig`.
    :return: a :class:`gpurec_core.Precision` (weight precision, bytes per parameter including
        scales, unquantized modules, KV-cache dtype), or None.

    Example::

        @hookimpl
        def infer_precision(model):
            if (model.config.quantization_config or {}).get("quant_method") == "acme4":
                return Precision(weight="int4", weight_bytes_per_param=0.5625, quant_method="acme4")
            return None
    """


@hookspec(firstresult=True)
def estimate_memory(
    model: "ModelArchitecture",
    gpu: "GPUSpec",
    parallelism: "Parallelism",
    workload: "Workload",
    engine: str,
) -> Optional["MemoryPlan"]:
    """Plan one GPU's memory the way the serving engine budgets it.

    Called only on the plugin that lists ``engine`` in ``list_engines``; return None for any
    other engine. Stops at first non-None result.

    :param model: the resolved model.
    :param gpu: the accelerator.
    :param parallelism: tensor / pipeline / expert parallel sizes of one replica.
    :param workload: lengths, concurrency, engine options and the resolved ``precision``.
    :param engine: engine name: ``"vllm"``, ``"sglang"``, ``"trtllm"`` or one a plugin lists.
    :return: a :class:`gpurec_core.MemoryPlan` for rank 0 (weights, activation peak, non-torch,
        CUDA graphs, KV pool in GiB and tokens, max concurrency, fits and why not), or None.

    Example::

        @hookimpl
        def estimate_memory(model, gpu, parallelism, workload, engine):
            if engine != "acme-serve":
                return None
            return MemoryPlan(engine=engine, ...)
    """


@hookspec(firstresult=True)
def estimate_performance(
    model: "ModelArchitecture",
    gpu: "GPUSpec",
    parallelism: "Parallelism",
    workload: "Workload",
    memory: "MemoryPlan",
    estimator: str,
) -> Optional["PerformanceEstimate"]:
    """Estimate serving speed with the estimator named ``estimator``.

    Called only on the plugin that lists ``estimator`` in ``list_estimators``. Raise
    :class:`gpurec_core.errors.EstimatorUnavailableError` when it is yours but cannot run
    (missing package, unsupported GPU or precision) — say what to install or choose instead.
    Stops at first non-None result.

    :param model: the resolved model.
    :param gpu: the accelerator.
    :param parallelism: the layout of one replica (data-parallel replicas multiply throughput).
    :param workload: lengths, concurrency (closed loop) and precision.
    :param memory: the memory plan of this deployment (KV pool, max concurrency).
    :param estimator: the estimator's name, e.g. ``"roofline"``.
    :return: a :class:`gpurec_core.PerformanceEstimate`, or None.

    Example::

        @hookimpl
        def estimate_performance(model, gpu, parallelism, workload, memory, estimator):
            if estimator != "acme":
                return None
            return PerformanceEstimate(time_to_first_token_ms=..., estimator="acme")
    """


@hookspec
def list_estimators() -> Iterable["EstimatorInfo"]:
    """Name the estimators this plugin provides, and whether each can run here.

    Collected from every plugin; ``gpurec estimators`` shows them.

    :return: an iterable of :class:`gpurec_core.EstimatorInfo`.

    Example::

        @hookimpl
        def list_estimators():
            return [EstimatorInfo(name="acme", usable=True, description="ACME's simulator")]
    """


@hookspec
def list_engines() -> Iterable["EngineInfo"]:
    """Name the serving engines this plugin plans memory for, with the layouts they run and their launcher.

    Collected from every plugin; ``gpurec engines`` shows them. ``estimate_memory`` is then called
    on this plugin for each engine it lists. ``schedules_like`` names a bundled engine whose step
    scheduling the roofline estimator applies to yours; ``launch`` spells its command line.

    :return: an iterable of :class:`gpurec_core.EngineInfo`.

    Example::

        @hookimpl
        def list_engines():
            return [EngineInfo(name="acme-serve", schedules_like="vllm",
                               launch=LaunchFlags(command=("acme-serve",), tensor_parallel="--tp", ...))]
    """


@hookspec(firstresult=True)
def estimate_performance_batch(batch: "PerformanceBatch", estimator: str) -> Optional["BatchEstimates"]:
    """Estimate many points at once with the estimator named ``estimator`` (optional).

    ``recommend_gpus`` and ``sweep`` call this for their thousands of points; an estimator that
    does not implement it is called point by point through ``estimate_performance`` instead, with
    the same results. Called only on the plugin that lists ``estimator``. ``batch.deployments`` is
    the same object for every batch of one search: prepare each deployment once with
    ``batch.deployments.prepared(name, build)``. Stops at first non-None result.

    :param batch: a :class:`gpurec_core.batch.PerformanceBatch` (deployments and per-point arrays).
    :param estimator: the estimator's name.
    :return: :class:`gpurec_core.batch.BatchEstimates` of ``len(batch)`` points, or None.

    Example::

        @hookimpl
        def estimate_performance_batch(batch, estimator):
            if estimator != "acme":
                return None
            return BatchEstimates.of([my_estimate(*batch.point(i)) for i in range(len(batch))])
    """


@hookspec(firstresult=True)
def fit_calibration(rows: list, estimator: str, files: tuple, file_dates: tuple, folds: int) -> Optional[object]:
    """Fit the estimator named ``estimator`` to a user's measured runs (``gpurec calibrate``; optional).

    Called only on the plugin that lists ``estimator``. Stops at first non-None result.

    :param rows: serving rows (dicts with the columns of gpurec's measurement CSV, one metric each:
        model, gpu, engine, precision, tp, pp, dp, ep, isl, osl, concurrency, metric, value, ...).
    :param estimator: the estimator's name.
    :param files: the benchmark files the rows were read from (recorded in the profile).
    :param file_dates: dates the runs record, where they do.
    :param folds: cross-validation folds over configurations.
    :return: a :class:`gpurec_core.calibration.Profile` (per GPU, engine and precision: the factors
        the rows constrain, their defaults, cross-validated error before and after, residual bands),
        or None. The estimator reads active profiles itself (:func:`gpurec_core.calibration.scope_for`).

    Example::

        @hookimpl
        def fit_calibration(rows, estimator, files, file_dates, folds):
            if estimator != "acme":
                return None
            return my_fit(rows)
    """


@hookspec(firstresult=True)
def estimate_disaggregated(model: "ModelArchitecture", deployment: object, workload: "Workload",
                           prefill_memory: "MemoryPlan", decode_memory: "MemoryPlan",
                           estimator: str) -> Optional["PerformanceEstimate"]:
    """Estimate a disaggregated prefill/decode deployment with the estimator named ``estimator`` (optional).

    Called only on the plugin that lists ``estimator``. Stops at first non-None result.

    :param deployment: a :class:`gpurec_core.models.DisaggregatedDeployment` (prefill and decode
        pools: GPU, one worker's layout, workers, max batch; the engine; the KV link).
    :param workload: lengths, ``concurrency`` (closed-loop users of the whole deployment), precision.
    :param prefill_memory: the memory plan of one prefill worker's GPU; ``decode_memory`` likewise.
    :return: a :class:`PerformanceEstimate` of the whole deployment (TTFT includes the prefill queue,
        the prefill and the KV transfer; ITL is the decode pool's), or None.

    Example::

        @hookimpl
        def estimate_disaggregated(model, deployment, workload, prefill_memory, decode_memory, estimator):
            if estimator != "acme":
                return None
            return PerformanceEstimate(time_to_first_token_ms=..., inter_token_latency_ms=..., estimator="acme")
    """
