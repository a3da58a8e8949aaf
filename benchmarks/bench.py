"""gpurec's own speed, measured (run by hand, not by CI).

    python benchmarks/bench.py            # prints the four figures and the machine
    python benchmarks/bench.py --repeat 9

Figures (targets from the hardening issue):
1. warm ``recommend_gpus`` for one model across the whole catalog, with performance  (<= 20 ms)
2. cold ``gpurec recommend MODEL --json`` offline for a bundled model, wall time       (<= 1.0 s)
3. a sweep of (model x GPU x layout x workload) points, points per second               (>= 200,000/s)
4. offline failure for an unknown model, wall time of the CLI                          (<= 1.0 s)
Each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

MODEL = "Qwen/Qwen3-32B"
SWEEP_MODELS = ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-32B", "meta-llama/Llama-3.1-70B", "Qwen/Qwen3-30B-A3B",
                "openai/gpt-oss-120b", "deepseek-ai/DeepSeek-V3"]


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def warm_recommend(repeat: int) -> tuple[float, int]:
    from gpurec_core import ModelArchitecture, recommend_gpus

    model = ModelArchitecture(MODEL)
    result = recommend_gpus(model)  # warm-up: plugin manager, catalogs, model caches
    return median_time(lambda: recommend_gpus(model), repeat), len(result)


def cold_cli(args: list[str], repeat: int) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "gpurec_core", *args]

    def run() -> None:
        subprocess.run(command, capture_output=True, env=env)

    return median_time(run, repeat)


def sweep_rate(repeat: int) -> tuple[float, int]:
    from gpurec_core.sweep import sweep

    def run() -> int:
        return sweep(SWEEP_MODELS, gpus=None, input_lengths=[128, 512, 1024, 2048, 4096, 8192],
                     output_lengths=[128, 256, 512, 1024], concurrencies=[1, 2, 4, 8, 16, 32, 64, 128, 256]).num_points

    points = run()  # warm-up
    seconds = median_time(run, repeat)
    return points / seconds, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}, "
          f"Python {platform.python_version()}")
    seconds, n = warm_recommend(args.repeat)
    print(f"1. warm recommend_gpus({MODEL!r}), whole catalog with performance: {seconds * 1e3:.1f} ms "
          f"({n} candidates)  [target <= 20 ms]")
    seconds = cold_cli(["recommend", MODEL, "--json"], args.repeat)
    print(f"2. cold `gpurec recommend {MODEL} --json` offline: {seconds:.2f} s  [target <= 1.0 s]")
    rate, points = sweep_rate(args.repeat)
    print(f"3. sweep of {points:,} (model x GPU x layout x workload) points: {rate:,.0f} points/s  "
          f"[target >= 200,000/s]")
    seconds = cold_cli(["recommend", "nobody/no-such-model"], args.repeat)
    print(f"4. offline failure for an unknown model (CLI): {seconds:.2f} s  [target <= 1.0 s]")


if __name__ == "__main__":
    main()
