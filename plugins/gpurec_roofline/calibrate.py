"""The roofline's answer to ``gpurec calibrate``: per (GPU, engine, precision) of the user's runs, fit
the factors those runs constrain, cross-validate over configurations, and return a profile.

For each scope:

1. **Which factors.** A factor is a candidate only when the runs hold the data that move it
   (:data:`gpurec_roofline.fitting.FACTORS` ``needs``: ITL rows for the bandwidth efficiency,
   prompts of 4096+ tokens for the attention efficiency, TP > 1 for the all-reduce latency, ...),
   and it is fitted only when moving it by 30 % changes the objective by more than
   :data:`SENSITIVITY` (else the runs do not constrain it; its default stays and the profile says
   why). Factors of one engine kind only (``arrival_wait_steps`` for mixed-step engines,
   ``prefill_*`` for prefill-first ones).
2. **The fit.** Coordinate descent from the defaults on the robust objective of
   :class:`gpurec_roofline.fitting.Problem` (median |ln(pred / measured)| per metric).
3. **Cross-validation.** k folds over configurations (every concurrency of a configuration in the
   same fold); each fold is fitted on the others and predicted; the absolute percentage errors
   before (defaults) and after (fitted) are reported per metric, and the 10th/90th percentiles of
   ln(measured / predicted) over the held-out residuals become the scope's uncertainty bands.
   Fewer than :data:`MIN_CONFIGURATIONS` configurations: no validation, and the profile says so.
4. **One model's scope.** Where the runs of a scope hold several models, each model is refitted on
   its own runs, starting from the scope's fitted factors, so a model with runs of its own gets the
   factors of its own kernels (a MoE's grouped GEMMs, an attention variant) and every other model
   the scope's. A model whose configurations fall in two or more of the scope's folds is validated
   on those folds, both sides out of sample (:func:`model_scopes`), and dropped when it predicts the
   held-out configurations worse than the scope of every model (:func:`_mean_median`); a model of
   one configuration is kept unvalidated, as a scope of one configuration is.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Optional

import numpy as np

from gpurec_core.calibration import ANY, SCHEMA_VERSION, ErrorStats, Factor, Profile, Scope, today
from gpurec_core.measurement_cells import ape, cell, engine_of
from gpurec_core.validate_serving import concurrency_of, frontend_of, num_prompts_of
from gpurec_roofline.constants import RooflineConstants, load_constants
from gpurec_roofline.fitting import (FACTORS, SPECS, Problem, configuration_key, delivered_rates, delivery_ceiling,
                                     descend, factor_value, with_factors, without_delivery_ceilings)

#: A factor whose 30 % move changes the objective (a median |ln ratio|) by less than this is not
#: constrained by the runs: 0.002 is 0.2 % of median error.
SENSITIVITY = 0.002
#: Configurations needed before a scope is cross-validated (k folds need k configurations).
MIN_CONFIGURATIONS = 3
METRICS = ("ttft_ms", "itl_ms", "output_tok_s")


def _candidates(rows: list[dict], prefill_first: bool, layer_counts: set[int],
                has_moe: bool = False) -> tuple[list[str], dict[str, str]]:
    """The factors the rows' kinds of data could move, and why the others are left out."""
    metrics = {cell(r, "metric") for r in rows}
    concurrencies = {concurrency_of(r) for r in rows}
    multi_user = any(c == "max" or (isinstance(c, int) and c > 1) for c in concurrencies)
    uncounted = any(isinstance(concurrency_of(r), int) and concurrency_of(r) > 1 and num_prompts_of(r) is None
                    for r in rows if cell(r, "metric") == "ttft_ms")
    long_prompts = any(int(cell(r, "isl") or 0) >= 4096 for r in rows)
    # beyond rows of the factor's own metric (FactorSpec.metric), what else its data need
    also = {
        "attention_efficiency": long_prompts,
        "per_layer_overhead_us": len(layer_counts) > 1,
        "allreduce_latency_us": any(int(cell(r, "tp") or 1) > 1 for r in rows),
        "per_sequence_overhead_us": len(concurrencies) > 1,
        "arrival_wait_steps": multi_user and not prefill_first,
        "prefill_clustering": multi_user and prefill_first,
        "prefill_in_decode_fraction": multi_user and prefill_first,
        "requests_per_user": uncounted,  # a run that records its request count uses its own
        "client_slot_wait": multi_user,
        "moe_compute_efficiency": has_moe and long_prompts,
    }
    present = {f.name: f.metric in metrics and also.get(f.name, True) for f in FACTORS if not f.read_off}
    why = {name: f"needs {SPECS[name].needs}" for name, ok in present.items() if not ok}
    return [name for name, ok in present.items() if ok], why


