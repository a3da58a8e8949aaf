"""``gpurec validate FILE.csv``: predict every row of a measurement file and report the error.

Three schemas are recognised by their columns (docs/validate.md): memory files (``dtype`` /
``quantization`` columns, metrics such as ``kv_cache_gib``) are predicted by
:mod:`gpurec_core.validate_memory`; serving files (``isl`` / ``osl`` columns, metrics ``ttft_ms``,
``itl_ms``, ``output_tok_s``) by ``gpurec_core.validate_serving`` with the chosen estimator;
disaggregated files (``prefill_*`` / ``decode_*`` pool columns) by ``gpurec_core.validate_disagg``.
Errors are absolute percentage errors in percent (APE = |predicted - measured| / |measured| x 100).

The JSON shape (``ValidationReport.to_dict()``)::

    {"path": ..., "kind": "memory", "estimator": ..., "n_rows": ..., "n_errors": ...,
     "metrics":   {"kv_cache_gib": {"n": 31, "median_ape": 0.02, "p90_ape": 0.09, "max_ape": 0.11}, ...},
     "by_engine": {"vllm": {"kv_cache_gib": {...}, ...}},
     "by_model":  {"meta-llama/Llama-3.1-8B-Instruct": {"kv_cache_gib": {...}, ...}},
     "rows":  [{"row": 2, "model": ..., "engine": ..., "config": ..., "metric": ..., "measured": ...,
                "predicted": ..., "ape": ..., "ratio": ..., "flag": null, "note": null, "error": null,
                "source": ...}, ...],
     "worst": [... the rows with the largest APE ...]}
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from gpurec_core.errors import MeasurementFileError
from gpurec_core.measurement_cells import check_rows, metric_name
from gpurec_core.bounded_read import open_regular_file

WORST_ROWS = 10


class MetricStats(BaseModel):
    """Error statistics of one metric over the rows that have a prediction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=0, description="rows with a prediction")
    median_ape: Optional[float] = Field(default=None, description="median absolute percentage error, %")
    p90_ape: Optional[float] = Field(default=None, description="90th percentile APE, %")
    max_ape: Optional[float] = Field(default=None, description="largest APE, %")


class ValidationRow(BaseModel):
    """One measured value and its prediction."""

    model_config = ConfigDict(extra="allow", frozen=True)

    row: int = Field(description="line in the CSV (the header is line 1)")
    model: str = Field(description="model id of the row")
    engine: str = Field(description="serving engine of the row")
    config: str = Field(description="the row's configuration in short")
    metric: str = Field(description="metric name")
    measured: float = Field(description="measured value")
    predicted: Optional[float] = Field(default=None, description="gpurec's prediction, None on error")
    ape: Optional[float] = Field(default=None, description="absolute percentage error, %")
    ratio: Optional[float] = Field(default=None, description="how many times off: max(predicted/measured, measured/predicted)")
    flag: Optional[str] = Field(default=None, description="why the measurement contradicts others of the same configuration")
    error: Optional[str] = Field(default=None, description="why no prediction could be made")
    note: Optional[str] = Field(default=None, description="an assumption about the measured run the prediction rests on")
    source: str = Field(default="", description="the row's source column")


