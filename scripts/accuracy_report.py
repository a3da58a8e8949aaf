"""Write docs/accuracy.md: gpurec's speed (and memory) estimates against the measured H100 data.

Usage: ``python scripts/accuracy_report.py [--out docs/accuracy.md]``

Reads only the project's own fixtures (tests/fixtures/measurements/*.csv, unchanged copies of the
reference data, and serving_disagg_h100_as_run.csv, which scripts/disagg_as_run.py writes from one of
them with the layouts the runs' recipes name); runs every serving row through ``gpurec_core.validate_serving.predict_rows``
(the public ``estimate_performance`` path) for the "roofline" estimator and, where it is
installed, "llm-optimizer"; splits rows into calibration / held-out with
``calibration_split``; and documents every constant of ``catalogs/engines/roofline.toml``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import pathlib
import re
import sys
from collections import defaultdict
from typing import Optional

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: How the roofline's per-engine scheduler limits are used (serving.scheduler_limits).
FALLBACK_LIMITS = ("engine default on an 80 GB GPU; an estimate takes the workload's, else its memory plan's (the "
                   "engine's defaults for that GPU), else these")
for path in (ROOT, ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gpurec_core.validate_serving import predict_rows  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "measurements"
#: the reference rows unchanged, plus the front end that served each run (scripts/serving_frontends.py)
SERVING_CSV = FIXTURES / "serving_h100_as_served.csv"
RECORDED_CSV = FIXTURES / "serving_h100.csv"  # the unchanged copy: no front end recorded
MEMORY_CSV = FIXTURES / "vllm_memory_h100.csv"
TARGETS = {"itl_ms": 15.0, "ttft_ms": 30.0, "output_tok_s": 25.0}
METRICS = ("itl_ms", "ttft_ms", "output_tok_s")
ENGINES = ("vllm", "sglang", "trtllm")


def read_rows(path: pathlib.Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def stats(apes: list[float]) -> tuple[int, Optional[float], Optional[float]]:
    if not apes:
        return 0, None, None
    return len(apes), float(np.median(apes)), float(np.percentile(apes, 90))


def fmt(x: Optional[float], digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def summary_table(records: list[dict], with_target: bool = True) -> list[str]:
    lines = ["| engine | metric | split | n | median APE % | p90 APE % | target % | met |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for engine in ENGINES:
        for metric in METRICS:
            for split in ("calibration", "held-out"):
                apes = [r["ape"] for r in records if r["engine"] == engine and r["metric"] == metric
                        and r["split"] == split and r["ape"] is not None]
                n, med, p90 = stats(apes)
                if not n:
                    continue
                met = "yes" if med <= TARGETS[metric] else "**no**"
                lines.append(f"| {engine} | {metric} | {split} | {n} | {fmt(med)} | {fmt(p90)} | "
                             f"{TARGETS[metric]:.0f} | {met if with_target else ''} |")
    return lines


def overall_table(records: list[dict]) -> list[str]:
    lines = ["| metric | split | n | median APE % | p90 APE % | failed rows |", "|---|---|---:|---:|---:|---:|"]
    for metric in METRICS:
        for split in ("calibration", "held-out"):
            subset = [r for r in records if r["metric"] == metric and r["split"] == split]
            apes = [r["ape"] for r in subset if r["ape"] is not None]
            n, med, p90 = stats(apes)
            failed = sum(1 for r in subset if r["error"])
            lines.append(f"| {metric} | {split} | {n} | {fmt(med)} | {fmt(p90)} | {failed} |")
    return lines


def per_model_table(records: list[dict]) -> list[str]:
    lines = ["| model | engines | split | ITL n / median / p90 | TTFT n / median / p90 | throughput n / median / p90 |",
             "|---|---|---|---|---|---|"]
    models = sorted({r["model"] for r in records})
    for model in models:
        for split in ("calibration", "held-out"):
            subset = [r for r in records if r["model"] == model and r["split"] == split]
            if not subset:
                continue
            cells = []
            for metric in METRICS:
                n, med, p90 = stats([r["ape"] for r in subset if r["metric"] == metric and r["ape"] is not None])
                cells.append(f"{n} / {fmt(med)} / {fmt(p90)}" if n else "–")
            engines = ",".join(sorted({r["engine"] for r in subset}))
            lines.append(f"| {model} | {engines} | {split} | " + " | ".join(cells) + " |")
    return lines


def explain(record: dict) -> str:
    """A short reason for a large error, from what is known about the row (see 'Known error sources')."""
    config, metric, engine = record["config"], record["metric"], record["engine"]
    conc = record.get("concurrency", "")
    reasons = []
    moe = any(k in record["model"] for k in ("235B", "gpt-oss", "MiniMax", "Llama-4"))
    if metric == "ttft_ms" and record["predicted"] and record["measured"] > 3 * record["predicted"]:
        reasons.append("measured TTFT far above one prefill: queueing the model does not see (KV pool or "
                       "max-batch limits of the benchmark's engine config)")
    elif metric == "ttft_ms" and engine == "trtllm" and conc.isdigit() and int(conc) <= 16:
        if record["predicted"] and record["predicted"] > record["measured"]:
            reasons.append("the fitted request overhead of its front end (engines.trtllm in roofline.toml) is larger "
                           "than this run shows")
        elif "Llama-3.1-8B" in record["model"]:
            reasons.append("this data set's TRT-LLM Llama-3.1-8B TTFT grows with the output length by one gap "
                           "between completions, (O x ITL) / c: the client times its wait for a free slot "
                           "(benchmark.client_slot_wait; gpurec calibrate fits it to a user's client)")
        else:
            reasons.append("TRT-LLM TTFT at low concurrency is above one prefill and the step in flight; the "
                           "cause is not identified")
    elif metric == "ttft_ms" and record["predicted"] and record["predicted"] > 3 * record["measured"]:
        reasons.append("predicted a start-up burst or queue that the measured run did not show")
    if record.get("flag"):
        reasons.insert(0, "flagged measurement: " + record["flag"])
    if moe:
        reasons.append("MoE: expert load imbalance and the EP/TP layout of the engine are modelled as uniform routing")
    if "mxfp4" in config:
        reasons.append("MXFP4 weights on Hopper run through dequantizing kernels whose efficiency is not calibrated")
    if metric == "output_tok_s" and conc == "max":
        reasons.append("saturation: planned with trtllm-bench's own max_batch_size / max_num_tokens "
                       "(gpurec_core.trtllm_bench), which do not limit these runs below the KV pool")
    return "; ".join(reasons) or "no specific cause identified"


def worst_table(records: list[dict], split: str, n: int) -> list[str]:
    subset = sorted((r for r in records if r["split"] == split and r["ape"] is not None), key=lambda r: -r["ape"])[:n]
    lines = ["| model | engine | config | metric | measured | predicted | APE % | likely cause |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for r in subset:
        lines.append(f"| {r['model']} | {r['engine']} | {r['config']} | {r['metric']} | {r['measured']:g} | "
                     f"{r['predicted']:.4g} | {r['ape']:.0f} | {explain(r)} |")
    return lines


def bands_section() -> list[str]:
    """Uncertainty bands: the bundled table (scripts/fit_bands.py) and its coverage on the serving file."""
    import math

    from gpurec_roofline.bands import (ALL, BURST_SHARE, FRONT_END_SHARE, PREFILL_SHARE, REGIMES, coverage, load_bands,
                                       residuals)

    table = load_bands()
    items, failed = residuals(SERVING_CSV, table=table)
    meta = table.meta
    measured_tput = [r for r in items if r.metric == "output_tok_s" and not r.derived]
    flagged = sum(1 for r in items if r.flagged and not r.derived)
    out = [
        "Every roofline estimate carries a p10–p90 band for TTFT, ITL and throughput (`PerformanceEstimate.bands`; "
        "shown by `--json`, `--explain` and the `--wide` table as `value (p10–p90)`). A band is the estimate × "
        "exp(q10) … × exp(q90), where q10 and q90 are the 10th and 90th percentiles of log(measured / predicted) "
        "over the rows of the same engine, metric and regime: every row of the file, calibration and held-out, "
        f"except the {flagged} of runs the ITL rule flags (section 'Rows far off'). The table, "
        "`catalogs/engines/roofline_bands.toml`, is generated by `python scripts/fit_bands.py` (regenerate it after "
        "any change to the estimator; `--check` says whether it is stale); this one was generated on "
        f"{meta.generated} from `{meta.measurements}`.",
        "",
        "- **Why every row**: a band describes the estimator's error on models. The calibration half holds two "
        "models whose error the fitted constants have absorbed, and its measured throughputs are nine rows of one "
        "model; the held-out models (MoE, 70B–405B dense, MXFP4) are the ones that show what a new model meets. "
        "What a band promises on a model it has never seen is measured by leaving each model's rows out of the fit "
        "in turn and checking them against the band the other models give: the column *its model held out* below.",
        "- **Regimes** (read off the estimate, per replica; `gpurec_roofline.bands.classify`): TTFT *queued* (users "
        "wait for a slot — more users than the running batch —, on a mixed-step engine for prefill budget, or "
        f"for the front end: the wait for its delivery ceiling is at least {FRONT_END_SHARE:.0%} of the TTFT), "
        f"*burst* (the closed-loop start-up burst is at least {BURST_SHARE:.0%} of the TTFT), *steady* (else); ITL "
        f"*loaded* (prefill and stalls are at least {PREFILL_SHARE:.0%} of the mean step), *light* (else); "
        "throughput *saturated* (the users fill the KV pool or queue), *closed_loop* (else).",
        f"- **Sparse cells**: a cell with fewer than {meta.min_rows} rows takes the band of the next "
        "coarser cell (the engine's rows of every regime, then every engine's rows of that regime, then every "
        "engine's rows); `default` (every engine pooled) serves engines without measurements.",
        "- **Floor**: a band narrower than its metric's pooled width (every engine and regime: "
        + ", ".join(f"{m} {w:.3f}" for m, w in meta.floor.items()) + " in log units) is widened about its midpoint "
        "to it: one engine's rows come from a few models (SGLang's from one), so their own spread understates what "
        "a model it has not seen will show.",
        f"- **Throughput**: the file has {len(measured_tput)} measured throughputs (TensorRT-LLM's max-throughput "
        "tables and NIM's), so the throughput cells also use, for each configuration with measured TTFT "
        "and ITL at a fixed concurrency c, the closed-loop throughput they imply: c × osl / (TTFT + (osl − 1) × ITL) "
        "(Little's law). Coverage below is on measured values, with the derived throughputs on a line of "
        "their own.",
        "- A band need not contain the estimate: a cell whose measurements all lie on one side of the estimates "
        "gives a band on that side.",
        "- **Disaggregated (xPyD) estimates** carry one band per metric, every engine and configuration pooled "
        "(too few rows to split them), fitted on "
        f"`{meta.disaggregated_measurements}` as recorded (`gpurec_roofline.bands.fitted_disaggregated`; throughput "
        "derived by Little's law): "
        + ", ".join(f"{m} {math.exp(c.q10):.2f}× … {math.exp(c.q90):.2f}×" for m, c in table.disaggregated.items())
        + ". Those records drop part of their layouts (section 'Disaggregated deployments'), so the TTFT band "
        "holds that too: it is how far gpurec's disaggregated TTFT has been found off on published records. On the "
        "24 values whose layouts are known (the as-run copy, listed in that section) the TTFT spread is far "
        f"narrower, but 12 rows per metric are fewer than the {meta.min_rows} a band is fitted on.",
        "",
        "### Coverage: share of measurements inside their p10–p90 band (target about 80 %)",
        "",
        "*In-sample*: against the bundled table. *Its model held out*: against a table fitted without that model's "
        "rows (what to expect on a new model). Flagged runs are counted (they are measurements), though not fitted on.",
        "",
        "| engine | metric | in-sample | its model held out |",
        "|---|---|---:|---:|",
    ]
    cells: dict[tuple, object] = {}
    for held_out in (False, True):
        for derived in (False, True):
            for c in coverage(items, table, derived=derived, model_held_out=held_out):
                if c.split == "all":
                    cells[(c.engine, c.metric + (" (derived, Little's law)" if derived else ""), held_out)] = c

    def cell_text(c) -> str:
        return "–" if c is None else f"{c.fraction:.0%} ({c.covered}/{c.n})"
    rows = sorted({(e, m) for e, m, _ in cells}, key=lambda k: (k[0] == "all", k[0], k[1]))
    for engine, metric in rows:
        if metric.endswith("(derived, Little's law)") and engine != "all":
            continue
        out.append(f"| {'**all**' if engine == 'all' else engine} | {metric} | "
                   + " | ".join(cell_text(cells.get((engine, metric, held_out))) for held_out in (False, True)) + " |")
    out += ["", f"Rows without a prediction: {failed}.", "",
            "### The band table (factors of the estimate: p10 × … p90 ×)", "",
            "| engine | metric | regime | rows | p10 × | p90 × | fitted on | note |",
            "|---|---|---|---:|---:|---:|---|---|"]
    for engine, metrics in table.bands.items():
        for metric, regimes in metrics.items():
            for regime in REGIMES[metric] + (ALL,):
                cell = regimes[regime]
                out.append(f"| {engine} | {metric} | {regime} | {cell.n} | {math.exp(cell.q10):.2f} | "
                           f"{math.exp(cell.q90):.2f} | {cell.fitted_on} | {cell.note or '–'} |")
    return out


def constants_section() -> list[str]:
    from gpurec_roofline.constants import load_constants

    c = load_constants()
    lines = ["| constant | value | how it was set | source / justification |", "|---|---:|---|---|"]
    for name, entry in c.efficiency.items():
        fitted = "fitted" if name == "hopper" else "from sources (not fitted)"
        scaled = (f"{entry.scaled_from}'s fitted value x measured kernel rate of {', '.join(entry.kernel_rates)} / "
                  f"{', '.join(c.efficiency[entry.scaled_from].kernel_rates)}") if entry.scaled_from else fitted
        for dtype, value in entry.compute_efficiency.items():
            if name == "hopper" and dtype not in ("bf16", "fp8"):
                how = "set equal to the fitted value of the same tensor-core path" if dtype in ("fp16", "int8") else "assumption"
            elif entry.scaled_from:
                how = scaled if dtype in entry.derived else "assumption (no kernel table)"
            else:
                how = fitted
            lines.append(f"| efficiency.{name}.compute_efficiency.{dtype} | {value:g} | {how} | {entry.source} |")
        lines.append(f"| efficiency.{name}.attention_efficiency | {entry.attention_efficiency:g} | {scaled} | {entry.source} |")
        lines.append(f"| efficiency.{name}.bandwidth_efficiency | {entry.bandwidth_efficiency:g} | {scaled} | {entry.source} |")
    k = c.kernels
    lines.append(f"| kernels.per_layer_overhead_us | {k.per_layer_overhead_us:g} | fitted | {k.per_layer_overhead_source} |")
    m = c.communication
    lines += [
        f"| communication.link_efficiency | {m.link_efficiency:g} | from sources | {m.link_efficiency_source} |",
        f"| communication.allreduce_latency_us | {m.allreduce_latency_us:g} | fitted | {m.allreduce_latency_source} |",
        f"| communication.alltoall_latency_us | {m.alltoall_latency_us:g} | assumption | {m.alltoall_latency_source} |",
        f"| communication.p2p_latency_us | {m.p2p_latency_us:g} | assumption | {m.p2p_latency_source} |",
    ]
    for name, e in c.engines.items():
        if e.timed_like:  # an engine without measurements: a measured engine's fitted values, not fitted again
            lines.append(f"| engines.{name}.* (overheads, clustering, MoE rate) | those of {e.timed_like} | assumed "
                         f"(no {name} measurement) | {e.source} |")
            lines.append(f"| engines.{name}.max_num_batched_tokens / max_num_seqs | {e.max_num_batched_tokens} / "
                         f"{e.max_num_seqs} | {FALLBACK_LIMITS} | {e.source} |")
            continue
        for field in ("step_overhead_ms", "per_sequence_overhead_us"):
            lines.append(f"| engines.{name}.{field} | {getattr(e, field):g} | fitted | {e.source} |")
        lines.append(f"| engines.{name}.request_overhead_ms (own server) | {e.request_overhead_ms:g} | fitted | "
                     f"{e.frontend_source} |")
        for frontend, value in e.frontend_request_overhead_ms.items():
            lines.append(f"| engines.{name}.frontend_request_overhead_ms.{frontend} | {value:g} | fitted | "
                         f"{e.frontend_source} |")
        for frontend, value in e.frontend_delivery_tokens_per_s.items():
            lines.append(f"| engines.{name}.frontend_delivery_tokens_per_s.{frontend} | {value:g} | read off the "
                         f"calibration runs (highest delivered rate) | {e.delivery_source} |")
        if e.prefill_first:
            lines.append(f"| engines.{name}.prefill_clustering | {e.prefill_clustering:g} | fitted | {e.source} |")
            lines.append(f"| engines.{name}.prefill_clustering_exponent | {e.prefill_clustering_exponent:g} | "
                         f"by scheduler type (1: lockstep) | {e.source} |")
            lines.append(f"| engines.{name}.prefill_in_decode_fraction | {e.prefill_in_decode_fraction:g} | fitted | {e.source} |")
        else:
            lines.append(f"| engines.{name}.arrival_wait_steps | {e.arrival_wait_steps:g} | fitted in [0.5, 2] "
                         f"(0.5 random arrival, 1 closed-loop, 2 async scheduling) | {e.source} |")
        lines.append(f"| engines.{name}.max_num_batched_tokens / max_num_seqs | {e.max_num_batched_tokens} / "
                     f"{e.max_num_seqs} | {FALLBACK_LIMITS} | {e.source} |")
        lines.append(f"| engines.{name}.wide_ep_collectives | {e.wide_ep_collectives} | engine default | "
                     f"{e.wide_ep_collectives_source} |")
    b = c.benchmark
    lines.append(f"| benchmark.requests_per_user | {b.requests_per_user:g} | fitted | {b.source} |")
    lines.append(f"| benchmark.client_slot_wait | {b.client_slot_wait:g} | client convention | vllm bench serve starts "
                 "the TTFT clock after taking a concurrency slot (vllm/benchmarks/serve.py limited_request_func); "
                 "gpurec calibrate fits a user's own client |")
    return lines


def ttft_by_dataset_table(records: list[dict]) -> list[str]:
    """Closed-loop TTFT per (engine, model, engine version): rows, median predicted/measured, median APE."""
    lines = ["| engine | model | engine version | split | n | median predicted / measured | median APE % |",
             "|---|---|---|---|---:|---:|---:|"]
    groups: dict = defaultdict(list)
    for r in records:
        if r["metric"] != "ttft_ms" or r["ape"] is None or r["engine"] == "sglang":
            continue
        groups[(r["engine"], r["model"], r.get("engine_version") or "–", r["split"])].append(r)
    for (engine, model, version, split), rows in sorted(groups.items()):
        ratio = float(np.median([r["predicted"] / r["measured"] for r in rows]))
        n, med, _ = stats([r["ape"] for r in rows])
        lines.append(f"| {engine} | {model} | {version} | {split} | {n} | {ratio:.2f} | {fmt(med)} |")
    return lines


def frontends_section(records: list[dict], serving_rows: list[dict]) -> list[str]:
    """TTFT by the front end that served the run, and the file read without the front ends."""
    from gpurec_core.validate import validate_file
    from gpurec_roofline.constants import load_constants

    lines = ["| front end | engine | split | n | median TTFT APE % | p90 % |", "|---|---|---|---:|---:|---:|"]
    groups: dict = defaultdict(list)
    for r, row in zip(records, serving_rows):
        if r["metric"] == "ttft_ms" and r["ape"] is not None:
            groups[(row["frontend"], r["engine"], r["split"])].append(r["ape"])
    for (frontend, engine, split), apes in sorted(groups.items()):
        n, med, p90 = stats(apes)
        lines.append(f"| {frontend} | {engine} | {split} | {n} | {fmt(med)} | {fmt(p90)} |")
    constants = load_constants()
    own = {e: constants.engine(e).request_overhead_ms for e in ENGINES}
    dynamo = {e: constants.engine(e, "dynamo").request_overhead_ms for e in ENGINES}
    plain = validate_file(RECORDED_CSV)
    counts = {f: sum(row["frontend"] == f for row in serving_rows) for f in ("dynamo", "engine")}
    return [
        "What takes a request and hands it to the engine adds time to its first token outside the engine's steps "
        "(`request_overhead_ms`). gpurec plans the engine's own OpenAI-compatible server (`vllm serve`, "
        "`python -m sglang.launch_server`, `trtllm-serve`: what its launch lines start) unless told "
        "`--frontend dynamo` (`frontend=\"dynamo\"`, a `frontend` column in a measurement file, or an engine named "
        "as InferenceX names its Dynamo runs: `dynamo-trt`, `dynamo-sglang`, `dynamo-vllm`, or a `source` naming "
        "such a run or a Dynamo runtime image: docs/validate.md). NVIDIA Dynamo's frontend "
        "with the engine's Dynamo worker adds time the engine's own server does not (ai-dynamo/dynamo issues #1597, "
        "vLLM, and #5086, TensorRT-LLM).",
        "",
        f"Request overhead, ms (roofline.toml): own server {', '.join(f'{e} {own[e]:.1f}' for e in ENGINES)}; "
        f"behind Dynamo {', '.join(f'{e} {dynamo[e]:.1f}' for e in ENGINES)}. The Dynamo values are fitted with the "
        "other constants on the calibration half, every run of which Dynamo served; the own-server value, one for "
        "every engine, is fitted afterwards, on a grid, on the TTFT rows of vLLM's own server (its own image and "
        "InferenceX's imports, each at the mean lengths InferenceX's benchmark draws its requests at: random range "
        "ratio 0.8, 0.9 x isl and osl, docs/validate.md `random_range_ratio`): held-out models' rows, so they are "
        "not held out for this one value. NIM's "
        "TensorRT-LLM rows read too slow at any overhead from 0 ms (their prefill), so they only bound it from "
        "above; no trtllm-serve or SGLang own-server run is in the data, so theirs is vLLM's value, an assumption.",
        "",
        f"The shared file does not say which front end served a run; `scripts/serving_frontends.py` reads it from "
        f"aiconfigurator-core's silicon_sample.csv (configuration columns only: an `aic-auto-gap-analysis` data file "
        f"or an `ai-dynamo/*-runtime` image is Dynamo; the engine's own image, or none in its InferenceX imports, is "
        f"the engine's server; NIM's and trtllm-bench's tables are not Dynamo) and writes "
        f"`serving_h100_as_served.csv`: {counts['dynamo']} rows via Dynamo, {counts['engine']} via the engine's own "
        "server. Every figure of this page reads that file.",
        "",
    ] + lines + [""] + delivery_paragraph(records, constants) + [
        "",
        f"Read as the shared file has it (no front end: every run planned behind the engine's own server), the "
        f"Dynamo-served runs lose the time Dynamo adds: TTFT median {fmt(plain.metrics['ttft_ms'].median_ape)} % "
        f"(p90 {fmt(plain.metrics['ttft_ms'].p90_ape)} %), ITL {fmt(plain.metrics['itl_ms'].median_ape)} %, "
        f"{plain.n_over_5x} rows more than 5x off. Most public measurements of other GPUs come from the engines' own "
        "servers: of aiconfigurator-core's aggregated silicon_sample rows of other GPUs (@095f58a5: B200, B300, "
        "GB200, GB300, H200) 172 of 2,809 name the gap-analysis campaign, the rest the engine's own image or none "
        "(InferenceX imports); so gpurec's default is the engine's own server. Its disaggregated TensorRT-LLM rows "
        "are the other way round (915 of 997 name a Dynamo runtime image): a disaggregated run that does not say "
        "its front end is planned behind the engine's own router, as gpurec's launch lines start it.",
    ]


#: The Dynamo-served TensorRT-LLM runs the delivery paragraph shows: Llama-3.1-8B, 1024 in / 512 out, 128 users.
DELIVERY_EXAMPLE = ("meta-llama/Llama-3.1-8B-Instruct", "trtllm", "isl1024 osl512 c128 bf16 via dynamo", (2, 4, 8))


def own_server_overhead_ms() -> float:
    """The engines' own servers' request overhead (roofline.toml; one value for every engine)."""
    from gpurec_roofline.constants import load_constants

    return load_constants().engine("vllm").request_overhead_ms


def dynamo_extra_ms() -> float:
    """The most Dynamo's front end adds to an engine's request overhead over the engine's own server, ms."""
    from gpurec_roofline.constants import load_constants

    constants = load_constants()
    return max(constants.engine(e, "dynamo").request_overhead_ms - constants.engine(e).request_overhead_ms
               for e in ENGINES)