class _Scope:
    """The rows of one (GPU, engine, precision), their problem and their default factors."""

    def __init__(self, rows: list[dict], constants: RooflineConstants, cache: dict,
                 start: Optional[dict[str, float]] = None) -> None:
        self.rows = rows
        self.constants = constants
        self.cache = cache
        self.problem = Problem(rows, deployment=lambda row, _: _deployment(row, cache))
        if not self.problem.profiles:
            from gpurec_core.errors import EstimationError

            raise EstimationError(f"none of the {len(rows)} measured values of this scope could be planned; the first: "
                                  f"{self.problem.first_problem}")
        profile, gpu, engine, *_ = next(iter(self.problem.profiles.values()))
        self.generation, self.engine, self.dtype = constants.generation_of(gpu), engine, profile.compute_dtype
        layers = {int(p.layers_per_stage * p.pipeline_stages) for p, *_ in self.problem.profiles.values()}
        prefill_first = constants.engine(engine).prefill_first
        has_moe = any(p.num_experts for p, *_ in self.problem.profiles.values())
        self.candidates, self.why = _candidates(rows, prefill_first, layers, has_moe)
        # the defaults of the front end that served most of the runs (its request overhead)
        fronts = [frontend_of(r) for r in rows]
        self.frontend = max(sorted(set(fronts)), key=fronts.count)
        self.defaults = {f.name: factor_value(constants, f.name, self.generation, engine, self.dtype, self.frontend)
                         for f in FACTORS if f.name in self.candidates or f.name in self.why}
        self.defaults.update({k: v for k, v in (start or {}).items() if k in self.defaults})

    def timed(self, factors: dict[str, float]) -> Callable:
        constants = with_factors(self.constants, factors, self.generation, self.engine, self.dtype)
        return lambda *_: constants

    def loss(self, problem: Problem, factors: dict[str, float]) -> float:
        return problem.loss(self.timed(factors))

    def constrained(self) -> tuple[list[str], dict[str, str]]:
        """The candidates whose 30 % move changes the objective by more than SENSITIVITY."""
        base = self.loss(self.problem, self.defaults)
        keep, why = [], dict(self.why)
        for name in self.candidates:
            spec, value = SPECS[name], self.defaults[name]
            moves = [value * 0.7, value * 1.3] if value > 0 else [spec.low + 0.3 * (spec.high - spec.low)]
            change = max(abs(self.loss(self.problem, {**self.defaults, name: min(spec.high, max(spec.low, m))}) - base)
                         for m in moves)
            if change > SENSITIVITY:
                keep.append(name)
            else:
                why[name] = f"the runs do not constrain it (a 30 % move changes the median error by {change * 100:.2f} %)"
        return keep, why

    def fit(self, problem: Problem, names: list[str], rounds: int) -> dict[str, float]:
        """Coordinate descent from the defaults and from each ``FactorSpec.also_start_at`` value of the
        factors fitted (another valley the descent would not leave); the best fit wins."""
        starts = [self.defaults] + [{**self.defaults, name: value} for name in names
                                    for value in SPECS[name].also_start_at]
        fits = [descend(lambda f: self.loss(problem, f), start, names, rounds=rounds) for start in starts]
        return min(fits, key=lambda fit: fit[1])[0]


def _deployment(row: dict, cache: dict):
    from gpurec_roofline.fitting import real_deployment

    return real_deployment(row, cache)


def _errors(pairs: list[tuple[str, float, float]]) -> dict[str, ErrorStats]:
    by: dict[str, list[float]] = defaultdict(list)
    for metric, pred, meas in pairs:
        by[metric].append(ape(meas, pred))
    return {m: ErrorStats(n=len(v), median=round(float(np.median(v)), 3), p90=round(float(np.percentile(v, 90)), 3))
            for m, v in sorted(by.items())}


def _pairs(scope: _Scope, rows: list[dict], factors: dict[str, float]) -> list[tuple[str, float, float]]:
    problem = Problem(rows, deployment=lambda row, _: _deployment(row, scope.cache))
    return [(metric, pred, meas) for _, metric, pred, meas in problem.predictions(scope.timed(factors)) if meas > 0]


def _mean_median(errors: dict[str, ErrorStats]) -> float:
    """Mean over metrics of the median absolute percentage error: what a model's scope must lower."""
    medians = [e.median for e in errors.values() if e.median is not None]
    return float(np.mean(medians)) if medians else math.inf


