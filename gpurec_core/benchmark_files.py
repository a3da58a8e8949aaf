"""Read users' benchmark result files into gpurec serving rows (``gpurec calibrate FILE...``).

A *serving row* is a plain dict with the columns of gpurec's measurement CSV
(:data:`gpurec_core.validate_serving.SERVING_COLUMNS`: ``model, model_path, checkpoint, precision,
kv_cache_dtype, engine, engine_version, gpu, tp, pp, ep, isl, osl, concurrency, metric, value,
source``, plus ``dp`` when a data-parallel size is known), one row per metric (``ttft_ms``,
``itl_ms``, ``output_tok_s``), every value a string as :func:`gpurec_core.validate.read_measurements`
gives it. :func:`read_benchmark_file` tells the format from the content (:func:`detect_format`):

``vllm-bench``
    ``vllm bench serve --save-result`` JSON. Source: vLLM ``vllm/benchmarks/serve.py``
    (``main_async`` builds ``result_json``: ``date, endpoint_type, backend, label, model_id,
    tokenizer_id, num_prompts``, then every ``--metadata KEY=VALUE`` as a top-level string, then
    ``request_rate`` (a number or ``"inf"``), ``burstiness``, ``max_concurrency`` (None without
    ``--max-concurrency``), then ``benchmark()``'s result: ``completed, failed,
    total_input_tokens, total_output_tokens, output_throughput, ...`` and, per
    ``process_one_metric``, ``mean_/median_/std_/pNN_`` of ``ttft``, ``tpot`` and ``itl`` in ms).
    ``--append-result`` appends one more JSON document per run to the same file (a newline
    between them): every document becomes its own group of rows. The older
    ``benchmarks/benchmark_serving.py`` writes the same keys.
``guidellm-v2``
    GuideLLM's ``benchmarks.json`` from release 0.4 on. Source: guidellm
    ``src/guidellm/benchmark/schemas/report.py`` (``GenerativeBenchmarksReport``: ``metadata``
    (``version`` 2 from 0.7, 1 in 0.5-0.6), ``config`` (``BenchmarkScenario`` whose
    ``metadata.labels`` hold ``guidellm run --label KEY=VALUE``), ``benchmarks``),
    ``schemas/benchmark.py`` (``GenerativeBenchmark``: ``config.strategy``, ``metrics``),
    ``schemas/base.py`` (``BenchmarkConfig.backend`` is the backend's ``info``, with ``model``),
    ``schemas/metrics.py`` (``GenerativeMetrics``) and ``src/guidellm/schemas/statistics.py``
    (``StatusDistributionSummary``: ``successful/errored/incomplete/total``, each a
    ``DistributionSummary`` with ``mean, median, ...``).
``guidellm``
    The report of GuideLLM 0.2-0.3. Source: guidellm v0.3.1 ``src/guidellm/benchmark/output.py``
    (``GenerativeBenchmarksReport``: ``benchmarks`` only), ``src/guidellm/benchmark/benchmark.py``
    (``GenerativeBenchmark``: ``args.strategy``, ``worker.backend_model``, ``extras`` from
    ``guidellm benchmark --output-extras JSON``, ``metrics``), ``src/guidellm/objects/statistics.py``.
``gpurec-csv``
    gpurec's own serving measurement CSV, read by :func:`gpurec_core.validate.read_measurements`
    and passed through (its extra columns kept).

Statistics. gpurec's TTFT and ITL are means (``PerformanceEstimate`` in ``gpurec_core/models.py``:
"mean TTFT", "mean time between output tokens"; ``e2e_latency_ms`` = TTFT + (output_length - 1) x
ITL), so the mean of each file is read; only a vLLM file without a mean falls back to its median,
and the row's ``source`` says which field it is. A mean of exactly 0 is "not measured": vLLM
writes ``np.mean(ttfts or 0)`` when the endpoint does not stream, GuideLLM ``value or 0.0``.

The ITL trap. gpurec's ITL is the mean gap between output tokens after the first, which is
vLLM's TPOT (``calculate_metrics``: ``tpot = (latency - ttft) / (output_len - 1)``) and GuideLLM's
``inter_token_latency_ms`` (``request_stats.py``: ``1000 * (last_token - first_token) /
(output_tokens - 1)``, "excluding first token"). GuideLLM's ``time_per_output_token_ms`` is another
quantity: ``1000 * (last_token - start) / output_tokens`` "including first token" from 0.4 on, and
``(last_token_time - first_token_time) / output_tokens`` in 0.3.1 (``benchmark.py``): it is never
read as ``itl_ms``. vLLM's ``mean_itl_ms`` averages the gaps between streamed chunks (``itls +=
outputs[i].itl``), so it is only the fallback when ``mean_tpot_ms`` is missing: with several tokens
per chunk (speculative decoding, a stream interval) it is larger than the gap per token.

Concurrency. gpurec's estimates are for a closed loop of ``concurrency`` users. A vLLM run is one
when it has ``max_concurrency`` and no request rate (``"inf"``, the default) nor ramp-up; a GuideLLM
benchmark when its strategy is ``synchronous`` (1 user), ``concurrent`` (``streams``) or
``throughput`` with ``max_concurrency``. ``constant``/``poisson`` rate benchmarks of a GuideLLM
report are skipped (a warning names them); a file with nothing closed-loop is an error.

Layout. vLLM and GuideLLM do not record the deployment; it comes from metadata named like vLLM's
flags (``gpu, tensor_parallel_size, pipeline_parallel_size, data_parallel_size,
expert_parallel_size, precision, kv_cache_dtype, engine, engine_version, model``; the short
``tp, pp, dp, ep`` and hyphenated spellings too): vLLM's ``--metadata KEY=VALUE``, GuideLLM's
``--label KEY=VALUE`` (0.7+) or ``--output-extras '{"KEY": "VALUE"}'`` (0.2-0.3). ``overrides``
(the calibrate command's flags, same keys) win over the file. A GPU and a tensor-parallel size are
required; ``engine`` defaults to ``vllm`` (``sglang``/``trtllm`` when vLLM's ``--backend`` says
so) and the row's ``source`` says it was assumed. ``overrides['concurrency']`` only fills the
concurrency of a vLLM run that has none (a request-rate run): it never replaces a recorded one.

Every problem is a one-line :class:`gpurec_core.errors.MeasurementFileError` that names the file
and, when a flag would fix it, the flag.
"""