def delivered_rate(config: str, cells: dict[str, float]) -> float:
    """Output tokens per second a closed-loop run delivered: users x O / (TTFT + (O - 1) ITL), measured."""
    from gpurec_roofline.serving import closed_loop_throughput

    O, users = (int(x) for x in re.search(r"osl(\d+) c(\d+)", config).groups())
    return closed_loop_throughput(users, O, cells["ttft_ms"], cells["itl_ms"])


def delivery_paragraph(records: list[dict], constants) -> list[str]:
    """The front end's delivery ceiling (roofline.toml delivery_source), with the runs that show it."""
    model, engine, config, tps = DELIVERY_EXAMPLE
    runs = []
    for tp in tps:
        cells = {r["metric"]: r for r in records
                 if r["model"] == model and r["engine"] == engine and r["config"] == f"tp{tp} {config}"}
        ttft = cells["ttft_ms"]
        rate = delivered_rate(f"tp{tp} {config}", {k: v["measured"] for k, v in cells.items()})
        decoding = rate * cells["itl_ms"]["measured"] / 1e3  # Little's law: tokens per step
        runs.append(f"TP{tp} {rate:,.0f} tok/s, TTFT {ttft['measured']:,.0f} ms measured, "
                    f"{ttft['predicted']:,.0f} ms predicted")
    ceiling = constants.engine(engine, "dynamo").delivery_tokens_per_s
    held_out: dict = defaultdict(dict)
    for r in records:
        if r["engine"] == engine and r["split"] == "held-out" and r["config"].endswith("via dynamo"):
            held_out[(r["model"], r["config"])][r["metric"]] = r["measured"]
    fastest = max((delivered_rate(config, cells), model, config, cells["itl_ms"])
                  for (model, config), cells in held_out.items() if {"ttft_ms", "itl_ms"} <= set(cells))
    offline = max((r for r in records if r["model"] == model and r["engine"] == engine
                   and r["metric"] == "output_tok_s"), key=lambda r: r["measured"])
    return [
        "**The front end's delivery ceiling.** Every streamed token passes one process of the front end, so the "
        "tokens it can stream per second do not grow with the GPUs (ROCm/ATOM PR #1837: one Python API server "
        "delivers about 11.5k chunks/s whatever the model or GPU count; ai-dynamo/dynamo issue #9466: past a "
        "Dynamo frontend replica's fixed rate requests queue and TTFT rises by orders of magnitude). Where an "
        "engine makes tokens faster than that, the users' cycle stretches to users x O / ceiling, and the requests "
        "wait before the engine sees them: the extra time is TTFT (`serving.delivered_requests_per_s`; `--explain` "
        "shows it as `ttft_front_end_wait` and a note). TensorRT-LLM's Dynamo-served calibration runs stop at "
        f"{ceiling:,.0f} output tokens/s per replica, the highest rate any of them delivered "
        "(`scripts/calibrate_roofline.py` reads it off the runs, not fitted, by the rule `gpurec calibrate` applies "
        "to a user's runs: `gpurec_roofline.fitting.delivery_ceiling`): at 128 users, 1024 in / 512 out, "
        f"Llama-3.1-8B delivers {'; '.join(runs)}. trtllm-bench, TensorRT-LLM without a server, delivers "
        f"{offline['measured']:,.0f} tok/s for the same model ({offline['config']}), so the ceiling is the front "
        f"end's. It is a level, not an exact bound: the fastest held-out run, {fastest[1]} {fastest[2]}, "
        f"delivered {fastest[0]:,.0f} tok/s ({fastest[0] / ceiling - 1:.0%} above it), with about "
        f"{fastest[0] * fastest[3] / 1e3:.0f} sequences decoding at a time against {decoding:.0f} in the Llama TP8 "
        "run: likely a per-step cost of the front end that larger steps spread. It is applied per replica of an "
        "aggregated deployment (an attention-DP rank counts as one) and not to disaggregated pools: the Dynamo-served "
        "DeepSeek-R1 decode engine of 16 attention-DP ranks delivered about 34.8k tok/s at 4,916 users (section "
        "'Disaggregated deployments'), so it is not one ceiling per Dynamo worker in every layout. vLLM's and SGLang's "
        "Dynamo-served runs and the engines' own servers show no plateau in the data and get none.",
    ]