def fit_scope(key: tuple[str, str, str], rows: list[dict], constants: RooflineConstants, cache: dict, folds: int,
              rounds: int, log: Optional[Callable[[str], None]] = None, model: str = ANY,
              start: Optional[dict[str, float]] = None) -> tuple[Scope, dict[str, int], list[dict[str, float]]]:
    """Fit and cross-validate one (GPU, engine, precision) scope, or one model's scope from ``start``
    (the fitted factors of its scope of every model); with the fold of each configuration and the
    factors fitted without each fold (what :func:`model_scopes` validates a model's scope against).

    Cross-validation also guards the fit: when the factors fitted without a fold predict its held-out
    configurations worse, in median, on a metric than the defaults do, the factors that only that
    metric constrains (``FactorSpec.metric``) keep their defaults and the rest is fitted and validated
    again; the profile says why. A user's few runs can fit a TTFT overhead that explains them and no
    other configuration (docs/calibrate.md)."""
    gpu, engine, precision = key
    scope = _Scope(rows, constants, cache, start)
    names, why = scope.constrained()
    configs = sorted({configuration_key(r) for r in rows})
    k = min(folds, len(configs)) if len(configs) >= MIN_CONFIGURATIONS else 0
    fold_of = {c: i % k for i, c in enumerate(configs)} if k else {}

    def cross_validate(names: list[str]) -> tuple[list, list, list[dict[str, float]]]:
        """(default, fitted) predictions of each fold's held-out rows, and the factors fitted without it."""
        before: list = []
        after: list = []
        trained_without: list[dict[str, float]] = []
        for fold in range(k):
            train = [r for r in rows if fold_of[configuration_key(r)] != fold]
            test = [r for r in rows if fold_of[configuration_key(r)] == fold]
            trained_without.append(scope.fit(Problem(train, deployment=lambda row, _: _deployment(row, cache)),
                                             names, rounds))
            before += _pairs(scope, test, scope.defaults)
            after += _pairs(scope, test, trained_without[-1])
            if log:
                log(f"{gpu}/{engine}/{precision}: fold {fold + 1}/{k} fitted on {len(train)} rows, tested on {len(test)}")
        return before, after, trained_without

    before, after, trained_without = cross_validate(names)
    for metric in ("ttft_ms", "itl_ms"):
        b, a = _errors(before).get(metric), _errors(after).get(metric)
        own = [n for n in names if SPECS[n].metric == metric]
        if b and a and own and a.median > b.median:
            names = [n for n in names if n not in own]
            why.update({n: (f"fitting it made the held-out {metric} error worse (median {b.median:.1f}% -> "
                            f"{a.median:.1f}%), so the default is kept") for n in own})
            before, after, trained_without = cross_validate(names)
    fitted = scope.fit(scope.problem, names, rounds)
    factors = tuple(Factor(name=n, default=round(scope.defaults[n], 6),
                           value=(round(fitted[n], 6) if n in names else None), why=why.get(n, ""))
                    for n in scope.defaults)
    # the front end's delivery ceiling, read off the runs predicted with the fitted factors and without one
    uncapped = without_delivery_ceilings(with_factors(scope.constants, {n: fitted[n] for n in names}, scope.generation,
                                                      engine, scope.dtype))
    ceiling, read = delivery_ceiling(delivered_rates(scope.problem, lambda *_: uncapped).get(engine, []))
    return (Scope(gpu=gpu, engine=engine, precision=precision, model=model, rows=scope.problem.rows,
                  configurations=len(configs), folds=k, factors=factors, error_before=_errors(before),
                  error_after=_errors(after), bands=_bands(after), delivery_tokens_per_s=ceiling,
                  delivery_read=read), fold_of, trained_without)


def _bands(after: list[tuple[str, float, float]]) -> dict[str, tuple[float, float]]:
    """Metric -> 10th and 90th percentile of ln(measured / predicted) over held-out residuals (5 or more)."""
    bands = {}
    for metric in METRICS:
        residuals = [math.log(meas / pred) for m, pred, meas in after if m == metric and pred > 0]
        if len(residuals) >= 5:
            bands[metric] = (round(float(np.percentile(residuals, 10)), 5), round(float(np.percentile(residuals, 90)), 5))
    return bands


