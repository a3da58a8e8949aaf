"""Predict every row of a memory measurement CSV (``vllm_memory_h100.csv`` schema).

Columns: ``model, model_path, checkpoint, dtype, quantization, kv_cache_dtype, engine,
engine_version, gpu, tp, pp, ep, max_model_len, gpu_memory_utilization, max_num_batched_tokens,
max_num_seqs, metric, value, source``; empty cells mean "engine default". Metrics are per GPU
(rank 0): ``weights_gib, activation_gib, non_torch_gib, cuda_graph_gib, kv_cache_gib,
kv_cache_tokens, max_concurrency``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from gpurec_core.errors import GpurecError, MeasurementFileError
from gpurec_core.measurement_cells import ape, cell, cell_value, engine_of

MEMORY_METRICS = ("weights_gib", "activation_gib", "non_torch_gib", "cuda_graph_gib", "kv_cache_gib",
                  "kv_cache_tokens", "max_concurrency")
#: What is left for the KV cache: no prediction when the plan says the deployment does not start.
KV_METRICS = ("kv_cache_gib", "kv_cache_tokens", "max_concurrency")
REQUIRED_COLUMNS = ("model", "engine", "gpu", "tp", "metric", "value")
_CONFIG_COLUMNS = ("model", "model_path", "checkpoint", "dtype", "quantization", "kv_cache_dtype", "engine", "gpu",
                   "tp", "pp", "ep", "max_model_len", "gpu_memory_utilization", "max_num_batched_tokens", "max_num_seqs")


def describe(row: dict[str, Any]) -> str:
    """A short description of a row's configuration, e.g. 'H100 tp=2 pp=1 len=8192 bf16 kv=fp8'."""
    parts = [cell(row, "gpu") or "?", f"tp={cell(row, 'tp') or 1}", f"pp={cell(row, 'pp') or 1}"]
    if cell(row, "max_model_len"):
        parts.append(f"len={cell(row, 'max_model_len')}")
    for name, label in (("dtype", "dtype"), ("quantization", "quant"), ("kv_cache_dtype", "kv"),
                        ("gpu_memory_utilization", "util"), ("max_num_batched_tokens", "mnbt"), ("max_num_seqs", "seqs")):
        if cell(row, name):
            parts.append(f"{label}={cell(row, name)}")
    checkpoint = cell(row, "checkpoint")
    if checkpoint and checkpoint != cell(row, "model"):
        parts.append(f"ckpt={checkpoint}")
    return " ".join(parts)


def _plan_for(row: dict[str, Any], csv_dir: Path, path: str, line: int, models: dict[str, Any]):
    from gpurec_core.api import _build, as_gpu, as_model, check_engine, make_parallelism
    from gpurec_core.models import Workload
    from gpurec_core.plugins import estimate_memory

    model_path = cell(row, "model_path")
    key = str((csv_dir / model_path).resolve()) if model_path else cell(row, "model")
    model = models.get(key)
    if model is None:
        model = as_model(key)
        models[key] = model
    gpu = as_gpu(cell(row, "gpu"))
    engine = check_engine(engine_of(row))
    parallelism = make_parallelism(
        tensor_parallel_size=cell_value(row, "tp", path, line, 1),
        pipeline_parallel_size=cell_value(row, "pp", path, line, 1),
        expert_parallel_size=cell_value(row, "ep", path, line, 1),
    )
    precision = model.resolve_precision(cell(row, "dtype") or None, None)
    from gpurec_core.memory_math import apply_precision_overrides

    precision = apply_precision_overrides(model, precision, cell(row, "quantization") or None,
                                          cell(row, "kv_cache_dtype") or None)
    max_model_len = cell_value(row, "max_model_len", path, line, None) or model.max_context_length()
    workload = _build(  # an out-of-range option is a WorkloadError of this row, not a crash
        Workload, "workload", input_length=max(1, min(max_model_len, 1024)), output_length=1,
        max_model_len=max_model_len,
        gpu_memory_utilization=cell_value(row, "gpu_memory_utilization", path, line, 0.9),
        max_num_batched_tokens=cell_value(row, "max_num_batched_tokens", path, line, None),
        max_num_seqs=cell_value(row, "max_num_seqs", path, line, None), precision=precision,
    )
    return estimate_memory(model, gpu, parallelism, workload, engine)


def predict_rows(rows: list[dict[str, Any]], csv_dir: Path, estimator: Optional[str] = None,
                 path: str = "<rows>") -> list[dict[str, Any]]:
    """Predict each measurement row; one memory plan per distinct configuration.

    Returns one dict per row: ``row, model, engine, config, metric, measured, predicted, ape, error,
    source``. A row whose model, GPU or options cannot be resolved gets ``error`` (a GpurecError's
    message) and no prediction; a malformed cell raises MeasurementFileError naming the row and column.
    """
    del estimator  # memory rows do not depend on the speed estimator
    plans: dict[tuple[str, ...], Any] = {}
    models: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        line = index + 2  # header is line 1
        metric = cell(row, "metric")
        if metric not in MEMORY_METRICS:
            raise MeasurementFileError(f"{path}: row {line}, column 'metric': unknown metric {metric!r}; "
                                       f"expected one of {', '.join(MEMORY_METRICS)}")
        measured = cell_value(row, "value", path, line, None)
        if measured is None:
            raise MeasurementFileError(f"{path}: row {line}, column 'value': empty")
        key = tuple(cell(row, c) for c in _CONFIG_COLUMNS)
        if key not in plans:
            try:
                plans[key] = _plan_for(row, csv_dir, path, line, models)
            except MeasurementFileError:
                raise
            except GpurecError as exc:
                plans[key] = exc
        plan = plans[key]
        record = {"row": line, "model": cell(row, "model"), "engine": engine_of(row),
                  "config": describe(row), "metric": metric, "measured": measured, "predicted": None,
                  "ape": None, "error": None, "source": cell(row, "source")}
        if isinstance(plan, Exception):
            record["error"] = f"{type(plan).__name__}: {plan}"
        elif not plan.fits and metric in KV_METRICS:
            record["error"] = f"EstimationError: no KV cache is left: {plan.reason}"
        else:
            predicted = float(getattr(plan, metric))
            record["predicted"] = predicted
            record["ape"] = ape(measured, predicted)
            if record["ape"] is None:
                record["error"] = f"measured {measured:g}: a percentage error needs a measurement other than 0"
            if not plan.fits and plan.reason:
                record["note"] = plan.reason
        out.append(record)
    return out
