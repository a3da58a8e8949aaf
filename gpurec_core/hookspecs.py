"""The four hooks of gpurec. Each docstring is the hook's contract.

Plugins implement them with ``from gpurec_core import hookimpl`` and register through the
entry-point group ``gpurec``::

    [project.entry-points.gpurec]
    acme = "gpurec_acme.plugin"

Never give a hook implementation's argument a default: pluggy never fills it. Implementations
may take any subset of a hook's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

import pluggy

from gpurec_core._names import PROJECT_NAME

if TYPE_CHECKING:  # pragma: no cover
    from gpurec_core.architecture import ModelArchitecture
    from gpurec_core.models import EstimatorInfo, GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate, Precision, Workload

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def provide_gpu_specs() -> Iterable["GPUSpec"]:
    """Return the GPUs this plugin knows.

    Every plugin's result is collected and merged by the plugin manager. Two plugins that
    define the same name (or an alias of each other) are an error naming both; to replace a
    bundled GPU, users name a TOML file in ``GPUREC_GPU_CATALOG`` (the replacement is reported).

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

    Return None when this plugin does not handle ``engine``. Stops at first non-None result.

    :param model: the resolved model.
    :param gpu: the accelerator.
    :param parallelism: tensor / pipeline / expert parallel sizes of one replica.
    :param workload: lengths, concurrency, engine options and the resolved ``precision``.
    :param engine: engine profile name: ``"vllm"``, ``"sglang"`` or ``"trtllm"``.
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

    Return None when ``estimator`` is not this plugin's name. Raise
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
