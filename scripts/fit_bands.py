"""Fit the roofline estimator's p10-p90 uncertainty bands: writes catalogs/engines/roofline_bands.toml.

Usage: ``python scripts/fit_bands.py [CSV] [--out PATH] [--check]``

Every serving row of the CSV (default: tests/fixtures/measurements/serving_h100.csv) is predicted
through the public ``estimate_performance`` path, as ``gpurec validate`` does, and classified into
its regime by the estimator itself (:mod:`gpurec_roofline.bands`). On the *calibration* rows only
(``gpurec_core.validate_serving.calibration_split``), for each engine (and ``default``, every
engine pooled) x metric x regime, q10 and q90 are the 10th and 90th percentiles (numpy's linear
interpolation) of log(measured / predicted):

* a cell with fewer than MIN_ROWS rows takes the band of the next coarser cell: the engine's rows of
  every regime, then every engine's rows of that regime, then every engine's rows;
* a band narrower than the floor of its metric is widened about its midpoint to the floor. The floor
  is the q90 - q10 width of every engine's calibration rows of that metric pooled: one engine's
  calibration rows come from one or two models on one engine version, and the estimator's constants
  were fitted on those same rows, so their own spread understates the spread on a model it was not
  fitted on; the pooled spread over all engines and models is the narrowest band the calibration
  data support.
* output_tok_s: besides the few measured throughputs, every configuration with measured TTFT and ITL
  at a fixed concurrency contributes the throughput they imply in a closed loop (Little's law,
  ``gpurec_roofline.bands.residuals``).

Coverage (share of measurements inside their band) on the calibration rows, the held-out rows and
all rows is written into the file's header and printed. ``--check`` exits 1 when the file differs
from what this run would write (the date line aside). Deterministic: the same estimator and CSV give
the same file. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gpurec_core.catalogs import tomllib  # noqa: E402
from gpurec_roofline.bands import (ALL, BANDS_FILE, BURST_SHARE, DEFAULT_ENGINE, METRICS, PREFILL_SHARE,  # noqa: E402
                                   REGIMES, Residual, coverage, parse_bands, placeholder_table, residuals)

DEFAULT_CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100.csv"
DEFAULT_OUT = ROOT / "catalogs" / "engines" / BANDS_FILE
#: Fewest rows a cell is fitted on by itself.
MIN_ROWS = 20
SCHEMA_VERSION = 1


def _relative(path: pathlib.Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _quantiles(values: list[float]) -> tuple[float, float]:
    q10, q90 = np.percentile(np.asarray(values, dtype=float), [10, 90])
    return float(q10), float(q90)


def fit(items: list[Residual]) -> tuple[dict, dict[str, float]]:
    """engine -> metric -> regime -> cell (q10, q90, n, fitted_on, note), and the floor of each metric."""
    cal = [r for r in items if r.split == "calibration"]

    def values(engine: str, metric: str, regime: str) -> list[float]:
        return [r.log_ratio for r in cal if r.metric == metric and engine in (DEFAULT_ENGINE, r.engine)
                and regime in (ALL, r.regime)]

    floors = {}
    for metric in METRICS:
        pooled = values(DEFAULT_ENGINE, metric, ALL)
        if len(pooled) < MIN_ROWS:
            raise SystemExit(f"only {len(pooled)} calibration rows of {metric}: fewer than {MIN_ROWS}, "
                             "no band can be fitted")
        q10, q90 = _quantiles(pooled)
        floors[metric] = q90 - q10
    engines = sorted({r.engine for r in cal}) + [DEFAULT_ENGINE]
    table: dict = {}
    for engine in engines:
        for metric in METRICS:
            for regime in REGIMES[metric] + (ALL,):
                own = values(engine, metric, regime)
                chain = [(engine, regime), (engine, ALL), (DEFAULT_ENGINE, regime), (DEFAULT_ENGINE, ALL)]
                chain = list(dict.fromkeys(chain))
                source = next((e, r) for e, r in chain if len(values(e, metric, r)) >= MIN_ROWS)
                used = values(source[0], metric, source[1])
                q10, q90 = _quantiles(used)
                notes = []
                if source != (engine, regime):
                    notes.append(f"{len(own)} row{'' if len(own) == 1 else 's'} < {MIN_ROWS}: band of "
                                 f"{source[0]}.{metric}.{source[1]}")
                if q90 - q10 < floors[metric]:
                    mid = (q10 + q90) / 2
                    notes.append(f"widened from [{q10:.4f}, {q90:.4f}] to the floor {floors[metric]:.4f}")
                    q10, q90 = mid - floors[metric] / 2, mid + floors[metric] / 2
                table.setdefault(engine, {}).setdefault(metric, {})[regime] = {
                    "q10": round(q10, 4), "q90": round(q90, 4), "n": len(own),
                    "fitted_on": f"{source[0]}.{metric}.{source[1]} ({len(used)} rows)", "note": "; ".join(notes)}
    return table, floors


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _coverage_lines(items: list[Residual], table) -> list[str]:
    lines = []
    for derived in (False, True):
        for c in coverage(items, table, derived=derived):
            if c.engine != "all" or (derived and c.metric != "output_tok_s"):
                continue
            what = "derived (Little's law)" if derived else "measured"
            lines.append(f"{c.metric:<13} {what:<23} {c.split:<12} {c.covered:>4}/{c.n:<4} = {c.fraction:6.1%}")
    return lines


def render(csv_path: pathlib.Path, items: list[Residual], failed: int, date: str) -> str:
    """The text of roofline_bands.toml."""
    table, floors = fit(items)
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    cal = [r for r in items if r.split == "calibration"]
    def count(metric: str) -> str:
        measured = sum(1 for r in cal if r.metric == metric and not r.derived)
        derived = sum(1 for r in cal if r.metric == metric and r.derived)
        return f"{metric} {measured}" + (f" + {derived} derived" if derived else "")
    counts = ", ".join(count(m) for m in METRICS)
    header = [
        "# Uncertainty bands of the roofline estimator: p10 and p90 of log(measured / predicted).",
        f"# GENERATED by `python scripts/fit_bands.py` on {date}. Do not edit by hand: re-run the script.",
        f"# Measurements: {_relative(csv_path)} (sha256 {digest[:16]}...), {len(items)} residuals, "
        f"{failed} rows without a prediction.",
        f"# Fitted on the calibration rows only (gpurec_core.validate_serving.calibration_split): {counts}.",
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
        "# Floor: a band narrower than its metric's pooled calibration width (every engine, every regime) is",
        "# widened about its midpoint to that width: one engine's calibration rows come from one or two models",
        "# and the constants were fitted on them, so their own spread understates the spread on other models.",
        "# output_tok_s also uses, per configuration with measured TTFT and ITL at a fixed concurrency c, the",
        "# closed-loop throughput they imply: c x osl / (TTFT + (osl - 1) x ITL) (Little's law).",
        "#",
        "# Coverage (share inside the band) at generation:",
    ]
    body = [f"schema_version = {SCHEMA_VERSION}", "", "[meta]",
            f"generated = {_toml_string(date)}",
            f"generator = {_toml_string('scripts/fit_bands.py')}",
            f"measurements = {_toml_string(_relative(csv_path))}",
            f"measurements_sha256 = {_toml_string(digest)}",
            f"rows = {_toml_string('calibration')}",
            f"min_rows = {MIN_ROWS}",
            "floor = { " + ", ".join(f"{m} = {round(floors[m], 4)}" for m in METRICS) + " }"]
    for engine, metrics in table.items():
        for metric, regimes in metrics.items():
            for regime, cell in regimes.items():
                body += ["", f"[bands.{engine}.{metric}.{regime}]", f"q10 = {cell['q10']}", f"q90 = {cell['q90']}",
                         f"n = {cell['n']}", f"fitted_on = {_toml_string(cell['fitted_on'])}"]
                if cell["note"]:
                    body.append(f"note = {_toml_string(cell['note'])}")
    parsed = parse_bands(tomllib.loads("\n".join(body) + "\n"), "generated table")
    header += [f"#   {line}" for line in _coverage_lines(items, parsed)]
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
    text = render(csv_path, items, failed, datetime.date.today().isoformat())
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
