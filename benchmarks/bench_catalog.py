"""Every bundled model: resolve, parse and plan on H100 (largest TP <= 8), timed one by one.

    python benchmarks/bench_catalog.py

Prints the slowest entries and the total; the target (issue 16) is under 0.5 s per entry. Each entry
is timed in the same process after one warm-up of the plugin manager and catalogs, with its own
config parsed cold (every entry is a different config).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from gpurec_core import ModelArchitecture, plan_memory
    from gpurec_core.resolve import list_catalog_models

    ids = [m["id"] for m in list_catalog_models()]
    plan_memory(ModelArchitecture(ids[0]), "H100")  # warm-up: plugins, GPU and engine catalogs
    times = []
    for model_id in ids:
        start = time.perf_counter()
        model = ModelArchitecture(model_id)
        tp = max(t for t in model.possible_tensor_parallel_sizes() if t <= 8)
        plan_memory(model, "H100", tensor_parallel_size=tp, max_model_len=4096)
        times.append((time.perf_counter() - start, model_id))
    times.sort(reverse=True)
    print(f"{len(ids)} entries, total {sum(t for t, _ in times):.2f} s, slowest {times[0][0] * 1e3:.0f} ms "
          f"({times[0][1]}) [target < 500 ms each]")
    for seconds, model_id in times[:5]:
        print(f"  {seconds * 1e3:7.1f} ms  {model_id}")


if __name__ == "__main__":
    main()
