"""Fitting the roofline's factors on measured serving rows: the bundled H100 calibration
(``scripts/calibrate_roofline.py``) and a user's own runs (``gpurec calibrate``).

Rows are gpurec's serving rows (``gpurec_core.validate_serving``: model, gpu, tp, pp, dp, ep, isl,
osl, concurrency, metric, value, ...). :class:`Problem` groups them by deployment so that one
:func:`gpurec_roofline.serving.serve` call predicts every row of a deployment; the objective is the
mean over (engine, metric) groups of the median |ln(predicted / measured)|: robust (one wild run
cannot pull a factor) and every metric weighs the same however many rows it has. Factors move by
coordinate descent on a log grid inside a physical range each (:data:`FACTORS`).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from gpurec_core.measurement_cells import cell, engine_of, parsed, request_lengths
from gpurec_core.validate_serving import (concurrency_of, frontend_of, kv_cache_dtype_of, num_prompts_of,
                                          served_precision)
from gpurec_roofline.constants import RooflineConstants
from gpurec_roofline.profile import build_profile
from gpurec_roofline.serving import closed_loop_throughput, scheduler_limits, serve, users_per_replica


@dataclass(frozen=True)
class FactorSpec:
    """A roofline factor a calibration may move: where it lives and its physical range."""

    name: str
    section: str       # "efficiency", "kernels", "communication", "engines", "benchmark"
    low: float
    high: float
    needs: str         # what data constrain it (for the report when they are missing)
    metric: str        # the measured metric that constrains it: "itl_ms" or "ttft_ms"
    also_start_at: tuple[float, ...] = ()  # values that start a second descent (a separate valley)
    read_off: bool = False  # read off the runs (delivery_ceiling), not descended


#: Runs predicted above the highest output rate any of a set delivered that make its plateau a ceiling.
DELIVERY_PLATEAU_RUNS = 5

#: Every factor a calibration may fit, with the physical range it may take (the ranges of the bundled
#: H100 fit; efficiencies are fractions of the GPU's datasheet peaks).
FACTORS: tuple[FactorSpec, ...] = (
    FactorSpec("bandwidth_efficiency", "efficiency", 0.40, 0.90, "ITL rows", "itl_ms"),
    FactorSpec("compute_efficiency", "efficiency", 0.20, 0.85, "TTFT rows", "ttft_ms"),
    FactorSpec("attention_efficiency", "efficiency", 0.20, 0.85, "TTFT rows with prompts of 4096 tokens or more", "ttft_ms"),
    FactorSpec("per_layer_overhead_us", "kernels", 0.0, 60.0, "ITL rows of models with different layer counts", "itl_ms"),
    FactorSpec("allreduce_latency_us", "communication", 2.0, 60.0, "ITL rows with tensor parallelism", "itl_ms"),
    FactorSpec("step_overhead_ms", "engines", 0.0, 10.0, "ITL rows", "itl_ms"),
    FactorSpec("per_sequence_overhead_us", "engines", 0.0, 100.0, "ITL rows at two concurrencies or more", "itl_ms"),
    FactorSpec("request_overhead_ms", "engines", 0.0, 300.0, "TTFT rows", "ttft_ms"),
    FactorSpec("arrival_wait_steps", "engines", 0.5, 2.0, "TTFT rows with more than one user (mixed-step engines)", "ttft_ms"),
    FactorSpec("prefill_clustering", "engines", 0.0, 3.0, "TTFT rows with more than one user (prefill-first engines)", "ttft_ms"),
    FactorSpec("prefill_in_decode_fraction", "engines", 0.0, 1.0, "ITL rows with more than one user (prefill-first engines)", "itl_ms"),
    FactorSpec("requests_per_user", "benchmark", 2.0, 100.0, "TTFT rows with more than one user whose runs do not "
               "record how many requests they sent (num_prompts)", "ttft_ms"),
    # 1 is a client that times the wait for a slot: from 0 the per-request overhead absorbs the gap first
    FactorSpec("client_slot_wait", "benchmark", 0.0, 1.5, "TTFT rows with more than one user", "ttft_ms", (1.0,)),
    FactorSpec("moe_compute_efficiency", "engines", 0.15, 1.0, "TTFT rows of MoE models with prompts of 4096 tokens or more", "ttft_ms"),
    FactorSpec("delivery_tokens_per_s", "engines", 1.0, 1e9, f"TTFT and ITL of {DELIVERY_PLATEAU_RUNS} or more runs predicted "
               "above the highest output rate any of them delivered", "ttft_ms", read_off=True),
)
SPECS = {f.name: f for f in FACTORS}


def factor_value(constants: RooflineConstants, name: str, generation: str, engine: str, dtype: str,
                 frontend: str = "engine") -> float:
    """The current value of a factor for a GPU generation, engine (behind ``frontend``) and compute dtype."""
    spec = SPECS[name]
    if spec.section == "efficiency":
        eff = constants.efficiency[generation]
        return eff.compute_fraction(dtype) if name == "compute_efficiency" else getattr(eff, name)
    if spec.section == "engines":
        return getattr(constants.engine(engine, frontend), name)
    return getattr(getattr(constants, spec.section), name)


def with_factors(constants: RooflineConstants, factors: dict[str, float], generation: str, engine: str,
                 dtype: str) -> RooflineConstants:
    """A copy of ``constants`` with ``factors`` written in for this generation, engine and dtype."""
    if not factors:
        return constants
    update: dict = {}
    eff = constants.efficiency[generation]
    eff_update = {k: v for k, v in factors.items() if SPECS[k].section == "efficiency" and k != "compute_efficiency"}
    if "compute_efficiency" in factors:
        eff_update["compute_efficiency"] = {**eff.compute_efficiency, dtype: factors["compute_efficiency"]}
    if eff_update:
        update["efficiency"] = {**constants.efficiency, generation: eff.model_copy(update=eff_update)}
    eng_update = {k: v for k, v in factors.items() if SPECS[k].section == "engines"}
    if "request_overhead_ms" in eng_update:  # fitted on the user's runs: whatever front end served them
        eng_update["frontend_request_overhead_ms"] = {}
    if "delivery_tokens_per_s" in eng_update:  # read off the user's runs: the same
        eng_update["frontend_delivery_tokens_per_s"] = {}
    if eng_update:
        update["engines"] = {**constants.engines, engine: constants.engine(engine).model_copy(update=eng_update)}
    for section in ("kernels", "communication", "benchmark"):
        sec_update = {k: v for k, v in factors.items() if SPECS[k].section == section}
        if sec_update:
            update[section] = getattr(constants, section).model_copy(update=sec_update)
    return constants.model_copy(update=update)


def without_delivery_ceilings(constants: RooflineConstants) -> RooflineConstants:
    """``constants`` with no front end's delivery ceiling on any engine: what the engines' steps alone deliver
    (the predictions :func:`delivery_ceiling` compares the runs with)."""
    return constants.model_copy(update={"engines": {
        name: entry.model_copy(update={"delivery_tokens_per_s": None, "frontend_delivery_tokens_per_s": {}})
        for name, entry in constants.engines.items()}})


def delivered_rates(problem: "Problem", constants_of: Callable) -> dict[str, list[tuple[float, float]]]:
    """Engine -> (measured, predicted) output tokens per second, per replica, of every run of ``problem`` with
    both TTFT and ITL: users x O / (TTFT + (O - 1) ITL) (closed-loop Little's law), predicted with
    ``constants_of`` (as :meth:`Problem.predictions` takes it)."""
    predictions = iter(problem.predictions(constants_of))
    runs: dict = {}
    for pkey, g in problem.groups.items():
        for i, metric in enumerate(g["metric"]):
            engine, _, predicted, measured = next(predictions)
            runs.setdefault((pkey, g["I"][i], g["O"][i], g["c"][i]), {"engine": engine})[metric] = (predicted, measured)
    rates: dict = {}
    for (_, _, O, users), run in runs.items():
        if "ttft_ms" in run and "itl_ms" in run:
            rate = [closed_loop_throughput(users, O, run["ttft_ms"][k], run["itl_ms"][k]) for k in (1, 0)]
            rates.setdefault(run["engine"], []).append(tuple(rate))
    return rates


def delivery_ceiling(pairs: list[tuple[float, float]]) -> tuple[Optional[float], str]:
    """The front end's delivery ceiling that (measured, predicted-without-one) rates show, and why: the highest
    rate any run delivered, where at least :data:`DELIVERY_PLATEAU_RUNS` runs are predicted above it (they
    plateau below what the engine's steps make); None where they do not."""
    highest = max((measured for measured, _ in pairs), default=0.0)
    above = sum(predicted > highest for _, predicted in pairs)
    said = (f"{len(pairs)} runs, highest delivered {highest:,.0f} tok/s, {above} predicted above it "
            f"({DELIVERY_PLATEAU_RUNS} make a plateau)")
    return (float(round(highest)) if above >= DELIVERY_PLATEAU_RUNS else None), said


def configuration_key(row: dict) -> str:
    """A row's configuration without its concurrency: all concurrencies of one configuration are one
    unit of cross-validation (neighbouring points cannot leak into the held-out fold)."""
    keys = ("model", "model_path", "engine", "engine_version", "gpu", "tp", "pp", "dp", "ep", "isl", "osl",
            "precision", "kv_cache_dtype")
    return "|".join(cell(row, k) for k in keys)


def fold_of(row: dict, folds: int) -> int:
    """The cross-validation fold of a row's configuration (a stable hash, so runs repeat)."""
    return hashlib.md5(configuration_key(row).encode()).digest()[0] % folds


def real_deployment(row: dict, cache: dict):
    """(model, gpu, parallelism, workload, memory) for a row through gpurec's public pieces, at the
    weights the run served (:func:`gpurec_core.validate_serving.served_precision`, as ``gpurec
    validate`` predicts it)."""
    from gpurec_core import api
    from gpurec_core.plugins import estimate_memory

    def whole(key: str) -> int:
        return parsed(row, key, 1)
    ref, engine = cell(row, "model_path") or cell(row, "model"), engine_of(row)
    frontend = frontend_of(row)
    input_length, output_length = request_lengths(row)
    key = (ref, whole("tp"), whole("pp"), whole("ep"), whole("dp"), input_length, output_length,
           cell(row, "precision"), kv_cache_dtype_of(row), engine, frontend, cell(row, "gpu") or "H100")
    if key not in cache:
        model = cache.setdefault(("model", ref), api.as_model(ref))
        gpu = api.as_gpu(cell(row, "gpu") or "H100")
        label = served_precision(model, cell(row, "precision") or None)
        precision = model.resolve_precision(label, kv_cache_dtype_of(row))
        par, _ = api.planned_layout(model, engine, whole("tp"), whole("pp"), whole("ep"),
                                    whole("dp"), precision)
        workload = api._build(api.Workload, "workload", input_length=input_length,
                              output_length=output_length, concurrency=1, precision=precision,
                              frontend=frontend)
        memory = estimate_memory(model, gpu, par, workload, engine)
        cache[key] = (model, gpu, par, workload, memory)
    return cache[key]


class Problem:
    """Measured rows grouped by deployment, so one serve() call covers every row of a deployment."""

    def __init__(self, rows: list[dict], deployment: Callable = real_deployment) -> None:
        cache: dict = {}
        groups: dict = defaultdict(lambda: defaultdict(list))
        self.skipped = 0
        self.first_problem: Optional[str] = None  # why the first skipped row could not be placed
        self.profiles: dict = {}
        for row in rows:
            try:
                model, gpu, par, workload, memory = deployment(row, cache)
            except Exception as exc:  # rows gpurec cannot place are reported by the validation, not fitted
                self.skipped += 1
                self.first_problem = self.first_problem or f"{type(exc).__name__}: {exc}"
                continue
            if not memory.fits:
                self.skipped += 1
                self.first_problem = self.first_problem or f"does not fit: {memory.reason}"
                continue
            I, O = workload.input_length, workload.output_length
            conc = concurrency_of(row)
            replicas = par.data_parallel_size
            if conc == "max":
                users, busy = max(1, int(memory.kv_cache_tokens // (I + O))), replicas
            else:
                users, busy = (float(x) for x in users_per_replica(conc, replicas))
            pkey = (id(model), gpu.name, par, workload.precision, memory.engine, workload.frontend)
            if pkey not in self.profiles:
                profile = build_profile(model.config, model.parameters, workload.precision, gpu, par)
                self.profiles[pkey] = (profile, gpu, memory.engine, workload.precision, workload, memory)
            g = groups[pkey]
            sent = num_prompts_of(row)
            for name, value in (("I", I), ("O", O), ("c", users), ("kv", memory.kv_cache_tokens),
                                ("scale", busy), ("measured", float(cell(row, "value"))),
                                ("sent", np.nan if sent is None else sent)):
                g[name].append(value)
            g["metric"].append(cell(row, "metric"))
            g["index"].append(len(g["index"]))
        self.groups = {k: {n: (np.array(v) if n not in ("metric",) else v) for n, v in g.items()}
                       for k, g in groups.items()}
        self.rows = sum(len(g["metric"]) for g in self.groups.values())

    def predictions(self, constants_of: Callable[[object], RooflineConstants]):
        """(engine, metric, predicted, measured) for every row; ``constants_of(profile, gpu, engine,
        precision)`` gives the constants a deployment is timed with."""
        from gpurec_roofline.estimator import resolved_efficiency

        out = []
        for pkey, g in self.groups.items():
            profile, gpu, engine_name, precision, workload, memory = self.profiles[pkey]
            constants = constants_of(profile, gpu, engine_name, precision)
            engine = constants.engine(engine_name, workload.frontend)
            eff = resolved_efficiency(constants.efficiency_for(gpu), profile, engine_name)
            res = serve(profile, eff, constants.communication, engine, constants.kernels,
                        g["I"], g["O"], g["c"], g["kv"], *scheduler_limits(workload, memory, engine),
                        constants.benchmark, g["scale"],
                        num_prompts=g["sent"])
            values = {"ttft_ms": res.ttft_s * 1e3, "itl_ms": res.itl_s * 1e3,
                      "output_tok_s": res.requests_per_s * g["O"] * g["scale"]}
            for i, metric in enumerate(g["metric"]):
                pred = float(np.broadcast_to(values[metric], g["I"].shape)[i])
                out.append((engine_name, metric, pred, float(g["measured"][i])))
        return out

    def loss(self, constants_of) -> float:
        """Mean over (engine, metric) groups of the median |ln(predicted / measured)|."""
        by = defaultdict(list)
        for engine, metric, pred, meas in self.predictions(constants_of):
            by[(engine, metric)].append(abs(math.log(max(pred, 1e-9) / meas)))
        return float(np.mean([np.median(v) for v in by.values()])) if by else 0.0


def descend(loss: Callable[[dict], float], start: dict[str, float], names: list[str], rounds: int = 4,
            log: Optional[Callable[[str], None]] = None) -> tuple[dict[str, float], float]:
    """Coordinate descent of ``loss(factors)`` over ``names`` within each factor's range, on a log
    grid that halves every round (from zero, the range in quarters first); returns the best factors
    and their loss."""
    best_factors, best = dict(start), loss(start)
    for r in range(rounds):
        step = 0.5 / (2 ** r)
        for name in names:
            spec, current = SPECS[name], best_factors[name]
            base = current if current > 0 else (spec.low + spec.high) / 20
            candidates = {min(spec.high, max(spec.low, base * math.exp(k * step))) for k in (-2, -1, 1, 2)}
            candidates.add(spec.low)
            if current <= 0:  # a log grid has no scale at zero: try the range in quarters
                candidates.update(spec.low + q * (spec.high - spec.low) for q in (0.25, 0.5, 0.75, 1.0))
            for value in sorted(candidates):
                trial = {**best_factors, name: float(round(value, 4))}
                trial_loss = loss(trial)
                if trial_loss < best - 1e-5:
                    best, best_factors = trial_loss, trial
            if log:
                log(f"round {r} {name} = {best_factors[name]}  loss {best:.4f}")
    return best_factors, best
