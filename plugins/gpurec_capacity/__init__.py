"""gpurec's bundled capacity plugin: precision inference and engine-faithful memory plans.

Registered through the entry point ``capacity = "gpurec_capacity"``; its hook implementations
are module-level functions.

- ``infer_precision`` (``trylast``: any other plugin that answers wins): weight precision and
  bytes per parameter with scales, unquantized modules and the KV-cache dtype, from
  ``quantization_config`` / ``hf_quant_config.json`` / ``torch_dtype`` (see :mod:`.precision`).
- ``list_engines``: vLLM, SGLang and TensorRT-LLM, each with its memory profile, the layouts it
  runs and its launcher's flags, from ``catalogs/engines/<engine>.toml``.
- ``estimate_memory``: a :class:`~gpurec_core.MemoryPlan` for rank 0 in the accounting of vLLM
  0.19 (faithful), SGLang or TensorRT-LLM (profiles) (see :mod:`.planner`); gpurec calls it only
  for the engines listed here.
  An fp8 KV cache on a GPU without FP8 (``gpu.supports_fp8`` False) gives ``fits=False`` with the
  reason, not an exception, so a recommender can skip that GPU and say why.
"""

from __future__ import annotations

from gpurec_core.plugins import hookimpl

from gpurec_capacity.engine_constants import engine_infos
from gpurec_capacity.planner import PLANNERS
from gpurec_capacity.precision import infer_precision_from_model

__all__ = ["infer_precision", "estimate_memory", "list_engines"]


@hookimpl(trylast=True)
def infer_precision(model):
    """Precision of ``model`` from its config (never None: this plugin is the fallback)."""
    return infer_precision_from_model(model)


@hookimpl
def list_engines():
    return engine_infos()


@hookimpl
def estimate_memory(model, gpu, parallelism, workload, engine):
    """Memory plan of rank 0 for ``engine`` ('vllm', 'sglang', 'trtllm'); None for other engines."""
    planner = PLANNERS.get(engine)
    if planner is None:
        return None
    return planner(model, gpu, parallelism, workload)
