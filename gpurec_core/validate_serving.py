"""Predict the rows of a serving-measurement CSV (TTFT, ITL, output throughput) with an estimator.

The serving schema (``data/README.md``): ``model, model_path, checkpoint, precision,
kv_cache_dtype, engine, engine_version, gpu, tp, pp, ep, isl, osl, concurrency, metric, value,
source``; metrics ``ttft_ms``, ``itl_ms``, ``output_tok_s``; ``concurrency=max`` rows are the
saturation throughput of the whole deployment. ``gpurec_core.validate`` dispatches serving CSVs
here and aggregates the returned rows.

Every prediction goes through :func:`gpurec_core.api.estimate_performance`, the public path a
user takes, and is cached per (model, configuration) so each distinct deployment is estimated once
for its three metrics.
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import Any, Optional, Union

from gpurec_core.errors import GpurecError, WorkloadError
from gpurec_core.measurement_cells import cell, concurrency, whole_number

SERVING_COLUMNS = ("model", "model_path", "checkpoint", "precision", "kv_cache_dtype", "engine", "engine_version",
                   "gpu", "tp", "pp", "ep", "isl", "osl", "concurrency", "metric", "value", "source")
SERVING_METRICS = ("ttft_ms", "itl_ms", "output_tok_s")
_METRIC_FIELD = {"ttft_ms": "time_to_first_token_ms", "itl_ms": "inter_token_latency_ms",
                 "output_tok_s": "throughput_tokens_per_sec"}

#: Models whose rows are all held out of calibration (scripts/calibrate_roofline.py): they test the
#: estimator on architectures (70B/405B dense, MoE, MXFP4) and engines' fp8 paths it was not fitted on.
HELD_OUT_MODELS = frozenset({
    "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.1-405B",
    "Qwen/Qwen3-235B-A22B", "openai/gpt-oss-120b", "MiniMaxAI/MiniMax-M2.5",
    "meta-llama/Llama-4-Scout-17B-16E-Instruct", "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
})
#: Within the calibration models, a configuration whose hash falls in this many out of 4 buckets is
#: held out too (so every engine has held-out rows); all concurrencies of one configuration stay
#: on the same side, so neighbouring points cannot leak.
HELD_OUT_BUCKETS = 1


def _int_cell(row: dict, key: str, default: int) -> int:
    text = cell(row, key)
    return whole_number(text) if text else default


def concurrency_of(row: dict) -> Union[int, str]:
    text = cell(row, "concurrency")
    return concurrency(text) if text else 1


def describe_config(row: dict) -> str:
    """A short label of a row's deployment, e.g. ``"tp2 isl1024 osl128 c16 fp8"``."""
    parts = [f"tp{_int_cell(row, 'tp', 1)}"]
    if _int_cell(row, "pp", 1) > 1:
        parts.append(f"pp{_int_cell(row, 'pp', 1)}")
    if _int_cell(row, "ep", 1) > 1:
        parts.append(f"ep{_int_cell(row, 'ep', 1)}")
    parts += [f"isl{cell(row, 'isl')}", f"osl{cell(row, 'osl')}", f"c{concurrency_of(row)}"]
    if cell(row, "precision"):
        parts.append(cell(row, "precision"))
    if cell(row, "kv_cache_dtype"):
        parts.append(f"kv-{cell(row, 'kv_cache_dtype')}")
    gpu = cell(row, "gpu")
    if gpu and gpu.upper() != "H100":
        parts.insert(0, gpu)
    return " ".join(parts)


def calibration_split(row: dict) -> str:
    """``"calibration"`` or ``"held-out"`` for a serving row (documented in docs/accuracy.md).

    Held out: every row of :data:`HELD_OUT_MODELS`, and rows of other models whose configuration
    key ``model|engine|tp|pp|ep|isl|osl|precision`` has an MD5 whose first byte mod 4 is below
    :data:`HELD_OUT_BUCKETS`.
    """
    if cell(row, "model") in HELD_OUT_MODELS:
        return "held-out"
    key = "|".join(cell(row, k) for k in ("model", "engine", "tp", "pp", "ep", "isl", "osl", "precision"))
    bucket = hashlib.md5(key.encode()).digest()[0] % 4
    return "held-out" if bucket < HELD_OUT_BUCKETS else "calibration"