from __future__ import annotations

import json
import math
import pathlib
import warnings
from typing import Any, Iterable, Optional, Union

from gpurec_core.bounded_read import MAX_JSON_DEPTH, json_depth, open_regular_file
from gpurec_core.errors import MeasurementFileError, one_line
from gpurec_core.measurement_cells import frontend_name, whole_number
from gpurec_core.models import FRONTENDS
from gpurec_core.validate_serving import SERVING_COLUMNS, SERVING_METRICS

__all__ = ["FORMATS", "OVERRIDE_KEYS", "MAX_BENCHMARK_FILE_BYTES", "detect_format", "read_benchmark_file",
           "write_vllm_bench_json"]

PathLike = Union[str, pathlib.Path]

FORMATS = ("vllm-bench", "guidellm", "guidellm-v2", "gpurec-csv")

MAX_BENCHMARK_FILE_BYTES = 128 * 2**20
"""Largest file read. A summary is a few KiB; vLLM's ``--save-detailed`` and GuideLLM's request
samples (generated texts) make them larger, but not this large for any run worth calibrating on."""

#: override key -> (row column, the calibrate flag that sets it, an example value)
_LAYOUT = {
    "model": ("model", "--model", "ORG/NAME"),
    "gpu": ("gpu", "--gpu", "H100"),
    "tensor_parallel_size": ("tp", "--tensor-parallel-size", "2"),
    "pipeline_parallel_size": ("pp", "--pipeline-parallel-size", "1"),
    "data_parallel_size": ("dp", "--data-parallel-size", "1"),
    "expert_parallel_size": ("ep", "--expert-parallel-size", "1"),
    "precision": ("precision", "--precision", "fp8"),
    "kv_cache_dtype": ("kv_cache_dtype", "--kv-cache-dtype", "fp8"),
    "engine": ("engine", "--engine", "vllm"),
    "engine_version": ("engine_version", "--engine-version", "0.11.0"),
    "frontend": ("frontend", "--frontend", "dynamo"),
}
OVERRIDE_KEYS = tuple(_LAYOUT) + ("concurrency",)
_SIZES = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "expert_parallel_size")
_SHORT = {"tensor_parallel_size": "tp", "pipeline_parallel_size": "pp", "data_parallel_size": "dp",
          "expert_parallel_size": "ep"}
#: vLLM bench serve --backend values that name another engine (vllm/benchmarks/lib/endpoint_request_func.py
#: ASYNC_REQUEST_FUNCS; older releases had "sglang" and "tensorrt-llm").
_BACKEND_ENGINE = {"sglang": "sglang", "tensorrt-llm": "trtllm", "trt": "trtllm"}
_KNOWN = ("vllm bench serve --save-result JSON, a GuideLLM benchmarks.json, or a gpurec serving CSV "
          "(columns model, isl, osl, concurrency, metric, value)")


# ----------------------------------------------------------------------------------------------
# public API


def detect_format(path: PathLike) -> str:
    """'vllm-bench', 'guidellm', 'guidellm-v2' or 'gpurec-csv' for the file at ``path``;
    MeasurementFileError naming the file when it is none of them (or cannot be read)."""
    return _load(pathlib.Path(path))[0]


def read_benchmark_file(path: PathLike, overrides: Optional[dict[str, Any]] = None) -> list[dict[str, str]]:
    """The serving rows of one benchmark result file (format auto-detected, see the module docstring).

    ``overrides`` maps :data:`OVERRIDE_KEYS` to values given on the command line (None: not
    given); they win over what the file records. Raises MeasurementFileError (one line, naming the
    file and the flag that would fix it) for a file that is not a known format, is malformed, or
    lacks a field no flag supplies.
    """
    path = pathlib.Path(path)
    given = _clean_overrides(path, overrides or {})
    fmt, payload = _load(path)
    if fmt == "vllm-bench":
        return _rows_vllm_bench(path, payload, given)
    if fmt == "guidellm-v2":
        return _rows_guidellm(path, payload, given, v2=True)
    if fmt == "guidellm":
        return _rows_guidellm(path, payload, given, v2=False)
    return _rows_gpurec_csv(path, payload, given)


