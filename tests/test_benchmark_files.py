"""gpurec_core.benchmark_files: users' vLLM / GuideLLM / gpurec benchmark files -> serving rows.

The fixtures in tests/fixtures/benchmarks/ are converted from rows of
tests/fixtures/measurements/serving_h100.csv by scripts/make_benchmark_fixtures.py; the real figures
asserted are those rows' values. Error cases are small JSON documents written here.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import pathlib
import warnings
from collections import defaultdict

import pytest

from gpurec_core.benchmark_files import (
    OVERRIDE_KEYS,
    detect_format,
    read_benchmark_file,
    write_vllm_bench_json,
)
from gpurec_core.errors import MeasurementFileError
from gpurec_core.validate import read_measurements
from gpurec_core.validate_serving import SERVING_COLUMNS

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "benchmarks"
MEASUREMENTS = ROOT / "tests" / "fixtures" / "measurements"
SERVING_CSV = MEASUREMENTS / "serving_h100.csv"
QWEN = {"model": "Qwen/Qwen3-32B", "engine": "vllm", "engine_version": "0.12.0", "precision": "bf16", "gpu": "H100",
        "pp": "1", "ep": "1"}

VLLM_C8 = FIXTURES / "vllm_qwen3-32b_tp2_isl1024_osl1024_c8.json"
VLLM_C16 = FIXTURES / "vllm_qwen3-32b_tp2_isl1024_osl1024_c16.json"
VLLM_NO_GPU = FIXTURES / "vllm_qwen3-32b_tp2_isl1024_osl1024_c32_no_gpu.json"
VLLM_APPENDED = FIXTURES / "vllm_qwen3-32b_tp2_isl1024_osl1024_c64_c128_appended.json"
GUIDELLM_V2 = FIXTURES / "guidellm_v2_qwen3-32b_tp2_isl4096_osl128.json"
GUIDELLM_V03 = FIXTURES / "guidellm_v0.3_qwen3-32b_tp4_isl1024_osl128.json"
MALFORMED = FIXTURES / "malformed.json"
UNKNOWN = FIXTURES / "unknown_shape.json"

#: fixture -> (format, its rows' configuration, concurrencies, overrides needed to read it)
CONVERTED = {
    VLLM_C8: ("vllm-bench", {**QWEN, "tp": "2", "isl": "1024", "osl": "1024"}, ["8"], {}),
    VLLM_C16: ("vllm-bench", {**QWEN, "tp": "2", "isl": "1024", "osl": "1024"}, ["16"], {}),
    VLLM_NO_GPU: ("vllm-bench", {**QWEN, "tp": "2", "isl": "1024", "osl": "1024"}, ["32"], {"gpu": "H100"}),
    VLLM_APPENDED: ("vllm-bench", {**QWEN, "tp": "2", "isl": "1024", "osl": "1024"}, ["64", "128"], {}),
    GUIDELLM_V2: ("guidellm-v2", {**QWEN, "tp": "2", "isl": "4096", "osl": "128"}, ["8", "16", "32"], {}),
    GUIDELLM_V03: ("guidellm", {**QWEN, "tp": "4", "isl": "1024", "osl": "128"}, ["8", "16", "32"], {}),
}


@pytest.fixture(scope="module")
def csv_rows() -> list[dict[str, str]]:
    return read_measurements(SERVING_CSV)[1]


def source_rows(rows, config, concurrencies):
    return [r for r in rows if r["concurrency"] in concurrencies and all(r[k] == v for k, v in config.items())]


def key(row):
    """Everything but source and value (compared as numbers)."""
    return tuple((c, row.get(c, "")) for c in SERVING_COLUMNS if c not in ("value", "source")) + (("dp", row.get("dp", "")),)


def assert_same_rows(got, expected):
    got_by = {key(r): float(r["value"]) for r in got}
    expected_by = {key(r): float(r["value"]) for r in expected}
    assert len(got_by) == len(got), "duplicate rows read"
    assert got_by == expected_by


def one_line_error(path, overrides=None) -> str:
    with pytest.raises(MeasurementFileError) as info:
        read_benchmark_file(path, overrides)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    return message


def write_json(path: pathlib.Path, value) -> pathlib.Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def vllm_record(**changes):
    record = json.loads(VLLM_C8.read_text(encoding="utf-8"))
    for k, v in changes.items():
        if v is ...:
            record.pop(k, None)
        else:
            record[k] = v
    return record


# --- every converted fixture reads back to the rows it was converted from -----------------------


@pytest.mark.parametrize("path", list(CONVERTED), ids=lambda p: p.name)
def test_fixture_rows_equal_their_source_rows(path, csv_rows):
    fmt, config, concurrencies, overrides = CONVERTED[path]
    assert detect_format(path) == fmt
    expected = source_rows(csv_rows, config, concurrencies)
    assert len(expected) == 2 * len(concurrencies)  # ttft_ms and itl_ms at each concurrency
    got = read_benchmark_file(path, overrides)
    assert_same_rows(got, expected)
    for row in got:
        assert list(row) == list(SERVING_COLUMNS)  # no dp: these runs record no data-parallel size
        assert all(isinstance(v, str) for v in row.values())
        assert path.name in row["source"] and "aiconfigurator-core 0.12.0" in row["source"]


def test_the_real_figures(csv_rows):
    """The values that must come out, spelled out (serving_h100.csv, Qwen3-32B bf16 vLLM 0.12.0 H100 tp2)."""
    rows = {(r["concurrency"], r["metric"]): r["value"] for r in read_benchmark_file(VLLM_C8)}
    assert rows == {("8", "ttft_ms"): "154.344", ("8", "itl_ms"): "15.901"}
    v2 = {(r["concurrency"], r["metric"]): float(r["value"]) for r in read_benchmark_file(GUIDELLM_V2)}
    assert v2[("8", "ttft_ms")] == 741.7 and v2[("8", "itl_ms")] == 26.336 and v2[("32", "itl_ms")] == 74.985


def test_appended_vllm_runs_are_groups():
    rows = read_benchmark_file(VLLM_APPENDED)
    assert [(r["concurrency"], r["metric"]) for r in rows] == [("64", "ttft_ms"), ("64", "itl_ms"),
                                                              ("128", "ttft_ms"), ("128", "itl_ms")]


def test_fixture_provenance_fields():
    for path in (VLLM_C8, VLLM_C16, VLLM_NO_GPU):
        record = json.loads(path.read_text(encoding="utf-8"))
        assert "serving_h100.csv rows" in record["converted_from"] and "aiconfigurator" in record["converted_from"]
        assert "p99_ttft_ms" not in record and "median_ttft_ms" not in record and "duration" not in record
    v2 = json.loads(GUIDELLM_V2.read_text(encoding="utf-8"))
    assert "serving_h100.csv rows" in v2["config"]["metadata"]["labels"]["converted_from"]
    old = json.loads(GUIDELLM_V03.read_text(encoding="utf-8"))
    assert all("serving_h100.csv rows" in b["extras"]["converted_from"] for b in old["benchmarks"])
    assert "vllm_qwen3-32b_tp2_isl1024_osl1024_c8.json" in (FIXTURES / "README.md").read_text(encoding="utf-8")


def test_fixtures_are_reproducible(tmp_path):
    """scripts/make_benchmark_fixtures.py writes exactly the files checked in."""
    spec = importlib.util.spec_from_file_location("make_benchmark_fixtures", ROOT / "scripts" / "make_benchmark_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.write_fixtures(tmp_path, SERVING_CSV)
    names = sorted(p.name for p in written)
    assert names == sorted(p.name for p in FIXTURES.iterdir())
    for name in names:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name


# --- the GuideLLM TPOT-vs-ITL trap ---------------------------------------------------------------


@pytest.mark.parametrize("path", [GUIDELLM_V2, GUIDELLM_V03], ids=lambda p: p.name)
def test_guidellm_itl_is_inter_token_latency_not_tpot(path, csv_rows):
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = read_benchmark_file(path)
    for bench in report["benchmarks"]:
        strategy = (bench.get("config") or bench.get("args"))["strategy"]
        itl = bench["metrics"]["inter_token_latency_ms"]["successful"]["mean"]
        tpot = bench["metrics"]["time_per_output_token_ms"]["successful"]["mean"]
        assert abs(tpot - itl) / itl > 0.005  # the fixture's two fields do differ
        [ours] = [r for r in rows if r["metric"] == "itl_ms" and r["concurrency"] == str(strategy["streams"])]
        assert float(ours["value"]) == itl != tpot
        assert "inter_token_latency_ms" in ours["source"] and "time_per_output_token" not in ours["source"]
        [measured] = [r for r in csv_rows if r["metric"] == "itl_ms" and r["concurrency"] == ours["concurrency"]
                      and all(r[k] == ours[k] for k in ("model", "engine", "precision", "tp", "isl", "osl"))]
        assert float(measured["value"]) == float(ours["value"])


def test_guidellm_v2_tpot_differs_much_at_short_outputs():
    """osl 128 with a long prompt: TPOT (which includes the first token in 0.4+) is ~20% above ITL."""
    report = json.loads(GUIDELLM_V2.read_text(encoding="utf-8"))
    first = report["benchmarks"][0]["metrics"]
    assert first["time_per_output_token_ms"]["successful"]["mean"] > 1.15 * first["inter_token_latency_ms"]["successful"]["mean"]


# --- overrides -----------------------------------------------------------------------------------


def test_overrides_win_over_file_metadata():
    overrides = {"gpu": "H200", "tensor_parallel_size": 4, "pipeline_parallel_size": "2", "data_parallel_size": 2,
                 "expert_parallel_size": 8, "precision": "fp8", "kv_cache_dtype": "fp8", "engine": "sglang",
                 "engine_version": "0.5.1", "model": "Qwen/Qwen3-32B-Base"}
    for path in (VLLM_C8, GUIDELLM_V2, GUIDELLM_V03):
        for row in read_benchmark_file(path, overrides):
            assert (row["gpu"], row["tp"], row["pp"], row["dp"], row["ep"]) == ("H200", "4", "2", "2", "8")
            assert (row["precision"], row["kv_cache_dtype"], row["engine"], row["engine_version"]) == \
                ("fp8", "fp8", "sglang", "0.5.1")
            assert row["model"] == "Qwen/Qwen3-32B-Base" and row["checkpoint"] == "Qwen/Qwen3-32B"


def test_none_overrides_are_not_given():
    assert read_benchmark_file(VLLM_C8, {k: None for k in OVERRIDE_KEYS}) == read_benchmark_file(VLLM_C8)


def test_unknown_override_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown override"):
        read_benchmark_file(VLLM_C8, {"tp": 2})


def test_bad_override_value():
    message = one_line_error(VLLM_C8, {"tensor_parallel_size": "two"})
    assert "--tensor-parallel-size" in message


def test_overrides_apply_to_gpurec_csv_rows():
    rows = read_benchmark_file(SERVING_CSV, {"gpu": "H200"})
    assert rows and all(r["gpu"] == "H200" for r in rows)


def test_metadata_aliases_and_engine_from_backend(tmp_path):
    record = vllm_record(tensor_parallel_size=..., pipeline_parallel_size=..., engine=..., tp="4", pp="2",
                         backend="sglang")
    rows = read_benchmark_file(write_json(tmp_path / "a.json", record))
    assert {(r["tp"], r["pp"], r["engine"]) for r in rows} == {("4", "2", "sglang")}
    assert all("engine not recorded, assumed sglang" in r["source"] for r in rows)


def test_data_parallel_metadata_gives_dp_column(tmp_path):
    rows = read_benchmark_file(write_json(tmp_path / "a.json", vllm_record(data_parallel_size="4")))
    assert {r["dp"] for r in rows} == {"4"}
    assert list(rows[0])[:11] == ["model", "model_path", "checkpoint", "precision", "kv_cache_dtype", "engine",
                                  "engine_version", "gpu", "tp", "pp", "dp"]


# --- missing fields and malformed files: one line naming the file and the flag --------------------


def test_missing_gpu_names_the_flag():
    message = one_line_error(VLLM_NO_GPU)
    assert "no GPU recorded" in message and "--gpu H100" in message and "--metadata gpu=H100" in message


def test_missing_tensor_parallel_size(tmp_path):
    path = write_json(tmp_path / "a.json", vllm_record(tensor_parallel_size=...))
    message = one_line_error(path)
    assert "--tensor-parallel-size" in message and "--metadata tensor_parallel_size=N" in message
    assert_same_rows(read_benchmark_file(path, {"tensor_parallel_size": 2}), read_benchmark_file(VLLM_C8))


def test_malformed_json():
    message = one_line_error(MALFORMED)
    assert "not valid JSON" in message


def test_unknown_shape():
    message = one_line_error(UNKNOWN)
    assert "unknown shape" in message and "vllm bench serve" in message and "GuideLLM" in message


def test_not_a_benchmark_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, world\n", encoding="utf-8")
    assert "not a benchmark result" in one_line_error(path)
    assert "no such file" in one_line_error(tmp_path / "missing.json")
    empty = tmp_path / "empty.json"
    empty.write_text("", encoding="utf-8")
    assert "empty file" in one_line_error(empty)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe{")
    assert "not UTF-8" in one_line_error(binary)


def test_not_a_regular_file(tmp_path):
    assert "directory" in one_line_error(tmp_path)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.json"
        os.mkfifo(fifo)
        assert "FIFO" in one_line_error(fifo)


def test_size_and_depth_bounds(tmp_path, monkeypatch):
    import gpurec_core.benchmark_files as bf

    monkeypatch.setattr(bf, "MAX_BENCHMARK_FILE_BYTES", 100)
    assert "more than the 100 read" in one_line_error(VLLM_C8)
    monkeypatch.undo()
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    assert "deep" in one_line_error(deep)
    huge_int = tmp_path / "int.json"
    huge_int.write_text('{"model_id": "x", "completed": ' + "9" * 5000 + ', "mean_ttft_ms": 1}', encoding="utf-8")
    one_line_error(huge_int)


def test_request_rate_run_needs_concurrency(tmp_path):
    path = write_json(tmp_path / "rate.json", vllm_record(max_concurrency=None, request_rate=4.0))
    message = one_line_error(path)
    assert "open-loop" in message and "closed loop" in message and "--max-concurrency" in message
    assert "--concurrency N" in message
    rows = read_benchmark_file(path, {"concurrency": 12})
    assert {r["concurrency"] for r in rows} == {"12"}
    burst = write_json(tmp_path / "burst.json", vllm_record(max_concurrency=None))
    assert "no max_concurrency" in one_line_error(burst)
    capped = write_json(tmp_path / "capped.json", vllm_record(request_rate=2.0))
    assert "request_rate 2.0" in one_line_error(capped)


def test_concurrency_override_never_replaces_a_recorded_one():
    assert {r["concurrency"] for r in read_benchmark_file(VLLM_C8, {"concurrency": 99})} == {"8"}


def test_statistic_choice_and_fallbacks(tmp_path):
    both = read_benchmark_file(write_json(tmp_path / "a.json", vllm_record(mean_itl_ms=40.0)))
    assert [float(r["value"]) for r in both if r["metric"] == "itl_ms"] == [15.901]  # TPOT, not chunk ITL
    medians = vllm_record(mean_ttft_ms=..., mean_tpot_ms=..., median_ttft_ms=150.0, median_itl_ms=15.5)
    rows = {r["metric"]: r for r in read_benchmark_file(write_json(tmp_path / "b.json", medians))}
    assert rows["ttft_ms"]["value"] == "150" and "median_ttft_ms (mean_ttft_ms not saved)" in rows["ttft_ms"]["source"]
    assert rows["itl_ms"]["value"] == "15.5" and "median_itl_ms" in rows["itl_ms"]["source"]
    zero = read_benchmark_file(write_json(tmp_path / "c.json", vllm_record(mean_ttft_ms=0.0, output_throughput=1234.5)))
    assert {r["metric"]: r["value"] for r in zero} == {"itl_ms": "15.901", "output_tok_s": "1234.5"}
    nothing = write_json(tmp_path / "d.json", vllm_record(mean_ttft_ms=0, mean_tpot_ms=0))
    assert "no TTFT" in one_line_error(nothing)


def test_vllm_damaged_fields(tmp_path):
    assert "not a number" in one_line_error(write_json(tmp_path / "a.json", vllm_record(mean_ttft_ms="fast")))
    assert "not a finite number" in one_line_error(write_json(tmp_path / "b.json", vllm_record(mean_ttft_ms=-1)))
    assert "tensor_parallel_size 'two'" in one_line_error(
        write_json(tmp_path / "c.json", vllm_record(tensor_parallel_size="two")))
    assert "--skip-tokenizer-init" in one_line_error(write_json(tmp_path / "d.json", vllm_record(tokenizer_id=None)))
    no_requests = vllm_record(completed=0, total_input_tokens=0, total_output_tokens=0)
    assert "input_len" in one_line_error(write_json(tmp_path / "e.json", no_requests))
    with_lengths = read_benchmark_file(write_json(tmp_path / "f.json", {**no_requests, "input_len": "1024",
                                                                        "output_len": "1024"}))
    assert {(r["isl"], r["osl"]) for r in with_lengths} == {("1024", "1024")}


def test_pytorch_benchmark_copy_is_refused(tmp_path):
    path = write_json(tmp_path / "x.pytorch.json", [{"benchmark": {"name": "vLLM benchmark"}, "model": {}}])
    assert "pytorch" in one_line_error(path)


def test_per_request_means_are_rounded(tmp_path):
    record = vllm_record(completed=3, total_input_tokens=3 * 1024 + 1, total_output_tokens=3 * 1024 - 1)
    rows = read_benchmark_file(write_json(tmp_path / "a.json", record))
    assert {(r["isl"], r["osl"]) for r in rows} == {("1024", "1024")}


# --- GuideLLM strategies -------------------------------------------------------------------------


def _v2_report(strategies):
    report = json.loads(GUIDELLM_V2.read_text(encoding="utf-8"))
    bench = report["benchmarks"][0]
    report["benchmarks"] = []
    for strategy in strategies:
        b = copy.deepcopy(bench)
        b["config"]["strategy"] = strategy
        report["benchmarks"].append(b)
    return report


def test_guidellm_strategies_map_to_users(tmp_path):
    report = _v2_report([{"type_": "synchronous"}, {"type_": "throughput", "max_concurrency": 64},
                         {"type_": "constant", "rate": 2.0}, {"type_": "throughput", "max_concurrency": None},
                         {"type_": "concurrent", "streams": 4}])
    path = write_json(tmp_path / "benchmarks.json", report)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = read_benchmark_file(path)
    assert sorted({r["concurrency"] for r in rows}, key=int) == ["1", "4", "64"]
    [warning] = caught
    assert "3 (constant@2.0)" in str(warning.message) and "4 (throughput (unlimited))" in str(warning.message)


def test_guidellm_report_without_closed_loop_benchmarks(tmp_path):
    path = write_json(tmp_path / "benchmarks.json", _v2_report([{"type_": "poisson", "rate": 1.5},
                                                                {"type_": "constant", "rate": 3.0}]))
    message = one_line_error(path)
    assert "poisson@1.5" in message and "constant@3.0" in message and "kind=concurrent" in message


def test_guidellm_missing_labels_and_model(tmp_path):
    report = json.loads(GUIDELLM_V2.read_text(encoding="utf-8"))
    report["config"]["metadata"]["labels"].pop("gpu")
    message = one_line_error(write_json(tmp_path / "a.json", report))
    assert "--gpu H100" in message and "guidellm run --label gpu=H100" in message
    old = json.loads(GUIDELLM_V03.read_text(encoding="utf-8"))
    for bench in old["benchmarks"]:
        bench["extras"].pop("tensor_parallel_size")
        bench["worker"]["backend_model"] = ""
    path = write_json(tmp_path / "b.json", old)
    message = one_line_error(path)
    assert "--tensor-parallel-size" in message and "--output-extras" in message
    message = one_line_error(path, {"tensor_parallel_size": 4})
    assert "no model recorded" in message and "--model" in message
    rows = read_benchmark_file(path, {"tensor_parallel_size": 4, "model": "Qwen/Qwen3-32B"})
    assert {r["checkpoint"] for r in rows} == {"Qwen/Qwen3-32B"}


def test_guidellm_empty_and_odd_reports(tmp_path):
    assert "empty" in one_line_error(write_json(tmp_path / "a.json", {"benchmarks": []}))
    assert "neither config.strategy" in one_line_error(write_json(tmp_path / "b.json", {"benchmarks": [{"x": 1}]}))
    report = json.loads(GUIDELLM_V2.read_text(encoding="utf-8"))
    report["benchmarks"][0]["metrics"]["time_to_first_token_ms"] = 5
    assert "no 'successful' distribution" in one_line_error(write_json(tmp_path / "c.json", report))


# --- gpurec's own CSV ----------------------------------------------------------------------------


def test_gpurec_csv_passes_through(csv_rows):
    assert detect_format(SERVING_CSV) == "gpurec-csv"
    assert read_benchmark_file(SERVING_CSV) == csv_rows
    dp_rows = read_benchmark_file(MEASUREMENTS / "serving_attn_dp_h100.csv")
    assert dp_rows and all(r["dp"] for r in dp_rows)


def test_memory_csv_is_refused():
    message = one_line_error(MEASUREMENTS / "vllm_memory_h100.csv")
    assert "memory" in message and "serving" in message


# --- the writer is the reader's inverse ----------------------------------------------------------


@pytest.mark.parametrize("csv_name", ["serving_h100.csv", "serving_attn_dp_h100.csv"])
def test_write_vllm_bench_json_round_trips_every_configuration(tmp_path, csv_name):
    _, rows = read_measurements(MEASUREMENTS / csv_name)
    groups = defaultdict(list)
    for row in rows:
        if row["concurrency"] != "max":
            groups[tuple((k, v) for k, v in row.items() if k not in ("metric", "value"))].append(row)
    assert len(groups) > 10
    for index, group in enumerate(groups.values()):
        path = write_vllm_bench_json(group, tmp_path / f"run{index}.json")
        got = read_benchmark_file(path)
        assert_same_rows(got, group)
        record = json.loads(path.read_text(encoding="utf-8"))
        assert record["max_concurrency"] == int(group[0]["concurrency"]) and record["request_rate"] == "inf"


def test_writer_refuses_mixed_or_max_rows(csv_rows):
    a = source_rows(csv_rows, {**QWEN, "tp": "2", "isl": "1024", "osl": "1024"}, ["8", "16"])
    with pytest.raises(ValueError, match="several configurations"):
        write_vllm_bench_json(a, "/nonexistent/x.json")
    saturation = [r for r in csv_rows if r["concurrency"] == "max"][:1]
    with pytest.raises(ValueError, match="'max'"):
        write_vllm_bench_json(saturation, "/nonexistent/x.json")
    with pytest.raises(ValueError, match="twice"):
        write_vllm_bench_json(a[:1] * 2, "/nonexistent/x.json")
