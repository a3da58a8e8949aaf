"""Benchmarks that draw each request's lengths at random: a row is predicted at the mean lengths its
requests had (gpurec_core.measurement_cells.request_lengths), not at the nominal isl / osl."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gpurec_core.errors import MeasurementFileError
from gpurec_core.measurement_cells import mean_random_length, random_range_ratio_of, request_lengths

ROOT = Path(__file__).resolve().parents[1]
AS_SERVED = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100_as_served.csv"
ROW = {"model": "meta-llama/Llama-3.1-8B-Instruct", "engine": "vllm", "gpu": "H100", "tp": "1", "isl": "1024",
       "osl": "1024", "concurrency": "16", "precision": "bf16"}


def test_mean_of_the_lengths_the_benchmarks_draw():
    # InferenceX utils/bench_serving/benchmark_serving.py sample_uniform: np.random.randint(int(L * r), L + 1),
    # so at r = 0.8 the whole numbers 819..1024, mean 921.5.
    assert mean_random_length(1024, 0.8) == 922
    # SGLang bench_serving.py: max(int(L * r), 1) .. L; its default r = 0 draws 1..1024, mean 512.5.
    assert mean_random_length(1024, 0.0) == 512
    assert mean_random_length(1024, 1.0) == 1024
    assert mean_random_length(1024, None) == 1024


def test_the_ratio_comes_from_the_cell_or_from_a_source_naming_inferencex():
    # InferenceX's CI: .github/workflows/benchmark-tmpl.yml RANDOM_RANGE_RATIO: 0.8
    assert random_range_ratio_of({**ROW, "source": "SemiAnalysis InferenceX dsr1-fp8-h200-sglang"}) == 0.8
    assert random_range_ratio_of({**ROW, "source": "InferenceMAX v1 results"}) == 0.8
    assert random_range_ratio_of({**ROW, "source": "InferenceX", "random_range_ratio": "1"}) == 1.0
    assert random_range_ratio_of({**ROW, "source": "vllm bench serve, my cluster"}) is None
    # An InferenceX configuration's name (configs/nvidia-master.yaml, configs/amd-master.yaml keys)
    for name in ("gptoss-fp4-h100-vllm", "dsr1-fp8-gb200-dynamo-trt", "minimaxm2.5-fp8-mi355x-atom",
                 "qwen3.5-fp4-rtx6000pro-sglang"):
        assert random_range_ratio_of({**ROW, "source": f"results of {name}, run 12"}) == 0.8, name
    assert random_range_ratio_of({**ROW, "source": "llama-fp8 on h100 with vllm"}) is None
    # 8192 in: int(8192 x 0.8) = 6553 .. 8192, mean 7372.5 (rounded half to even)
    assert request_lengths({**ROW, "isl": "8192", "osl": "1024", "random_range_ratio": "0.8"}) == (7372, 922)
    assert request_lengths(ROW) == (1024, 1024)


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_validate_predicts_a_row_at_its_mean_lengths(tmp_path):
    from gpurec_core.api import estimate_performance
    from gpurec_core.validate import validate_file

    rows = [{**ROW, "metric": metric, "value": "10", "random_range_ratio": "0.8"} for metric in ("ttft_ms", "itl_ms")]
    report = validate_file(_write(tmp_path / "runs.csv", rows))
    expected = estimate_performance("meta-llama/Llama-3.1-8B-Instruct", "H100", input_length=922, output_length=922,
                                    concurrency=16, precision="bf16", engine="vllm")
    records = {r.metric: r for r in report.rows}
    assert records["ttft_ms"].predicted == pytest.approx(expected.time_to_first_token_ms)
    assert records["itl_ms"].predicted == pytest.approx(expected.inter_token_latency_ms)
    assert "isl1024 osl1024 c16 lengths 0.8-1x" in records["ttft_ms"].config


def test_a_ratio_outside_0_to_1_is_a_malformed_cell(tmp_path):
    from gpurec_core.validate import validate_file

    rows = [{**ROW, "metric": "itl_ms", "value": "10", "random_range_ratio": "1.5"}]
    with pytest.raises(MeasurementFileError, match="row 2, column 'random_range_ratio': '1.5' is not a number from 0"):
        validate_file(_write(tmp_path / "runs.csv", rows))


def test_the_as_served_copy_marks_the_inferencex_runs_only():
    """scripts/serving_frontends.py: the 228 rows of vLLM's own server imported from InferenceX (gpt-oss-120b,
    Llama-3.1-70B, MiniMax-M2.5) carry 0.8; the Dynamo-served gap-analysis runs (aiperf, fixed lengths) none."""
    with AS_SERVED.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    drawn = [r for r in rows if r["random_range_ratio"]]
    assert len(drawn) == 228 and {r["random_range_ratio"] for r in drawn} == {"0.8"}
    assert {r["frontend"] for r in drawn} == {"engine"} and {r["engine"] for r in drawn} == {"vllm"}
    assert not any(r["random_range_ratio"] for r in rows if r["frontend"] == "dynamo")


def test_validate_says_how_many_rows_it_read_as_random_lengths(tmp_path):
    from click.testing import CliRunner

    from gpurec_core.cli import cli

    rows = [{**ROW, "metric": "itl_ms", "value": "10", "source": "gptoss-fp4-h100-vllm"},
            {**ROW, "metric": "ttft_ms", "value": "100", "source": "my own run"}]
    result = CliRunner().invoke(cli, ["validate", str(_write(tmp_path / "runs.csv", rows))], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "1 row(s) read as runs whose benchmark drew each request's lengths at random" in " ".join(result.output.split())
