"""Uncertainty bands of the roofline estimator: where a measurement falls around an estimate.

Every roofline :class:`~gpurec_core.models.PerformanceEstimate` carries
:class:`~gpurec_core.models.PerformanceBands`: for TTFT, ITL and throughput, the 10th and 90th
percentiles of ``log(measured / predicted)`` over validation rows of the same engine, metric and
regime, as factors of the point estimate (p10 = estimate x exp(q10), p90 = estimate x exp(q90)).

The percentiles live in ``catalogs/engines/roofline_bands.toml``, which ``scripts/fit_bands.py``
generates (never edited by hand) with :func:`fitted_cells` from every row of
``tests/fixtures/measurements/serving_h100.csv`` that :func:`gpurec_core.validate_serving.inconsistent_runs`
does not flag, calibration and held-out alike: a band describes the estimator's error on models,
and the held-out models (MoE, 70B-405B dense, MXFP4) are the ones that show it. :func:`coverage`
reports how many measurements fall inside their band, both for the bundled table (in-sample) and
with each model's rows left out of the fit (``model_held_out``: the band a model would get had it
never been measured, the figure to expect on a new model; docs/accuracy.md).

Regimes (:func:`classify`) are read off the estimate itself, per replica:

* TTFT: ``queued`` when users wait for a slot (more users than the running batch the KV pool and
  ``max_num_seqs`` allow), on a mixed-step engine for prefill budget (the running batch needs
  more prompt tokens per step than ``max_num_batched_tokens``), or for the front end (its delivery
  ceiling makes up at least :data:`FRONT_END_SHARE` of the TTFT: ``ttft_front_end_wait``); else
  ``burst`` when the closed-loop benchmark's start-up burst makes up at least :data:`BURST_SHARE` of
  the reported TTFT; else ``steady``.
* ITL: ``loaded`` when prefill work (and queueing stalls) make up at least :data:`PREFILL_SHARE` of
  the mean step (``prefill_interference`` / ITL in the breakdown); else ``light``.
* throughput: ``saturated`` when the users fill the KV pool (at least the whole requests it holds)
  or queue; else ``closed_loop``.

A table cell with fewer than :data:`MIN_ROWS` rows is not fitted on its own: it takes the band of
the next coarser cell (the engine's rows of every regime, then every engine's rows of that regime,
then every engine's rows), and the table says so in its ``fitted_on`` and ``note``. A band narrower
than its metric's *floor* (the width of every engine's rows pooled) is widened to it about its
midpoint: one engine's rows come from a few models (SGLang's from one), so their own spread
understates what a model it has not seen will show. An engine without rows in the table (one a
plugin adds) takes the ``default`` cells, fitted on every engine's rows.

Disaggregated (xPyD) estimates take the table's ``disaggregated`` cells: one per metric, every engine and
configuration of the shared xPyD file pooled (:func:`disaggregated_residuals`, :func:`fitted_disaggregated`),
in the one regime :data:`DISAGGREGATED`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpurec_core.catalogs import catalog_path, read_catalog_toml
from gpurec_core.errors import CatalogError
from gpurec_core.models import PerformanceBands
from gpurec_roofline.serving import budget_backlog_steps, closed_loop_throughput

BANDS_FILE = "roofline_bands.toml"
#: Measurement-file metrics that carry a band, and the PerformanceEstimate field of each.
METRICS = ("ttft_ms", "itl_ms", "output_tok_s")
FIELDS = {"ttft_ms": "time_to_first_token_ms", "itl_ms": "inter_token_latency_ms",
          "output_tok_s": "throughput_tokens_per_sec"}
#: The regimes of each metric (module docstring); "all" is the cell of an engine's rows of every regime.
REGIMES: dict[str, tuple[str, ...]] = {
    "ttft_ms": ("steady", "burst", "queued"),
    "itl_ms": ("light", "loaded"),
    "output_tok_s": ("closed_loop", "saturated"),
}
ALL = "all"
DEFAULT_ENGINE = "default"
#: The regime every metric of a disaggregated estimate is in (one pooled cell per metric).
DISAGGREGATED = "disaggregated"
#: TTFT is "burst" when the start-up burst adds at least this share of the reported TTFT (it dominates).
BURST_SHARE = 0.5
#: ITL is "loaded" when prefill and stalls make up at least this share of the mean step.
PREFILL_SHARE = 0.25
#: TTFT is "queued" when the wait for the front end (its delivery ceiling) is at least this share of it.
FRONT_END_SHARE = 0.5
#: Fewest rows a cell is fitted on by itself (p10 and p90 of fewer rows rest on one or two of them).
MIN_ROWS = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BandCell(_Strict):
    """One engine x metric x regime: percentiles of log(measured / predicted) and what they rest on."""

    q10: float = Field(description="10th percentile of log(measured / predicted)")
    q90: float = Field(description="90th percentile of log(measured / predicted)")
    n: int = Field(ge=0, description="rows of this cell itself (the band may come from a coarser cell)")
    fitted_on: str = Field(min_length=1, description="the cell whose rows gave q10 and q90, with its row count")
    note: str = Field(default="", description="merged into a coarser cell, or widened to the floor")

    @model_validator(mode="after")
    def _band(self) -> "BandCell":
        if not (math.isfinite(self.q10) and math.isfinite(self.q90) and self.q10 < self.q90):
            raise ValueError(f"needs finite q10 < q90, got q10={self.q10}, q90={self.q90}")
        if max(abs(self.q10), abs(self.q90)) > 20:
            raise ValueError(f"q10={self.q10}, q90={self.q90}: a factor beyond e^20 is not a band")
        return self


class BandsMeta(_Strict):
    """How the table was made."""

    generated: str = Field(min_length=1, description="date, YYYY-MM-DD")
    generator: str = Field(min_length=1, description="the script that wrote the file")
    measurements: str = Field(min_length=1, description="the measurement file, relative to the repository")
    measurements_sha256: str = Field(min_length=1)
    rows: str = Field(min_length=1, description="which rows the percentiles were taken over")
    min_rows: int = Field(ge=1, description="cells with fewer rows take a coarser cell's band")
    floor: dict[str, float] = Field(description="metric -> smallest q90 - q10 (log units)")
    disaggregated_measurements: str = Field(default="-", description="the disaggregated (xPyD) file the "
                                            "disaggregated bands were fitted on")
    disaggregated_measurements_sha256: str = Field(default="-")


class BandsTable(_Strict):
    """Everything in ``roofline_bands.toml``."""

    schema_version: int = Field(ge=1)
    meta: BandsMeta
    bands: dict[str, dict[str, dict[str, BandCell]]] = Field(description="engine -> metric -> regime -> cell")
    disaggregated: dict[str, BandCell] = Field(default_factory=dict, description="metric -> the cell of "
                                               "disaggregated (xPyD) estimates, every engine pooled (none: no band)")

    @model_validator(mode="after")
    def _complete(self) -> "BandsTable":
        if DEFAULT_ENGINE not in self.bands:
            raise ValueError(f"needs a [bands.{DEFAULT_ENGINE}] entry for engines without measurements")
        for engine, metrics in self.bands.items():
            for metric in METRICS:
                if metric not in metrics:
                    raise ValueError(f"bands.{engine}: no {metric} entry")
                for regime in REGIMES[metric] + (ALL,):
                    if regime not in metrics[metric]:
                        raise ValueError(f"bands.{engine}.{metric}: no {regime} entry")
            unknown = sorted(set(metrics) - set(METRICS))
            if unknown:
                raise ValueError(f"bands.{engine}.{unknown[0]}: unknown metric (known: {', '.join(METRICS)})")
            for metric in METRICS:
                extra = sorted(set(metrics[metric]) - set(REGIMES[metric] + (ALL,)))
                if extra:
                    raise ValueError(f"bands.{engine}.{metric}.{extra[0]}: unknown regime (known: "
                                     f"{', '.join(REGIMES[metric] + (ALL,))})")
        if self.disaggregated and set(self.disaggregated) != set(METRICS):
            raise ValueError(f"disaggregated: needs exactly the metrics {', '.join(METRICS)}, "
                             f"got {', '.join(sorted(self.disaggregated))}")
        return self

    @property
    def label(self) -> str:
        return (f"{BANDS_FILE} ({self.meta.generator}, {self.meta.generated}; {self.meta.rows} rows of "
                f"{self.meta.measurements})")

    def cell(self, engine: str, metric: str, regime: str) -> BandCell:
        """The cell of ``engine`` (``default`` for an engine the table has no rows of)."""
        return self.bands.get(engine, self.bands[DEFAULT_ENGINE])[metric][regime]

    def factors(self, engine: str, metric: str, regime: str) -> tuple[float, float]:
        cell = self.cell(engine, metric, regime)
        return math.exp(cell.q10), math.exp(cell.q90)

    def performance_bands(self, engine: str, regimes: dict[str, str]) -> PerformanceBands:
        """The PerformanceBands of an estimate of ``engine`` in ``regimes``."""
        return self._bands(engine, tuple(regimes[m] for m in METRICS))

    def _bands(self, engine: str, regimes: tuple[str, str, str]) -> PerformanceBands:
        """:meth:`performance_bands` with the regimes in METRICS order, made once per combination (the
        estimates of a search share them)."""
        made = _MADE.get(id(self))
        if made is None or made[0] is not self:
            made = _MADE[id(self)] = (self, {})
        key = (engine, regimes)
        found = made[1].get(key)
        if found is None:
            name = engine if engine in self.bands else DEFAULT_ENGINE
            found = made[1][key] = PerformanceBands(
                ttft_factors=self.factors(name, "ttft_ms", regimes[0]),
                itl_factors=self.factors(name, "itl_ms", regimes[1]),
                throughput_factors=self.factors(name, "output_tok_s", regimes[2]),
                regimes=dict(zip(METRICS, regimes)),
                fitted_on={m: self.cell(name, m, r).fitted_on for m, r in zip(METRICS, regimes)},
                source=self.label)
        return found

    def disaggregated_bands(self) -> Optional[PerformanceBands]:
        """The PerformanceBands of a disaggregated estimate (one cell per metric, every engine and regime
        pooled), or None when the table has none."""
        if not self.disaggregated:
            return None
        cells = [self.disaggregated[m] for m in METRICS]
        return PerformanceBands(
            ttft_factors=(math.exp(cells[0].q10), math.exp(cells[0].q90)),
            itl_factors=(math.exp(cells[1].q10), math.exp(cells[1].q90)),
            throughput_factors=(math.exp(cells[2].q10), math.exp(cells[2].q90)),
            regimes={m: DISAGGREGATED for m in METRICS}, fitted_on={m: c.fitted_on for m, c in zip(METRICS, cells)},
            source=f"{self.label}; disaggregated: {self.meta.disaggregated_measurements}")


#: id(table) -> (the table, its PerformanceBands per (engine, regimes)); holding the table keeps its id unique.
_MADE: dict[int, tuple[BandsTable, dict[tuple, PerformanceBands]]] = {}


def parse_bands(data: dict, where: str) -> BandsTable:
    """Validate a parsed bands table; errors name the file and the entry."""
    try:
        return BandsTable.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "the table"
        message = first["msg"].replace("\n", " ")
        raise CatalogError(f"{where}: entry {field}: {message} (regenerate it with scripts/fit_bands.py)") from None


@lru_cache(maxsize=4)
def load_bands(path: Optional[str] = None) -> BandsTable:
    """The bundled band table (or the one in ``path``), validated and cached."""
    file = Path(path) if path else catalog_path("engines") / BANDS_FILE
    data = read_catalog_toml(file, missing="the roofline's uncertainty bands are missing; reinstall gpurec "
                                           "(or run scripts/fit_bands.py in a source tree)")
    return parse_bands(data, str(file))


_OVERRIDE: contextvars.ContextVar[Optional[BandsTable]] = contextvars.ContextVar("gpurec_roofline_bands", default=None)


@contextlib.contextmanager
def using_table(table: BandsTable) -> Iterator[BandsTable]:
    """Estimates made inside take their bands from ``table`` instead of the bundled file (the fit
    script classifies rows with it while the file is being regenerated; tests)."""
    token = _OVERRIDE.set(table)
    try:
        yield table
    finally:
        _OVERRIDE.reset(token)


def current_table() -> BandsTable:
    return _OVERRIDE.get() or load_bands()


def placeholder_table() -> BandsTable:
    """A table whose every band is (1/e, e) for every engine: it classifies, it does not inform."""
    cell = {"q10": -1.0, "q90": 1.0, "n": 0, "fitted_on": "placeholder"}
    return BandsTable.model_validate({
        "schema_version": 1,
        "meta": {"generated": "-", "generator": "gpurec_roofline.bands.placeholder_table", "measurements": "-",
                 "measurements_sha256": "-", "rows": "no", "min_rows": 1, "floor": {}},
        "bands": {DEFAULT_ENGINE: {m: {r: dict(cell) for r in REGIMES[m] + (ALL,)} for m in METRICS}},
    })


def classify(*, users: float, batch: float, capacity: float, input_length: float, output_length: float,
             budget: float, prefill_first: bool, ttft_ms: float, ttft_steady_ms: float, itl_ms: float,
             prefill_interference_ms: float, front_end_wait_ms: float = 0.0) -> dict[str, str]:
    """The regime of each metric (METRICS) for one replica's steady state (module docstring)."""
    return dict(zip(METRICS, _classify(users, batch, capacity, input_length, output_length, budget, prefill_first,
                                       ttft_ms, ttft_steady_ms, itl_ms, prefill_interference_ms, front_end_wait_ms)))