def write_vllm_bench_json(rows: Iterable[dict[str, Any]], path: PathLike, *, converted_from: Optional[str] = None,
                          num_prompts: Optional[int] = None) -> pathlib.Path:
    """Write the serving rows of ONE configuration at ONE numeric concurrency as a ``vllm bench
    serve --save-result`` JSON that :func:`read_benchmark_file` reads back to the same rows (the
    inverse of the reader; ``source`` aside). Key order and types follow vLLM's
    ``vllm/benchmarks/serve.py`` ``main_async``.

    What the rows hold is written; what they do not is left out or marked as chosen:

    * ``ttft_ms`` -> ``mean_ttft_ms``, ``itl_ms`` -> ``mean_tpot_ms`` (the per-token gap, see the
      module docstring), ``output_tok_s`` -> ``output_throughput``. No medians, percentiles,
      ``duration`` or ``mean_itl_ms``: a row holds one mean.
    * The layout goes in ``--metadata``-style top-level strings (``gpu``, ``tensor_parallel_size``,
      ...; only the non-empty cells), with ``model``/``checkpoint`` when they differ from
      ``model_id``, and ``converted_from`` (default: the rows' configuration and their ``source``).
    * ``num_prompts``, the requests the run sent, is written when known (the argument, else the rows'
      ``num_prompts`` cell) and left out when not, so the reader does not take it for a measurement;
      ``completed`` is that count, else 10 x concurrency, CHOSEN; ``total_input_tokens``/
      ``total_output_tokens`` = completed x isl/osl, so the reader's per-request means are the rows'
      isl/osl. The key ``conversion_note`` says which in the file.
    * ``request_rate`` ``"inf"``, ``burstiness`` 1.0, ``backend``/``endpoint_type`` ``"openai"``,
      ``label`` null, ``tokenizer_id`` = ``model_id``: vLLM's defaults for a closed-loop run.

    Raises ValueError for rows of several configurations, a repeated or unknown metric, or a
    concurrency that is not a whole number (``max`` rows have no vLLM bench equivalent).
    """
    rows = [dict(r) for r in rows]
    if not rows:
        raise ValueError("write_vllm_bench_json: no rows")
    keys = [c for c in SERVING_COLUMNS if c not in ("metric", "value", "source")] + ["dp", "num_prompts"]
    first = rows[0]
    for row in rows[1:]:
        differ = [k for k in keys if _text(row.get(k)) != _text(first.get(k))]
        if differ:
            raise ValueError(f"write_vllm_bench_json: rows of several configurations (they differ in {differ[0]!r})")
    metrics: dict[str, str] = {}
    for row in rows:
        metric = _text(row.get("metric"))
        if metric not in SERVING_METRICS:
            raise ValueError(f"write_vllm_bench_json: unknown metric {metric!r}")
        if metric in metrics:
            raise ValueError(f"write_vllm_bench_json: metric {metric!r} given twice")
        metrics[metric] = _text(row.get("value"))
    try:
        concurrency = whole_number(_text(first.get("concurrency")))
        isl, osl = whole_number(_text(first.get("isl"))), whole_number(_text(first.get("osl")))
    except ValueError:
        raise ValueError("write_vllm_bench_json: isl, osl and concurrency must be whole numbers >= 1 (a vLLM bench "
                         f"run has no 'max' concurrency); got {first.get('isl')!r}, {first.get('osl')!r}, "
                         f"{first.get('concurrency')!r}") from None
    if num_prompts is None and _text(first.get("num_prompts")):
        num_prompts = whole_number(_text(first.get("num_prompts")))
    completed = int(num_prompts) if num_prompts is not None else 10 * concurrency
    if completed < 1:
        raise ValueError("write_vllm_bench_json: num_prompts must be >= 1")
    model, checkpoint = _text(first.get("model")), _text(first.get("checkpoint"))
    model_id = checkpoint or model or _text(first.get("model_path"))
    if converted_from is None:
        sources = sorted({_text(r.get("source")) for r in rows if _text(r.get("source"))})
        converted_from = (f"gpurec serving rows {model or model_id} {_text(first.get('engine'))} "
                          f"{_text(first.get('engine_version'))} {_text(first.get('gpu'))} tp{_text(first.get('tp'))} "
                          f"isl{isl} osl{osl} concurrency {concurrency}; their source: {' | '.join(sources) or 'none given'}")
    result: dict[str, Any] = {
        "endpoint_type": "openai", "backend": "openai", "label": None, "model_id": model_id, "tokenizer_id": model_id,
    }
    if num_prompts is not None:
        result["num_prompts"] = completed
    # --metadata KEY=VALUE: serve.py stores each value as a stripped string.
    if model and model != model_id:
        result["model"] = model
    if checkpoint != model_id:
        result["checkpoint"] = checkpoint
    if _text(first.get("model_path")):
        result["model_path"] = _text(first.get("model_path"))
    for key, (column, _flag, _example) in _LAYOUT.items():
        if key != "model" and _text(first.get(column)):
            result[key] = _text(first.get(column))
    result["converted_from"] = converted_from
    counted = ("num_prompts/completed is the rows' request count" if num_prompts is not None else
               f"completed ({completed}) is chosen, not measured, and num_prompts left out: the rows do not say how "
               "many requests ran")
    result["conversion_note"] = (f"written by gpurec_core.benchmark_files.write_vllm_bench_json: {counted}; token "
                                 "totals are completed x isl/osl; mean_ttft_ms/mean_tpot_ms/output_throughput are the "
                                 "rows' ttft_ms/itl_ms/output_tok_s")
    result.update({"request_rate": "inf", "burstiness": 1.0, "max_concurrency": concurrency,
                   "completed": completed, "total_input_tokens": completed * isl, "total_output_tokens": completed * osl})
    if "output_tok_s" in metrics:
        result["output_throughput"] = float(metrics["output_tok_s"])
    if "ttft_ms" in metrics:
        result["mean_ttft_ms"] = float(metrics["ttft_ms"])
    if "itl_ms" in metrics:
        result["mean_tpot_ms"] = float(metrics["itl_ms"])
    path = pathlib.Path(path)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------
