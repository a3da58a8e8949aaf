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

Every calibration run was served through NVIDIA Dynamo (the CSV's ``frontend`` column,
scripts/serving_frontends.py), so the first stage fits the engines' request overheads behind Dynamo.
A second stage (:data:`OWN_SERVER`, alone with ``--own-server-only``) then fits one request overhead for
the engines' own servers on the TTFT rows those served (:data:`OWN_SERVER_ENGINES`), every other constant
fixed, on a grid. A third stage (:data:`DELIVERY`, alone with ``--delivery-only``) reads the ceiling on the
tokens Dynamo's front end streams per replica off the calibration runs (no fit: the highest rate a run
delivered, where the engine's runs plateau below their predictions).
"""

from __future__ import annotations

import argparse
import csv
import math
import pathlib
import re
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gpurec_core.validate_serving import calibration_split, frontend_of  # noqa: E402
from gpurec_roofline import fitting  # noqa: E402
from gpurec_roofline.constants import load_constants  # noqa: E402
from gpurec_roofline.fitting import SPECS  # noqa: E402

#: serving_h100.csv with the front end of every run (scripts/serving_frontends.py)
DEFAULT_CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100_as_served.csv"
ENGINES = ("vllm", "sglang", "trtllm")


def _range(name: str, low: float | None = None) -> tuple[float, float]:
    spec = SPECS[name]
    return (spec.low if low is None else low), spec.high


#: (path in the constants, lower bound, upper bound): the physical range each constant may take
#: (gpurec_roofline.fitting.FACTORS; the bundled fit keeps Hopper's efficiencies above 0.25-0.55).
FITTED = [
    (("efficiency", "hopper", "compute_efficiency", "bf16"), *_range("compute_efficiency", 0.30)),
    (("efficiency", "hopper", "compute_efficiency", "fp8"), *_range("compute_efficiency", 0.25)),
    (("efficiency", "hopper", "bandwidth_efficiency"), *_range("bandwidth_efficiency", 0.55)),
    (("efficiency", "hopper", "attention_efficiency"), *_range("attention_efficiency", 0.25)),
    (("communication", "allreduce_latency_us"), *_range("allreduce_latency_us")),
    (("kernels", "per_layer_overhead_us"), *_range("per_layer_overhead_us")),
] + [
    (("engines", engine, name), *_range(name))
    for engine in ENGINES
    for name in ("step_overhead_ms", "per_sequence_overhead_us")
] + [
    # every calibration run was served through NVIDIA Dynamo (serving_h100_as_served.csv): its request overhead
    (("engines", engine, "frontend_request_overhead_ms", "dynamo"), *_range("request_overhead_ms"))
    for engine in ENGINES
] + [
    (("engines", "vllm", "arrival_wait_steps"), *_range("arrival_wait_steps")),
    (("engines", "trtllm", "arrival_wait_steps"), *_range("arrival_wait_steps")),
    (("engines", "sglang", "prefill_clustering"), *_range("prefill_clustering")),
    (("engines", "sglang", "prefill_in_decode_fraction"), *_range("prefill_in_decode_fraction")),
    # MoE rows of the shared data: vLLM (MiniMax-M2.5, gpt-oss-120b) and TensorRT-LLM (Qwen3-235B-A22B,
    # gpt-oss-120b, Llama-4); SGLang has none, so its value is vLLM's (the same Triton kernel).
    (("engines", "vllm", "moe_compute_efficiency"), *_range("moe_compute_efficiency")),
    (("engines", "trtllm", "moe_compute_efficiency"), *_range("moe_compute_efficiency")),
    (("benchmark", "requests_per_user"), *_range("requests_per_user")),
]


#: The request overhead of the engines' own servers: one value for every engine (the same HTTP, tokenisation and
#: first-chunk work of an OpenAI-compatible server), fitted once everything else is fitted, on the TTFT rows of the
#: own-server runs of OWN_SERVER_ENGINES. No calibration run was served so; they are all held-out models' rows
#: (vLLM's Llama-3.1-70B, gpt-oss-120b and MiniMax-M2.5 runs), so these rows are not held out for this one value.
OWN_SERVER = [(tuple(("engines", engine, "request_overhead_ms") for engine in ENGINES), *_range("request_overhead_ms"))]
#: NIM's TensorRT-LLM Llama-3.3-70B rows, the other own-server runs, read too slow at every overhead from 0 ms
#: (median log(predicted / measured) +0.14 at 0 ms: their prefill), so they bound the value from above and do
#: not set it: a median pulled to the range's edge to offset another error is not a measurement of this one.
OWN_SERVER_ENGINES = ("vllm",)
#: The own-server overhead is one number: its loss is read on a grid (a median is flat in places and has
#: several minima, so a descent would depend on where it starts), in ms.
OWN_SERVER_GRID_MS = tuple(x / 4 for x in range(0, 241))


#: The front end's delivery ceiling (EngineConstants.frontend_delivery_tokens_per_s, Dynamo's): read off the
#: calibration runs, not fitted. A closed-loop run delivers users x O / (TTFT + (O - 1) ITL) output tokens per
#: second (Little's law on its measured TTFT and ITL). Where at least fitting.DELIVERY_PLATEAU_RUNS of an engine's
#: runs are predicted (without a ceiling) above the highest rate any of its runs delivered, they sit on a plateau
#: the engine's steps do not explain, and that highest rate is the ceiling (fitting.delivery_ceiling); an engine
#: without such a plateau gets none.
DELIVERY = [(("engines", engine, "frontend_delivery_tokens_per_s", "dynamo"), 1.0, 1e9) for engine in ENGINES]


class Problem(fitting.Problem):
    """The calibration rows, predicted with one set of constants for every deployment."""

    def loss(self, constants) -> float:  # type: ignore[override]
        return super().loss(lambda *_: constants)


def get(constants, path):
    if isinstance(path[0], tuple):  # one value shared by several paths
        return get(constants, path[0])
    obj = constants
    for p in path:
        obj = obj[p] if isinstance(obj, dict) else getattr(obj, p)
    return obj


def with_value(constants, path, value):
    """A copy of the frozen constants with one nested value (or each of a shared value's paths) replaced."""
    if isinstance(path[0], tuple):
        for one in path:
            constants = with_value(constants, one, value)
        return constants

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


def fit(problem: Problem, constants, rounds: int = 4, verbose: bool = True, fitted=None):
    fitted = FITTED if fitted is None else fitted
    best = problem.loss(constants)
    if verbose:
        print(f"start loss {best:.4f}")
    for r in range(rounds):
        step = 0.5 / (2 ** r)
        for path, low, high in fitted:
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
                print(f"round {r} {label(path)} = {get(constants, path)}  loss {best:.4f}")
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


def fit_own_server(problem: Problem, constants):
    """The constants with OWN_SERVER at the grid value of least loss (the smallest of equals)."""
    (path, low, high), = OWN_SERVER
    losses = [(problem.loss(with_value(constants, path, v)), v) for v in OWN_SERVER_GRID_MS if low <= v <= high]
    loss, value = min(losses)
    print(f"{label(path)} = {value:g}  loss {loss:.4f}")
    return with_value(constants, path, value)


def fit_delivery(problem: Problem, constants):
    """The constants with each engine's Dynamo delivery ceiling read off its runs (DELIVERY;
    gpurec_roofline.fitting.delivery_ceiling, the rule `gpurec calibrate` applies to a user's runs)."""
    uncapped = fitting.without_delivery_ceilings(constants)
    rates = fitting.delivered_rates(problem, lambda *_: uncapped)
    for path, _, _ in DELIVERY:
        engine = path[1]
        ceiling, read = fitting.delivery_ceiling(rates.get(engine, []))
        print(f"{engine} behind dynamo: {read}: ceiling {f'{ceiling:g}' if ceiling else 'none'}")
        entries = dict(get(constants, path[:3]))
        entries.pop("dynamo", None)
        constants = with_value(constants, path[:3], {**entries, **({"dynamo": ceiling} if ceiling else {})})
    return constants


def label(path) -> str:
    return " = ".join(".".join(one) for one in path) if isinstance(path[0], tuple) else ".".join(path)


def written_paths(fitted):
    """Every single path of ``fitted`` (a shared value's paths one by one)."""
    for path, _, _ in fitted:
        yield from (path if isinstance(path[0], tuple) else (path,))


def write_back(constants, toml_path: pathlib.Path) -> None:
    """Rewrite the fitted numbers in roofline.toml in place, keeping comments and sources."""
    text = toml_path.read_text()
    for path in written_paths(FITTED + OWN_SERVER + DELIVERY):
        try:
            value = get(constants, path)
        except KeyError:  # no delivery ceiling for this engine: nothing to write (fit_delivery says so)
            continue
        section = ".".join(path[:2]) if path[0] in ("efficiency", "engines") else path[0]
        start = text.index(f"[{section}]")
        end = text.find("\n[", start + 1)
        end = len(text) if end < 0 else end
        block = text[start:end]
        if len(path) == 4:  # an entry of an inline table: compute_efficiency.<dtype>, frontend_*.<frontend>
            block = re.sub(rf"({path[2]} = {{[^}}]*\b{path[3]} = )[0-9.]+", rf"\g<1>{value:g}", block)
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
    parser.add_argument("--own-server-only", action="store_true",
                        help="fit only the engines' own-server request overhead (OWN_SERVER), the rest as bundled")
    parser.add_argument("--delivery-only", action="store_true",
                        help="read only the front end's delivery ceilings off the runs (DELIVERY), the rest as bundled")
    args = parser.parse_args(argv)
    with open(args.csv, newline="") as handle:
        every = list(csv.DictReader(handle))
    constants = load_constants()
    calibration = [r for r in every if calibration_split(r) == "calibration"]
    if not (args.own_server_only or args.delivery_only):
        problem = Problem(calibration)
        print(f"{len(calibration)} calibration rows, {problem.skipped} skipped")
        constants, loss = fit_multistart(problem, constants, args.starts, args.rounds)
    if not args.delivery_only:
        own = [r for r in every if frontend_of(r) == "engine" and r["metric"] == "ttft_ms"
               and r["engine"] in OWN_SERVER_ENGINES]
        print(f"{len(own)} TTFT rows of {', '.join(OWN_SERVER_ENGINES)}'s own server")
        constants = fit_own_server(Problem(own), constants)
    if not args.own_server_only:
        constants = fit_delivery(Problem([r for r in calibration if frontend_of(r) == "dynamo"]), constants)
    if args.write:
        from gpurec_core.catalogs import catalog_path

        write_back(constants, catalog_path("engines") / "roofline.toml")
        load_constants.cache_clear()
        print("written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