def _classify(users, batch, capacity, input_length, output_length, budget, prefill_first, ttft_ms, ttft_steady_ms,
              itl_ms, prefill_interference_ms, front_end_wait_ms=0.0) -> tuple[str, str, str]:
    O = max(float(output_length), 1.0)
    waits_for_slot = users > batch
    waits_for_budget = (not prefill_first) and float(budget_backlog_steps(batch, input_length, O, budget)) > 0.0
    waits_for_front_end = ttft_ms > 0 and front_end_wait_ms >= FRONT_END_SHARE * ttft_ms
    burst_share = max(0.0, ttft_ms - ttft_steady_ms) / ttft_ms if ttft_ms > 0 else 0.0
    if waits_for_slot or waits_for_budget or waits_for_front_end:
        ttft = "queued"
    elif burst_share >= BURST_SHARE:
        ttft = "burst"
    else:
        ttft = "steady"
    itl = "loaded" if itl_ms > 0 and prefill_interference_ms / itl_ms >= PREFILL_SHARE else "light"
    throughput = "saturated" if waits_for_slot or users >= max(capacity, 1.0) else "closed_loop"
    return ttft, itl, throughput


#: Deployments -> {deployment index: (engine, replicas, token budget, prefill_first)}, made on first use.
_FACTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _deployment_facts(deployments, d: int) -> tuple[str, int, float, bool]:
    facts = _FACTS.get(deployments)
    if facts is None:
        facts = _FACTS[deployments] = {}
    found = facts.get(d)
    if found is None:
        scheduling = deployments.engine_names[int(deployments.engine_index[d])]
        found = facts[d] = (deployments.items[d][4].engine, max(1, int(deployments.replicas[d])),
                            float(deployments.budget[d]), deployments.constants.engine(scheduling).prefill_first)
    return found