# loading and format detection


def _load(path: pathlib.Path) -> tuple[str, Any]:
    """(format, payload): the JSON documents (vllm-bench: a list of dicts; GuideLLM: the report
    dict) or (header, rows) of a CSV."""
    if not path.exists():
        raise MeasurementFileError(f"{path}: no such file")
    with open_regular_file(path, MeasurementFileError) as (handle, size):
        if size > MAX_BENCHMARK_FILE_BYTES:
            raise MeasurementFileError(f"{path}: {size:,} bytes, more than the {MAX_BENCHMARK_FILE_BYTES:,} read; save "
                                       "the run without per-request detail (vllm bench serve without --save-detailed, "
                                       "GuideLLM with a smaller sample size)")
        raw = handle.read(MAX_BENCHMARK_FILE_BYTES + 1)
    if len(raw) > MAX_BENCHMARK_FILE_BYTES:
        raise MeasurementFileError(f"{path}: grew past {MAX_BENCHMARK_FILE_BYTES:,} bytes while it was read")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise MeasurementFileError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); expected {_KNOWN}") from None
    stripped = text.lstrip()
    if not stripped:
        raise MeasurementFileError(f"{path}: empty file; expected {_KNOWN}")
    if stripped[0] in "{[":
        docs = _json_documents(path, text)
        return _json_format(path, docs)
    first_line = stripped.splitlines()[0]
    columns = {c.strip().strip('"').lower() for c in first_line.split(",")}
    if {"metric", "value"} <= columns:
        from gpurec_core.validate import detect_kind, read_measurements

        header, rows = read_measurements(path)
        kind = detect_kind(header, path)
        if kind != "serving":
            raise MeasurementFileError(f"{path}: a gpurec {kind} measurement CSV; calibration reads serving rows "
                                       "(columns isl, osl, concurrency, metric ttft_ms/itl_ms/output_tok_s)")
        return "gpurec-csv", (header, rows)
    if path.suffix.lower() in (".yaml", ".yml"):
        raise MeasurementFileError(f"{path}: YAML is not read; save the GuideLLM report as JSON (benchmarks.json)")
    raise MeasurementFileError(f"{path}: not a benchmark result gpurec reads; expected {_KNOWN}")


def _json_documents(path: pathlib.Path, text: str) -> list[Any]:
    """Every JSON document in ``text`` (one, or several written by vLLM's --append-result)."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise MeasurementFileError(f"{path}: nests arrays or objects more than {MAX_JSON_DEPTH} deep; not a benchmark "
                                   f"result (expected {_KNOWN})")
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    index = 0
    try:
        while True:
            while index < len(text) and text[index].isspace():
                index += 1
            if index >= len(text):
                break
            value, index = decoder.raw_decode(text, index)
            docs.append(value)
    except json.JSONDecodeError as err:
        raise MeasurementFileError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                                   "was the run cut short? save it again") from None
    except RecursionError:
        raise MeasurementFileError(f"{path}: nests arrays or objects too deep; not a benchmark result") from None
    except ValueError:  # an integer longer than Python's digit limit
        raise MeasurementFileError(f"{path}: holds an integer too long to read; not a benchmark result") from None
    return docs


def _is_vllm_record(doc: Any) -> bool:
    return (isinstance(doc, dict) and ("model_id" in doc or "completed" in doc)
            and any(k in doc for k in ("mean_ttft_ms", "median_ttft_ms", "mean_tpot_ms", "median_tpot_ms",
                                       "mean_itl_ms", "median_itl_ms", "output_throughput")))


def _json_format(path: pathlib.Path, docs: list[Any]) -> tuple[str, Any]:
    if len(docs) == 1 and isinstance(docs[0], dict) and "benchmarks" in docs[0]:
        report = docs[0]
        benchmarks = report["benchmarks"]
        if not isinstance(benchmarks, list) or not benchmarks or not all(isinstance(b, dict) for b in benchmarks):
            raise MeasurementFileError(f"{path}: a GuideLLM report whose 'benchmarks' is "
                                       f"{'empty' if benchmarks == [] else 'not a list of benchmarks'}; nothing to read")
        first = benchmarks[0]
        if isinstance(first.get("config"), dict) and "strategy" in first["config"]:
            return "guidellm-v2", report
        if isinstance(first.get("args"), dict) and "strategy" in first["args"]:
            return "guidellm", report
        raise MeasurementFileError(f"{path}: a 'benchmarks' list whose entries have neither config.strategy (GuideLLM "
                                   "0.4+) nor args.strategy (GuideLLM 0.2-0.3); not a GuideLLM report gpurec reads")
    if docs and all(_is_vllm_record(d) for d in docs):
        return "vllm-bench", docs
    if len(docs) == 1 and isinstance(docs[0], list) and docs[0] and all(isinstance(d, dict) and "benchmark" in d
                                                                          for d in docs[0]):
        raise MeasurementFileError(f"{path}: a PyTorch-benchmark-format copy (*.pytorch.json); give the vllm bench "
                                   "serve result file it was written beside")
    raise MeasurementFileError(f"{path}: JSON of an unknown shape; expected {_KNOWN}")


# ----------------------------------------------------------------------------------------------
# shared helpers


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number_text(value: float) -> str:
    """A value as the CSV would hold it: '19658' for a whole number, else Python's shortest repr."""
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _clean_overrides(path: pathlib.Path, overrides: dict[str, Any]) -> dict[str, str]:
    unknown = [k for k in overrides if k not in OVERRIDE_KEYS]
    if unknown:
        raise ValueError(f"unknown override {unknown[0]!r}; known: {', '.join(OVERRIDE_KEYS)}")
    given = {k: _text(v) for k, v in overrides.items() if v is not None and _text(v)}
    for key in _SIZES + ("concurrency",):
        if key in given:
            try:
                given[key] = str(whole_number(given[key]))
            except ValueError:
                flag = _LAYOUT[key][1] if key in _LAYOUT else "--concurrency"
                raise MeasurementFileError(f"{path}: {flag} {given[key]!r} is not a whole number >= 1") from None
    return given


