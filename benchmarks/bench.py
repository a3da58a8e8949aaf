"""gpurec's own speed, measured (run by hand, not by CI).

    python benchmarks/bench.py            # prints the four figures and the machine
    python benchmarks/bench.py --repeat 9

Figures (targets from the hardening issue):
1. warm ``recommend_gpus`` for one model across the whole catalog, with performance  (<= 20 ms)
   1b. the same with SLOs (ttft_slo_ms=500, itl_slo_ms=30): adds the goodput search  (no target; kept fast)
   1c. the same with ``disaggregated=True``: xPyD pools of each GPU type too          (no target; seconds)
2. cold ``gpurec recommend MODEL --json`` offline for a bundled model, wall time       (<= 1.0 s)
3. a sweep of (model x GPU x layout x workload) points, points per second               (>= 200,000/s)
   A point is one (model, GPU, layout, input, output, concurrency) with its own TTFT, ITL and
   throughput: the rate counts only the points that got an estimate, not those whose layout
   does not fit. The first (cold) run is shown beside the warm median.
4. offline failure for an unknown model, wall time of the CLI                          (<= 1.0 s)
Each figure is the median of ``--repeat`` runs (warm figures after one warm-up run).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODEL = "Qwen/Qwen3-32B"
SLOS = dict(ttft_slo_ms=500, itl_slo_ms=30)
SWEEP_MODELS = ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-32B", "meta-llama/Llama-3.1-70B", "Qwen/Qwen3-30B-A3B",
                "openai/gpt-oss-120b", "deepseek-ai/DeepSeek-V3"]
SWEEP_GRID = dict(input_lengths=[128, 512, 1024, 2048, 4096, 8192], output_lengths=[128, 256, 512, 1024],
                  concurrencies=[1, 2, 4, 8, 16, 32, 64, 128, 256])
ROOT = Path(__file__).resolve().parents[1]


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def warm_recommend(repeat: int, **kwargs) -> tuple[float, int]:
    from gpurec_core import ModelArchitecture, recommend_gpus

    model = ModelArchitecture(MODEL)
    result = recommend_gpus(model, **kwargs)  # warm-up: plugin manager, catalogs, model caches
    return median_time(lambda: recommend_gpus(model, **kwargs), repeat), len(result)


def cold_cli(args: list[str], repeat: int) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "gpurec_core", *args]

    def run() -> None:
        subprocess.run(command, capture_output=True, env=env, cwd=ROOT)

    return median_time(run, repeat)


def sweep_rate(repeat: int) -> tuple[float, float, int, int]:
    """(warm estimated points/s, first-run estimated points/s, estimated points, all points)."""
    from gpurec_core.sweep_grid import sweep

    def run():
        return sweep(SWEEP_MODELS, gpus=None, **SWEEP_GRID)

    start = time.perf_counter()
    result = run()  # the first run: model caches and profiles built on the way
    cold = time.perf_counter() - start
    seconds = median_time(run, repeat)
    return result.num_estimated / seconds, result.num_estimated / cold, result.num_estimated, result.num_points


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.platform()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}")
    seconds, n = warm_recommend(args.repeat)
    print(f"1. warm recommend_gpus({MODEL!r}), whole catalog with performance: {seconds * 1e3:.1f} ms "
          f"({n} candidates)  [target <= 20 ms]")
    seconds, n = warm_recommend(args.repeat, **SLOS)
    print(f"1b. the same with ttft_slo_ms=500, itl_slo_ms=30 (goodput search): {seconds * 1e3:.1f} ms ({n} candidates)")
    seconds, n = warm_recommend(max(1, args.repeat // 5), disaggregated=True)
    print(f"1c. the same with disaggregated=True (xPyD pools of each GPU type): {seconds:.2f} s ({n} candidates)")
    seconds = cold_cli(["recommend", MODEL, "--json"], args.repeat)
    print(f"2. cold `gpurec recommend {MODEL} --json` offline: {seconds:.2f} s  [target <= 1.0 s]")
    rate, cold_rate, estimated, points = sweep_rate(args.repeat)
    print(f"3. sweep of {points:,} (model x GPU x layout x workload) points, {estimated:,} with an estimate: "
          f"{rate:,.0f} estimated points/s (first run {cold_rate:,.0f}/s)  [target >= 200,000/s]")
    seconds = cold_cli(["recommend", "nobody/no-such-model"], args.repeat)
    print(f"4. offline failure for an unknown model (CLI): {seconds:.2f} s  [target <= 1.0 s]")


if __name__ == "__main__":
    main()
