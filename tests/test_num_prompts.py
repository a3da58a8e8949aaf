"""A measured run's request count (``num_prompts``): vllm bench serve sends ``--num-prompts`` requests
through ``--max-concurrency`` slots, so its first ``concurrency`` requests arrive together and the mean
TTFT it reports holds that start-up burst in ``concurrency / num_prompts`` of its requests
(vllm/benchmarks/serve.py: every request waits on the max-concurrency semaphore, and the saved result
has ``result_json["num_prompts"] = args.num_prompts``). A run never has more requests in flight than
it sent."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gpurec_core import estimate_performance
from gpurec_core.errors import MeasurementFileError, WorkloadError

ROOT = Path(__file__).resolve().parents[1]
SERVING = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100.csv"
LLAMA = "meta-llama/Llama-3.1-8B"
RUN = dict(input_length=4096, output_length=256, concurrency=16)


def _ttft(**extra) -> tuple[float, dict]:
    estimate = estimate_performance(LLAMA, "H100", **RUN, **extra)
    return estimate.time_to_first_token_ms, estimate.breakdown


def test_the_start_up_burst_weighs_concurrency_over_num_prompts():
    default, parts = _ttft()
    steady, burst = parts["ttft_steady"], parts["ttft_startup_burst"]
    assert burst > 2 * steady  # 16 prompts of 4,096 tokens arriving together queue for the prefill budget
    # one wave: every request is in the burst
    assert _ttft(num_prompts=16)[0] == pytest.approx(burst, rel=1e-6)
    # ten requests per user: one in ten is in the burst
    assert _ttft(num_prompts=160)[0] == pytest.approx(0.9 * steady + 0.1 * burst, rel=1e-6)
    # a long run tends to the steady state; ITL and throughput do not depend on the count
    long_run = estimate_performance(LLAMA, "H100", **RUN, num_prompts=160_000)
    assert long_run.time_to_first_token_ms == pytest.approx(steady, rel=1e-3)
    plain = estimate_performance(LLAMA, "H100", **RUN)
    assert long_run.inter_token_latency_ms == plain.inter_token_latency_ms
    assert long_run.throughput_tokens_per_sec == plain.throughput_tokens_per_sec
    assert steady < default < burst  # without a count: the estimator's assumed run length


def test_fewer_prompts_than_users_is_refused_with_what_to_pass():
    with pytest.raises(WorkloadError, match="num_prompts 8 is fewer than concurrency 16.*pass concurrency=8"):
        estimate_performance(LLAMA, "H100", **RUN, num_prompts=8)
    with pytest.raises(WorkloadError, match="num_prompts"):
        estimate_performance(LLAMA, "H100", **RUN, num_prompts=0)


def test_the_disaggregated_estimate_takes_the_count_too():
    from gpurec_core.api import estimate_disaggregated

    common = dict(input_length=1024, output_length=256, concurrency=8, decode_workers=1)
    one_wave = estimate_disaggregated(LLAMA, "H100", **common, num_prompts=8)
    long_run = estimate_disaggregated(LLAMA, "H100", **common, num_prompts=8_000)
    assert one_wave.time_to_first_token_ms > long_run.time_to_first_token_ms
    assert one_wave.inter_token_latency_ms == long_run.inter_token_latency_ms


def _shared_rows(**match) -> list[dict]:
    with SERVING.open(newline="") as handle:
        return [r for r in csv.DictReader(handle) if all(r[k] == v for k, v in match.items())]


def _write(path: Path, rows: list[dict]) -> Path:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_validate_reads_a_num_prompts_column(tmp_path):
    from gpurec_core.validate import validate_file

    rows = _shared_rows(model="Qwen/Qwen3-32B", engine="vllm", tp="2", isl="1024", osl="1024", concurrency="16")
    assert {r["metric"] for r in rows} == {"ttft_ms", "itl_ms"}
    counted = [dict(r, num_prompts="16") for r in rows] + [dict(r, num_prompts="8") for r in rows]
    report = validate_file(_write(tmp_path / "runs.csv", rows + counted))
    plain, one_wave, capped = (report.rows[i:i + len(rows)] for i in range(0, 3 * len(rows), len(rows)))
    ttft = {name: next(r for r in group if r.metric == "ttft_ms") for name, group in
            (("plain", plain), ("one_wave", one_wave), ("capped", capped))}
    assert ttft["one_wave"].predicted > ttft["plain"].predicted
    assert ttft["one_wave"].num_prompts == 16 and ttft["plain"].num_prompts is None
    # 8 requests sent at concurrency 16: never more than 8 in flight
    assert "c8" in ttft["capped"].config.split()
    assert "read as 8 users: the run sent 8 requests, fewer than its 16 users" in ttft["capped"].note


def test_a_bad_num_prompts_cell_names_its_row_and_column(tmp_path):
    from gpurec_core.validate import validate_file

    rows = _shared_rows(model="Qwen/Qwen3-32B", engine="vllm", tp="2", isl="1024", osl="1024", concurrency="16")
    path = _write(tmp_path / "runs.csv", [dict(rows[0], num_prompts="1.5")])
    with pytest.raises(MeasurementFileError, match=r"row 2, column 'num_prompts': '1.5' is not a whole number"):
        validate_file(path)


def test_vllm_bench_results_carry_the_count_they_record(tmp_path):
    from gpurec_core.benchmark_files import read_benchmark_file, write_vllm_bench_json

    rows = _shared_rows(model="Qwen/Qwen3-32B", engine="vllm", tp="2", isl="1024", osl="1024", concurrency="16")
    unknown = write_vllm_bench_json(rows, tmp_path / "unknown.json")
    assert "num_prompts" not in json.loads(unknown.read_text())  # not recorded: not written, not read
    assert all("num_prompts" not in r for r in read_benchmark_file(unknown))
    counted = write_vllm_bench_json(rows, tmp_path / "counted.json", num_prompts=160)
    assert json.loads(counted.read_text())["num_prompts"] == 160
    assert {r["num_prompts"] for r in read_benchmark_file(counted)} == {"160"}


def test_calibrate_does_not_fit_the_run_length_its_runs_record():
    from gpurec_roofline.calibrate import _candidates

    rows = _shared_rows(model="Qwen/Qwen3-32B", engine="vllm", tp="2", isl="1024", osl="1024")
    assert len({r["concurrency"] for r in rows}) > 1
    names, _ = _candidates(rows, prefill_first=False, layer_counts={64})
    assert "requests_per_user" in names
    counted = [dict(r, num_prompts=str(10 * int(r["concurrency"]))) for r in rows]
    names, why = _candidates(counted, prefill_first=False, layer_counts={64})
    assert "requests_per_user" not in names and "num_prompts" in why["requests_per_user"]


def test_validate_says_how_many_rows_it_read_with_their_request_count(tmp_path):
    from click.testing import CliRunner

    from gpurec_core.cli import cli

    rows = _shared_rows(model="Qwen/Qwen3-32B", engine="vllm", tp="2", isl="1024", osl="1024", concurrency="16")
    path = _write(tmp_path / "runs.csv", rows + [dict(rows[0], num_prompts="160")])
    result = CliRunner().invoke(cli, ["validate", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "1 row(s) read with the number of requests their run sent" in " ".join(result.output.split())


def test_calibration_times_a_counted_run_as_validate_does():
    """gpurec calibrate's fit (gpurec_roofline.fitting.Problem) and gpurec validate predict a row with its
    request count alike, so a profile fitted on counted runs is fitted on what validate reports."""
    from gpurec_core.validate_serving import predict_rows
    from gpurec_roofline.constants import load_constants
    from gpurec_roofline.fitting import Problem

    rows = _shared_rows(model="Qwen/Qwen3-32B", engine="vllm", tp="2", isl="1024", osl="1024", concurrency="16")
    constants = load_constants()
    for count in ("", "16", "160"):
        counted = [dict(r, num_prompts=count) for r in rows]
        fitted = {metric: predicted for _, metric, predicted, _ in Problem(counted).predictions(lambda *_: constants)}
        validated = {r["metric"]: r["predicted"] for r in predict_rows(counted, SERVING.parent, "roofline")}
        assert fitted == pytest.approx(validated, rel=1e-9), count
