"""Predict the rows of a disaggregated-serving CSV (prefill and decode pools, xPyD) with an estimator.

The schema (docs/validate.md): ``model, checkpoint, precision, kv_cache_dtype, engine,
engine_version, gpu, isl, osl, concurrency, prefill_workers, prefill_tp, prefill_dp, prefill_ep,
prefill_batch, decode_workers, decode_tp, decode_dp, decode_ep, decode_batch, metric, value,
source``. Each pool has ``*_workers`` engine instances of ``*_tp x *_dp`` GPUs (an empty cell: 1
worker, DP 1, EP 1); ``*_batch`` is the engine's max batch per worker (empty: its default). Every
prediction goes through :func:`gpurec_core.api.estimate_disaggregated`, cached per configuration.
"""

from __future__ import annotations

import pathlib
from typing import Any, Optional

from gpurec_core.errors import GpurecError
from gpurec_core.measurement_cells import (cell, engine_of, parsed, random_range_ratio_of, request_lengths,
                                          speculative_label)
from gpurec_core.validate_serving import (SERVING_METRICS, as_started, concurrency_of, frontend_of, kv_cache_dtype_of,
                                          num_prompts_of, record_prediction, served_precision, unknown_metric)

POOL_COLUMNS = ("workers", "tp", "dp", "ep", "batch")
#: A row is noted when users waiting for a pool (the estimate's ``ttft_pool_wait``) make up more than this
#: share of its predicted TTFT: the prediction then rests on how many requests the recorded pools hold.
POOL_WAIT_SHARE = 0.5


def _pool(row: dict, pool: str) -> dict[str, Optional[int]]:
    return {size: parsed(row, f"{pool}_{size}") for size in POOL_COLUMNS}


def describe_config(row: dict) -> str:
    """A short label, e.g. ``"1P(tp1 dp16 ep16) 3D(tp16 ep16 b10) isl1024 osl1024 c30 fp8"``."""
    def pool(name: str, letter: str) -> str:
        p = _pool(row, name)
        layout = " ".join(f"{k}{p[k]}" for k in ("tp", "dp", "ep") if p[k] and (k == "tp" or p[k] > 1))
        batch = f" b{p['batch']}" if p["batch"] else ""
        return f"{p['workers'] or 1}{letter}({layout}{batch})"
    front = frontend_of(row)
    via = f" via {front}" if front != "engine" else ""
    spec = f" {speculative_label(row)}" if speculative_label(row) else ""
    return (f"{pool('prefill', 'P')} {pool('decode', 'D')} isl{cell(row, 'isl')} osl{cell(row, 'osl')} "
            f"c{concurrency_of(row)}{spec} {cell(row, 'precision')}{via}").strip()


def _estimate(row: dict, csv_dir: pathlib.Path, estimator: str, models: dict) -> tuple[Any, Optional[str]]:
    """The estimate and, when the pools only start above the engine's default memory fraction, a note."""
    from gpurec_core.api import as_model, estimate_disaggregated

    ref = str((csv_dir / cell(row, "model_path")).resolve()) if cell(row, "model_path") else cell(row, "model")
    if ref not in models:
        models[ref] = as_model(ref)
    model = models[ref]
    p, d = _pool(row, "prefill"), _pool(row, "decode")
    conc = concurrency_of(row)
    input_length, output_length = request_lengths(row)
    return as_started(lambda fraction: estimate_disaggregated(
        model, cell(row, "gpu") or "H100", input_length=input_length,
        output_length=output_length, concurrency=conc if isinstance(conc, int) else 1,
        prefill_workers=p["workers"] or 1, prefill_tensor_parallel_size=p["tp"] or 1,
        prefill_data_parallel_size=p["dp"] or 1, prefill_expert_parallel_size=p["ep"] or 1, prefill_max_batch=p["batch"],
        decode_workers=d["workers"] or 1, decode_tensor_parallel_size=d["tp"] or 1,
        decode_data_parallel_size=d["dp"] or 1, decode_expert_parallel_size=d["ep"] or 1, decode_max_batch=d["batch"],
        precision=served_precision(model, cell(row, "precision") or None),
        kv_cache_dtype=kv_cache_dtype_of(row), gpu_memory_utilization=fraction, engine=engine_of(row),
        frontend=frontend_of(row), speculative_tokens=parsed(row, "speculative_tokens", 0),
        acceptance_length=parsed(row, "acceptance_length"), num_prompts=num_prompts_of(row), estimator=estimator))


def pool_wait_note(estimate) -> Optional[str]:
    """A note when most of the predicted TTFT is users waiting for a pool of the layout as recorded
    (:data:`POOL_WAIT_SHARE`), else None."""
    wait = estimate.breakdown.get("ttft_pool_wait", 0.0)
    ttft = estimate.time_to_first_token_ms
    if not ttft or wait <= POOL_WAIT_SHARE * ttft:
        return None
    return (f"{wait / 1e3:,.1f} s of the {ttft / 1e3:,.1f} s TTFT predicted is users waiting for a pool of the "
            "layout as recorded, so it rests on how many requests those pools hold: a record that drops the "
            "run's workers, max batch or attention DP (TensorRT-LLM and SGLang count attention-DP GPUs in tp) "
            "changes it most (docs/disaggregated.md)")


def predict_rows(rows: list[dict], csv_dir: pathlib.Path, estimator: str) -> list[dict]:
    """One record per row (``model, engine, metric, measured, predicted, ape, config, error, gpu,
    concurrency, source, split``), as :func:`gpurec_core.validate_serving.predict_rows` gives."""
    models: dict = {}
    cache: dict[str, tuple[Optional[Any], Optional[str], Optional[str]]] = {}
    out = []
    for row in rows:
        metric = cell(row, "metric")
        value = cell(row, "value")
        record: dict[str, Any] = {"model": cell(row, "model") or cell(row, "model_path"),
                                  "engine": engine_of(row), "metric": metric,
                                  "measured": float(value) if value else None, "predicted": None, "ape": None,
                                  "config": describe_config(row), "error": None, "gpu": cell(row, "gpu") or "H100",
                                  "concurrency": cell(row, "concurrency"), "source": cell(row, "source"),
                                  "split": "held-out", "frontend": frontend_of(row),
                                  "random_range_ratio": random_range_ratio_of(row),
                                  "speculative_tokens": parsed(row, "speculative_tokens", 0),
                                  "num_prompts": num_prompts_of(row)}
        if metric not in SERVING_METRICS:
            record["error"] = unknown_metric(metric, "disaggregated")
            out.append(record)
            continue
        key = "|".join(cell(row, k) for k in row if k not in ("metric", "value", "source"))
        if key not in cache:
            try:
                cache[key] = _estimate(row, pathlib.Path(csv_dir), estimator, models) + (None,)
            except GpurecError as exc:
                cache[key] = (None, None, f"{type(exc).__name__}: {exc}")
        estimate, note, error = cache[key]
        waits = estimate is not None and metric == "ttft_ms" and pool_wait_note(estimate)
        notes = [n for n in (note, waits) if n]
        if notes:
            record["note"] = "; ".join(notes)
        record_prediction(record, estimate, error)
        out.append(record)
    return out