def model_scopes(key: tuple[str, str, str], rows: list[dict], every: tuple[Scope, dict[str, int], list[dict[str, float]]],
                 constants: RooflineConstants, cache: dict, rounds: int,
                 log: Optional[Callable[[str], None]] = None) -> list[Scope]:
    """The scopes of single models of a scope's runs, each fitted from ``every`` (the scope of all its
    models, with its folds and the factors fitted without each); none when the runs hold one model.

    A model whose configurations fall in two folds or more of the scope's cross-validation is
    validated on the same folds, both sides out of sample: for each fold, the scope of every model
    fitted without it ("before") against the model's own scope fitted on the model's other folds
    from those factors ("after"); the model's scope is dropped when "after" is worse
    (:func:`_mean_median`). No fit is repeated for this: the scope's folds already hold the "before"
    factors."""
    scope_all, fold_of, trained_without = every
    by_model: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        try:
            by_model[_deployment(row, cache)[0].model_id].append(row)
        except Exception:  # the scope's Problem reports rows it cannot place
            continue
    if len(by_model) < 2:
        return []
    inherited = scope_all.fitted()
    start = {f.name: (f.value if f.value is not None else f.default) for f in scope_all.factors}
    kept = []
    for model_id, model_rows in sorted(by_model.items()):
        own = fit_scope(key, model_rows, constants, cache, 0, rounds, log, model=model_id, start=start)[0]
        folds_of_model = sorted({fold_of[configuration_key(r)] for r in model_rows}) if fold_of else []
        if len(folds_of_model) >= 2:
            before: list = []
            after: list = []
            for fold in folds_of_model:
                test = [r for r in model_rows if fold_of[configuration_key(r)] == fold]
                train = [r for r in model_rows if fold_of[configuration_key(r)] != fold]
                own_fold = _Scope(train, constants, cache, trained_without[fold])  # starts where "before" is
                fitted_own = own_fold.fit(own_fold.problem, own_fold.constrained()[0], rounds)
                before += _pairs(own_fold, test, own_fold.defaults)
                after += _pairs(own_fold, test, fitted_own)
            own = own.model_copy(update={"folds": len(folds_of_model), "error_before": _errors(before),
                                         "error_after": _errors(after), "bands": _bands(after)})
            better = _mean_median(own.error_after) < _mean_median(own.error_before)
            if log:
                log(f"{'/'.join(key)} [{model_id}]: held-out configurations {_mean_median(own.error_before):.1f}% "
                    f"with the scope of every model, {_mean_median(own.error_after):.1f}% with its own: "
                    + ("kept" if better else "dropped"))
            if not better:
                continue
        # a factor the model's runs do not constrain keeps the value fitted for every model
        kept.append(own.model_copy(update={"factors": tuple(
            f.model_copy(update={"value": inherited[f.name], "why": ""})
            if f.value is None and f.name in inherited else f for f in own.factors)}))
    return kept


def _scopes_of(job: tuple, cache: Optional[dict] = None, log: Optional[Callable[[str], None]] = None) -> list[Scope]:
    """One (GPU, engine, precision) scope of :func:`fit_profile`, preceded by the scopes of its models."""
    key, rows, constants, folds, rounds = job
    cache = {} if cache is None else cache
    every = fit_scope(key, rows, constants, cache, folds, rounds, log)
    return model_scopes(key, rows, every, constants, cache, rounds, log) + [every[0]]


def fit_profile(rows: list[dict], *, files: tuple[str, ...] = (), file_dates: tuple[str, ...] = (), folds: int = 3,
                rounds: int = 4, constants: Optional[RooflineConstants] = None,
                log: Optional[Callable[[str], None]] = None) -> Profile:
    """A roofline calibration profile from serving rows: one scope per GPU, engine and precision, each
    preceded by the scopes of its models that cross-validate better alone (:func:`model_scopes`).
    The scopes are fitted in parallel processes (one per CPU) unless ``log`` asks to follow them."""
    from gpurec_core.api import as_gpu

    from gpurec_roofline.fitting import real_deployment

    constants = constants or load_constants()
    by_scope: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    cache: dict = {}
    for row in rows:
        gpu = as_gpu(cell(row, "gpu")).name
        try:  # the weight precision the run served (a pre-quantized checkpoint's own, whatever the label)
            precision = real_deployment(row, cache)[3].precision.weight
        except Exception:  # the scope's Problem reports rows it cannot place
            precision = cell(row, "precision") or ANY
        by_scope[(gpu, engine_of(row), precision)].append(row)
    jobs = [(key, scope_rows, constants, folds, rounds) for key, scope_rows in sorted(by_scope.items())]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers > 1 and log is None:
        # the scopes are independent fits: one process each, as many at once as there are CPUs
        with ProcessPoolExecutor(workers) as pool:
            fitted = list(pool.map(_scopes_of, jobs))
    else:
        fitted = [_scopes_of(job, cache, log) for job in jobs]
    scopes = [scope for group in fitted for scope in group]
    return Profile(schema_version=SCHEMA_VERSION, estimator="roofline", created=today(), files=tuple(files),
                   file_dates=tuple(sorted(set(file_dates))), scopes=tuple(scopes))
