"""Write the H100 serving rows with the front end that took each run's requests and how its benchmark drew them.

    python scripts/serving_frontends.py --aiconfigurator CLONE   # rewrites serving_h100_as_served.csv
    python scripts/serving_frontends.py --check                  # exit 1 unless it is the copy plus both columns

``tests/fixtures/measurements/serving_h100_as_served.csv`` is ``serving_h100.csv`` (the unchanged copy
of the reference data), every row and value unchanged, plus a ``frontend`` column
(:data:`gpurec_core.measurement_cells.FRONTENDS`):

* ``dynamo`` for the rows aiconfigurator-core's ``systems/silicon_sample.csv`` imported from its
  gap-analysis campaign: their ``silicon_data_source`` names an ``aic-auto-gap-analysis`` data file
  and, where it records one, an ``nvcr.io/nvidia/ai-dynamo/*-runtime`` image (NVIDIA Dynamo's
  frontend with the engine's Dynamo worker);
* ``engine`` for the rows served by the engine's own OpenAI-compatible server: the other
  silicon_sample rows, which name the engine's own image (``vllm/vllm-openai``) or none (its
  ``source_file=<date>.csv`` imports of the configurations SemiAnalysis InferenceX launches with
  ``vllm serve``, e.g. ``benchmarks/single_node/fixed_seq_len/deprecated/gptoss_fp4_h100.sh``), NVIDIA
  NIM's latency tables (NIM's own server in front of TensorRT-LLM) and TensorRT-LLM's max-throughput
  tables (``trtllm-bench``, offline: no server; throughput only).

and a ``random_range_ratio`` column (:func:`gpurec_core.measurement_cells.mean_random_length`): ``0.8`` for
the rows of InferenceX runs, the silicon_sample rows imported from a ``source_file=<date>.csv`` rather than a
gap-analysis data file. Their models, GPUs, images, sequence lengths (1k/1k, 1k/8k, 8k/1k) and user sweeps
are those of SemiAnalysis InferenceX's configs (e.g. configs/deprecated/nvidia-gptoss-master.yaml
``gptoss-fp4-h100-vllm``), whose CI benchmarks every fixed-length scenario with ``RANDOM_RANGE_RATIO: 0.8``
(.github/workflows/benchmark-tmpl.yml): each request's input and output lengths drawn from 0.8 x to 1 x
the nominal ones. The other rows are empty: aiperf's synthetic prompts (the gap-analysis runs), NIM's
tables and trtllm-bench runs are of fixed lengths.

A silicon_sample row is matched on engine, model, TP, ISL, OSL and the recorded users (its
``silicon_concurrency``, else its ``batch_size``); a row it cannot match that way takes the front end
every run of its configuration shares. The measured values are never read from the clone.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpurec_core.measurement_cells import RANDOM_LENGTH_SOURCES  # noqa: E402
from gpurec_core.validate_serving import frontend_of  # noqa: E402

MEASUREMENTS = ROOT / "tests" / "fixtures" / "measurements"
RECORDED = MEASUREMENTS / "serving_h100.csv"
AS_SERVED = MEASUREMENTS / "serving_h100_as_served.csv"
SILICON = "aic-core/src/aiconfigurator_core/systems/silicon_sample.csv"


def frontend_of_run(data_source: str) -> str:
    """The front end a silicon_sample run's ``silicon_data_source`` names: gpurec validate's reading of a
    ``source`` (gpurec_core.validate_serving.DYNAMO_SOURCE_MARKS)."""
    return frontend_of({"source": data_source})


#: The random range ratio of InferenceX's benchmarks (module docstring), as gpurec validate reads a source
#: naming InferenceX.
INFERENCEX_RANGE_RATIO = f"{RANDOM_LENGTH_SOURCES['inferencex']:g}"


def range_ratio_of_run(data_source: str) -> str:
    """``0.8`` for a silicon_sample run imported from InferenceX (a ``source_file=<date>.csv``), else ''."""
    imported = "source_file=20" in data_source and "aic-auto-gap-analysis" not in data_source
    return INFERENCEX_RANGE_RATIO if imported else ""


def silicon_runs(clone: Path) -> list[dict]:
    """The aggregated H100 runs of aiconfigurator's sample: configuration columns and front end only."""
    path = clone / SILICON
    if not path.is_file():
        raise SystemExit(f"{path} not found: pass the root of an ai-dynamo/aiconfigurator clone")
    runs = []
    with path.open(newline="") as handle:
        for run in csv.DictReader(handle):
            if run["system"] != "h100_sxm" or run["mode"] != "agg":
                continue
            source = run["silicon_data_source"]
            users = source.split("silicon_concurrency=")[1].split(";")[0] if "silicon_concurrency=" in source else ""
            runs.append({"engine": run["backend"], "model": run["model_path"].lower(), "tp": run["tp_size"],
                         "isl": run["isl"], "osl": run["osl"], "users": {users, run["batch_size"]} - {""},
                         "frontend": frontend_of_run(source), "random_range_ratio": range_ratio_of_run(source)})
    return runs