def kv_cache_dtype_of(row: dict) -> Optional[str]:
    """The row's KV-cache dtype, or None for the engine default.

    An empty cell with an NVIDIA ModelOpt export as ``checkpoint`` (``nvidia/...``) means fp8:
    every ModelOpt export in the reference data sets ``kv_cache_quant_algo: FP8`` in its
    hf_quant_config.json, and TensorRT-LLM serves the KV cache in that dtype.
    """
    kv = cell(row, "kv_cache_dtype")
    if kv:
        return kv
    if cell(row, "checkpoint").startswith("nvidia/"):
        return "fp8"
    return None


def _model_ref(row: dict, csv_dir: pathlib.Path) -> str:
    path = cell(row, "model_path")
    if path:
        return str((csv_dir / path).resolve())
    return cell(row, "model")


def _estimate_key(row: dict, csv_dir: pathlib.Path, estimator: str) -> tuple:
    return (_model_ref(row, csv_dir), cell(row, "gpu") or "H100", _int_cell(row, "tp", 1), _int_cell(row, "pp", 1),
            _int_cell(row, "ep", 1), _int_cell(row, "isl", 1), _int_cell(row, "osl", 1), concurrency_of(row),
            cell(row, "precision") or None, kv_cache_dtype_of(row),
            cell(row, "engine") or "vllm", estimator)


class _Predictor:
    """Caches models and estimates so each deployment is estimated once."""

    def __init__(self, csv_dir: pathlib.Path, estimator: str) -> None:
        self.csv_dir = csv_dir
        self.estimator = estimator
        self.models: dict[str, Any] = {}
        self.estimates: dict[tuple, tuple[Optional[Any], Optional[str]]] = {}

    def model(self, ref: str):
        if ref not in self.models:
            from gpurec_core.api import as_model

            self.models[ref] = as_model(ref)
        return self.models[ref]

    def estimate(self, row: dict):
        key = _estimate_key(row, self.csv_dir, self.estimator)
        if key in self.estimates:
            return self.estimates[key]
        ref, gpu, tp, pp, ep, isl, osl, conc, precision, kv, engine, estimator = key
        from gpurec_core.api import estimate_performance

        def run(weights: Optional[str]):
            return estimate_performance(
                self.model(ref), gpu, tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=ep,
                input_length=isl, output_length=osl, concurrency=conc, precision=weights, kv_cache_dtype=kv,
                engine=engine, estimator=estimator)

        try:
            result = (run(precision), None)
        except WorkloadError as exc:
            # A pre-quantized checkpoint cannot be re-quantized (e.g. rows labelled 'fp8' whose checkpoint is
            # gpt-oss's MXFP4: the label names the activation precision). Predict at the checkpoint's own weights.
            try:
                result = (run(None), None) if self.model(ref).is_quantized else (None, f"WorkloadError: {exc}")
            except GpurecError as retry_exc:
                result = (None, f"{type(retry_exc).__name__}: {retry_exc}")
        except GpurecError as exc:
            result = (None, f"{type(exc).__name__}: {exc}")
        self.estimates[key] = result
        return result


def predict_rows(rows: list[dict], csv_dir: pathlib.Path, estimator: str) -> list[dict]:
    """Predict every serving row; one dict per input row, in order.

    Each dict has ``model, engine, metric, measured, predicted, ape, config, error`` (``ape`` in
    percent, as in ``gpurec_core.validate``; ``predicted``
    and ``ape`` are None and ``error`` says why when the estimate failed or the metric is unknown),
    plus ``gpu, concurrency, source, split`` (``split`` is :func:`calibration_split`).
    """
    predictor = _Predictor(pathlib.Path(csv_dir), estimator)
    out: list[dict] = []
    for row in rows:
        metric = cell(row, "metric")
        measured_text = cell(row, "value")
        measured = float(measured_text) if measured_text else None
        record: dict[str, Any] = {
            "model": cell(row, "model") or cell(row, "model_path"),
            "engine": cell(row, "engine") or "vllm",
            "metric": metric,
            "measured": measured,
            "predicted": None,
            "ape": None,
            "config": describe_config(row),
            "error": None,
            "gpu": cell(row, "gpu") or "H100",
            "concurrency": cell(row, "concurrency"),
            "source": cell(row, "source"),
            "split": calibration_split(row),
        }
        if metric not in _METRIC_FIELD:
            record["error"] = f"unknown metric {metric!r}; serving metrics are {', '.join(SERVING_METRICS)}"
            out.append(record)
            continue
        estimate, error = predictor.estimate(row)
        if estimate is None:
            record["error"] = error
        else:
            predicted = getattr(estimate, _METRIC_FIELD[metric])
            record["predicted"] = predicted
            if predicted is not None and measured:
                record["ape"] = abs(predicted - measured) / abs(measured) * 100.0
        out.append(record)
    return out
