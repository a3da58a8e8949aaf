"""Fit the roofline estimator's p10-p90 uncertainty bands: writes catalogs/engines/roofline_bands.toml.

Usage: ``python scripts/fit_bands.py [CSV] [--out PATH] [--check]``

Every serving row of the CSV (default: tests/fixtures/measurements/serving_h100_as_served.csv, the
shared rows with the front end that served each run, scripts/serving_frontends.py) is predicted
through the public ``estimate_performance`` path, as ``gpurec validate`` does, and classified into
its regime by the estimator itself (:mod:`gpurec_roofline.bands`). On every row that
``gpurec_core.validate_serving.inconsistent_runs`` does not flag, calibration and held-out alike,
for each engine (and ``default``, every engine pooled) x metric x regime, q10 and q90 are the 10th
and 90th percentiles of log(measured / predicted) (``gpurec_roofline.bands.fitted_cells``):

* a cell with fewer than MIN_ROWS rows takes the band of the next coarser cell: the engine's rows of
  every regime, then every engine's rows of that regime, then every engine's rows;
* a band narrower than the floor of its metric (the q90 - q10 width of every engine's rows of that
  metric pooled) is widened about its midpoint to the floor: one engine's rows come from a few
  models, so their own spread understates what a model it has not seen will show;
* output_tok_s: besides the few measured throughputs, every configuration with measured TTFT and ITL
  at a fixed concurrency contributes the throughput they imply in a closed loop (Little's law,
  ``gpurec_roofline.bands.residuals``).

Disaggregated (xPyD) estimates get one cell per metric, ``[disaggregated.<metric>]``: q10 and q90 over
every row of the shared xPyD file (DISAGG_CSV) as ``gpurec validate`` predicts it, every engine and
configuration pooled (``gpurec_roofline.bands.disaggregated_residuals``, ``fitted_disaggregated``).

Why every row and not only the estimator's calibration half: a band describes the estimator's error
on models, and the half it was fitted on holds two models whose error it has absorbed; the measured
throughputs of that half are nine rows of one model. What a band promises on an unseen model is
measured instead by leaving each model's rows out of the fit in turn and checking them against the
band the other models give (``coverage(..., model_held_out=True)``). Both coverages, in-sample and
with the model held out, are written into the file's header and printed. ``--check`` exits 1 when
the file differs from what this run would write (the date line aside). Deterministic: the same
estimator and CSV give the same file. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import pathlib
import sys
from typing import Optional

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gpurec_core.catalogs import tomllib  # noqa: E402
from gpurec_roofline.bands import (BANDS_FILE, BURST_SHARE, METRICS, MIN_ROWS, PREFILL_SHARE,  # noqa: E402
                                   Residual, coverage, disaggregated_residuals, fitted_cells, fitted_disaggregated,
                                   parse_bands, placeholder_table, residuals)

DEFAULT_CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100_as_served.csv"
#: The disaggregated bands' rows: the shared xPyD file as recorded (docs/disaggregated.md says what it drops).
DISAGG_CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_disagg_h100.csv"
DEFAULT_OUT = ROOT / "catalogs" / "engines" / BANDS_FILE
SCHEMA_VERSION = 1


def _relative(path: pathlib.Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _coverage_lines(items: list[Residual], table) -> list[str]:
    lines = []
    for held_out in (False, True):
        for derived in (False, True):
            for c in coverage(items, table, derived=derived, model_held_out=held_out):
                if c.engine != "all" or c.split != "all" or (derived and c.metric != "output_tok_s"):
                    continue
                what = "derived (Little's law)" if derived else "measured"
                fit = "its model held out" if held_out else "in-sample"
                lines.append(f"{c.metric:<13} {what:<23} {fit:<19} {c.covered:>4}/{c.n:<4} = {c.fraction:6.1%}")
    return lines


def render(csv_path: pathlib.Path, items: list[Residual], failed: int, date: str,
           disagg: Optional[tuple[pathlib.Path, list[Residual], int]] = None) -> str:
    """The text of roofline_bands.toml; ``disagg`` (path, residuals, rows without a prediction) adds the
    disaggregated cells."""
    table, floors = fitted_cells(items)
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    used = [r for r in items if not r.flagged]
    def count(metric: str) -> str:
        measured = sum(1 for r in used if r.metric == metric and not r.derived)
        derived = sum(1 for r in used if r.metric == metric and r.derived)
        return f"{metric} {measured}" + (f" + {derived} derived" if derived else "")
    counts = ", ".join(count(m) for m in METRICS)
    header = [
        "# Uncertainty bands of the roofline estimator: p10 and p90 of log(measured / predicted).",
        f"# GENERATED by `python scripts/fit_bands.py` on {date}. Do not edit by hand: re-run the script.",
        f"# Measurements: {_relative(csv_path)} (sha256 {digest[:16]}...), {len(items)} residuals, "
        f"{failed} rows without a prediction.",
        f"# Fitted on every row not flagged by gpurec_core.validate_serving.inconsistent_runs "
        f"({sum(r.flagged for r in items)} flagged), calibration and held-out: {counts}.",
        "# Band of an estimate = (estimate x exp(q10), estimate x exp(q90)); gpurec_roofline/bands.py reads this file.",
        "#",
        "# Regimes (gpurec_roofline.bands.classify, per replica):",
        "#   ttft_ms: queued (users wait for a slot: more users than the running batch, or on a mixed-step engine",
        "#            for prefill budget), burst (the closed-loop start-up burst is >= "
        f"{BURST_SHARE:.0%} of TTFT), steady (else)",
        f"#   itl_ms: loaded (prefill and stalls >= {PREFILL_SHARE:.0%} of the mean step), light (else)",
        "#   output_tok_s: saturated (users fill the KV pool or queue), closed_loop (else)",
        "#   all: the engine's rows of every regime (the coarser cell).",
        f"# A cell with fewer than {MIN_ROWS} rows takes the band of the next coarser cell: engine.all, then",
        "# default.<regime>, then default.all ('fitted_on' and 'note' say which). default = every engine pooled,",
        "# for engines without rows here.",
        "# Floor: a band narrower than its metric's pooled width (every engine, every regime) is widened about",
        "# its midpoint to that width: one engine's rows come from a few models, so their own spread understates",
        "# what a model it has not seen will show.",
        "# output_tok_s also uses, per configuration with measured TTFT and ITL at a fixed concurrency c, the",
        "# closed-loop throughput they imply: c x osl / (TTFT + (osl - 1) x ITL) (Little's law).",
        "#",
        "# Coverage (share inside the band) at generation, in-sample and with each model's rows left out of the fit:",
    ]
    body = [f"schema_version = {SCHEMA_VERSION}", "", "[meta]",
            f"generated = {_toml_string(date)}",
            f"generator = {_toml_string('scripts/fit_bands.py')}",
            f"measurements = {_toml_string(_relative(csv_path))}",
            f"measurements_sha256 = {_toml_string(digest)}",
            f"rows = {_toml_string('unflagged')}",
            f"min_rows = {MIN_ROWS}",
            "floor = { " + ", ".join(f"{m} = {round(floors[m], 4)}" for m in METRICS) + " }"]
    cells = [(f"bands.{engine}.{metric}.{regime}", cell) for engine, metrics in table.items()
             for metric, regimes in metrics.items() for regime, cell in regimes.items()]
    if disagg is not None:
        disagg_path, disagg_items, disagg_failed = disagg
        disagg_digest = hashlib.sha256(disagg_path.read_bytes()).hexdigest()
        body += [f"disaggregated_measurements = {_toml_string(_relative(disagg_path))}",
                 f"disaggregated_measurements_sha256 = {_toml_string(disagg_digest)}"]
        cells += [(f"disaggregated.{metric}", cell) for metric, cell in fitted_disaggregated(disagg_items).items()]
    for name, cell in cells:
        body += ["", f"[{name}]", f"q10 = {cell['q10']}", f"q90 = {cell['q90']}", f"n = {cell['n']}",
                 f"fitted_on = {_toml_string(cell['fitted_on'])}"]
        if cell["note"]:
            body.append(f"note = {_toml_string(cell['note'])}")
    parsed = parse_bands(tomllib.loads("\n".join(body) + "\n"), "generated table")
    header += [f"#   {line}" for line in _coverage_lines(items, parsed)]
    if disagg is not None:
        header += [
            "#",
            "# Disaggregated (xPyD) estimates: one cell per metric, every engine and configuration pooled, fitted on",
            f"# {_relative(disagg_path)} as recorded ({len(disagg_items)} residuals, {disagg_failed} rows",
            "# without a prediction; output_tok_s derived from each configuration's measured TTFT and ITL). Its",
            "# records drop part of their layouts (docs/disaggregated.md), so the TTFT band holds that too: it is",
            "# how far gpurec's disaggregated TTFT has been found off on published records, not the spread of the",
            "# model on layouts it is given in full.",
        ]
    return "\n".join(header + [""] + body) + "\n"


def _without_date(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(("generated = ", "# GENERATED by"))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--check", action="store_true", help="exit 1 when --out differs from what this run writes")
    args = parser.parse_args(argv)
    csv_path = pathlib.Path(args.csv)
    items, failed = residuals(csv_path, table=placeholder_table())  # regimes only: independent of the old file
    disagg = (DISAGG_CSV, *disaggregated_residuals(DISAGG_CSV))
    try:
        text = render(csv_path, items, failed, datetime.date.today().isoformat(), disagg)
    except ValueError as exc:  # too few rows to fit a band
        raise SystemExit(f"{csv_path}: {exc}") from None
    out = pathlib.Path(args.out)
    if args.check:
        same = out.exists() and _without_date(out.read_text()) == _without_date(text)
        print(f"{out}: {'up to date' if same else 'differs from what scripts/fit_bands.py generates now'}")
        return 0 if same else 1
    out.write_text(text)
    print(f"wrote {out}")
    for line in text.splitlines():
        if line.startswith("#   ") and "/" in line and "=" in line:
            print(line[4:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