def same_model(row: dict, run: dict) -> bool:
    """The run served the row's model: its model_path is the row's checkpoint or an export named after it."""
    names = {row[k].lower() for k in ("model", "checkpoint") if row.get(k)}
    return any(run["model"] == name or run["model"].startswith(name.split("/")[-1]) or
               run["model"].split("/")[-1].startswith(name.split("/")[-1]) for name in names)


#: The columns the as-served copy adds to the recorded file.
ADDED = ("frontend", "random_range_ratio")


def run_of_row(row: dict, runs: list[dict], what: str) -> str:
    """``what`` (``frontend`` or ``random_range_ratio``) of the silicon_sample runs of the row's configuration."""
    config = [r for r in runs if r["engine"] == row["engine"] and r["tp"] == row["tp"] and r["isl"] == row["isl"]
              and r["osl"] == row["osl"] and same_model(row, r)]
    matched = [r for r in config if row["concurrency"] in r["users"]] or config
    found = {r[what] for r in matched}
    if len(found) != 1:
        raise SystemExit(f"no single {what} for {row['model']} {row['engine']} tp{row['tp']} "
                         f"{row['isl']}/{row['osl']} c{row['concurrency']}: {sorted(found) or 'no run'}")
    return found.pop()


def added_cells(row: dict, runs: list[dict]) -> dict[str, str]:
    """The row's ``frontend`` and ``random_range_ratio`` (:data:`ADDED`)."""
    if "aiconfigurator" not in row["source"]:
        return {"frontend": "engine", "random_range_ratio": ""}  # NIM's latency tables, trtllm-bench's tables
    return {what: run_of_row(row, runs, what) for what in ADDED}


def as_served_text(rows: list[dict], fields: list[str], added: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*fields, *ADDED], lineterminator="\n")
    writer.writeheader()
    for row, cells in zip(rows, added):
        writer.writerow({**row, **cells})
    return out.getvalue()


def read(path: Path) -> tuple[list[dict], list[str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader), list(reader.fieldnames or [])


def check() -> int:
    """0 when the as-served file is the recorded file, value for value, plus a valid ``frontend`` and
    ``random_range_ratio``."""
    recorded, fields = read(RECORDED)
    served, served_fields = read(AS_SERVED)
    if served_fields != [*fields, *ADDED] or len(served) != len(recorded):
        print(f"{AS_SERVED.name}: not {RECORDED.name} plus {' and '.join(ADDED)} columns; rerun with --aiconfigurator")
        return 1
    for line, (a, b) in enumerate(zip(recorded, served), start=2):
        if (any(a[k] != b[k] for k in fields) or b["frontend"] not in ("engine", "dynamo")
                or b["random_range_ratio"] not in ("", INFERENCEX_RANGE_RATIO)):
            print(f"{AS_SERVED.name}: line {line} differs from {RECORDED.name}; rerun with --aiconfigurator")
            return 1
    counts = {f: sum(r["frontend"] == f for r in served) for f in ("engine", "dynamo")}
    drawn = sum(bool(r["random_range_ratio"]) for r in served)
    print(f"{AS_SERVED.name}: up to date ({counts['dynamo']} rows via dynamo, {counts['engine']} via the engine's "
          f"own server; {drawn} of InferenceX runs, lengths drawn at random range ratio {INFERENCEX_RANGE_RATIO})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aiconfigurator", type=Path, help="root of an ai-dynamo/aiconfigurator clone")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    if args.aiconfigurator is None:
        parser.error("--aiconfigurator CLONE is needed to write the file (or --check)")
    rows, fields = read(RECORDED)
    runs = silicon_runs(args.aiconfigurator)
    AS_SERVED.write_text(as_served_text(rows, fields, [added_cells(row, runs) for row in rows]))
    return check()


if __name__ == "__main__":
    raise SystemExit(main())