class ValidationReport(BaseModel):
    """Predictions against a measurement CSV, summarised per metric, engine and model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="the CSV file")
    kind: str = Field(description="'memory', 'serving' or 'disaggregated'")
    estimator: str = Field(description="speed estimator used for serving rows")
    n_rows: int = Field(ge=0, description="rows read")
    n_errors: int = Field(ge=0, description="rows without a prediction")
    metrics: dict[str, MetricStats] = Field(description="metric -> error statistics")
    by_engine: dict[str, dict[str, MetricStats]] = Field(description="engine -> metric -> statistics")
    by_model: dict[str, dict[str, MetricStats]] = Field(description="model -> metric -> statistics")
    rows: list[ValidationRow] = Field(description="every row with its prediction")
    worst: list[ValidationRow] = Field(description="the rows with the largest APE")
    max_ratio: Optional[float] = Field(default=None, description="largest max(predicted/measured, measured/predicted)")
    n_over_5x: int = Field(default=0, ge=0, description="rows predicted more than 5 times too high or too low")
    n_flagged: int = Field(default=0, ge=0, description="rows whose measurement contradicts the same configuration's")
    metrics_unflagged: dict[str, MetricStats] = Field(default_factory=dict, description="metric statistics without the flagged rows")
    max_ratio_unflagged: Optional[float] = Field(default=None, description="max_ratio without the flagged rows")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def percentile(values: list[float], q: float) -> Optional[float]:
    """Linear-interpolated percentile (numpy's default method) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def metric_stats(apes: list[float]) -> MetricStats:
    return MetricStats(n=len(apes), median_ape=percentile(apes, 0.5), p90_ape=percentile(apes, 0.9),
                       max_ape=max(apes) if apes else None)


def _grouped(rows: list[ValidationRow], key) -> dict[str, dict[str, MetricStats]]:
    groups: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        bucket = groups.setdefault(key(row), {})
        values = bucket.setdefault(row.metric, [])
        if row.ape is not None:
            values.append(row.ape)
    return {name: {metric: metric_stats(v) for metric, v in sorted(metrics.items())}
            for name, metrics in sorted(groups.items())}


def read_measurements(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a measurement CSV; MeasurementFileError naming the row (and column) when it
    cannot be read: not a regular file, not UTF-8, not CSV, a quote never closed (a cell over several
    lines), a row longer or shorter than the header, no header or no rows."""
    if not path.exists():
        raise MeasurementFileError(f"{path}: no such file")
    with open_regular_file(path, MeasurementFileError) as (handle, _):
        raw = handle.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, raw, exc) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        if any("\n" in h for h in header):
            raise MeasurementFileError(f"{path}: row 1: a quote (\") opened in the header is never closed; "
                                       "close it or remove it")
        rows = []
        for line, row in enumerate(reader, start=2):
            if None in row:
                raise MeasurementFileError(f"{path}: row {line}, column {len(header) + 1}: extra cell "
                                           f"{row[None][0]!r}; the header has {len(header)} columns")
            spans = next((k for k, v in row.items() if v and "\n" in v), None)
            if spans is not None:
                lines = row[spans].rstrip("\n").count("\n") + 1
                raise MeasurementFileError(f"{path}: row {line}, column {spans!r}: the cell runs over {lines} lines: "
                                           "a quote (\") opened in it is never closed; close it or remove it")
            if any(v is None for v in row.values()):
                missing = [k for k, v in row.items() if v is None]
                raise MeasurementFileError(f"{path}: row {line}, column {missing[0]!r}: missing cell (the row has "
                                           f"{len(header) - len(missing)} cells, the header {len(header)})")
            cells = {k.strip(): (v or "").strip() for k, v in row.items()}
            if "metric" in cells:
                cells["metric"] = metric_name(cells["metric"])
            rows.append(cells)
    except csv.Error as exc:
        raise MeasurementFileError(f"{path}: row {reader.line_num}: not a valid CSV: {exc}") from None
    if not header:
        raise MeasurementFileError(f"{path}: row 1: empty file (expected a header row)")
    if not rows:
        raise MeasurementFileError(f"{path}: row 2: no measurements after the header")
    return header, rows


def _not_utf8(path: Path, raw: bytes, exc: UnicodeDecodeError) -> MeasurementFileError:
    """The error for a CSV that is not UTF-8: the line, column (by commas before it) and byte of the first bad byte."""
    line_start = raw.rfind(b"\n", 0, exc.start) + 1
    line = raw.count(b"\n", 0, exc.start) + 1
    index = raw.count(b",", line_start, exc.start)
    names = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").split(",")
    column = repr(names[index].strip()) if line > 1 and index < len(names) else str(index + 1)
    return MeasurementFileError(f"{path}: row {line}, column {column}: byte {raw[exc.start]:#04x} is not UTF-8 "
                                "text; save the CSV as UTF-8")


def detect_kind(header: list[str], path: Path) -> str:
    """'memory' (dtype/quantization columns), 'disaggregated' (prefill_*/decode_* pool columns) or
    'serving' (isl/osl columns)."""
    columns = set(header)
    if "metric" not in columns or "value" not in columns:
        raise MeasurementFileError(f"{path}: row 1: a measurement file needs 'metric' and 'value' columns; found {sorted(columns)}")
    if {"isl", "osl", "prefill_tp", "decode_tp"} <= columns:
        return "disaggregated"
    if {"isl", "osl"} <= columns:
        return "serving"
    if "dtype" in columns or "quantization" in columns:
        return "memory"
    raise MeasurementFileError(f"{path}: row 1: cannot tell the schema: memory files have 'dtype'/'quantization' "
                               "columns, serving files 'isl'/'osl' columns")


def validate_file(path: Union[str, Path], estimator: str = "roofline") -> ValidationReport:
    """Predict every row of a measurement CSV and summarise the errors (see the module docstring)."""
    path = Path(path)
    header, raw_rows = read_measurements(path)
    kind = detect_kind(header, path)
    if kind == "memory":
        from gpurec_core.validate_memory import REQUIRED_COLUMNS

        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise MeasurementFileError(f"{path}: row 1: missing column {missing[0]!r}")
    check_rows(raw_rows, kind, str(path))  # a malformed cell stops the run before any prediction
    if kind == "memory":
        from gpurec_core.validate_memory import predict_rows

        predictions = predict_rows(raw_rows, path.parent, estimator, path=str(path))
    elif kind == "disaggregated":
        from gpurec_core import validate_disagg

        predictions = validate_disagg.predict_rows(raw_rows, path.parent, estimator)
    else:
        from gpurec_core import validate_serving  # written separately; imported only for serving files

        predictions = validate_serving.predict_rows(raw_rows, path.parent, estimator)
    rows = []
    for index, record in enumerate(predictions):
        record = dict(record)
        record.setdefault("row", index + 2)
        record.setdefault("source", "")
        if record.get("ape") is not None and not math.isfinite(record["ape"]):
            record["ape"] = None
        predicted, measured = record.get("predicted"), record.get("measured")
        if record.get("ape") is not None and predicted and measured and predicted > 0 and measured > 0:
            record["ratio"] = max(predicted / measured, measured / predicted)
        rows.append(ValidationRow(**record))
    worst = sorted((r for r in rows if r.ape is not None), key=lambda r: -r.ape)[:WORST_ROWS]
    ratios = [r.ratio for r in rows if r.ratio is not None]
    unflagged = [r.ratio for r in rows if r.ratio is not None and not r.flag]
    return ValidationReport(
        path=str(path), kind=kind, estimator=estimator, n_rows=len(rows),
        n_errors=sum(1 for r in rows if r.error), metrics=_metric_table(rows),
        by_engine=_grouped(rows, lambda r: r.engine), by_model=_grouped(rows, lambda r: r.model), rows=rows, worst=worst,
        max_ratio=max(ratios, default=None), n_over_5x=sum(1 for r in ratios if r > 5.0),
        n_flagged=sum(1 for r in rows if r.flag), metrics_unflagged=_metric_table([r for r in rows if not r.flag]),
        max_ratio_unflagged=max(unflagged, default=None),
    )


def _metric_table(rows: list[ValidationRow]) -> dict[str, MetricStats]:
    apes_by_metric: dict[str, list[float]] = {}
    for row in rows:
        values = apes_by_metric.setdefault(row.metric, [])
        if row.ape is not None:
            values.append(row.ape)
    return {m: metric_stats(v) for m, v in sorted(apes_by_metric.items())}