def other_gpus_section() -> list[str]:
    from gpurec_core.api import estimate_performance, as_gpu

    lines = ["Llama-3.1-70B, fp8 weights, TP2, vLLM profile, input 1024 / output 1024 tokens (estimates, not "
             "measurements: only H100 was measured).", "",
             "| GPU | HBM TB/s | dense fp8 TFLOPS | TTFT c=1 ms | ITL c=1 ms | ITL c=32 ms | throughput c=32 tok/s | "
             "saturation tok/s | saturation users |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = {}
    for name in ("H100", "H200", "B200"):
        gpu = as_gpu(name)
        try:
            one = estimate_performance("meta-llama/Llama-3.1-70B", gpu, tensor_parallel_size=2, input_length=1024,
                                       output_length=1024, concurrency=1, precision="fp8")
            mid = estimate_performance("meta-llama/Llama-3.1-70B", gpu, tensor_parallel_size=2, input_length=1024,
                                       output_length=1024, concurrency=32, precision="fp8")
            sat = estimate_performance("meta-llama/Llama-3.1-70B", gpu, tensor_parallel_size=2, input_length=1024,
                                       output_length=1024, concurrency="max", precision="fp8")
        except Exception as exc:  # report, do not hide
            lines.append(f"| {name} | error: {exc} |")
            continue
        rows[name] = (gpu, one, mid, sat)
        lines.append(f"| {name} | {gpu.bandwidth_tb_s:g} | {gpu.fp8_tflops_dense:g} | {one.ttft_ms:.0f} | {one.itl_ms:.2f} | "
                     f"{mid.itl_ms:.2f} | {mid.throughput_tokens_per_sec:.0f} | {sat.throughput_tokens_per_sec:.0f} | {sat.concurrency} |")
    if "H100" in rows:
        base = rows["H100"]
        lines += ["", "Ratios to H100 and what explains them:", ""]
        for name, (gpu, one, mid, sat) in rows.items():
            if name == "H100":
                continue
            lines.append(
                f"- **{name}**: ITL at c=1 is {base[1].itl_ms / one.itl_ms:.2f}x faster (bandwidth ratio "
                f"{gpu.bandwidth_tb_s / base[0].bandwidth_tb_s:.2f}x: a decode step streams the weights, so it scales with "
                f"HBM bandwidth, less the fixed per-step/per-layer overheads and all-reduce latency that do not shrink); "
                f"TTFT at c=1 is {base[1].ttft_ms / one.ttft_ms:.2f}x faster (fp8 compute ratio "
                f"{gpu.fp8_tflops_dense / base[0].fp8_tflops_dense:.2f}x by the datasheets, "
                f"{_gemm_rate(gpu, 'fp8') / _gemm_rate(base[0], 'fp8'):.2f}x by the engines' measured fp8 GEMMs: prefill "
                f"is compute-bound, diluted by the fixed request overhead); saturation throughput is {sat.throughput_tokens_per_sec / base[3].throughput_tokens_per_sec:.2f}x "
                f"because the larger memory holds {sat.concurrency} instead of {base[3].concurrency} users and each step "
                f"streams weights and KV at the higher bandwidth.")
    lines += ["", *step_parts_table()]
    return lines


#: What each part of a step scales with across GPUs, and where its constant comes from.
STEP_PARTS = (
    ("gemm_memory", "weights streamed: bytes / (HBM TB/s x bandwidth_efficiency)", "bandwidth"),
    ("gemm_compute", "matmul FLOPs / (dense TFLOPS x compute_efficiency)", "compute"),
    ("attention_decode", "KV cache read: bytes / (HBM TB/s x bandwidth_efficiency x kv_read_ratio)", "bandwidth"),
    ("activations", "activation traffic / HBM bandwidth", "bandwidth"),
    ("communication", "all-reduce / all-to-all: fixed latency per collective + bytes / link bandwidth", "fixed + link"),
    ("overhead", "engine step (host) + per running sequence + per-layer kernel gaps: fixed us/ms, no GPU figure", "fixed"),
)


def step_parts_table() -> list[str]:
    """The decode step of one small model on H100, H200 and B200, part by part: which parts carry
    the GPU's datasheet ratio and which stay fixed (so a GPU with 1.4x the bandwidth is not 1.4x faster)."""
    from gpurec_core.api import as_gpu, estimate_performance

    gpus = [as_gpu(n) for n in ("H100", "H200", "B200")]
    model, tp = "meta-llama/Llama-3.1-8B-Instruct", 1
    steps = {}
    for gpu in gpus:
        e = estimate_performance(model, gpu, tensor_parallel_size=tp, input_length=1024, output_length=256, concurrency=1)
        steps[gpu.name] = e
    base = steps["H100"]
    lines = [f"Decode step of {model} (bf16, TP{tp}, vLLM, 1 user, 1024 in / 256 out): each part of the step in ms, "
             "and what it scales with. Only the bandwidth and compute parts follow the datasheet; the fixed parts "
             "(engine host work, kernel gaps, collective latency) are the same on every GPU, so the predicted ITL "
             "ratio is smaller than the bandwidth ratio.", "",
             "| part | scales with | formula | " + " | ".join(f"{g.name} ms" for g in gpus) + " |",
             "|---|---|---|" + "---:|" * len(gpus)]
    for key, formula, kind in STEP_PARTS:
        cells = [f"{steps[g.name].breakdown.get(f'decode_step_{key}', 0.0):.3f}" for g in gpus]
        lines.append(f"| {key} | {kind} | {formula} | " + " | ".join(cells) + " |")
    lines.append("| **ITL** | | | " + " | ".join(f"**{steps[g.name].itl_ms:.3f}**" for g in gpus) + " |")
    lines += ["", "| GPU | HBM TB/s (datasheet) | bandwidth ratio to H100 | dense bf16 TFLOPS | compute ratio | "
              "predicted ITL ratio (H100 / GPU) | predicted TTFT ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
    for gpu in gpus:
        e = steps[gpu.name]
        lines.append(f"| {gpu.name} | {gpu.bandwidth_tb_s:g} | {gpu.bandwidth_tb_s / gpus[0].bandwidth_tb_s:.2f} | "
                     f"{gpu.bf16_tflops_dense:g} | {gpu.bf16_tflops_dense / gpus[0].bf16_tflops_dense:.2f} | "
                     f"{base.itl_ms / e.itl_ms:.2f} | {base.ttft_ms / e.ttft_ms:.2f} |")
    lines += ["", "Which constants carry to a GPU never measured: the bandwidth, compute and attention efficiencies "
              "are fractions of that GPU's own datasheet peaks, per generation (`[efficiency.*]` in roofline.toml). "
              "Only the H100's are fitted. The H200, Blackwell, Blackwell Ultra, the RTX PRO 6000, Ada and Ampere "
              "take its fitted fractions times the ratio of what the engines' own kernels reach on their GPUs to "
              "what they reach on the H100, each as a fraction of its datasheet peak (next table). AMD's bandwidth "
              "fraction is Hopper's times the MI300X's share of its HBM peak over the H100's in one STREAM benchmark "
              "(Azure's AI-benchmarking-guide: 0.783 against 0.876); its compute and attention fractions, "
              "Volta/Turing's and unlisted generations' keep cited or assumed values. The fixed parts (engine step "
              "and per-sequence host overhead, per-layer kernel gaps, collective latency, request overhead) were "
              "fitted on H100 and are assumed to be the same on every GPU: they are CPU, launch and synchronisation "
              "costs, not GPU throughput. A faster CPU host or newer engine version changes them; that is what "
              "`gpurec calibrate` (issue 11) is for.", "", *kernel_rates_table()]
    return lines


def _gemm_rate(gpu, dtype: str) -> float:
    """TFLOPS the roofline's prefill GEMMs of ``dtype`` run at on ``gpu`` (dense peak x compute efficiency)."""
    from gpurec_roofline.constants import load_constants

    return getattr(gpu, f"{dtype}_tflops_dense") * load_constants().efficiency_for(gpu).compute_fraction(dtype)


def kernel_rates_table() -> list[str]:
    """Measured kernel rates per GPU (catalogs/engines/kernel_rates.toml) beside the efficiencies derived from them."""
    from gpurec_core.api import as_gpu
    from gpurec_core.catalogs import catalog_path, read_catalog_toml
    from gpurec_roofline.constants import KERNEL_RATES_FILE, load_constants

    rates = read_catalog_toml(catalog_path("engines") / KERNEL_RATES_FILE, missing="reinstall gpurec")
    constants = load_constants()
    lines = [f"Kernel rates measured by NVIDIA for each engine's own kernels (ai-dynamo/aiconfigurator "
             f"@{rates['meta']['commit'][:8]}, the newest vLLM, SGLang and TensorRT-LLM table of each GPU; "
             "`catalogs/engines/kernel_rates.toml`, `scripts/kernel_rates.py` says which shapes), as fractions of "
             "the datasheet peak, and the efficiencies the roofline takes from them (Hopper's are fitted; a "
             "generation's rates are the mean of its GPUs'):", "",
             "| GPU | generation | GEMM bf16 | GEMM fp8 | GEMM fp4 | prefill attention | decode weight streaming | "
             "decode KV reads | MLA decode reads | MoE decode reads | all-reduce bus bandwidth | "
             "compute eff. bf16 / fp8 / fp4 | attention eff. | bandwidth eff. | KV read ratio | MLA read ratio | "
             "expert read ratio | link ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]

    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else "–"

    for name, measured in rates["gpus"].items():
        gpu = as_gpu(name)
        generation = constants.generation_of(gpu)
        eff = constants.efficiency[generation]
        compute = " / ".join(cell(eff.compute_efficiency.get(d)) for d in ("bf16", "fp8", "fp4"))
        lines.append(f"| {name} | {generation} | {cell(measured.get('gemm_bf16'))} | {cell(measured.get('gemm_fp8'))} | "
                     f"{cell(measured.get('gemm_fp4'))} | {cell(measured.get('attention_bf16'))} | "
                     f"{cell(measured.get('decode_bandwidth_bf16'))} | "
                     f"{cell(measured.get('decode_attention_bandwidth_bf16'))} | "
                     f"{cell(measured.get('decode_mla_bandwidth_bf16'))} | {cell(measured.get('moe_decode_bandwidth'))} | "
                     f"{cell(measured.get('allreduce_bus_bandwidth'))} | {compute} | {eff.attention_efficiency:.3f} | "
                     f"{eff.bandwidth_efficiency:.3f} | {eff.kv_read_ratio:.3f} | {eff.mla_read_ratio:.3f} | "
                     f"{eff.expert_read_ratio:.3f} | {eff.link_ratio:.3f} |")
    lines += ["", "Two figures the datasheets do not show: a B200's GEMMs reach 0.68 of its bf16 peak where an H100's "
              "reach 0.79, so prefill is 1.95x an H100's, not 2.27x; and Blackwell Ultra's NVFP4 GEMMs reach about "
              "0.31 of the 14-15 PFLOPS figure, little more than a B200's; and an H200's decode attention reads its KV "
              "cache at 0.74 of 4.8 TB/s where an H100's reads 0.81 of 3.35 (its weight streaming keeps the H100's "
              "share), so at long contexts its ITL gains 1.31x, not 1.43x; and Blackwell's MLA decode kernels read "
              "DeepSeek's latent cache at about 0.67 of the bandwidth where Hopper's read 0.86 (GQA decode: 0.79 "
              "and 0.81), so MLA decode on a B200 is 1.78x an H100's, not 2.30x. The H200 shares the H100's die: "
              "its GEMM and attention rates read within 5 % of the H100's. Blackwell's all-reduces reach 0.51-0.61 of "
              "NVLink 5's 900 GB/s per direction where Hopper's reach 0.71 of NVLink 4's 450, so a tensor-parallel "
              "prefill's all-reduces are about 1.5x an H100's, not 2x; and the fused-MoE kernels stream a decode "
              "step's experts at 0.48-0.49 of a B200's or GB200's bandwidth where they reach 0.58 of an H100's "
              "(dense weights: 0.82-0.83 and 0.85), so a MoE model's decode on Blackwell loses another 14 % "
              "to its experts. An Ampere GPU's MLA decode (A100: "
              "vLLM 0.14 and TensorRT-LLM 1.0, no FlashMLA for Ampere) reads at 0.27."]
    return lines + [""] + moe_prefill_table(rates, constants)


def moe_prefill_table(rates: dict, constants) -> list[str]:
    """Each engine's fused-MoE kernels at prefill batches per GPU and the ratio the roofline applies to its
    moe_compute_efficiency there."""
    from gpurec_core.api import as_gpu

    keys = [(dtype, engine) for dtype in ("fp8", "bf16") for engine in ("sglang", "trtllm", "vllm")]
    lines = ["Prompts' routed experts: each engine's fused-MoE kernels at 4,096 and 8,192 tokens (`moe_prefill_*`, "
             "the shapes every GPU's table of that engine measures), as fractions of the dtype's dense peak, and "
             "the ratio the roofline multiplies the engine's `moe_compute_efficiency` by on that GPU (the kernels' "
             "move from the H100 over the dense GEMMs' move; 1 on the H100, where the efficiency was sourced). "
             "No matched NVFP4 shapes pair with the H100's fp8 ones, so fp4 experts keep ratio 1.", "",
             "| GPU | " + " | ".join(f"{e} {d}" for d, e in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for name, measured in rates["gpus"].items():
        eff = constants.efficiency_for(as_gpu(name))
        cells = []
        for dtype, engine in keys:
            rate = measured.get(f"moe_prefill_{dtype}_{engine}")
            cells.append("–" if rate is None else f"{rate:.3f} (x{eff.moe_ratio_for(engine, dtype):.2f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "The engines' MoE kernels do not move with the dense GEMMs: on a B200, SGLang's and vLLM's "
              "block-fp8 experts reach 0.17-0.18 of the fp8 peak where they reach 0.25-0.26 of an H100's, while "
              "TensorRT-LLM's (DeepGEMM) reach 0.27 against 0.21; a prompt's experts on a B200 run about 1.4-1.6x "
              "an H100's with SGLang and vLLM and 2.8x with TensorRT-LLM, where the datasheets say 2.3x."]
    return lines


def llm_optimizer_section(serving_rows: list[dict]) -> list[str]:
    from gpurec_core.plugins import list_estimators

    info = {e.name: e for e in list_estimators()}.get("llm-optimizer")
    if info is not None and info.usable:
        records = predict_rows(serving_rows, SERVING_CSV.parent, "llm-optimizer")
        return ["Estimator `llm-optimizer` (helper plugin) on the same rows:", ""] + summary_table(records, with_target=False)
    reason = info.reason if info is not None else "the plugin is not installed"
    return [
        f"`llm-optimizer` could not run here ({reason}), so its table is not reproduced. Its formulas "
        "(BentoML llm-optimizer, analytical roofline) have these known errors against the same data:",
        "",
        "- **Decode = weights / peak bandwidth, no efficiency factor, no overhead.** For Llama-3.1-8B bf16 on one "
        "H100 it predicts about 3.2 ms per output token (16 GB / 3.35 TB/s × a small KV term) against about "
        "6.6-7.9 ms measured at c=8 (TRT-LLM, this file): real kernels reach ~80-90 % of peak bandwidth and each "
        "step carries fixed launch, sampling and scheduling time (~1-3 ms) that a pure roofline omits.",
        "- **No continuous-batching model.** ITL is computed for a pure decode batch, so the prefill work that shares "
        "the steps at high concurrency (the dominant ITL term for short outputs, e.g. Qwen3-32B fp8 TP1 1024/128 "
        "c=128: 98.9 ms measured) is missing; TTFT is one isolated prefill, with no queueing behind other prompts.",
        "- **No TP communication.** All-reduce time is ignored, so TP8 looks 8x faster than TP1 for decode, while the "
        "measurements show 2.5-3x (Llama-3.1-8B bf16 TRT-LLM c=8: 7.9 ms TP1 vs 3.3 ms TP8).",
    ]


def memory_section() -> list[str]:
    if not MEMORY_CSV.exists():
        return [f"`{MEMORY_CSV.relative_to(ROOT)}` is not present yet; the memory table is produced once it is."]
    from gpurec_core.validate import validate_file

    report = validate_file(MEMORY_CSV)
    lines = [f"`gpurec validate {MEMORY_CSV.relative_to(ROOT)}`: {report.n_rows} rows, {report.n_errors} without a "
             "prediction (memory plans are the capacity plugin's; see its docs).", "",
             "| metric | n | median APE % | p90 APE % |", "|---|---:|---:|---:|"]
    for metric, s in report.metrics.items():
        lines.append(f"| {metric} | {s.n} | {fmt(s.median_ape, 2)} | {fmt(s.p90_ape, 2)} |")
    return lines


ATTN_DP_CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_attn_dp_h100.csv"
PUBLISHED_CSV = ROOT / "tests" / "fixtures" / "measurements" / "published_other_gpus.csv"
VULTR_CSV = ROOT / "tests" / "fixtures" / "measurements" / "published_vultr_b200.csv"


def published_other_gpus_section() -> list[str]:
    """Published runs on GPUs no constant was fitted on, through `gpurec validate`."""
    from gpurec_core.validate import validate_file

    report = validate_file(PUBLISHED_CSV)
    lines = [f"`gpurec validate {PUBLISHED_CSV.relative_to(ROOT)}`: {report.n_rows} rows, {report.n_errors} without a "
             "prediction. Every figure is a publisher's, with its source in the row: Intel's vLLM team's gpt-oss "
             "table for the Arc Pro B60 (vLLM blog 2025-11-11, Table 1: vLLM 0.10.2 for XPU, MXFP4 weights, fixed "
             "lengths with --ignore-eos, 1 and 4 GPUs), and a Llama-3.1-8B run on an A40 (databasemart's vLLM "
             "benchmark, 50 users). Nothing here was fitted: the B60 runs at its own kernel rates, measured by "
             "NVIDIA's aiconfigurator on its vLLM kernels (`[efficiency.xe2]`), the A40 as the Ampere generation.", "",
             "| GPU | model | metric | n | median APE % | p90 APE % | largest x off |",
             "|---|---|---|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str, str], list] = {}
    for row in report.rows:
        groups.setdefault((getattr(row, "gpu", ""), row.model, row.metric), []).append(row)
    for (gpu, model, metric), rows in sorted(groups.items()):
        n, median, p90 = stats([r.ape for r in rows if r.ape is not None])
        far = max((r.ratio for r in rows if r.ratio), default=None)
        lines.append(f"| {gpu} | {model} | {metric} | {n} | {fmt(median)} | {fmt(p90)} | {fmt(far, 2)} |")
    lines += ["", "Not in the file, for want of what a row needs: the runs' TTFT (Intel's table does not say how many "
              "requests each run sent, and a single wave of all users at once queues for seconds where a steady "
              "closed loop does not: its 7.6-8.6 s are that wave's), DGX Spark runs measured with llama-benchy (its "
              "generation rate excludes the prompt, and the runs use --enforce-eager), and RTX 5090, RTX A6000 and "
              "RTX 3090 reports that leave out the prompt length, the user count or the engine version."]
    return lines + [""] + vultr_b200_lines()


def vultr_b200_lines() -> list[str]:
    """Vultr's B200 concurrency sweep of a hybrid Mamba-MoE model, row by row (not held to a target)."""
    import tempfile

    from gpurec_core.validate import validate_file
    from gpurec_roofline.constants import load_constants

    report = validate_file(VULTR_CSV)
    with VULTR_CSV.open(newline="") as handle:
        uncounted = [dict(row, num_prompts="") for row in csv.DictReader(handle)]
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "uncounted.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(uncounted[0]))
            writer.writeheader()
            writer.writerows(uncounted)
        long_runs = validate_file(path)
    by_users: dict[str, dict] = {}
    for row, long_run in zip(report.rows, long_runs.rows):
        by_users.setdefault(row.concurrency, {})[row.metric] = (row, long_run)
    medians = {metric: stats([r.ape for r in report.rows if r.metric == metric and r.ape is not None])[1]
               for metric in ("ttft_ms", "itl_ms", "output_tok_s")}
    per_sequence = load_constants().engine("vllm").per_sequence_overhead_us
    few_users_itl = max(r.ape for r in report.rows
                        if r.metric == "itl_ms" and r.ape is not None and int(r.concurrency) <= 32)
    lines = [f"`gpurec validate {VULTR_CSV.relative_to(ROOT)}`: Vultr's concurrency sweep of NVIDIA-Nemotron-3-Nano-"
             "30B-A3B (FP8 export, a hybrid of 23 Mamba-2, 23 MoE and 6 attention blocks) on 2 B200 with vLLM 0.16, "
             "2,048 tokens in and 512 out, 400 requests per run from 8 users up (Vultr Docs inference cookbook, "
             f"source in each row): {report.n_rows} rows, {report.n_errors} without a prediction; median APE TTFT "
             f"{fmt(medians['ttft_ms'])} %, ITL {fmt(medians['itl_ms'])} %, tokens/s {fmt(medians['output_tok_s'])} %. "
             "It is not held to a target: one model of one publisher, a check of mechanisms; nothing was fitted on it.",
             "", "| users | TTFT measured / predicted (read as a long run), ms | ITL measured / predicted, ms "
             "| tok/s measured / predicted |", "|---:|---:|---:|---:|"]

    def pair(metrics: dict, key: str) -> str:
        if key not in metrics or metrics[key][0].predicted is None:
            return "–"
        row, long_run = metrics[key]
        digits = 2 if key == "itl_ms" else 0
        text = f"{fmt(row.measured, digits)} / {fmt(row.predicted, digits)}"
        return text + (f" ({fmt(long_run.predicted, digits)})" if key == "ttft_ms" else "")
    for users, metrics in sorted(by_users.items(), key=lambda item: int(item[0])):
        lines.append(f"| {users} | " + " | ".join(pair(metrics, k) for k in ("ttft_ms", "itl_ms", "output_tok_s")) + " |")
    lines += ["", "What it shows:", "",
              "- **The request count.** The runs at 512 and 1,024 users sent 400 requests, so they never had more "
              "than 400 in flight, and from 64 users on the first wave, all arriving together, is a large part of "
              "the 400 (the `num_prompts` column, docs/validate.md). Read as long runs at the nominal users "
              "(parenthesised), their TTFTs come out several times short.",
              "- **One all-reduce per hybrid block.** A Nemotron-H block holds one mixer, so tensor parallelism "
              "all-reduces once per block, not twice as a transformer layer does "
              f"(`ModelConfig.row_parallel_blocks_of_layer`); up to 32 users the ITLs are within {few_users_itl:.0f} %.",
              "- **ITL from 128 users on reads up to 2x slow.** Most of the predicted step is vLLM's per-sequence "
              f"overhead fitted on the H100 runs of vLLM 0.12 ({per_sequence:.0f} µs per running request, "
              "roofline.toml), which at 400 users alone is about the measured step. Not vLLM's asynchronous "
              "scheduling hiding it: vLLM turns that off for Mamba models with prefix caching ('Async scheduling is "
              "not compatible with prefix caching for Mamba models and will be disabled', quoted in "
              "QwenLM/Qwen3-Coder#578). The host may be faster, or part of the cost may grow with the attention "
              "layers (this model has 6 of 52 blocks, Qwen3-32B all 64): one sweep cannot tell them apart.",
              "- **TTFT below 64 users reads 3-4x short.** The sweep's single-user TTFT is above its 8-user one, so "
              "its runs carry a cost a running server does not (likely a warm-up of the first requests), which the "
              "estimate, of a server already running, leaves out."]
    return lines


def ratio_section(report) -> list[str]:
    """How far off the farthest rows are, and the rows flagged as contradicting their own configuration."""
    lines = [f"Rows more than 5x off: {report.n_over_5x} of {report.n_rows}; the farthest is "
             f"{report.max_ratio:.1f}x off. Flagged runs (ITL falling as users are added): {report.n_flagged} rows; "
             f"without them the farthest is {report.max_ratio_unflagged:.1f}x off and the medians are:", "",
             "| metric | n | median APE % | p90 APE % |", "|---|---:|---:|---:|"]
    for metric, s in report.metrics_unflagged.items():
        lines.append(f"| {metric} | {s.n} | {fmt(s.median_ape)} | {fmt(s.p90_ape)} |")
    far = sorted((r for r in report.rows if r.ratio and r.ratio > 5), key=lambda r: -r.ratio)
    decoding = measured_decoding(report.rows)
    far_keys = {(r.model, r.engine, r.config) for r in far} & set(decoding)
    capped = sorted({(r.model, r.engine, users) for r in far
                     for n, users in [decoding.get((r.model, r.engine, r.config), (None, None))]
                     if n is not None and n < FEW_DECODING * users})
    lines += ["", "The last column is closed-loop Little's law on the run's own measured TTFT and ITL: users x (O - 1) "
              "ITL / (TTFT + (O - 1) ITL) of its users were decoding at any moment, the rest waiting for their first "
              "token. Where that is far below the users, a limit the file does not record (the benchmark client's, or "
              "the server's cap on running requests) held the rest back, and gpurec, which admits every user its KV "
              "pool and max_num_seqs hold, reads their TTFT far too short"
              + (": " + "; ".join(f"{m} on {e} at {u} users, "
                                  + span_of([decoding[k][0] for k in far_keys
                                             if k[:2] == (m, e) and decoding[k][1] == u])
                                  + " decoding in its runs below" for m, e, u in capped) if capped else "") + ". "
              "The vLLM runs come from SemiAnalysis InferenceX's campaign (aiconfigurator-core's imports of its "
              "configurations), whose benchmark client is one Python process that its authors say becomes "
              "client-bound at high request rates with small models (InferenceX utils/bench_serving/KNOWN_LIMITATION.md, "
              "2026-04-20); at 512 users most of these runs stream more tokens per second than any other closed-loop "
              "run of the file, and "
              "a client or server process that falls behind stamps the first token late and the later ones in "
              "bursts, which is what their TTFT rising and ITL falling with more users look like (likely, not "
              "measured: the file records neither process).",
              "", "| model | engine | config | metric | measured | predicted | x off | flagged | decoding (measured) |",
              "|---|---|---|---|---:|---:|---:|---|---:|"]
    for r in far:
        n, users = decoding.get((r.model, r.engine, r.config), (None, None))
        lines.append(f"| {r.model} | {r.engine} | {r.config} | {r.metric} | {r.measured:.4g} | {r.predicted:.4g} | "
                     f"{r.ratio:.1f} | {'yes' if r.flag else ''} | {f'{n:.0f} of {users}' if n is not None else '-'} |")
    return lines


#: A run is noted as held back when fewer than this share of its users were decoding at once.
FEW_DECODING = 0.3


def measured_decoding(rows) -> dict[tuple[str, str, str], tuple[float, int]]:
    """(model, engine, config) -> (users decoding at any moment, users), by closed-loop Little's law on the
    configuration's own measured TTFT and ITL: c (O - 1) ITL / (TTFT + (O - 1) ITL)."""
    import re

    measured: dict[tuple[str, str, str], dict[str, float]] = {}
    for r in rows:
        measured.setdefault((r.model, r.engine, r.config), {})[r.metric] = r.measured
    out = {}
    for key, m in measured.items():
        osl, users = re.search(r"\bosl(\d+)", key[2]), re.search(r"\bc(\d+)\b", key[2])
        if "ttft_ms" in m and "itl_ms" in m and osl and users:
            decode = (int(osl[1]) - 1) * m["itl_ms"]
            out[key] = (int(users[1]) * decode / (m["ttft_ms"] + decode), int(users[1]))
    return out


def span_of(values: list[float]) -> str:
    """'low-high' of some counts, whole numbers."""
    return f"{min(values):.0f}-{max(values):.0f}" if values else "-"


def span(rows, attr: str) -> str:
    """'low-high' of one attribute (measured or predicted) over some report rows, 1 decimal."""
    values = [getattr(r, attr) for r in rows]
    return f"{min(values):.1f}-{max(values):.1f}" if values else "-"


def attention_dp_section() -> list[str]:
    """The attention-DP file as recorded, and what its rows are: twins of the TP4 EP4 rows of the serving file."""
    import csv
    import statistics

    from gpurec_core.validate import read_measurements, validate_file
    from gpurec_roofline.constants import load_constants

    recorded = validate_file(ATTN_DP_CSV)
    comm = load_constants().communication
    with open(SERVING_CSV, newline="") as handle:
        narrow = {(r["isl"], r["osl"], r["concurrency"], r["metric"]): float(r["value"])
                  for r in csv.DictReader(handle) if r["model"] == "MiniMaxAI/MiniMax-M2.5" and (r["tp"], r["ep"]) == ("4", "4")}
    _, rows = read_measurements(ATTN_DP_CSV)
    gaps = {m: [abs(float(r["value"]) / narrow[(r["isl"], r["osl"], str(4 * int(r["concurrency"])), m)] - 1) * 100
                for r in rows if r["metric"] == m] for m in ("itl_ms", "ttft_ms")}
    lines = [f"`gpurec validate {ATTN_DP_CSV.relative_to(ROOT)}` (MiniMax-M2.5 fp8, vLLM 0.18, recorded as attention "
             f"DP4 x TP4 with EP16, i.e. 16 H100s): {recorded.n_rows} rows, {recorded.n_errors} without a prediction, "
             "every one planned with its `dp` column and read at dp x the recorded concurrency, aiconfigurator's "
             "users (below):", "",
             "| metric | n | median APE % | p90 APE % | more than 5x off |", "|---|---:|---:|---:|---:|"]
    for metric, s in recorded.metrics.items():
        far = sum(1 for r in recorded.rows if r.metric == metric and r.ratio and r.ratio > 5)
        lines.append(f"| {metric} | {s.n} | {fmt(s.median_ape)} | {fmt(s.p90_ape)} | {far} |")
    lines += ["", "**These rows are not a wide-EP measurement.** They come from aiconfigurator-core's silicon_sample.csv "
              "(rows `2026_04_06_minimax_m2_5_h100_sxm_vllm_fp8_agg_<isl>x<osl>_c<N>_tp4_ep4_...`), whose id gives "
              "TP4 EP4 and N users; the file took `batch_size` (N / 4) as `concurrency`, `attention_dp_size` 4 as `dp` "
              "and `moe_ep_size` 16 as `ep`. Their values are those of the MiniMax-M2.5 TP4 EP4 rows of "
              "`serving_h100.csv` (the `2026_03_25` campaign, 4 GPUs) at N = 4 x the recorded concurrency: median "
              f"difference {statistics.median(gaps['itl_ms']):.1f} % in ITL and {statistics.median(gaps['ttft_ms']):.1f} % "
              "in TTFT over the 15 pairs (e.g. 10.089 vs 10.120 ms ITL at 1024/1024 and 4 users; 20,067 vs 20,026 ms TTFT "
              "at 1024/8192 and 64 users, where the 4-GPU KV pool makes the queue). The same 4-GPU deployment was "
              "measured twice. aiconfigurator writes its InferenceX-sourced attention-DP rows the same way: MiniMax-M2.5 "
              "fp8 on B300 with vLLM at 512 users (its config 734) has `tp_size` 4, `attention_dp_size` 4, `moe_ep_size` "
              "16 and `batch_size` 128 = 512 / 4, while InferenceX runs these benchmarks on one 8-GPU node and launches "
              "a DP-attention configuration of `tp` GPUs as `--tensor-parallel-size=1 --data-parallel-size=$TP "
              "--enable-expert-parallel` (benchmarks/single_node/fixed_seq_len/deprecated/minimaxm2.5_fp4_b200.sh). "
              "`gpurec validate` reads the concurrency of a dp > 1 row whose source is aiconfigurator as "
              "aiconfigurator defines it, one rank's batch: users = batch x pp x attention_dp_size "
              "(sdk/backends/base_backend.py, 'correct output_throughput and concurrency for attention dp (global "
              "batch)'); every attention-DP row of its silicon_sample.csv, on every GPU, names batch x dp users in its "
              "`silicon_concurrency`. Read with a quarter of the users, as earlier versions did, this file's medians "
              "were 27.5 % (ITL) and 23.0 % (TTFT). The layout is still read as recorded (16 GPUs), so "
              "the rows that queue for KV cache (20 s and 32 s TTFT at 64 users with 8k outputs or prompts) are not "
              "explained; read as 4 GPUs they are serving_h100.csv's MiniMax-M2.5 rows, whose errors are in 'Per model' "
              "above. Nothing in the columns says which aiconfigurator rows record the GPU count as `tp`, so gpurec "
              "does not guess it.", "",
              "So the project data hold no aggregated cross-node MoE exchange. Earlier versions read "
              "`scale_out_alltoall_latency_us` off these rows as 16 GPUs over two nodes (70, then 40 us); it is now "
              f"half of the cross-node all-reduce's fixed cost ({comm.scale_out_alltoall_latency_us:g} us = "
              f"{comm.scale_out_allreduce_latency_us:g} / 2: an all-reduce is a reduce-scatter then an all-gather), which "
              "the disaggregated TP16 decode rows as run fit. The wide-EP mechanisms rest on the engines' code: vLLM's "
              "default exchange (`--all2all-backend allgather_reducescatter`, `engines.vllm.wide_ep_collectives`; "
              "SGLang's DP attention does the same) all-gathers the busy DP ranks' hidden states (H bytes per token), "
              "reduce-scatters the expert outputs and keeps the TP all-reduce; TensorRT-LLM's attention DP dispatches "
              "and combines k x H bytes per token. In every engine a GPU's experts compute the tokens each busy rank "
              "brings to that step: a prompt is its own rank's, the other ranks bring their mean step (decodes plus "
              "the prompt tokens a rank prefills per step on average) to the FLOPs and exchanges and their decodes "
              "to the experts read (`step.expert_tokens`; earlier versions gave every busy rank a copy of this rank's "
              "prompt, up to ep / tp times its expert work). The ranks of one MoE engine also step in lockstep, an "
              "idle rank running dummy batches (vLLM docs, serving/data_parallel_deployment), so a user alone on its "
              "rank waits for the step in flight when another rank is busy. The exchange is the engine's default, which "
              "for vLLM and SGLang all-gathers every busy rank's tokens, prompts included; wide-EP recipes that set a "
              "dispatch/combine backend (SemiAnalysis InferenceX's multi-node recipes set DeepEP, MegaMoE, MORI or "
              "FlashInfer's one-sided NVLink kernels) move k copies of a rank's own tokens only, so at high load "
              "gpurec over-states their exchange. Both mechanisms moved this file's TTFT median from "
              "26.7 % to 23.0 % (read at a quarter of its users), which says little: its rows are a 4-GPU "
              "deployment. The only measured "
              "attention-DP deployments are the DeepSeek-R1 DEP16 pools of the disaggregated file (next section)."]
    return lines


DISAGG_CSV = FIXTURES / "serving_disagg_h100.csv"
DISAGG_AS_RUN_CSV = FIXTURES / "serving_disagg_h100_as_run.csv"


def disaggregated_section() -> list[str]:
    """The disaggregated file as recorded, and its rows whose runs' recipes are known, as they ran."""
    from gpurec_core.validate import validate_file

    def workload(r) -> tuple:
        return r.model, r.metric, re.search(r"isl\d+ osl\d+ c\d+", r.config).group(0)

    recorded, as_run = validate_file(DISAGG_CSV), validate_file(DISAGG_AS_RUN_CSV)
    run_rows = {workload(r): r for r in as_run.rows}
    same = [r for r in recorded.rows if workload(r) in run_rows]
    lines = [f"`gpurec validate {DISAGG_CSV.relative_to(ROOT)}` ({recorded.n_rows} values, {recorded.n_errors} without "
             "a prediction) and `scripts/disagg_as_run.py`'s "
             f"`{DISAGG_AS_RUN_CSV.relative_to(ROOT)}`: the {as_run.n_rows} values whose runs' recipes are published "
             "(SemiAnalysis InferenceX `dsr1-fp8-h100-dynamo-trt`, the campaign aiconfigurator imported them from, "
             "and the NVIDIA/srt-slurm recipes it names), "
             "measured values unchanged, pool layouts as the recipes set them. The script's docstring gives the "
             "evidence; the SGLang rows (MTP speculative decoding) and four DeepSeek-R1 rows (MTP only) are left out.",
             "", "| rows | metric | n | median APE % | p90 APE % |", "|---|---|---:|---:|---:|"]
    for label, rows in (("whole file as recorded", recorded.rows), ("the same rows as recorded", same),
                        ("the same rows as run", as_run.rows)):
        for metric in ("itl_ms", "ttft_ms"):
            n, median, p90 = stats([r.ape for r in rows if r.metric == metric and r.ape is not None])
            lines.append(f"| {label} | {metric} | {n} | {fmt(median)} | {fmt(p90)} |")
    lines += ["", "| model | workload | metric | measured | layout recorded | predicted | layout as run | predicted |",
              "|---|---|---|---:|---|---:|---|---:|"]
    for r in sorted(same, key=lambda r: (r.model, workload(r)[2], r.metric)):
        run = run_rows[workload(r)]
        lines.append(f"| {r.model} | {workload(r)[2]} | {r.metric} | {r.measured:,.1f} | {r.config.split(' isl')[0]} | "
                     f"{r.predicted:,.1f} | {run.config.split(' isl')[0]} | {run.predicted:,.1f} |")
    loaded = [r for r in as_run.rows if r.model == "deepseek-ai/DeepSeek-R1" and r.metric == "itl_ms"
              and "isl1024" in r.config and re.search(r"D\(tp1 dp16 ep16 b(16|32)\)", r.config)]
    lines += ["", "Three imports of the runs' recipes are wrong in the file: the DeepSeek-V3 decode max batch (the "
              "file's 2, 3, 10, 20, 77 are the concurrency divided by the workers; the recipes set 1, 2, 8, 16, 64, "
              "so a quarter to half of the users wait for a decode slot, which is where the 5-13 s TTFT at 6-60 "
              "users comes from), the DeepSeek-R1 pools' attention DP (the recipes run `dep16`: KV split over 16 "
              "ranks, so thousands of requests fit where one TP16 worker holds a few hundred) and their worker "
              "counts (3 decode or 2 prefill workers, not 1). With the recipes' layouts the queueing model needs no "
              "change. What stays off is the decode step of the attention-DP16 R1 pools at 16-32 requests per rank "
              f"with 1,024-token prompts (ITL {span(loaded, 'predicted')} ms predicted, {span(loaded, 'measured')} ms "
              "measured): the MoE all-to-all between the two nodes and the "
              "ranks waiting for the slowest one are modelled lighter than they run."]
    return lines


def build_report() -> str:
    from gpurec_roofline.constants import load_constants

    serving_rows = read_rows(SERVING_CSV)
    records = predict_rows(serving_rows, SERVING_CSV.parent, "roofline")
    for record, row in zip(records, serving_rows):  # predict_rows keeps the input order
        record["engine_version"] = (row.get("engine_version") or "").strip()
    n_cal = sum(1 for r in records if r["split"] == "calibration")
    failed = [r for r in records if r["error"]]
    out = [
        "# Accuracy of gpurec's estimates",
        "",
        f"Generated by `python scripts/accuracy_report.py` on {datetime.date.today().isoformat()}. Do not edit by hand.",
        "",
        "## Data and method",
        "",
        f"`tests/fixtures/measurements/serving_h100_as_served.csv` (the reference data unchanged, plus the front end "
        f"that served each run; 'Front ends' below): {len(records)} measured "
        "rows on H100 SXM — TensorRT-LLM's published max-throughput tables (`concurrency=max`), NVIDIA NIM latency "
        "tables, and steady-state TTFT/ITL of vLLM, SGLang and TensorRT-LLM at fixed concurrency in a closed loop "
        "(aiconfigurator-core 0.12.0 silicon data). Every row is predicted through the public "
        "`gpurec_core.api.estimate_performance` path (memory plan first, then the estimator), with the row's model, "
        "TP/EP, lengths, concurrency, precision, engine and front end. Error = APE = |predicted − measured| / "
        "measured.",
        "",
        "**Calibration vs held-out.** Only a few physical constants were fitted (`scripts/calibrate_roofline.py`), "
        f"on the calibration rows only ({n_cal} rows). Held out ({len(records) - n_cal} rows): every row of Llama-3.1-70B, "
        "Llama-3.3-70B (NIM + TRT-LLM max-throughput), Llama-3.1-405B, Qwen3-235B-A22B, gpt-oss-120b, MiniMax-M2.5 and "
        "Llama-4 Scout/Maverick (so every MoE and MXFP4 row, and vLLM fp8, were never fitted), plus, for the two "
        "calibration models (Qwen3-32B, Llama-3.1-8B), each configuration `model|engine|tp|pp|ep|isl|osl|precision` "
        "whose MD5's first byte mod 4 is 0 — all concurrencies of one configuration fall on the same side "
        "(`gpurec_core.validate_serving.calibration_split`). The objective is the mean over (engine, metric) groups "
        "of the median |log(pred/measured)|.",
        "",
        f"Rows without a prediction: {len(failed)}" + (" — " + "; ".join(sorted({r['error'][:160] for r in failed}))[:800]
                                                       if failed else "."),
        "",
        "## Summary (roofline estimator, H100)",
        "",
    ] + overall_table(records) + ["", "### Per engine (targets: ITL 15 %, TTFT 30 %, saturation throughput 25 % median APE)", ""]
    out += summary_table(records)
    out += ["", "## Per model", "", "Cells: rows / median APE % / p90 APE %.", ""] + per_model_table(records)
    out += ["", "## Front ends: the engine's own server and NVIDIA Dynamo", ""] + frontends_section(records, serving_rows)
    from gpurec_core.validate import validate_file

    out += ["", "## Rows far off", ""] + ratio_section(validate_file(SERVING_CSV))
    out += ["", "## Worst rows", "", "### Held-out", ""] + worst_table(records, "held-out", 12)
    out += ["", "### Calibration", ""] + worst_table(records, "calibration", 6)
    out += ["", "## Uncertainty bands", ""] + bands_section()
    out += ["", "## Known error sources", "",
            "- **Closed-loop TTFT of mixed-step engines (vLLM V1, TensorRT-LLM)** is modelled from the scheduler: one "
            "token budget per step (`max_num_batched_tokens`), running requests first (one token per decode), waiting "
            "prompts chunked into the rest; a new prompt waits for the step in flight (length-biased: E[T²]/E[T]) and "
            "then runs its own chunks, n − 1 full-budget steps and a last one, all timed by the roofline. The "
            "benchmark's mean also contains its start-up burst: all users send at t = 0 and are prefilled as a "
            "staircase of full steps, one request in `benchmark.requests_per_user` of the run (or concurrency / "
            "num_prompts of a run that records its request count, docs/validate.md). Nothing in this is a "
            "√c cluster coefficient; the fitted constants are a per-request overhead (ms), the in-flight wait (in "
            "steps) and the requests per user.",
            "- **The vLLM calibration half is one model and one engine version** (Qwen3-32B, vLLM 0.12), served "
            "through NVIDIA Dynamo: its TTFT carries a ~35 ms per-request overhead (the Dynamo value; the engine's "
            "own server's is fitted on other runs, 'Front ends') and about one extra prefill of waiting at low "
            "concurrency; the held-out vLLM data sets differ (table below): Llama-3.1-70B fp8 (no engine version "
            "recorded) is consistent with a smaller overhead, a longer benchmark (more requests per user) and fp8 "
            "GEMMs near 0.55 of peak, so it is over-predicted by about 1.4× at every concurrency, prompt length and TP; "
            "gpt-oss-120b (vLLM 0.18) under-predicts long prompts (MXFP4 MoE prefill kernels on Hopper are slower "
            "than the bf16 roofline), and its c=512 rows queue in the measurement (TTFT 20-460 s with a 4-15 ms "
            "ITL, i.e. a small running batch) where the memory plan admits every user. These are properties of the "
            "benchmark runs and kernels, not of the scheduler, and no constant fitted on the calibration half can "
            "see them.",
            "- **TRT-LLM TTFT at low concurrency** rises with the *output* length in the aiconfigurator data (e.g. "
            "Llama-3.1-8B bf16 TP1 1024 in, c=8: 191 ms for 128 out, 550 ms for 512 out) although the prefill is the "
            "same; no GPU-work model reproduces that, and the fitted TRT-LLM request overhead (~100 ms) absorbs a TTFT "
            "floor of unknown cause (even 128-token prompts on Qwen3-235B show 170-250 ms TTFT).",
            "- **gpt-oss-120b TensorRT-LLM rows labelled `fp8`** (aiconfigurator silicon sample): the checkpoint is "
            "MXFP4, so the label names the activation/GEMM precision; a measured run served the checkpoint it loaded, "
            "so these rows are predicted at the checkpoint's own MXFP4 weights (`gpurec_core.validate_serving`), "
            "computing in bf16 (W4A16), which is pessimistic if TensorRT-LLM ran W4A8 in fp8.\n"
            "- **Admission and preemption per engine** (`admission` in roofline.toml, each with its scheduler source). "
            "TensorRT-LLM's default GUARANTEED_NO_EVICT reserves input + output tokens per request, so the pool runs "
            "floor(pool / (I + O)) requests and the rest wait before their first token. vLLM V1 admits a request as "
            "soon as its prompt's blocks fit and preempts the newest running request when the others grow, so the "
            "pool sustains floor(pool / (I + O/2)) (requests at staggered stages hold I + O/2 on average) and a queued "
            "request's wait is split: the share I / (I + O/2) of it before the first token, the rest as stalls "
            "between tokens (in the measured ITL). That split is a modelling assumption, not fitted; on the two "
            "KV-bound vLLM configurations of the shared file (Llama-3.1-70B TP2 and MiniMax-M2.5 TP4, 1024 in / "
            "8192 out, 64 users) it puts 24-27 % of the wait before the first token where the measurement shows "
            "about a quarter. SGLang admits a newcomer only when its prompt and its whole output C = min(O, 4096) fit "
            "beside what the running requests hold and new_token_ratio (decayed to 0.098) x their remaining output "
            "(PrefillAdder.add_one_req), so its pool runs floor((pool - I - C) / (I + O/2 + 0.098 min(O/2, C))) + 1 "
            "requests, and retracts when decode runs out of memory; a queued request waits before admission, so its "
            "wait is all TTFT. The SGLang 0.5.8 TP1 rows (Qwen3-32B bf16, 16 users) queue more than that: their "
            "measured TTFT and ITL imply 2-5 requests in flight (Little's law: users x decode time / (TTFT + decode "
            "time)) where the pool of the default mem_fraction_static holds about 14 of them, as if their KV pool "
            "were about 8k tokens instead of 19.7k; the benchmark's engine settings are not published, so the cause "
            "is not identified. "
            "No TTFT exceeds the serial bound: every other user's request prefilled and decoded one after another. "
            "TensorRT-LLM fp8 rows quantized from a float checkpoint are served from a ModelOpt export, whose KV "
            "cache is fp8 unless told otherwise (hf_ptq.py --kv_cache_qformat default fp8), so they are predicted "
            "with an fp8 KV cache.",
            "- **Flagged measurements.** `gpurec validate` flags a run whose ITL is below 0.7x the ITL the same "
            "configuration measured with fewer users (a closed loop cannot get faster as users are added: the "
            "running batch only grows); every metric of that run is flagged, predicted and counted, and the report "
            "also gives the figures without them. On the shared file these are the gpt-oss-120b vLLM runs at 512 "
            "users (TTFT 20-460 s with a 4-15 ms ITL, faster than the same configuration at 64 users: the client, "
            "not the engine, limited the requests in flight) and one 64-user run that contradicts its 32-user run. "
            "Little's law on those runs' own TTFT and ITL (users x decode time / (TTFT + decode time), decode time "
            "= (osl - 1) x ITL) puts 96-106 requests in flight in all nine 512-user configurations (TP2, 4 and 8; "
            "1k and 8k prompts and outputs) although their KV pools hold 198 to all 512 of them: a cap of about "
            "100 requests in flight whatever the deployment. 100 is the default connection-pool size of a shared "
            "aiohttp session (TCPConnector limit=100) and of httpx (Limits max_connections=100), but which client "
            "measured these runs is not recorded, and InferenceX's current one (utils/bench_serving/"
            "backend_request_func.py) opens a session per request, so has no such cap: the cause is not "
            "confirmed. The ITL rule "
            "leaves three of those configurations unflagged (TP2 1k/8k and 8k/1k, TP4 1k/8k, measured at 0.11.2): "
            "among them the farthest row of the file (TP4, 303 s of TTFT against 0.5 s predicted) and TP2's 462 s "
            "against 74 s.",
            "- **MoE layers.** (1) Communication by layout: experts inside a tensor-parallel group (EP = TP, no "
            "attention DP) exchange nothing but the all-reduce a dense MLP has (vLLM `FusedMoEParallelConfig."
            "use_all2all_kernels` is `dp_size > 1 and use_ep`; TensorRT-LLM's MoE all-to-all needs "
            "`enable_attention_dp`); only wide EP (EP > TP) dispatches and combines k × H per token. Earlier "
            "versions timed every EP layer as an all-to-all: cross-node TP16 EP16 decode of DeepSeek-R1 came out "
            "3.8× too slow. (2) The busiest EP rank: a step lasts as long as the rank that must read the most of "
            "its E/ep experts; with uniform routing its count is about m·q + z(ep)·√(m·q·(1−q)) (binomial mean and "
            "spread, z from Blom's normal order statistics), up to 2.4× the mean for one token on EP8. (3) Grouped "
            "MoE GEMMs are slower than dense ones: `moe_compute_efficiency` per engine, from kernel benchmarks "
            "(VeOmni PR #460 on H100, bf16, Qwen3-30B-A3B expert shapes: the Triton fused MoE of vLLM/SGLang at 215 "
            "TFLOP/s → 0.35 of our dense rate, a CUTLASS SM90 grouped GEMM like TensorRT-LLM's at 242 TFLOP/s → "
            "0.39), not fitted. With it the held-out vLLM MoE "
            "8k-prompt TTFT (MiniMax-M2.5, gpt-oss-120b) went from 0.43-0.77× to about 1.0× of the measurement. "
            "What remains: the 125 TensorRT-LLM Qwen3-235B TP=EP rows read 0.65-0.8× of their measured TTFT (the "
            "old all-to-all term had matched them by accident, with a mechanism the engine's code rules out); "
            "their TTFT barely depends on the prompt (170 ms at 512 and at 1024 tokens, 4 users), so the missing "
            "time is per request or per step, not per token, and its cause is not identified. This moved the "
            "shared file's median TTFT from 17.9 % to 21.2 % (issue 10's target is 20 %).",
            "- **SGLang DeepSeek-R1 disaggregated rows are MTP runs** (InferenceX commit `78d48618f`, see "
            "'Disaggregated deployments' below): measured ITL at one user grows from 9.1 ms (1024 in) to 17.8 ms "
            "(8192 in), far more than the KV reads those tokens add; speculative decoding's draft and verify "
            "steps, and its acceptance, are not modelled: at 1-8 users these rows read 39-47 % slow with 1024-token prompts (12.7-14.4 ms predicted, 9.1-9.8 ms measured: MTP's accepted tokens shorten the step per token) and 20-28 % fast with 8192-token ones.",
            "- **MXFP4 on Hopper** runs as W4A16 (Marlin / triton matmul_ogs): the matmuls use the bf16 peak and "
            "efficiency, the routed experts at the engine's grouped-GEMM rate.",
            "- **Saturation throughput** of TensorRT-LLM's max-throughput tables is planned with the limits "
            "`trtllm-bench throughput` sets itself (`gpurec_core.trtllm_bench`, after its `tuning.py`: max_batch_size "
            "from its own KV estimate, capped at 4096; max_num_tokens from it and the lengths; prompts unchunked). On "
            "this file they admit at least the KV pool's requests, so the error is not the scheduler's limits. For NVIDIA ModelOpt FP8 exports (`checkpoint` nvidia/…) the KV "
            "cache is fp8 (every ModelOpt export in the reference data sets `kv_cache_quant_algo: FP8`), which doubles "
            "the KV pool and halves KV reads — without it the dense-model saturation error was ~35 %.",
            ]
    out += ["", "### Closed-loop TTFT by data set (vLLM, TensorRT-LLM)", "",
            "A ratio near 1 with a small APE means the scheduler model fits that data set; a ratio far from 1 that is "
            "the same at every concurrency points at a per-data-set offset (overhead, kernel speed, benchmark length).",
            ""] + ttft_by_dataset_table(records)
    out += ["", "## Constants of the roofline estimator", "",
            "All live in `catalogs/engines/roofline.toml`, each with its source. 'fitted' ones were calibrated on the "
            "calibration rows within a physical range (`scripts/calibrate_roofline.py`); nothing is fitted per model or "
            "per row.", ""] + constants_section()
    out += ["", "### Formulas (one function each, see the docstrings)", "",
            "- decode weight bytes per step = dense weights per GPU + routed-expert bytes per GPU × (1 − (1 − k/E)^b) "
            "(`step.experts_touched_fraction`; under EP the busiest rank's share, below); KV bytes = sequences × context × KV bytes/token/GPU (sliding-window "
            "layers capped at the window; MLA latent replicated per rank; a sparse-attention (DSA) layer reads its indexer's "
            "keys over the whole context and its latent over the top-k keys only; DeepSeek-V4's compressed layers attend "
            "one entry per 4 or 128 tokens, its sparse ones at most index_topk entries).",
            "- linear layers: max(2 × active params × tokens / (peak × compute eff), weight bytes / (bandwidth × bandwidth eff)); "
            "prefill attention: 2·(n/t)·(d+d_v) × tokens × (I+1)/2 keys (causal) / (peak × attention eff); decode attention: "
            "max(FLOPs, bytes) per sequence, MLA in its absorbed form (d = kv_lora + rope, d_v = kv_lora: 3.4× the prefill "
            "FLOPs per key for DeepSeek-R1, so compute-bound with many heads per GPU, as under attention DP).",
            "- TP: one all-reduce after each row-parallel block, 2 per transformer layer (1 per Nemotron-H block, "
            "which holds one mixer), each latency + 2(n−1)/n × tokens × H × 2 B / (link per direction × link eff); "
            "wide EP (EP > TP): dispatch + combine all-to-all per MoE layer instead of its all-reduce (EP ≤ TP keeps "
            "the all-reduce); a group larger than a node uses the NIC's bandwidth and `scale_out_allreduce_latency_us` / "
            "`scale_out_alltoall_latency_us`; PP: P "
            "stage-steps of a 1/P micro-batch + (P−1) sends.",
            "- EP decode reads the busiest rank's experts: E/ep × min(1, q + z(ep)·√(q(1−q)·ep/E)) "
            "(`step.busiest_rank_touched_fraction`); routed-expert FLOPs run at `moe_compute_efficiency` × the "
            "dense rate.",
            "- step = linear + attention + activations + communication + step overhead + per-sequence overhead + "
            "per-layer kernel gaps; attention at the peak of the KV-cache dtype (bf16 unless the KV cache is fp8).",
            "- mixed-step engines (`serving.serve`): budget b = M − d per step; a prompt takes n = ⌈I/b⌉ steps, n − 1 "
            "full and a last one of I − (n − 1)·b tokens (`serving.prompt_chunks`); mean step = plain decode step + "
            "μ × one prompt's chunk time (or a step of μ·I prompt tokens once every step carries prefill); "
            "TTFT_steady = request overhead + arrival_wait_steps × E[T²]/E[T] + (n − 1)·t_full + t_last; "
            "TTFT_burst = request overhead + ⌈k·I/M⌉ staircase mean × t(full budget) (`serving.burst_passes`); "
            "reported TTFT = (1 − 1/R)·steady + (1/R)·burst, R = requests per user; with c above the KV pool, "
            "closed-loop Little's law. The fixed point (steps a request holds its slot) is 6 over-relaxed "
            "iterations, all closed-form numpy.",
            "- front end: completions per replica ≤ ceiling / O (`serving.delivered_requests_per_s`); the "
            "users' longer cycle, c / rate − c / rate_engine, is TTFT (`ttft_front_end_wait`).",
            ]
    out += ["", "## Other GPUs from their specifications", ""] + other_gpus_section()
    out += ["", "## Published runs on GPUs outside the calibration data", ""] + published_other_gpus_section()
    out += ["", "## llm-optimizer's formulas", ""] + llm_optimizer_section(serving_rows)
    out += ["", "## Attention data parallelism (wide EP)", ""] + attention_dp_section()
    out += ["", "## Disaggregated deployments: the rows as recorded and as run", ""] + disaggregated_section()
    out += ["", "## Rows other publishers measure: which get a prediction", "",
            "The issue's outside check predicts rows of GPUs, engines and layouts we have not measured, and counts the "
            "rows left without a prediction. As a proxy for which layouts such rows name, every deployment of "
            "aiconfigurator-core's `systems/silicon_sample.csv` (the source of the shared files; all its GPUs) was "
            "written in the serving and disaggregated schemas and predicted. Only the configuration columns were "
            "read: no measured value of another GPU entered a fit, a test or an error figure. The counts are values "
            "(two metrics per deployment) without a prediction:",
            "",
            "| file | values | at first | with the rules below, but refusing TP sizes that cannot split the "
            "model | now |",
            "|---|---:|---:|---:|---:|",
            "| aggregated (H100, H200, B200, B300, GB200, GB300) | 5,764 | 972 (16.9 %) | 264 (4.6 %) | 20 (0.3 %) |",
            "| disaggregated | 3,204 | all: the file was refused (`prefill_ep` 0) | 398 (12.4 %) | 88 (2.7 %) |",
            "",
            "Counted again on 2026-12-05 on a later revision of that file (ai-dynamo/aiconfigurator @095f58a5, more "
            "deployments; 7 disaggregated deployments that record no concurrency left out): aggregated 26 of 7,238 "
            "values (0.4 %), disaggregated 88 of 3,190 (2.8 %), the same refusals as below. A second proxy, every "
            "single-node, fixed-length point of SemiAnalysis InferenceX's `configs/*master.yaml` @843c6254 without "
            "speculative decoding (MI300X, MI325X, MI355X, H100, H200, B200, B300, RTX PRO 6000; vLLM, SGLang, "
            "TensorRT-LLM, ATOM; 670 values): 0 without a prediction, 18 (all DeepSeek-V4-Pro) before the last two "
            "rules below.",
            "",
            "What changed, each a mechanism with its source (tests/test_other_publishers_and_layouts.py):",
            "",
            "- a parallel degree of 0 (`ep`, `dp`, `pp` and the pools' `*_ep`, `*_dp`) means not used, as the source "
            "file writes `moe_ep_size` 0 for deployments without expert parallelism (it used to make the whole file "
            "malformed);",
            "- a precision label narrower than the checkpoint's weights names the export the run served (`fp4` rows of "
            "the fp8 DeepSeek-R1 checkpoint served an NVFP4 export) and is planned as that what-if; a wider label "
            "(gpt-oss's `fp8` rows on its MXFP4 checkpoint) still names the activations "
            "(`validate_serving.served_precision`);",
            "- expert parallelism keeps experts whole for the quantization-group rule (vLLM FusedMoE splits each expert "
            "over tp / ep ranks only), and a what-if precision is not held to the checkpoint's groups;",
            "- TensorRT-LLM runs a dense MLP and the shared experts at gcd(width / block, TP) ranks "
            "(`_compute_mlp_tp_size`, `_compute_shared_expert_tp_size` of its DeepSeek-V3, GLM-4 and Exaone-MoE "
            "models), so the block rule does not refuse those widths on TensorRT-LLM;",
            "- MoE tensor parallelism inside expert groups (TensorRT-LLM moe_tp x moe_ep = the attention ranks, "
            "e.g. attention DP 64 with EP 8) is planned as the experts sharded over every rank, with a note;",
            "- another publisher's name of a catalog model (ModelScope's `ZhipuAI/GLM-5`, NVIDIA's "
            "`nvidia/Llama-3.1-8B-Instruct-FP8`, AMD's `amd/Llama-3.3-70B-Instruct-FP8-KV`, InferenceMAX's "
            "`nvidia/DeepSeek-R1-0528-FP4-V2`) resolves to the entry, with a note (docs/models.md), and an export is "
            "planned in the format its name gives (fp8, NVFP4, MXFP4, int8, int4 weights; the fp8 KV cache NVIDIA's "
            "FP8/FP4 exports and Quark's `-KV` ones ship) unless the row's precision says otherwise;",
            "- a TP size that cannot split a MoE model (DeepSeek's 128 heads over 12-72 GB200s, Qwen3.5-397B's 32 over "
            "64 H200s, DeepSeek's dense MLP at 288 per rank against 128-wide fp8 blocks on SGLang, MiniMax-M2.5's "
            "experts at 192 on vLLM without EP) is planned as attention data parallelism over those GPUs with the "
            "experts over every rank, with a note (`api.attention_data_parallel`): no engine runs such a TP, and "
            "all three run that many GPUs of a MoE model this way (TensorRT-LLM `enable_attention_dp`, SGLang "
            "`--enable-dp-attention`, vLLM `--data-parallel-size --enable-expert-parallel`). Attention TP 1 is a "
            "choice: it is TensorRT-LLM's, and the DeepSeek layouts of the engines' wide-EP guides; a run with "
            "attention TP 2 or 4 inside each DP rank would read less KV per GPU and differ. Dense models keep the "
            "refusal, since their only alternative is whole replicas;",
            "- an EP size that does not divide the experts is served with one more expert on the first E mod e ranks "
            "(vLLM `determine_expert_map`; TensorRT-LLM's load-balancer slots and SGLang's redundant experts fill "
            "the same slots), planned for a fullest rank; it used to be refused;",
            "- the attention-DP ranks of a MoE deployment share its experts (vLLM flattens the MoE's TP "
            "across DP ranks, `FusedMoEParallelConfig.make`; SGLang's MoE spans `--tp` under "
            "`--enable-dp-attention`; TensorRT-LLM's moe_tp x moe_ep is the world size), so a deployment or a "
            "disaggregated pool recorded as attention DP 8 without EP is planned with the experts over its 8 GPUs, "
            "not as 8 replicas (InferenceX runs DeepSeek-V4-Pro with SGLang `--tp 4 --dp 4 --enable-dp-attention` "
            "and no `--ep-size` on 4 MI355Xs); this used to hold only for disaggregated pools;",
            "- DeepSeek-V4's released checkpoints store their routed experts in MXFP4 (config.json `expert_dtype: "
            "\"fp4\"`) beside FP8 blocks, and NVIDIA's NVFP4 conversions only re-store the experts: they are "
            "planned so (`Precision.bytes_per_param_by_kind`), where they were planned all-FP8 (1,468 GiB "
            "for V4-Pro, which then did not fit the 8 H200s or 8 MI300Xs InferenceX runs it on) or, for the "
            "conversions, with bf16 attention;",
            "- an engine named as other publishers write it is that engine: names match ignoring case and "
            "separators (`vLLM`, `SGLang`, `TRT-LLM`, `TensorRT-LLM`), and the engine catalogs list aliases with "
            "their sources (InferenceX's framework names `trt`, `dynamo-trt`, `dynamo-sglang`, `dynamo-vllm`, "
            "`vllm-disagg`, `llmd-vllm`, `sglang-disagg`, each running that engine's image); such a row used "
            "to get no prediction (the proxy files above spell the engines as gpurec does, so this is not in "
            "their counts). ATOM, AMD's engine (InferenceX's `atom` and `atom-disagg` on MI355X), is an engine "
            "of its own: memory as its model_runner.py sizes the KV pool, scheduling as its scheduler.py runs "
            "(prefill first, admission on the prompt's blocks, 16,384 tokens and 512 sequences by default), and "
            "SGLang's fitted overheads, a guess, since no ATOM row is in the project data;",
            "- names written the way benchmark tables write them (none of them is in the proxy files' counts, which "
            "spell names as gpurec does): an engine with its version or image tag (`sglang-0.5`, `TensorRT-LLM "
            "1.0.0rc3`, `lmsysorg/sglang:v0.5.3-cu126`; `plugins.without_version`); a precision in any case and "
            "with any separators (`FP8_DYNAMIC`, `int4-awq`, `fp8_block`, `awq_marlin`; "
            "`memory_math.precision_spelling`); a model without its org (`gpt-oss-120b`, `deepseek-r1-fp4`), "
            "the one catalog entry of that name, with a note; and a benchmark campaign's machine name for the GPU "
            "(InferenceX's runners `b200-multinode`, `h200-dgxc`, `cluster:gb300-nv`, `mi355x-amds`), the GPU its "
            "first words name unless a dropped word is a hardware qualifier (`gpu_catalog.HARDWARE_QUALIFIER`);",
            "- a measured deployment that the engine's default memory fraction cannot start (SGLang's "
            "mem_fraction_static leaves DeepSeek-V3/R1 fp8 on four B200s or GB200s no KV pool) did start, so it was "
            "launched with a higher fraction: it is planned at 0.95, the value InferenceX's launch scripts set then "
            "(`dsr1_fp8_b200.sh` runs exactly that deployment with `--mem-fraction-static 0.95`; 0.95 is also its "
            "most common `--gpu-memory-utilization` above vLLM's 0.9), and the row says so "
            "(`validate_serving.STARTED_RUN_MEMORY_FRACTION`; `gpurec validate` prints how many rows). This is "
            "an assumption about a setting the rows do not record. 12 aggregated and 18 disaggregated values.",
            "",
            "- a benchmark that draws each request's lengths at random is predicted at the mean lengths its "
            "requests had (`measurement_cells.request_lengths`): a `random_range_ratio` column, or a `source` naming "
            "InferenceX or one of its configurations (`dsr1-fp8-gb200-dynamo-trt`), whose CI draws every fixed-length scenario's input and output lengths from 0.8x to 1x the "
            "nominal ones (docs/validate.md); the nominal lengths overstate its prompts and outputs by 11 %. The "
            "as-served file marks its 228 rows of InferenceX runs, and the own-server request overhead is fitted on "
            "them so (17.25 ms at the nominal lengths, with a median |log(predicted / measured)| of 0.234; "
            f"{own_server_overhead_ms():g} ms and 0.203 at the mean ones);",
            "- a model_type gpurec has no parser for whose config has `kv_lora_rank` is read with DeepSeek-V3's "
            "layout (multi-head latent attention, MoE after `first_k_dense_replace` dense layers), where it was read "
            "as a llama; and `layer_types` take transformers 5.x's names (`indexed_attention`, a layer with a "
            "sparse-attention indexer, and Nemotron-H's `linear_attention` for a Mamba-2 block). Of the default "
            "configs of transformers 5.25's decoder and image-text model_types, 219 of 288 now plan on H200 "
            "(208 before; the rest are encoder-decoders, pure state-space models and layer kinds gpurec does not "
            "model);",
            "What is still refused: aggregated, 20 values (26 in the later file) whose GPUs cannot hold the weights "
            "as recorded "
            "(Qwen3-235B-A22B-FP8 on one H200: the source records attention TP 1 with MoE TP 2 or 4 and no "
            "attention-DP size); disaggregated, 88 values of pools that do not hold the weights, rows that record "
            "no layout at all (every size 1).",
            ]
    out += ["", "## Memory plans (vLLM start-up logs)", ""] + memory_section()
    out += ["", "## What we doubt", "",
            "- Only H100 SXM was measured: every other GPU's numbers rest on datasheet peaks × the generation factors in "
            "roofline.toml, which were not fitted. The H200, Blackwell, Blackwell Ultra, the RTX PRO 6000, Ada and "
            "Ampere scale Hopper's fitted fractions by the engines' measured kernel rates (aiconfigurator's "
            "tables, 'Other GPUs' above); that assumes the share of the kernels' rate a serving step keeps (0.78 for "
            "bf16 GEMMs on H100: 0.62 fitted / 0.79 measured) is the same on every GPU, takes each GPU's median over "
            "one shape set and the newest engine versions, and stands B100 in for B200, the L40S for every Ada GPU, "
            "the A100 for the A10/A10G and the H200 for the H200 NVL. Fixed costs that are a larger share of a faster "
            "GPU's kernel are in the per-layer gap, fitted on H100. AMD's compute and attention fractions are "
            "assumptions (no kernel tables); its bandwidth fraction rests on one STREAM measurement of the MI300X "
            "and stands it in for the MI250X, MI325X and MI355X. The all-reduce rate is transferred only between NVLink GPUs: the tables' PCIe all-reduces describe "
            "one server's topology. Not transferred: the width of a GEMM: the H100 tables give fp8 GEMMs 0.38 (Llama-3.1-8B at "
            "TP8) to 0.66 (Llama-3.1-70B at TP1) of the fp8 peak at 8,192 tokens, bf16 0.72-0.79; gpurec uses one "
            "fitted fraction per dtype. The routed experts' prefill rate moves per engine (the MoE table above), and "
            "each GPU's rate is the median over the shapes every GPU's table of the engine measures, each at the "
            "fastest kernel the table lists for it, which assumes the engine runs that kernel (SGLang's bf16 experts "
            "on a B200 are mostly its FlashInfer TensorRT-LLM MoE, at 0.40 of the peak on the shapes it measures, "
            "where its Triton kernel reaches 0.19 on its own); the engine "
            "versions are the tables' newest (SGLang 0.5.14, vLLM 0.24, TensorRT-LLM 1.3), not the measured runs'; "
            "fp4 experts keep the dense fp4 rate times the engine's Hopper share.",
            "- vLLM's Llama-3.1-70B fp8 runs (held out; InferenceX's imports) read 1.3x their TTFT at most "
            "concurrencies (1.4x at their nominal lengths) while their ITL is within 8 % ('Closed-loop TTFT by data "
            "set'): their prompts run faster "
            "than the fitted fp8 GEMM rate (pinned by TensorRT-LLM's Qwen3-32B runs) and the length-biased wait "
            "for the step in flight say. No vLLM fp8 dense run is in the calibration half; nothing was fitted to them.",
            "- The engines' own servers' request overhead rests on few runs: vLLM's own image and InferenceX's "
            "imports (three held-out models; their median error is flat between about 16 and 21 ms). No trtllm-serve "
            "or SGLang run of its own server is in the data; NIM's ten TensorRT-LLM TTFT rows only say it is not "
            "larger. A run whose front end is not said is planned behind the engine's own server; Dynamo-served runs "
            f"read that way are up to {dynamo_extra_ms():.0f} ms short of their TTFT (the Dynamo values less the "
            "own-server one).",
            "- The front end's delivery ceiling rests on one engine's runs behind one front end (TensorRT-LLM 1.0 "
            "behind Dynamo, mostly Llama-3.1-8B; 'Front ends'), and the share of the longer cycle that goes to TTFT "
            "is an assumption: those runs show part of it in ITL too (10.2 ms measured against 5.9 ms predicted at "
            "TP8 and 128 users), so their TTFT reads up to 2-3x long where it read up to 12x short. vLLM and SGLang "
            "behind Dynamo, and every engine's own server, get no ceiling because no run of theirs in the data "
            "reaches one; a faster GPU running a small model behind such a front end may meet one gpurec does not "
            "know (a calibration on such runs reads it: docs/calibrate.md).",
            "- A row whose `source` names InferenceX or one of its configurations is read as drawn at random lengths "
            "(range ratio 0.8, InferenceX CI's default); of the multi-node srt-slurm recipes InferenceX ships that set "
            "a ratio (@843c6254), 89 say 0.8 and 11 say 1.0, and such a run is predicted at 0.9x its lengths (about 10 % short of its TTFT). A file of "
            "InferenceX runs that does not say so in `source` or `random_range_ratio` (aiconfigurator's "
            "silicon_sample imports, as the shared file has them) is predicted at the nominal lengths.",
            "- Speculative decoding (MTP, EAGLE) is modelled where a row says so (`speculative_tokens`, "
            "`acceptance_length`; docs/estimators.md) but checked against no measured run of this data: the only "
            "MTP runs here, the SGLang DeepSeek-R1 disaggregated rows (recipes NVIDIA/srt-slurm "
            "`recipes/h100/*/mtp/*`: 2 draft tokens), record no acceptance, and their ITL is out of reach of any "
            "acceptance: read with 2 drafts and the default 2.46 accepted tokens they come out 35-73 % fast (with the recipes' workers and batch), and "
            "their 8k-prompt runs (17.8 ms measured at one user against 9.1 ms with 1k prompts) would need fewer than "
            "one accepted token per step, which no speculation gives, so something else (the verify step's "
            "attention over long contexts, likely) slows them. The file does not mark them, so they are read as "
            "plain decoding. A file that does not record speculation predicts an MTP or EAGLE run about its "
            "acceptance length (1.8-3 tokens per step) too slow; 136 of InferenceX's 339 configurations are MTP "
            "variants.",
            "- Launch flags no measurement column records move TTFT: SemiAnalysis InferenceX starts SGLang for "
            "DeepSeek-R1 on B200 with `--scheduler-recv-interval 10` (30 from 16 users) and `--stream-interval 10` "
            "(benchmarks/single_node/fixed_seq_len/dsr1_fp4_b200.sh), and SGLang's SchedulerRecvSkipper then takes "
            "new requests in only every tenth (thirtieth) step while it decodes (a decode step weighs 1 against the "
            "interval, any prefill step enough to receive at once), so a request waits several steps before its "
            "prefill is scheduled. gpurec plans SGLang's default (every step), the engine a user launches without "
            "those flags; on such runs its low-load TTFT reads short by several decode steps.",
            "- The start-up burst term models the benchmark client (all users start at once, R requests each), not "
            "the hardware; the estimator's breakdown reports `ttft_steady` for a server that is already running, "
            "and an open-loop (Poisson) client would see M/D/1-style queueing instead. The shared files do not "
            f"record how many requests each run sent, so R is fitted ({load_constants().benchmark.requests_per_user:.2f}, "
            "InferenceX's runs send 10 per user); a "
            "file with a `num_prompts` column is predicted at each run's own count.",
            "- vLLM's `arrival_wait_steps` sits at its upper bound (2 length-biased steps): the calibration rows wait a "
            "little more than the step in flight explains (cohorts of requests that arrive one step apart, which the "
            "mean-value model does not track). Measured vLLM TTFT does not grow as outputs shorten (more prompts per "
            "step) while the length-biased wait does; a mean (unbiased) step in flight, since closed-loop arrivals "
            "follow completions, fits the calibration rows worse (loss 0.076 to 0.082 or more at every "
            "arrival_wait_steps tried), so it was not adopted.",
            "- ATOM (AMD) has no measurement here: its scheduling follows its code (prefill first, admission on the "
            "prompt's blocks, its defaults) but its overheads and prompt clustering are SGLang's fitted values, a "
            "guess; SGLang's clustering was fitted on fixed-length benchmarks and may overstate TTFT where lengths "
            "vary (InferenceX draws them from [0.8 L, L]).",
            "- `concurrency` is read as the users of the whole deployment, and `tp`, `dp`, `ep` as the layout, "
            "except that a dp or pp > 1 row whose source is aiconfigurator is read at dp x pp x its concurrency, "
            "aiconfigurator's definition of its batch_size (section above). Rows published another way with one "
            "rank's batch as concurrency are planned at 1 / dp of their users, and aiconfigurator's InferenceX rows "
            "that record the GPU count as `tp` and tp x dp as `ep` are planned on dp times their GPUs: gpurec cannot "
            "tell either from the columns. The same source's TensorRT-LLM gpt-oss-120b rows on H100 "
            "(`..._c192_tp4_epnone_1` at batch_size 48, and four more) name tp x batch users without an attention-DP "
            "size; they are read as recorded.",
            "- No aggregated wide-EP deployment (attention DP with experts over more GPUs than one node) is measured "
            "here: the cross-node exchange's fixed cost is half the fitted cross-node all-reduce's, by the "
            "collectives' structure, not a fit; the exchange itself follows the engines' code.",
            "- Attention mechanisms that no project row measures follow the kernels' code, not a fit: MLA decodes in its "
            "absorbed form (compute-bound with many heads per GPU, timed at the fitted attention efficiency; kernels "
            "that pad a rank's heads to a 64-row tile, as FlashMLA versions did, cost more at high TP); a sparse-attention "
            "indexer is timed at the attention kernels' rate although it runs in fp8; DeepSeek-V4's compressed layers "
            "leave out the 128-token window each also attends. The wide-EP exchange is the engine's default (vLLM's "
            "and SGLang's all-gather), which over-states runs that set DeepEP-style backends.",
            "- TensorRT-LLM's request overhead behind Dynamo (99.6 ms, fitted) is a TTFT floor of the gap-analysis "
            "campaign's runs that its one source, ai-dynamo/dynamo issue #5086 (dynamo.trtllm against trtllm-serve), "
            "supports only in kind; behind its own server gpurec uses the shared own-server value (17.3 ms), which no "
            "trtllm-serve run in the project data measures (NIM's are the nearest).",
            "- MoE and MXFP4 rows were never fitted (held out by design); their errors are the honest out-of-sample "
            "figure, and Llama-4 Scout/Maverick saturation throughput is overestimated 1.5-3x. Not by trtllm-bench's "
            "limits (planned as the tool sets them). The tables' page (perf-overview.md @00f37686) runs MoE models "
            "with `--ep` and `enable_attention_dp`, which the rows do not record; planned as attention DP8 with EP8, "
            "Maverick at 1000 in / 1000 out still reads 23.8k tok/s against 9.7k measured. The same page's v0.21 "
            "edition warns that Llama 4 performance on sequences shorter than 8,192 tokens is affected by an issue "
            "introduced in v0.21 and shows v0.20's figures instead (H100 Maverick 128/4096: 11,163 tok/s, "
            "1000/2000: 10,556; the v0.20 page, e.g. the copy in dominicshanshan/TensorRT-LLM @ab4143e1); our rows, "
            "from the 1.0 page, read 6,744 and 9,151 there, so they likely measure that regression. Even v0.20's "
            "figures are 1.8-2.2x below our estimates (19.5k, 23.1k): uniform routing and our interleaved-MoE "
            "layout are optimistic, and no sourced mechanism accounts for the rest.",
            ]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "accuracy.md"))
    args = parser.parse_args(argv)
    text = build_report()
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
