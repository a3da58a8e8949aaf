"""How long gpurec takes on absurd but valid inputs, and on a Hub that never answers (run by hand).

    python benchmarks/bench_bad_inputs.py            # prints the three figures and the machine
    python benchmarks/bench_bad_inputs.py --repeat 5

Figures (targets from the issue "every bad input gives one line and exit 2, in bounded time"):
1. ``recommend_gpus`` over the whole catalog for Llama-3.1-8B's config with ``num_hidden_layers``
   10,000 (the largest accepted), in a warm process, the model resolved anew each run   (< 2 s)
2. a ``GPUREC_GPU_CATALOG`` TOML of 10,000 GPUs: parsing and validating it, and merging it into
   the bundled catalog (``merge_user_entries``), in-process                              (linear)
3. ``gpurec recommend acme/stalled`` against an ``HF_ENDPOINT`` that accepts connections and never
   answers, wall time of the CLI process (the Hub deadline ``GPUREC_HUB_TIMEOUT`` is 3 s)  (< 3 s + start-up)
Each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import median_time  # benchmarks/bench.py: its median is this file's too

ROOT = Path(__file__).resolve().parents[1]
LAYERS = 10_000
GPUS = 10_000


def deep_llama(directory: Path) -> Path:
    """Llama-3.1-8B's bundled config.json with ``num_hidden_layers`` = :data:`LAYERS`."""
    config = json.loads((ROOT / "catalogs" / "models" / "meta-llama" / "Llama-3.1-8B" / "config.json").read_text())
    config["num_hidden_layers"] = LAYERS
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def deep_recommend(directory: Path, repeat: int) -> tuple[float, int]:
    from gpurec_core import recommend_gpus

    recommend_gpus("meta-llama/Llama-3.1-8B")  # warm-up: plugin manager, catalogs, constants
    count = len(recommend_gpus(str(directory)))
    return median_time(lambda: recommend_gpus(str(directory)), repeat), count


def big_gpu_catalog(path: Path) -> Path:
    """A user catalog of :data:`GPUS` distinct GPUs, each with an alias."""
    entries = [f'[[gpu]]\nname = "Bench-{i}"\naliases = ["bench{i}x"]\nmanufacturer = "Acme"\nmemory_gib = 80\n'
               f"bandwidth_tb_s = 3.35\nbf16_tflops_dense = 989\ninterconnect_gb_s = 900\n" for i in range(GPUS)]
    path.write_text("\n".join(entries))
    return path


def catalog_merge(path: Path, repeat: int) -> tuple[float, float, int]:
    """(seconds to load and validate the file, seconds to merge it, GPUs after the merge)."""
    sys.path.insert(0, str(ROOT / "plugins"))
    from gpurec_toml_catalog import bundled_catalog_paths
    from gpurec_toml_catalog.loader import load_catalog_file, merge_user_entries

    bundled = [spec for p in bundled_catalog_paths() for spec in load_catalog_file(p, require_sources=True)]
    load = median_time(lambda: load_catalog_file(path, require_sources=False), repeat)
    user = load_catalog_file(path, require_sources=False)
    merge = median_time(lambda: merge_user_entries(bundled, user, path), repeat)
    return load, merge, len(merge_user_entries(bundled, user, path)[0])


def stalled_hub(home: Path, repeat: int) -> tuple[float, str]:
    """Wall time of the CLI against a local listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGING", "GPUREC_")) and "proxy" not in k.lower()}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{listener.getsockname()[1]}", HF_HOME=str(home),
               HF_HUB_CACHE=str(home / "hub"))
    outcome: list[str] = []

    def run() -> None:
        done = subprocess.run([sys.executable, "-m", "gpurec_core", "recommend", "acme/stalled"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        outcome.append(f"exit {done.returncode}, {len(done.stderr.strip().splitlines())} stderr line(s)")

    try:
        return median_time(run, repeat), outcome[-1]
    finally:
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        seconds, count = deep_recommend(deep_llama(tmp_path), args.repeat)
        print(f"1. recommend_gpus, whole catalog, Llama-3.1-8B with {LAYERS:,} layers: {seconds:.2f} s "
              f"({count} candidates)  [target < 2 s]")
        load, merge, count = catalog_merge(big_gpu_catalog(tmp_path / "gpus.toml"), args.repeat)
        print(f"2. GPUREC_GPU_CATALOG of {GPUS:,} GPUs: load and validate {load:.2f} s, merge {merge * 1e3:.0f} ms "
              f"({count} GPUs)  [linear]")
        seconds, outcome = stalled_hub(tmp_path / "hf-home", args.repeat)
        print(f"3. `gpurec recommend` against a Hub that never answers: {seconds:.2f} s ({outcome})  "
              "[deadline 3 s + start-up]")


if __name__ == "__main__":
    main()
