"""Fit the roofline estimator's few physical constants on the calibration half of the H100 data.

Usage: ``python scripts/calibrate_roofline.py [CSV] [--write]``

Rows are split by :func:`gpurec_core.validate_serving.calibration_split`; only "calibration" rows
enter the objective. The objective is the mean over (engine, metric) groups of the median
|log(predicted / measured)|, so every engine and metric weighs the same however many rows it has,
and one outlier cannot pull a constant. The fitted constants are physical quantities with a
plausible range each (below); a constant per row, per model or per configuration is never fitted.
Coordinate descent over a log grid (``--starts N`` adds N - 1 deterministic random restarts inside
the ranges; the lowest calibration loss wins); ``--write`` rewrites the values in
catalogs/engines/roofline.toml.
"""

from __future__ import annotations

import argparse
import csv
import math
import pathlib
import re
import sys
from collections import defaultdict

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gpurec_core.validate_serving import calibration_split, concurrency_of, kv_cache_dtype_of  # noqa: E402
from gpurec_roofline.constants import load_constants  # noqa: E402
from gpurec_roofline.estimator import kv_capacity_requests  # noqa: E402
from gpurec_roofline.profile import build_profile  # noqa: E402
from gpurec_roofline.serving import serve  # noqa: E402

DEFAULT_CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100.csv"

#: (path in the constants, lower bound, upper bound): the physical range each constant may take.
FITTED = [
    (("efficiency", "hopper", "compute_efficiency", "bf16"), 0.30, 0.85),
    (("efficiency", "hopper", "compute_efficiency", "fp8"), 0.25, 0.85),
    (("efficiency", "hopper", "bandwidth_efficiency"), 0.55, 0.90),
    (("efficiency", "hopper", "attention_efficiency"), 0.25, 0.85),
    (("communication", "allreduce_latency_us"), 2.0, 60.0),
    (("kernels", "per_layer_overhead_us"), 0.0, 60.0),
] + [
    (("engines", engine, name), low, high)
    for engine in ("vllm", "sglang", "trtllm")
    for name, low, high in (("step_overhead_ms", 0.0, 10.0), ("per_sequence_overhead_us", 0.0, 100.0),
                            ("request_overhead_ms", 0.0, 300.0))
] + [
    # steps a new request waits before its first chunk is scheduled: from half a step (an arrival
    # at a random moment waits the rest of the step in flight) to two steps (asynchronous
    # scheduling: the step after the one in flight is already planned when the request arrives)
    (("engines", "vllm", "arrival_wait_steps"), 0.5, 2.0),
    (("engines", "trtllm", "arrival_wait_steps"), 0.5, 2.0),
    (("engines", "sglang", "prefill_clustering"), 0.0, 3.0),
    (("engines", "sglang", "prefill_in_decode_fraction"), 0.0, 1.0),
    # requests per user in the measured benchmark: the start-up burst's share of the mean TTFT
    (("benchmark", "requests_per_user"), 2.0, 100.0),
]


def real_deployment(row: dict, cache: dict):
    """(model, gpu, parallelism, workload, memory) for a row through gpurec's public pieces."""
    from gpurec_core import api
    from gpurec_core.plugins import estimate_memory

    key = (row["model"], row["tp"], row["pp"], row["ep"], row["isl"], row["osl"], row["precision"],
           kv_cache_dtype_of(row), row["engine"], row["gpu"])
    if key not in cache:
        model = cache.setdefault(("model", row["model"]), api.as_model(row["model"]))
        gpu = api.as_gpu(row["gpu"] or "H100")
        par = api.make_parallelism(int(row["tp"] or 1), int(row["pp"] or 1), int(row["ep"] or 1))
        precision = model.resolve_precision(row["precision"] or None, kv_cache_dtype_of(row))
        workload = api._build(api.Workload, "workload", input_length=int(row["isl"]), output_length=int(row["osl"]),
                              concurrency=1, precision=precision)
        memory = estimate_memory(model, gpu, par, workload, row["engine"] or "vllm")
        cache[key] = (model, gpu, par, workload, memory)
    return cache[key]