def _lookup(meta: dict[str, Any], key: str) -> str:
    """The metadata value of ``key`` under its vLLM-flag name, its hyphenated spelling or its short name."""
    for name in (key, key.replace("_", "-"), _SHORT.get(key)):
        if name and name in meta and _text(meta[name]):
            return _text(meta[name])
    return ""


def _layout(where: str, meta: dict[str, Any], given: dict[str, str], how: str,
            default_engine: str = "vllm") -> tuple[dict[str, str], list[str]]:
    """Row columns of the deployment from the file's metadata and the overrides (which win), and
    notes for ``source``. ``how`` tells how to record KEY=VALUE with the benchmark tool, e.g.
    ``"vllm bench serve --metadata {k}={v}"``."""
    columns: dict[str, str] = {}
    notes: list[str] = []
    for key, (column, flag, example) in _LAYOUT.items():
        if key == "model":
            continue
        value = given.get(key) or _lookup(meta, key)
        if key in _SIZES and value:
            try:
                value = str(whole_number(value))
            except ValueError:
                raise MeasurementFileError(f"{where}: {key} {value!r} is not a whole number >= 1; pass {flag} N (or "
                                           f"{how.format(k=key, v='N')})") from None
        if not value and key == "gpu":
            raise MeasurementFileError(f"{where}: no GPU recorded; pass {flag} {example} (or {how.format(k=key, v=example)})")
        if not value and key == "tensor_parallel_size":
            raise MeasurementFileError(f"{where}: no tensor-parallel size recorded; pass {flag} N (or "
                                       f"{how.format(k=key, v='N')}; 1 for a single GPU)")
        if not value and key == "engine":
            value = default_engine
            notes.append(f"engine not recorded, assumed {default_engine}")
        if key in ("data_parallel_size", "frontend") and not value:
            continue  # optional columns appear only when known (no frontend: the engine's own server)
        if key == "frontend":
            try:
                value = frontend_name(value)
            except ValueError:
                raise MeasurementFileError(f"{where}: frontend {value!r} is not one of {', '.join(FRONTENDS)}; pass "
                                           f"{flag} {example} (or {how.format(k=key, v=example)})") from None
        columns[column] = value
    return columns, notes


def _row(model: str, model_path: str, checkpoint: str, layout: dict[str, str], isl: int, osl: int,
         concurrency: Union[int, str], metric: str, value: float, source: str,
         num_prompts: Optional[int] = None) -> dict[str, str]:
    row = {"model": model, "model_path": model_path, "checkpoint": checkpoint}
    if num_prompts is not None:
        row["num_prompts"] = str(num_prompts)
    for column in ("precision", "kv_cache_dtype", "engine", "engine_version", "gpu", "tp", "pp"):
        row[column] = layout.get(column, "")
    for column in ("dp", "frontend"):
        if column in layout:
            row[column] = layout[column]
    row.update({"ep": layout.get("ep", ""), "isl": str(isl), "osl": str(osl), "concurrency": str(concurrency),
                "metric": metric, "value": _number_text(value), "source": one_line(source)})
    return row


