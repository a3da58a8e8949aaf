"""Write tests/fixtures/benchmarks/: benchmark result files CONVERTED from rows of
tests/fixtures/measurements/serving_h100.csv, in the formats gpurec_core/benchmark_files.py reads.

    python scripts/make_benchmark_fixtures.py [--out DIR] [--csv PATH]

Nothing here is measured anew: every latency is a value of a CSV row, and each file says in a
field which rows (and their ``source``) it was converted from. Fields a row cannot supply are left
out (percentiles, medians, timings, request samples); the few the readers need that a row does not
hold directly are derived and the README says how:

* vLLM (vllm/benchmarks/serve.py): written by :func:`gpurec_core.benchmark_files.write_vllm_bench_json`
  (``completed`` chosen as 10 x concurrency and ``num_prompts`` left out, since the rows do not record it;
  token totals = completed x isl/osl).
* GuideLLM 0.7+ (report.py / benchmark.py / metrics.py / statistics.py of guidellm) and GuideLLM
  0.3.1 (benchmark/output.py, benchmark/benchmark.py, objects/statistics.py): only the ``mean`` of
  each distribution; the strategy dicts are what GuideLLM's own ``model_dump`` gives (checked with
  guidellm 0.8.1 and 0.3.1); ``time_per_output_token_ms`` derived from the row's TTFT and ITL with
  GuideLLM's own definition, assuming every request produced exactly ``osl`` tokens.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpurec_core.benchmark_files import write_vllm_bench_json  # noqa: E402
from gpurec_core.validate import read_measurements  # noqa: E402

CSV = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100.csv"
OUT = ROOT / "tests" / "fixtures" / "benchmarks"

#: The configurations converted: one vLLM configuration of Qwen3-32B (bf16, vLLM 0.12.0, H100) each.
QWEN = {"model": "Qwen/Qwen3-32B", "engine": "vllm", "engine_version": "0.12.0", "precision": "bf16", "gpu": "H100"}
VLLM_CONFIG = {**QWEN, "tp": "2", "isl": "1024", "osl": "1024"}
GUIDELLM_V2_CONFIG = {**QWEN, "tp": "2", "isl": "4096", "osl": "128"}
GUIDELLM_V03_CONFIG = {**QWEN, "tp": "4", "isl": "1024", "osl": "128"}

#: file name -> (configuration, concurrencies); each vLLM file holds one run per concurrency.
VLLM_FILES = {
    "vllm_qwen3-32b_tp2_isl1024_osl1024_c8.json": (VLLM_CONFIG, ["8"]),
    "vllm_qwen3-32b_tp2_isl1024_osl1024_c16.json": (VLLM_CONFIG, ["16"]),
    "vllm_qwen3-32b_tp2_isl1024_osl1024_c32_no_gpu.json": (VLLM_CONFIG, ["32"]),
    "vllm_qwen3-32b_tp2_isl1024_osl1024_c64_c128_appended.json": (VLLM_CONFIG, ["64", "128"]),
}
GUIDELLM_V2_FILE = "guidellm_v2_qwen3-32b_tp2_isl4096_osl128.json"
GUIDELLM_V2_CONCURRENCIES = ["8", "16", "32"]
GUIDELLM_V03_FILE = "guidellm_v0.3_qwen3-32b_tp4_isl1024_osl128.json"
GUIDELLM_V03_CONCURRENCIES = ["8", "16", "32"]
MALFORMED_FILE = "malformed.json"
UNKNOWN_FILE = "unknown_shape.json"


def select(rows: list[dict[str, str]], config: dict[str, str], concurrency: str) -> list[dict[str, str]]:
    """The CSV rows of ``config`` at ``concurrency`` (every metric), in file order."""
    found = [r for r in rows if r["concurrency"] == concurrency and all(r[k] == v for k, v in config.items())]
    if not found:
        raise SystemExit(f"no rows of {config} at concurrency {concurrency} in {CSV}")
    return found


def _by_metric(rows: list[dict[str, str]]) -> dict[str, float]:
    return {r["metric"]: float(r["value"]) for r in rows}


def _describe(csv_name: str, config: dict[str, str], concurrencies: list[str], rows: list[dict[str, str]]) -> str:
    sources = " | ".join(sorted({r["source"] for r in rows}))
    metrics = ", ".join(sorted({r["metric"] for r in rows}))
    return (f"{csv_name} rows model={config['model']} engine={config['engine']} {config['engine_version']} "
            f"gpu={config['gpu']} precision={config['precision']} tp={config['tp']} pp=1 ep=1 isl={config['isl']} "
            f"osl={config['osl']} concurrency={','.join(concurrencies)} (metrics {metrics}); row source: {sources}")


def _layout_labels(config: dict[str, str], rows: list[dict[str, str]]) -> dict[str, str]:
    """Layout keys named like vLLM's flags, from the rows' cells (only the non-empty ones)."""
    first = rows[0]
    labels = {"gpu": first["gpu"], "tensor_parallel_size": first["tp"], "pipeline_parallel_size": first["pp"],
              "expert_parallel_size": first["ep"], "precision": first["precision"],
              "kv_cache_dtype": first["kv_cache_dtype"], "engine": first["engine"],
              "engine_version": first["engine_version"]}
    return {k: v for k, v in labels.items() if v}


def write_vllm_files(rows: list[dict[str, str]], out: pathlib.Path, csv_name: str) -> None:
    for name, (config, concurrencies) in VLLM_FILES.items():
        documents = []
        for concurrency in concurrencies:
            group = select(rows, config, concurrency)
            if name.endswith("_no_gpu.json"):  # the same run, saved without --metadata gpu=...
                group = [{**r, "gpu": ""} for r in group]
            target = out / name
            write_vllm_bench_json(group, target, converted_from=_describe(csv_name, config, [concurrency], group))
            documents.append(json.loads(target.read_text(encoding="utf-8")))
        # vllm bench serve --append-result: json.dump of each run, a newline between them (serve.py main_async).
        (out / name).write_text("\n".join(json.dumps(d) for d in documents) + "\n" if len(documents) > 1
                                else json.dumps(documents[0], indent=1) + "\n", encoding="utf-8")


def _summary(mean: float) -> dict[str, Any]:
    """A StatusDistributionSummary holding only what a row gives: the mean of the successful requests."""
    return {"successful": {"mean": mean}}


def write_guidellm_v2(rows: list[dict[str, str]], out: pathlib.Path, csv_name: str) -> None:
    """A GuideLLM 0.7+ benchmarks.json (metadata.version 2), one ``concurrent`` benchmark per concurrency."""
    config = GUIDELLM_V2_CONFIG
    all_rows = [r for c in GUIDELLM_V2_CONCURRENCIES for r in select(rows, config, c)]
    labels = {**_layout_labels(config, all_rows),
              "converted_from": _describe(csv_name, config, GUIDELLM_V2_CONCURRENCIES, all_rows),
              "conversion_note": ("only the mean of each distribution is given (the rows hold means); "
                                  "time_per_output_token_ms.successful.mean is derived with GuideLLM's definition "
                                  "(last_token - request_start) / output_tokens, weighted by output_tokens, as "
                                  "(ttft_ms + (osl - 1) * itl_ms) / osl, assuming every request produced osl tokens; "
                                  "timings, percentiles and request samples are left out, so GuideLLM's own loader "
                                  "would not accept this file")}
    osl = int(config["osl"])
    benchmarks = []
    for index, concurrency in enumerate(GUIDELLM_V2_CONCURRENCIES):
        values = _by_metric(select(rows, config, concurrency))
        metrics: dict[str, Any] = {
            "prompt_token_count": _summary(float(config["isl"])),
            "output_token_count": _summary(float(osl)),
        }
        if "ttft_ms" in values:
            metrics["time_to_first_token_ms"] = _summary(values["ttft_ms"])
        if "ttft_ms" in values and "itl_ms" in values:
            metrics["time_per_output_token_ms"] = _summary((values["ttft_ms"] + (osl - 1) * values["itl_ms"]) / osl)
        if "itl_ms" in values:
            metrics["inter_token_latency_ms"] = _summary(values["itl_ms"])
        if "output_tok_s" in values:
            metrics["output_tokens_per_second"] = _summary(values["output_tok_s"])
        benchmarks.append({
            "type_": "generative_benchmark",
            "config": {
                "run_index": index,
                # ConcurrentStrategy(streams=N).model_dump(mode="json") in guidellm 0.8.1
                "strategy": {"type_": "concurrent", "worker_count": None, "max_concurrency": None,
                             "streams": int(concurrency), "rampup_duration": 0.0},
                "backend": {"kind": "openai_http", "model": config["model"]},
            },
            "metrics": metrics,
        })
    report = {
        "metadata": {"version": 2},
        "config": {
            "metadata": {"labels": labels},
            "spec": {
                "backend": {"kind": "openai_http", "model": config["model"]},
                "profile": {"kind": "concurrent", "streams": [int(c) for c in GUIDELLM_V2_CONCURRENCIES]},
                "data": [{"kind": "synthetic_text", "prompt_tokens": int(config["isl"]), "output_tokens": osl}],
            },
        },
        "benchmarks": benchmarks,
    }
    (out / GUIDELLM_V2_FILE).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def write_guidellm_v03(rows: list[dict[str, str]], out: pathlib.Path, csv_name: str) -> None:
    """A GuideLLM 0.3.1 benchmarks.json (``benchmarks`` only), one ``concurrent`` benchmark per
    concurrency; the layout in each benchmark's ``extras`` (guidellm benchmark --output-extras)."""
    config = GUIDELLM_V03_CONFIG
    all_rows = [r for c in GUIDELLM_V03_CONCURRENCIES for r in select(rows, config, c)]
    osl = int(config["osl"])
    benchmarks = []
    for index, concurrency in enumerate(GUIDELLM_V03_CONCURRENCIES):
        group = select(rows, config, concurrency)
        values = _by_metric(group)
        extras = {**_layout_labels(config, all_rows),
                  "converted_from": _describe(csv_name, config, [concurrency], group),
                  "conversion_note": ("only the mean of each distribution is given (the rows hold means); "
                                      "time_per_output_token_ms.successful.mean is derived with GuideLLM 0.3.1's "
                                      "definition (last_token_time - first_token_time) / output_tokens, weighted by "
                                      "output_tokens, as (osl - 1) / osl * itl_ms, assuming every request produced "
                                      "osl tokens; timings, percentiles and requests are left out, so GuideLLM's own "
                                      "loader would not accept this file")}
        metrics: dict[str, Any] = {
            "prompt_token_count": _summary(float(config["isl"])),
            "output_token_count": _summary(float(osl)),
        }
        if "ttft_ms" in values:
            metrics["time_to_first_token_ms"] = _summary(values["ttft_ms"])
        if "itl_ms" in values:
            metrics["time_per_output_token_ms"] = _summary((osl - 1) / osl * values["itl_ms"])
            metrics["inter_token_latency_ms"] = _summary(values["itl_ms"])
        if "output_tok_s" in values:
            metrics["output_tokens_per_second"] = _summary(values["output_tok_s"])
        benchmarks.append({
            "type_": "generative_benchmark",
            "args": {
                "strategy_index": index,
                # ConcurrentStrategy(streams=N).model_dump() in guidellm 0.3.1, less its start_time timestamp
                "strategy": {"type_": "concurrent", "streams": int(concurrency)},
            },
            "worker": {"type_": "generative_requests_worker", "backend_type": "openai_http",
                       "backend_model": config["model"]},
            "extras": extras,
            "metrics": metrics,
        })
    (out / GUIDELLM_V03_FILE).write_text(json.dumps({"benchmarks": benchmarks}, indent=4, ensure_ascii=False) + "\n",
                                         encoding="utf-8")