class Problem:
    """Calibration rows grouped by deployment profile so one serve() call covers many rows."""

    def __init__(self, rows, deployment=real_deployment):
        cache: dict = {}
        groups: dict = defaultdict(lambda: defaultdict(list))
        self.skipped = 0
        for row in rows:
            try:
                model, gpu, par, workload, memory = deployment(row, cache)
            except Exception:  # rows gpurec cannot place are reported by the validation, not fitted
                self.skipped += 1
                continue
            if not memory.fits:
                self.skipped += 1
                continue
            I, O = workload.input_length, workload.output_length
            cap = memory.kv_cache_tokens
            conc = concurrency_of(row)
            users = max(1, kv_capacity_requests(memory, I, O)) if conc == "max" else conc
            pkey = (id(model), gpu.name, par, workload.precision, memory.engine)
            if pkey not in self.__dict__.setdefault("_profiles", {}):
                self._profiles[pkey] = (build_profile(model.config, model.parameters, workload.precision, gpu, par), gpu, memory.engine)
            g = groups[pkey]
            for name, value in (("I", I), ("O", O), ("c", users), ("cap", cap), ("measured", float(row["value"]))):
                g[name].append(value)
            g["metric"].append(row["metric"])
            g["engine"].append(memory.engine)
        self.groups = {k: {n: np.array(v) if n not in ("metric", "engine") else v for n, v in g.items()} for k, g in groups.items()}

    def predictions(self, constants):
        """(engine, metric, predicted, measured) arrays for every row."""
        out = []
        for pkey, g in self.groups.items():
            profile, gpu, engine_name = self._profiles[pkey]
            engine = constants.engine(engine_name)
            res = serve(profile, constants.efficiency_for(gpu), constants.communication, engine, constants.kernels,
                        g["I"], g["O"], g["c"], g["cap"], engine.max_num_batched_tokens, engine.max_num_seqs,
                        constants.benchmark)
            values = {"ttft_ms": res.ttft_s * 1e3, "itl_ms": res.itl_s * 1e3,
                      "output_tok_s": res.requests_per_s * g["O"]}
            for i, metric in enumerate(g["metric"]):
                pred = np.broadcast_to(values[metric], g["I"].shape)[i]
                out.append((engine_name, metric, float(pred), float(g["measured"][i])))
        return out

    def loss(self, constants) -> float:
        by = defaultdict(list)
        for engine, metric, pred, meas in self.predictions(constants):
            by[(engine, metric)].append(abs(math.log(max(pred, 1e-9) / meas)))
        return float(np.mean([np.median(v) for v in by.values()]))


def get(constants, path):
    obj = constants
    for p in path:
        obj = obj[p] if isinstance(obj, dict) else getattr(obj, p)
    return obj


def with_value(constants, path, value):
    """A copy of the frozen constants with one nested value replaced."""
    def rebuild(obj, rest):
        head = rest[0]
        if len(rest) == 1:
            new = value
        else:
            child = obj[head] if isinstance(obj, dict) else getattr(obj, head)
            new = rebuild(child, rest[1:])
        if isinstance(obj, dict):
            return {**obj, head: new}
        return obj.model_copy(update={head: new})
    return rebuild(constants, path)


def fit(problem: Problem, constants, rounds: int = 4, verbose: bool = True):
    best = problem.loss(constants)
    if verbose:
        print(f"start loss {best:.4f}")
    for r in range(rounds):
        step = 0.5 / (2 ** r)
        for path, low, high in FITTED:
            current = get(constants, path)
            candidates = set()
            for k in (-2, -1, 1, 2):
                base = current if current > 0 else (low + high) / 20
                candidates.add(min(high, max(low, base * math.exp(k * step))))
            candidates.add(low if low > 0 or current > 0 else 0.0)
            for value in sorted(candidates):
                trial = with_value(constants, path, float(round(value, 4)))
                loss = problem.loss(trial)
                if loss < best - 1e-5:
                    best, constants = loss, trial
            if verbose:
                print(f"round {r} {'.'.join(path)} = {get(constants, path)}  loss {best:.4f}")
    return constants, best


def fit_multistart(problem: Problem, constants, starts: int, rounds: int, seed: int = 0):
    """Coordinate descent from the given constants and from ``starts - 1`` random points of the
    physical ranges (deterministic seed); the lowest calibration loss wins. The objective is a
    median, flat in places, so a single descent can stop in a local minimum."""
    best_constants, best = fit(problem, constants, rounds=rounds)
    rng = np.random.default_rng(seed)
    for k in range(1, starts):
        trial = constants
        for path, low, high in FITTED:
            trial = with_value(trial, path, float(round(low + (high - low) * rng.uniform(0.15, 0.85), 4)))
        fitted, loss = fit(problem, trial, rounds=rounds, verbose=False)
        print(f"start {k}: loss {loss:.4f}")
        if loss < best - 1e-6:
            best_constants, best = fitted, loss
    print(f"best loss {best:.4f}")
    return best_constants, best


def write_back(constants, toml_path: pathlib.Path) -> None:
    """Rewrite the fitted numbers in roofline.toml in place, keeping comments and sources."""
    text = toml_path.read_text()
    for path, _, _ in FITTED:
        value = get(constants, path)
        section = ".".join(path[:2]) if path[0] in ("efficiency", "engines") else path[0]
        start = text.index(f"[{section}]")
        end = text.find("\n[", start + 1)
        end = len(text) if end < 0 else end
        block = text[start:end]
        if path[0] == "efficiency" and path[2] == "compute_efficiency":
            block = re.sub(rf"(compute_efficiency = {{[^}}]*\b{path[3]} = )[0-9.]+", rf"\g<1>{value:g}", block)
        else:
            block = re.sub(rf"(?m)^({path[-1]} = )[0-9.]+", rf"\g<1>{value:g}", block)
        text = text[:start] + block + text[end:]
    toml_path.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV))
    parser.add_argument("--write", action="store_true", help="write the fitted values into roofline.toml")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--starts", type=int, default=1, help="random restarts of the descent (best loss wins)")
    args = parser.parse_args(argv)
    with open(args.csv, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if calibration_split(r) == "calibration"]
    problem = Problem(rows)
    print(f"{len(rows)} calibration rows, {problem.skipped} skipped")
    constants, loss = fit_multistart(problem, load_constants(), args.starts, args.rounds)
    if args.write:
        from gpurec_core.catalogs import catalog_path

        write_back(constants, catalog_path("engines") / "roofline.toml")
        load_constants.cache_clear()
        print("written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
