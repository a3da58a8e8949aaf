"""Issue 11's acceptance run: calibrate on one third of the shared H100 configurations, written as
`vllm bench serve --save-result` JSON files, and validate on the other two thirds.

Usage: ``python scripts/calibrate_acceptance.py [--workdir DIR]``

1. The H100 factors are reset to the uncalibrated defaults: a copy of roofline.toml whose
   ``[efficiency.hopper]`` fractions are those of ``[efficiency.default]`` (what a GPU of an
   unlisted generation gets), used through ``GPUREC_ROOFLINE_CONSTANTS``.
2. One third of the configurations (all concurrencies of a configuration together; a stable hash
   of the configuration) become one vllm-bench JSON file per configuration and concurrency, the
   layout in ``--metadata``-style keys (gpurec_core.benchmark_files.write_vllm_bench_json), with the
   front end that served the run (serving_h100_as_served.csv, as a user records their own stack).
3. ``gpurec calibrate DIR/*.json --output DIR/h100.toml``.
4. ``gpurec validate`` of the other two thirds (a CSV) without and with ``--profile``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SERVING_CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100_as_served.csv"


def reset_hopper(text: str) -> str:
    """roofline.toml's text with [efficiency.hopper]'s fractions replaced by [efficiency.default]'s."""
    def block(name: str) -> tuple[int, int]:
        start = text.index(f"\n[efficiency.{name}]") + 1
        end = text.find("\n[", start + 1)
        return start, (len(text) if end < 0 else end)
    d0, d1 = block("default")
    default = text[d0:d1]
    h0, h1 = block("hopper")
    hopper = text[h0:h1]
    for key in ("compute_efficiency", "attention_efficiency", "bandwidth_efficiency"):
        value = re.search(rf"(?m)^{key} = (.*)$", default).group(1)
        hopper = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", hopper)
    hopper = re.sub(r'(?m)^source = .*$', 'source = "reset to [efficiency.default] (scripts/calibrate_acceptance.py)"',
                    hopper)
    return text[:h0] + hopper + text[h1:]


def third(row: dict) -> bool:
    from gpurec_roofline.fitting import configuration_key

    return hashlib.md5(configuration_key(row).encode()).digest()[0] % 3 == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    from gpurec_core.benchmark_files import write_vllm_bench_json
    from gpurec_core.catalogs import catalog_path

    work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="gpurec-calibrate-"))
    runs = work / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (work / "roofline_reset.toml").write_text(reset_hopper((catalog_path("engines") / "roofline.toml").read_text()))
    with open(SERVING_CSV, newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, list(reader)
    calibration = [r for r in rows if third(r)]
    rest = [r for r in rows if not third(r)]
    runs_of: dict[tuple, list[dict]] = {}
    for row in calibration:
        if row["concurrency"] == "max":  # a saturation row is not a vllm bench serve run
            continue
        key = tuple(row[k] for k in header if k not in ("metric", "value", "source"))
        runs_of.setdefault(key, []).append(row)
    for i, run in enumerate(runs_of.values()):
        write_vllm_bench_json(run, runs / f"run{i:04d}.json")
    with open(work / "rest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rest)
    env = {**os.environ, "GPUREC_ROOFLINE_CONSTANTS": str(work / "roofline_reset.toml")}
    gpurec = [sys.executable, "-m", "gpurec_core"]
    files = sorted(str(p) for p in runs.glob("*.json"))
    subprocess.run(gpurec + ["calibrate", *files, "--output", str(work / "h100.toml")], env=env, check=True)
    results = {}
    for label, extra in (("before", []), ("after", ["--profile", str(work / "h100.toml")])):
        out = subprocess.run(gpurec + ["validate", str(work / "rest.csv"), "--json", *extra], env=env, check=True,
                             capture_output=True, text=True).stdout
        report = json.loads(out)
        results[label] = {m: (s["n"], round(s["median_ape"], 1), round(s["p90_ape"], 1))
                          for m, s in report["metrics"].items()}
    print(f"{len(files)} vllm-bench files from {len(calibration)} calibration rows; {len(rest)} rows validated")
    for label, metrics in results.items():
        print(label, " ".join(f"{m}: n={n} median {med}% p90 {p90}%" for m, (n, med, p90) in metrics.items()))
    print(f"workdir {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