def write_bad_files(out: pathlib.Path) -> None:
    first = (out / next(iter(VLLM_FILES))).read_text(encoding="utf-8")
    (out / MALFORMED_FILE).write_text(first[: len(first) // 2], encoding="utf-8")  # a save cut short
    (out / UNKNOWN_FILE).write_text(json.dumps({
        "note": "a JSON document of no benchmark format gpurec reads (no model_id/metrics, no 'benchmarks' list)",
        "runs": [],
    }, indent=1) + "\n", encoding="utf-8")


def write_readme(rows: list[dict[str, str]], out: pathlib.Path, csv_name: str) -> None:
    lines = [
        "# Benchmark result fixtures (generated)",
        "",
        "Written by `python scripts/make_benchmark_fixtures.py`; do not edit by hand. Every file is CONVERTED",
        f"from rows of `tests/fixtures/measurements/{csv_name}` (Qwen/Qwen3-32B, bf16, vLLM 0.12.0, H100; the rows'",
        "source: aiconfigurator-core 0.12.0 systems/silicon_sample.csv, agg mode). Nothing was run: each latency",
        "is a row's value. The field that names the rows: vLLM files `converted_from` (a `--metadata` key),",
        "GuideLLM 0.7+ `config.metadata.labels.converted_from` (a `--label`), GuideLLM 0.3 each benchmark's",
        "`extras.converted_from` (`--output-extras`).",
        "",
        "| file | format | converted from (rows) |",
        "| --- | --- | --- |",
    ]
    for name, (config, concurrencies) in VLLM_FILES.items():
        note = " (no `gpu` metadata: reading it needs `--gpu H100`)" if name.endswith("_no_gpu.json") else ""
        note += " (two runs, `--append-result`)" if len(concurrencies) > 1 else ""
        lines.append(f"| `{name}` | vllm-bench{note} | tp{config['tp']} isl{config['isl']} osl{config['osl']} "
                     f"concurrency {', '.join(concurrencies)} |")
    lines.append(f"| `{GUIDELLM_V2_FILE}` | guidellm-v2 | tp{GUIDELLM_V2_CONFIG['tp']} isl{GUIDELLM_V2_CONFIG['isl']} "
                 f"osl{GUIDELLM_V2_CONFIG['osl']} concurrency {', '.join(GUIDELLM_V2_CONCURRENCIES)} |")
    lines.append(f"| `{GUIDELLM_V03_FILE}` | guidellm (0.2-0.3) | tp{GUIDELLM_V03_CONFIG['tp']} "
                 f"isl{GUIDELLM_V03_CONFIG['isl']} osl{GUIDELLM_V03_CONFIG['osl']} concurrency "
                 f"{', '.join(GUIDELLM_V03_CONCURRENCIES)} |")
    lines.append(f"| `{MALFORMED_FILE}` | (broken) | the first half of `{next(iter(VLLM_FILES))}` |")
    lines.append(f"| `{UNKNOWN_FILE}` | (unknown) | none: a JSON object of no known shape |")
    lines += [
        "",
        "What a row cannot supply:",
        "",
        "- left out: medians, percentiles, standard deviations, durations, timestamps, request samples, the",
        "  server address, dates and tool versions (GuideLLM's own pydantic loader would reject the GuideLLM",
        "  files for that; gpurec reads only the fields its reader names);",
        "- vLLM `completed` = 10 x concurrency is CHOSEN and `num_prompts` left out (the rows do not record it);",
        "  `total_input_tokens`/`total_output_tokens` = completed x isl/osl so that the per-request means",
        "  are the rows' isl/osl; `request_rate` \"inf\", `burstiness` 1.0, `backend` \"openai\" are vLLM's",
        "  defaults for a closed-loop run; `mean_ttft_ms` / `mean_tpot_ms` are the rows' ttft_ms / itl_ms;",
        "- GuideLLM `prompt_token_count`/`output_token_count` means are the rows' isl/osl;",
        "  `time_per_output_token_ms` is DERIVED from the row's TTFT and ITL with GuideLLM's own definition",
        "  (0.4+: (last_token - request_start) / output_tokens -> (ttft + (osl - 1) x itl) / osl; 0.3.1:",
        "  (last_token - first_token) / output_tokens -> (osl - 1) / osl x itl), assuming every request",
        "  produced osl tokens. It differs from `inter_token_latency_ms` on purpose: gpurec's itl_ms must be",
        "  read from `inter_token_latency_ms`, never from TPOT (tests/test_benchmark_files.py checks it);",
        "- the vLLM rows of this configuration have no output_tok_s, so no file has an output throughput.",
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_fixtures(out: pathlib.Path = OUT, csv_path: pathlib.Path = CSV) -> list[pathlib.Path]:
    """Write every fixture into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    _, rows = read_measurements(csv_path)
    before = set(out.iterdir())
    write_vllm_files(rows, out, csv_path.name)
    write_guidellm_v2(rows, out, csv_path.name)
    write_guidellm_v03(rows, out, csv_path.name)
    write_bad_files(out)
    write_readme(rows, out, csv_path.name)
    return sorted(set(out.iterdir()) | before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="folder to write (default: %(default)s)")
    parser.add_argument("--csv", type=pathlib.Path, default=CSV, help="serving CSV to convert (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in write_fixtures(args.out, args.csv):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