def _finite(path: pathlib.Path, where: str, value: Any) -> Optional[float]:
    """``value`` as a finite float >= 0, None when absent; MeasurementFileError when it is not a number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise MeasurementFileError(f"{path}: {where} is {value!r}, not a number; the file is damaged") from None
        else:
            raise MeasurementFileError(f"{path}: {where} is {type(value).__name__}, not a number; the file is damaged")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise MeasurementFileError(f"{path}: {where} is {value}, not a finite number >= 0; the file is damaged")
    return value


def _mean_length(path: pathlib.Path, where: str, total: Optional[float], count: Optional[float]) -> Optional[int]:
    if total is None or not count:
        return None
    length = round(total / count)
    if length < 1:
        raise MeasurementFileError(f"{path}: {where} averages {total / count:.2f} tokens per request; a serving row "
                                   "needs at least 1")
    return length


# ----------------------------------------------------------------------------------------------
# vllm bench serve --save-result


def _rows_vllm_bench(path: pathlib.Path, records: list[dict], given: dict[str, str]) -> list[dict[str, str]]:
    """Rows of each ``vllm bench serve`` record. Mapping (vllm/benchmarks/serve.py -> gpurec column):

    - ``model_id`` -> ``checkpoint``, and ``model`` unless ``--metadata model=`` names the base model;
    - ``--metadata gpu / tensor_parallel_size / pipeline_parallel_size / data_parallel_size /
      expert_parallel_size / precision / kv_cache_dtype / engine / engine_version`` -> ``gpu, tp, pp,
      dp, ep, precision, kv_cache_dtype, engine, engine_version``;
    - ``round(total_input_tokens / completed)`` -> ``isl`` (serve.py saves no input length; else
      ``--metadata input_len=``), ``round(total_output_tokens / completed)`` -> ``osl``;
    - ``max_concurrency`` with ``request_rate`` ``"inf"`` -> ``concurrency``;
    - ``num_prompts`` -> ``num_prompts``, the requests the run sent;
    - ``mean_ttft_ms`` (else ``median_ttft_ms``) -> ``ttft_ms``;
    - ``mean_tpot_ms`` (else ``mean_itl_ms``, ``median_tpot_ms``, ``median_itl_ms``) -> ``itl_ms``;
    - ``output_throughput`` (total output tokens / benchmark duration) -> ``output_tok_s`` of the
      whole deployment at that concurrency.
    """

    rows: list[dict[str, str]] = []
    how = "vllm bench serve --metadata {k}={v}"
    for index, record in enumerate(records):
        where = str(path) if len(records) == 1 else f"{path}: run {index + 1} of {len(records)}"
        rows += _vllm_record_rows(path, where, record, given, how, len(records))
    return rows


def _vllm_record_rows(path: pathlib.Path, where: str, record: dict, given: dict[str, str], how: str,
                      n_records: int) -> list[dict[str, str]]:
    model_id = _text(record.get("model_id"))
    checkpoint = _text(record["checkpoint"]) if "checkpoint" in record else model_id
    model = given.get("model") or _text(record.get("model")) or model_id
    if not model:
        raise MeasurementFileError(f"{where}: no model recorded (model_id is empty); pass --model ORG/NAME")
    if "tokenizer_id" in record and record["tokenizer_id"] is None:
        raise MeasurementFileError(f"{where}: saved without a tokenizer (--skip-tokenizer-init): its token counts and "
                                   "latencies per token are not measured; run vllm bench serve with a tokenizer")
    backend = _text(record.get("backend") or record.get("endpoint_type")).lower()
    layout, notes = _layout(where, record, given, how, _BACKEND_ENGINE.get(backend, "vllm"))

    completed = _finite(path, "completed", record.get("completed"))
    isl = _mean_length(path, "total_input_tokens / completed",
                       _finite(path, "total_input_tokens", record.get("total_input_tokens")), completed)
    osl = _mean_length(path, "total_output_tokens / completed",
                       _finite(path, "total_output_tokens", record.get("total_output_tokens")), completed)
    for name, key, value in (("input", "isl", isl), ("output", "osl", osl)):
        if value is None:
            recorded = _lookup(record, f"{name}_len") or _lookup(record, f"random_{name}_len")
            try:
                value = whole_number(recorded) if recorded else None
            except ValueError:
                value = None
            if value is None:
                raise MeasurementFileError(f"{where}: no completed requests nor {name} length recorded; pass "
                                           f"vllm bench serve --metadata {name}_len=N (or rerun: "
                                           f"{'completed is 0' if completed == 0 else 'total_' + name + '_tokens is missing'})")
            if key == "isl":
                isl = value
            else:
                osl = value
    assert isl is not None and osl is not None

    concurrency = _vllm_concurrency(where, record, given)
    sent = _sent_requests(path, record)
    date = _text(record.get("date"))
    base = f"vllm bench serve result {path.name}" + (f" ({date})" if date else "")
    if n_records > 1:
        base += f", max_concurrency {concurrency}"
    tail = "".join(f"; {n}" for n in notes)
    if _text(record.get("converted_from")):
        tail += f"; converted from {_text(record.get('converted_from'))}"

    picks = (("ttft_ms", ("mean_ttft_ms", "median_ttft_ms")),
             ("itl_ms", ("mean_tpot_ms", "mean_itl_ms", "median_tpot_ms", "median_itl_ms")),
             ("output_tok_s", ("output_throughput",)))
    rows = []
    for metric, keys in picks:
        for rank, key in enumerate(keys):
            value = _finite(path, key, record.get(key))
            if value:  # 0: not measured (serve.py: np.mean(ttfts or 0) when nothing streamed)
                why = "" if rank == 0 else f" ({' and '.join(keys[:rank])} not saved)"
                rows.append(_row(model, _text(record.get("model_path")), checkpoint, layout, isl, osl, concurrency,
                                 metric, value, f"{base}: {key}{why}{tail}", sent))
                break
    if not rows:
        raise MeasurementFileError(f"{where}: no TTFT, TPOT/ITL or output throughput in it (or all 0); run vllm bench "
                                   "serve with a tokenizer, a streaming endpoint and the default --percentile-metrics")
    return rows


def _sent_requests(path: pathlib.Path, record: dict) -> Optional[int]:
    """The requests the run sent: ``num_prompts`` (serve.py saves its --num-prompts); None when absent
    or not a whole number >= 1 (``completed`` counts the successful ones only)."""
    number = _finite(path, "num_prompts", record.get("num_prompts"))
    if number is not None and number >= 1 and number == int(number):
        return int(number)
    return None


def _vllm_concurrency(where: str, record: dict, given: dict[str, str]) -> int:
    raw_rate = record.get("request_rate", "inf")
    rate = _text(raw_rate).lower()
    open_loop = rate not in ("", "inf", "infinity", "none") or record.get("ramp_up_strategy")
    max_concurrency = record.get("max_concurrency")
    if max_concurrency is not None and not open_loop:
        try:
            return whole_number(_text(max_concurrency))
        except ValueError:
            raise MeasurementFileError(f"{where}: max_concurrency {max_concurrency!r} is not a whole number >= 1") from None
    if "concurrency" in given:
        return int(given["concurrency"])
    what = (f"request_rate {raw_rate}" if rate not in ("", "inf", "infinity", "none") else "a ramp-up"
            if record.get("ramp_up_strategy") else "request_rate inf")
    cap = f", max_concurrency {max_concurrency}" if max_concurrency is not None else ", no max_concurrency"
    raise MeasurementFileError(f"{where}: an open-loop run ({what}{cap}); gpurec's estimates are for a closed loop of N "
                               "users: rerun vllm bench serve with --max-concurrency N (and no --request-rate), or "
                               "pass --concurrency N to read it as N users")


# ----------------------------------------------------------------------------------------------
# GuideLLM benchmarks.json


def _strategy_concurrency(strategy: Any) -> tuple[Optional[int], str]:
    """(closed-loop users or None, a label) for a GuideLLM strategy dict (scheduler/strategies.py;
    v0.3.1 scheduler/strategy.py)."""
    if not isinstance(strategy, dict):
        return None, "unknown"
    kind = _text(strategy.get("type_")) or "unknown"
    try:
        if kind == "synchronous":
            return 1, kind
        if kind == "concurrent":
            streams = whole_number(_text(strategy.get("streams")))
            return streams, f"concurrent@{streams}"
        if kind == "throughput" and strategy.get("max_concurrency") is not None:
            cap = whole_number(_text(strategy.get("max_concurrency")))
            return cap, f"throughput@{cap}"
    except ValueError:
        return None, f"{kind} (unreadable size)"
    if kind in ("constant", "poisson", "async") and strategy.get("rate") is not None:
        return None, f"{kind}@{strategy.get('rate')}"
    return None, kind if kind != "throughput" else "throughput (unlimited)"


def _stat(path: pathlib.Path, where: str, metrics: dict, name: str, field: str = "mean") -> Optional[float]:
    """``metrics[name].successful[field]`` (a StatusDistributionSummary), None when absent."""
    summary = metrics.get(name)
    if summary is None:
        return None
    if not isinstance(summary, dict) or not isinstance(summary.get("successful"), dict):
        raise MeasurementFileError(f"{path}: {where} metrics.{name} has no 'successful' distribution; the file is damaged")
    return _finite(path, f"{where} metrics.{name}.successful.{field}", summary["successful"].get(field))


def _rows_guidellm(path: pathlib.Path, report: dict, given: dict[str, str], v2: bool) -> list[dict[str, str]]:
    """Rows of each closed-loop benchmark of a GuideLLM report. Mapping (GuideLLM -> gpurec column):

    - ``benchmarks[i].config.strategy`` (0.4+) / ``benchmarks[i].args.strategy`` (0.2-0.3) ->
      ``concurrency``: ``synchronous`` 1, ``concurrent`` ``streams``, ``throughput``
      ``max_concurrency``; other strategies are skipped;
    - ``benchmarks[i].config.backend.model`` (0.4+) / ``benchmarks[i].worker.backend_model`` (0.3)
      -> ``checkpoint`` and ``model`` (a ``model`` label or --model names the base model);
    - ``config.metadata.labels`` (0.7+, ``guidellm run --label``) / ``benchmarks[i].extras`` (0.3,
      ``--output-extras``) -> ``gpu, tp, pp, dp, ep, precision, kv_cache_dtype, engine,
      engine_version`` (keys named like vLLM's flags);
    - ``metrics.prompt_token_count.successful.mean`` (rounded) -> ``isl``;
      ``metrics.output_token_count.successful.mean`` (rounded) -> ``osl``;
    - ``metrics.time_to_first_token_ms.successful.mean`` -> ``ttft_ms``;
    - ``metrics.inter_token_latency_ms.successful.mean`` -> ``itl_ms`` (never
      ``time_per_output_token_ms``, see the module docstring);
    - ``metrics.output_tokens_per_second.successful.mean`` -> ``output_tok_s``.

    The ITL distribution is weighted by ``output_tokens - 1`` per request (``metrics.py``
    ``GenerativeMetrics.compile``; v0.3.1 ``weights=[req.output_tokens - 1 ...]``), so its mean is
    the mean gap over all tokens after the first. ``output_tokens_per_second`` is a rate
    distribution weighted by time (``statistics.py`` ``rate_distribution_from_timings``; v0.3.1
    ``from_iterable_request_times``: ``distribution[count / duration] += duration``), so its mean is
    the output tokens of the successful requests over the measured window: the whole deployment's
    throughput.
    """
    meta_top = report.get("metadata") if isinstance(report.get("metadata"), dict) else {}
    version = _text(meta_top.get("guidellm_version"))
    tool = f"GuideLLM {version}".strip() if version else "GuideLLM"
    labels: dict[str, Any] = {}
    if v2:
        config = report.get("config") if isinstance(report.get("config"), dict) else {}
        scenario_meta = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
        labels = dict(scenario_meta.get("labels") or {}) if isinstance(scenario_meta.get("labels"), dict) else {}
        labels = {**{k: v for k, v in scenario_meta.items() if k != "labels"}, **labels}
        how = "guidellm run --label {k}={v}"
    else:
        how = "guidellm benchmark --output-extras '{{\"{k}\": \"{v}\"}}'"
    benchmarks = report["benchmarks"]
    rows: list[dict[str, str]] = []
    skipped: list[tuple[int, str]] = []
    for index, bench in enumerate(benchmarks):
        where = f"benchmark {index + 1} of {len(benchmarks)}"
        holder = bench.get("config") if v2 else bench.get("args")
        users, label = _strategy_concurrency(holder.get("strategy") if isinstance(holder, dict) else None)
        if users is None:
            skipped.append((index + 1, label))
            continue
        meta = labels if v2 else (bench.get("extras") if isinstance(bench.get("extras"), dict) else {})
        layout, notes = _layout(str(path), meta, given, how)
        model = given.get("model") or _lookup(meta, "model") or _guidellm_model(report, bench, v2)
        if not model:
            raise MeasurementFileError(f"{path}: {where}: no model recorded; pass --model ORG/NAME (or "
                                       f"{how.format(k='model', v='ORG/NAME')})")
        checkpoint = _lookup(meta, "checkpoint") or _guidellm_model(report, bench, v2) or model
        metrics = bench.get("metrics")
        if not isinstance(metrics, dict):
            raise MeasurementFileError(f"{path}: {where} has no 'metrics'; the file is damaged")
        isl = _mean_length(path, f"{where} metrics.prompt_token_count.successful.mean",
                           _stat(path, where, metrics, "prompt_token_count"), 1)
        osl = _mean_length(path, f"{where} metrics.output_token_count.successful.mean",
                           _stat(path, where, metrics, "output_token_count"), 1)
        if isl is None or osl is None:
            raise MeasurementFileError(f"{path}: {where} ({label}) records no prompt/output token counts of successful "
                                       "requests; it cannot be mapped to input/output lengths")
        tail = "".join(f"; {n}" for n in notes)
        if _text(meta.get("converted_from")):
            tail += f"; converted from {_text(meta.get('converted_from'))}"
        base = f"{tool} report {path.name}, {where} ({label})"
        found = 0
        for metric, name in (("ttft_ms", "time_to_first_token_ms"), ("itl_ms", "inter_token_latency_ms"),
                             ("output_tok_s", "output_tokens_per_second")):
            value = _stat(path, where, metrics, name)
            if value:  # 0: not measured (GuideLLM records `value or 0.0`)
                rows.append(_row(model, _lookup(meta, "model_path"), checkpoint, layout, isl, osl, users, metric, value,
                                 f"{base}: metrics.{name}.successful.mean{tail}"))
                found += 1
        if not found:
            raise MeasurementFileError(f"{path}: {where} ({label}) has no TTFT, ITL or output throughput of successful "
                                       "requests (or all 0); nothing to read")
    if not rows:
        raise MeasurementFileError(f"{path}: none of its {len(benchmarks)} benchmarks ran a fixed number of users "
                                   f"(strategies: {', '.join(label for _, label in skipped)}); gpurec's "
                                   "estimates are closed-loop: run GuideLLM with --profile kind=concurrent,streams=N "
                                   "(0.2-0.3: --rate-type concurrent --rate N) or synchronous")
    if skipped:
        listed = ", ".join(f"{i} ({label})" for i, label in skipped)
        warnings.warn(one_line(f"{path}: skipped GuideLLM benchmark(s) {listed}: they ran no fixed number of users "
                               "(gpurec's estimates are closed-loop)"), UserWarning, stacklevel=3)
    return rows


def _guidellm_model(report: dict, bench: dict, v2: bool) -> str:
    if v2:
        backend = (bench.get("config") or {}).get("backend")
        if isinstance(backend, dict) and _text(backend.get("model")):
            return _text(backend["model"])
        spec = ((report.get("config") or {}).get("spec") or {}) if isinstance(report.get("config"), dict) else {}
        if isinstance(spec, dict) and isinstance(spec.get("backend"), dict):
            return _text(spec["backend"].get("model"))
        args = report.get("args")  # GuideLLM 0.4-0.6: report.args (BenchmarkGenerativeTextArgs)
        return _text(args.get("model")) if isinstance(args, dict) else ""
    worker = bench.get("worker")
    return _text(worker.get("backend_model")) if isinstance(worker, dict) else ""


# ----------------------------------------------------------------------------------------------
# gpurec measurement CSV


def _rows_gpurec_csv(path: pathlib.Path, payload: tuple[list[str], list[dict[str, str]]],
                     given: dict[str, str]) -> list[dict[str, str]]:
    """The serving rows of a gpurec CSV, checked like ``gpurec validate`` checks them
    (:func:`gpurec_core.measurement_cells.check_rows`), every serving column present, other
    columns kept; layout overrides win over the cells (``concurrency`` is not applied: the rows
    record theirs)."""
    from gpurec_core.measurement_cells import check_rows

    header, rows = payload
    check_rows(rows, "serving", str(path))
    out = []
    for row in rows:
        if row.get("metric") not in SERVING_METRICS:
            continue
        full = {c: row.get(c, "") for c in SERVING_COLUMNS}
        full.update({k: v for k, v in row.items() if k not in full})
        for key, (column, _flag, _example) in _LAYOUT.items():
            if key in given:
                full[column] = given[key]
        out.append(full)
    if not out:
        raise MeasurementFileError(f"{path}: no rows of metric {', '.join(SERVING_METRICS)}; nothing to calibrate on")
    return out
