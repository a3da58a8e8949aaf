#!/usr/bin/env python
"""Compare gpurec's roofline estimator with BentoML's llm-optimizer (and measurements, if present).

Prints TTFT, ITL and output throughput of one model on one GPU at several concurrencies, from
each usable estimator, beside measured values from a measurement CSV (``gpurec validate``'s
format) when one is found. Needs BentoML's llm-optimizer importable
(``pip install git+https://github.com/bentoml/llm-optimizer.git``); the roofline column is
skipped when that estimator is absent.

    python scripts/compare_llm_optimizer.py
    python scripts/compare_llm_optimizer.py --model meta-llama/Llama-3.1-8B-Instruct --gpu H100 \\
        --input-length 1024 --output-length 512 --concurrency 1,8,32,128
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MEASUREMENTS = REPO.parent / "shared" / "data" / "measurements" / "serving_h100.csv"
ESTIMATORS = ("roofline", "llm-optimizer")


def _source_tree_imports() -> None:
    """Run from a checkout that was never installed: put the repo and its bundled plugins on sys.path."""
    try:
        import gpurec_llm_optimizer  # noqa: F401
    except ImportError:
        sys.path[:0] = [str(REPO), str(REPO / "plugins")]


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="meta-llama/Llama-3.1-8B-Instruct")
    parser.add_argument("--gpu", default="H100")
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--precision", default=None, help="weight precision (default: the checkpoint's)")
    parser.add_argument("--input-length", type=int, default=1024)
    parser.add_argument("--output-length", type=int, default=512)
    parser.add_argument("--concurrency", default="1,8,16,32,64,128", help="comma-separated")
    parser.add_argument("--engine", default="vllm", help="memory-plan engine profile")
    parser.add_argument("--measurements", type=Path, default=DEFAULT_MEASUREMENTS,
                        help="measurement CSV (model,...,gpu,tp,...,isl,osl,concurrency,metric,value)")
    return parser.parse_args(argv)


def measured(path: Path, model: str, gpu: str, tp: int, weight: str, isl: int, osl: int) -> dict[int, dict[str, str]]:
    """concurrency -> {'engine': ..., 'ttft_ms': ..., 'itl_ms': ...} from a measurement CSV."""
    from gpurec_core.models import normalize_gpu_name

    found: dict[int, dict[str, str]] = {}
    if not path.is_file():
        return found
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                same = (row["model"].lower() == model.lower()
                        and normalize_gpu_name(row["gpu"]) == normalize_gpu_name(gpu)
                        and int(row["tp"]) == tp and row["precision"] == weight
                        and int(row["isl"]) == isl and int(row["osl"]) == osl and row["concurrency"].isdigit())
            except (KeyError, ValueError):
                continue
            if not same or row["metric"] not in ("ttft_ms", "itl_ms"):
                continue
            entry = found.setdefault(int(row["concurrency"]), {"engine": f"{row['engine']} {row['engine_version']}"})
            entry.setdefault(row["metric"], row["value"])
    return found


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    _source_tree_imports()
    from gpurec_core import plugins
    from gpurec_core.architecture import ModelArchitecture
    from gpurec_core.errors import GpurecError
    from gpurec_core.models import Parallelism, Workload

    infos = {info.name: info for info in plugins.list_estimators()}
    llm_opt = infos.get("llm-optimizer")
    if llm_opt is None or not llm_opt.usable:
        print(f"llm-optimizer is not usable: {llm_opt.reason if llm_opt else 'its plugin is not registered'}")
        return 1
    estimators = [name for name in ESTIMATORS if name in infos and infos[name].usable]
    for name in ESTIMATORS:
        if name not in estimators:
            reason = infos[name].reason if name in infos else "not installed"
            print(f"(skipping {name}: {reason})")

    parallelism = Parallelism(tensor_parallel_size=args.tensor_parallel_size)
    try:
        model = ModelArchitecture(args.model)
        gpu = plugins.gpu_catalog().get(args.gpu)
        precision = model.resolve_precision(args.precision)
        base = dict(input_length=args.input_length, output_length=args.output_length, precision=precision)
        memory = plugins.estimate_memory(model, gpu, parallelism, Workload(concurrency=1, **base), args.engine)
    except (GpurecError, ImportError) as exc:  # ImportError: a gpurec module not there yet in this checkout
        print(f"cannot compare: no model, GPU or memory plan ({type(exc).__name__}: {exc})")
        return 1
    print(f"{model.model_id} ({model.num_parameters:,} parameters, {precision.weight}) on "
          f"{args.tensor_parallel_size}x {gpu.name}, input {args.input_length} / output {args.output_length} tokens; "
          f"KV pool {memory.kv_cache_tokens:,} tokens ({args.engine})")

    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    truth = measured(args.measurements, model.model_id, gpu.name, args.tensor_parallel_size, precision.weight,
                     args.input_length, args.output_length)
    header = ["users"] + [f"{name} {what}" for name in estimators for what in ("TTFT ms", "ITL ms", "tok/s")]
    if truth:
        header += ["measured TTFT ms", "measured ITL ms", "engine"]
    rows = [header]
    notes: dict[str, None] = {}  # full messages, in order, once each
    for users in concurrencies:
        row = [str(users)]
        workload = Workload(concurrency=users, **base)
        for name in estimators:
            try:
                est = plugins.estimate_performance(model, gpu, parallelism, workload, memory, name)
            except GpurecError as exc:
                notes[f"{name}: {exc}"] = None
                row += ["n/a", "", ""]
                continue
            if est.error:
                notes[f"{name} at {users} users: {est.error}"] = None
                row += ["error", "", ""]
                continue
            row += [_fmt(est.time_to_first_token_ms), _fmt(est.inter_token_latency_ms, 2),
                    _fmt(est.throughput_tokens_per_sec, 0)]
        if truth:
            seen = truth.get(users, {})
            row += [seen.get("ttft_ms", "-"), seen.get("itl_ms", "-"), seen.get("engine", "")]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    for note in notes:
        print(note)
    if truth:
        print(f"measured: {args.measurements}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