def _row_regimes(estimates, i: int, breakdown: dict[str, float]) -> tuple[str, tuple[str, str, str]]:
    engine, replicas, budget, prefill_first = _deployment_facts(estimates.deployments, int(estimates.rows[i]))
    return engine, _classify(
        -(-int(estimates.concurrency[i]) // replicas), float(estimates.max_batch_size[i]),
        int(estimates.max_concurrent_requests[i]) // replicas, float(estimates.input_length[i]),
        float(estimates.output_length[i]), budget, prefill_first, float(estimates.time_to_first_token_ms[i]),
        float(estimates.ttft_steady_ms[i]), float(estimates.inter_token_latency_ms[i]),
        breakdown.get("prefill_interference", 0.0), float(estimates.front_end_wait_ms[i]))


def row_regimes(estimates, i: int, breakdown: dict[str, float]) -> tuple[str, dict[str, str]]:
    """The engine and regimes of row ``i`` of :class:`gpurec_roofline.estimator.Estimates` (per
    replica: users = ceil(concurrency / replicas); ``breakdown`` is the row's estimate's)."""
    engine, regimes = _row_regimes(estimates, i, breakdown)
    return engine, dict(zip(METRICS, regimes))


def performance_bands(estimates, i: int, breakdown: dict[str, float]) -> PerformanceBands:
    """The bands of row ``i`` of an :class:`~gpurec_roofline.estimator.Estimates` (what
    ``Estimates.estimate`` attaches)."""
    engine, regimes = _row_regimes(estimates, i, breakdown)
    return (_OVERRIDE.get() or load_bands())._bands(engine, regimes)


# -- residuals and coverage on a measurement file -----------------------------------------------


@dataclass(frozen=True)
class Residual:
    """One measured (or derived) value against its roofline estimate."""

    line: int            # the row's line in the CSV (header = 1)
    model: str
    engine: str
    metric: str
    split: str           # "calibration" or "held-out" (calibration_split)
    regime: str
    measured: float
    predicted: float
    derived: bool = False  # throughput implied by the row's measured TTFT and ITL (closed-loop Little's law)
    flagged: bool = False  # its run contradicts the same configuration at fewer users (inconsistent_runs)

    @property
    def log_ratio(self) -> float:
        return math.log(self.measured / self.predicted)


def residuals(path, *, table: Optional[BandsTable] = None) -> tuple[list[Residual], int]:
    """Every serving row of ``path`` predicted through ``estimate_performance`` (as ``gpurec
    validate`` does), with its regime; and the number of rows without a prediction.

    Besides the measured rows, each configuration at a fixed concurrency that has measured TTFT and
    ITL but no measured throughput gives a *derived* throughput, ``c x osl / (TTFT + (osl - 1) x
    ITL)``: in a closed loop each of the ``c`` users completes one request per TTFT + (osl - 1) ITL
    (Little's law). ``table`` (default: the bundled one) only sets the bands the estimates carry;
    the regimes do not depend on it. Rows of a run :func:`~gpurec_core.validate_serving.inconsistent_runs`
    flags are returned with ``flagged`` set (and are not fitted on).
    """
    from gpurec_core.measurement_cells import cell, check_rows, engine_of, request_lengths
    from gpurec_core.validate import read_measurements
    from gpurec_core.validate_serving import _Predictor, calibration_split, inconsistent_runs

    path = Path(path)
    _, rows = read_measurements(path)
    check_rows(rows, "serving", str(path))
    flags = inconsistent_runs(rows)
    predictor = _Predictor(path.parent, "roofline")
    out: list[Residual] = []
    failed = 0
    groups: dict[int, dict] = {}
    with using_table(table or current_table()):
        for line, row in enumerate(rows, start=2):
            metric = cell(row, "metric")
            if metric not in METRICS:
                continue
            estimate = predictor.estimate(row)[0]
            if estimate is None or estimate.bands is None:
                failed += 1
                continue
            predicted = getattr(estimate, FIELDS[metric])
            measured = float(cell(row, "value"))
            if not predicted or predicted <= 0 or measured <= 0:
                failed += 1
                continue
            base = dict(line=line, model=cell(row, "model") or cell(row, "model_path"),
                        engine=engine_of(row), split=calibration_split(row), flagged=(line - 2) in flags)
            out.append(Residual(metric=metric, regime=estimate.bands.regimes[metric], measured=measured,
                                predicted=predicted, **base))
            if cell(row, "concurrency").lower() != "max":
                group = groups.setdefault(id(estimate), {"estimate": estimate, "row": row, "base": base})
                group.setdefault(metric, measured)
    for group in groups.values():
        estimate = group["estimate"]
        if "output_tok_s" in group or "ttft_ms" not in group or "itl_ms" not in group:
            continue
        measured = closed_loop_throughput(int(estimate.concurrency or 1), request_lengths(group["row"])[1],
                                          group["ttft_ms"], group["itl_ms"])
        predicted = estimate.throughput_tokens_per_sec
        if predicted and predicted > 0:
            out.append(Residual(metric="output_tok_s", regime=estimate.bands.regimes["output_tok_s"],
                                measured=measured, predicted=predicted, derived=True, **group["base"]))
    return out, failed


def disaggregated_residuals(path) -> tuple[list[Residual], int]:
    """Every row of a disaggregated (xPyD) file predicted as ``gpurec validate`` predicts it
    (:mod:`gpurec_core.validate_disagg`), in the one regime :data:`DISAGGREGATED`; for each configuration
    with measured TTFT and ITL, the closed-loop throughput they imply (as :func:`residuals`); and the
    number of rows without a prediction."""
    from gpurec_core.errors import GpurecError
    from gpurec_core.measurement_cells import cell, check_rows, engine_of, request_lengths
    from gpurec_core.validate import read_measurements
    from gpurec_core.validate_disagg import _estimate

    path = Path(path)
    _, rows = read_measurements(path)
    check_rows(rows, "disaggregated", str(path))
    models: dict = {}
    estimates: dict[str, object] = {}
    out: list[Residual] = []
    failed = 0
    groups: dict[str, dict] = {}
    for line, row in enumerate(rows, start=2):
        metric = cell(row, "metric")
        if metric not in ("ttft_ms", "itl_ms"):
            continue
        key = "|".join(cell(row, k) for k in row if k not in ("metric", "value", "source"))
        if key not in estimates:
            try:
                estimates[key] = _estimate(row, path.parent, "roofline", models)[0]
            except GpurecError:
                estimates[key] = None
        estimate, measured = estimates[key], float(cell(row, "value"))
        predicted = getattr(estimate, FIELDS[metric]) if estimate is not None else None
        if not predicted or predicted <= 0 or measured <= 0:
            failed += 1
            continue
        base = dict(line=line, model=cell(row, "model"), engine=engine_of(row), split="held-out")
        out.append(Residual(metric=metric, regime=DISAGGREGATED, measured=measured, predicted=predicted, **base))
        group = groups.setdefault(key, {"estimate": estimate, "row": row, "base": base})
        group[metric] = measured
    for group in groups.values():
        if "ttft_ms" in group and "itl_ms" in group:
            measured = closed_loop_throughput(int(group["estimate"].concurrency or 1),
                                              request_lengths(group["row"])[1], group["ttft_ms"], group["itl_ms"])
            out.append(Residual(metric="output_tok_s", regime=DISAGGREGATED, measured=measured,
                                predicted=group["estimate"].throughput_tokens_per_sec, derived=True, **group["base"]))
    return out, failed


def fitted_disaggregated(items: list[Residual]) -> dict[str, dict]:
    """metric -> cell (q10, q90, n, fitted_on) of the disaggregated residuals ``items``: every engine and
    configuration pooled, one cell per metric (too few rows to split them); no floor, as the pooled cell is
    already every engine's spread."""
    cells = {}
    for metric in METRICS:
        values = [r.log_ratio for r in items if r.metric == metric]
        if len(values) < MIN_ROWS:
            raise ValueError(f"only {len(values)} disaggregated rows of {metric}: fewer than {MIN_ROWS}")
        q10, q90 = _quantiles(values)
        derived = " derived (Little's law)" if all(r.derived for r in items if r.metric == metric) else ""
        cells[metric] = {"q10": round(q10, 4), "q90": round(q90, 4), "n": len(values), "note": "",
                         "fitted_on": f"{DISAGGREGATED}.{metric} ({len(values)}{derived} rows)"}
    return cells


def inside(residual: Residual, table: BandsTable) -> bool:
    """The measurement lies within its p10-p90 band (bounds included)."""
    cell = table.cell(residual.engine, residual.metric, residual.regime)
    return cell.q10 <= residual.log_ratio <= cell.q90


@dataclass(frozen=True)
class Coverage:
    engine: str   # an engine, or "all"
    metric: str
    split: str    # "calibration", "held-out" or "all"
    n: int
    covered: int
    derived: bool = False

    @property
    def fraction(self) -> Optional[float]:
        return self.covered / self.n if self.n else None


def _quantiles(values: list[float]) -> tuple[float, float]:
    """10th and 90th percentiles (numpy's linear interpolation between order statistics)."""
    q10, q90 = np.percentile(np.asarray(values, dtype=float), [10, 90])
    return float(q10), float(q90)


def fitted_cells(items: list[Residual]) -> tuple[dict, dict[str, float]]:
    """engine -> metric -> regime -> cell (q10, q90, n, fitted_on, note) fitted on the unflagged
    residuals ``items``, and each metric's floor (module docstring: sparse cells, floor)."""
    used = [r for r in items if not r.flagged]
    by_cell: dict[tuple[str, str, str], list[float]] = {}
    for r in used:
        for engine in (DEFAULT_ENGINE, r.engine):
            for regime in (ALL, r.regime):
                by_cell.setdefault((engine, r.metric, regime), []).append(r.log_ratio)

    def values(engine: str, metric: str, regime: str) -> list[float]:
        return by_cell.get((engine, metric, regime), [])

    floors = {}
    for metric in METRICS:
        pooled = values(DEFAULT_ENGINE, metric, ALL)
        if len(pooled) < MIN_ROWS:
            raise ValueError(f"only {len(pooled)} rows of {metric}: fewer than {MIN_ROWS}, no band can be fitted")
        q10, q90 = _quantiles(pooled)
        floors[metric] = q90 - q10
    table: dict = {}
    for engine in sorted({r.engine for r in used}) + [DEFAULT_ENGINE]:
        for metric in METRICS:
            for regime in REGIMES[metric] + (ALL,):
                own = values(engine, metric, regime)
                chain = list(dict.fromkeys([(engine, regime), (engine, ALL), (DEFAULT_ENGINE, regime),
                                            (DEFAULT_ENGINE, ALL)]))
                source = next((e, g) for e, g in chain if len(values(e, metric, g)) >= MIN_ROWS)
                fitted_on = values(source[0], metric, source[1])
                q10, q90 = _quantiles(fitted_on)
                notes = []
                if source != (engine, regime):
                    notes.append(f"{len(own)} row{'' if len(own) == 1 else 's'} < {MIN_ROWS}: band of "
                                 f"{source[0]}.{metric}.{source[1]}")
                if q90 - q10 < floors[metric]:
                    mid = (q10 + q90) / 2
                    notes.append(f"widened from [{q10:.4f}, {q90:.4f}] to the floor {floors[metric]:.4f}")
                    q10, q90 = mid - floors[metric] / 2, mid + floors[metric] / 2
                table.setdefault(engine, {}).setdefault(metric, {})[regime] = {
                    "q10": round(q10, 4), "q90": round(q90, 4), "n": len(own),
                    "fitted_on": f"{source[0]}.{metric}.{source[1]} ({len(fitted_on)} rows)", "note": "; ".join(notes)}
    return table, floors


def fitted_table(items: list[Residual]) -> BandsTable:
    """The :class:`BandsTable` of :func:`fitted_cells`, in memory (scripts/fit_bands.py writes the file)."""
    cells, floors = fitted_cells(items)
    meta = {"generated": "-", "generator": "gpurec_roofline.bands.fitted_table", "measurements": "-",
            "measurements_sha256": "-", "rows": "unflagged", "min_rows": MIN_ROWS, "floor": floors}
    return parse_bands({"schema_version": 1, "meta": meta, "bands": cells}, "fitted table")


def _inside_with_model_held_out(items: list[Residual]) -> list[bool]:
    """For each residual, whether it lies inside the band of a table fitted without its model's rows."""
    tables = {model: fitted_table([r for r in items if r.model != model]) for model in {r.model for r in items}}
    return [inside(r, tables[r.model]) for r in items]


def coverage(items: list[Residual], table: Optional[BandsTable] = None, *,
             derived: bool = False, model_held_out: bool = False) -> list[Coverage]:
    """Share of measurements inside their p10-p90 band per engine (and all engines) x metric x split
    (calibration, held-out, all). ``derived``: the derived throughputs instead of the measurements.
    ``model_held_out``: each residual against a table fitted on the other models' rows (``table``
    unused), the coverage to expect on a model the table has not seen."""
    if model_held_out:
        hits = _inside_with_model_held_out(items)
    else:
        table = table or current_table()
        hits = [inside(r, table) for r in items]
    picked = [(r, hit) for r, hit in zip(items, hits) if r.derived == derived]
    engines = sorted({r.engine for r, _ in picked}) + ["all"]
    out = []
    for metric in METRICS:
        for engine in engines:
            for split in ("calibration", "held-out", "all"):
                subset = [hit for r, hit in picked if r.metric == metric and engine in ("all", r.engine)
                          and split in ("all", r.split)]
                if subset:
                    out.append(Coverage(engine, metric, split, len(subset), sum(subset), derived))
    return out


def calibrated_bands(bands: PerformanceBands, calibration: Optional[tuple]) -> PerformanceBands:
    """``bands`` of a deployment, or, when a calibration profile covers it, the p10-p90 of that
    scope's own cross-validation residuals (``Scope.bands``, ln(measured / predicted)) for each
    metric the user's runs measured."""
    if calibration is None:
        return bands
    profile, scope = calibration
    update: dict = {}
    fitted_on = dict(bands.fitted_on)
    for metric, field in (("ttft_ms", "ttft_factors"), ("itl_ms", "itl_factors"), ("output_tok_s", "throughput_factors")):
        quantiles = scope.bands.get(metric)
        if not quantiles:
            continue
        low, high = math.exp(quantiles[0]), math.exp(quantiles[1])
        if not low < high:
            low, high = low * 0.99, high * 1.01
        update[field] = (low, high)
        fitted_on[metric] = (f"calibration profile {profile.path or '(unnamed)'}: {scope.gpu}/{scope.engine}/"
                             f"{scope.precision} cross-validation residuals ({scope.rows} rows)")
    if not update:
        return bands
    return bands.model_copy(update={**update, "fitted_on": fitted_on, "source": profile.describe()})
