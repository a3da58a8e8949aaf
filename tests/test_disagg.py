"""Disaggregated prefill/decode deployments (issue 14): the closed-loop model, mixed GPU types and the
shared xPyD file (tests/fixtures/measurements/serving_disagg_h100.csv, an unchanged copy of the
reference data: aiconfigurator-core 0.12.0 silicon_sample.csv, H100)."""

from __future__ import annotations

import csv
import pathlib
import subprocess
import sys

import pytest

from gpurec_core.api import estimate_disaggregated, estimate_performance, plan_memory
from gpurec_core.errors import WorkloadError
from gpurec_core.validate import validate_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
DISAGG = ROOT / "tests" / "fixtures" / "measurements" / "serving_disagg_h100.csv"
AS_RUN = ROOT / "tests" / "fixtures" / "measurements" / "serving_disagg_h100_as_run.csv"
KW = dict(input_length=2048, output_length=512)


def test_ttft_is_prefill_plus_transfer_plus_the_first_decode_step():
    e = estimate_disaggregated("meta-llama/Llama-3.1-70B", "H100", concurrency=1, prefill_tensor_parallel_size=4,
                               decode_tensor_parallel_size=4, precision="fp8", kv_link="network", **KW)
    parts = e.breakdown
    assert parts["prefill"] > 0 and parts["kv_transfer"] > 0 and parts["decode_step"] == pytest.approx(e.itl_ms)
    assert e.ttft_ms >= parts["prefill"] + parts["kv_transfer"] + parts["decode_step"]
    # Llama-3.1-70B: 80 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes (bf16 cache) = 327,680 bytes per token
    # (config.json); TP4 holds a quarter per GPU, all sent at once over one 400 Gb/s NIC per GPU.
    memory = plan_memory("meta-llama/Llama-3.1-70B", "H100", tensor_parallel_size=4, quantization="fp8",
                         max_model_len=2560)
    assert memory.kv_bytes_per_token == 327_680 / 4
    assert parts["kv_transfer"] >= 2048 * 327_680 / 4 / 50e9 * 1e3  # never faster than the wire


def test_decode_never_waits_for_prefill_so_its_itl_is_a_plain_decode_step():
    """Disaggregation's point (DistServe, OSDI 2024): the same users on one aggregated replica see prefill
    chunks in their decode steps; the decode pool does not."""
    agg = estimate_performance("meta-llama/Llama-3.1-70B", "H100", tensor_parallel_size=4, concurrency=64,
                               precision="fp8", **KW)
    dis = estimate_disaggregated("meta-llama/Llama-3.1-70B", "H100", concurrency=64, prefill_tensor_parallel_size=4,
                                 decode_tensor_parallel_size=4, precision="fp8", **KW)
    assert dis.itl_ms < agg.itl_ms


def test_throughput_is_held_to_the_slower_pool_and_mixed_gpus_work():
    """Short prompts, long answers: decode dominates, so a second decode worker halves its batch and adds throughput."""
    kw = dict(input_length=256, output_length=2048, concurrency=512, precision="fp8", prefill_tensor_parallel_size=2,
              decode_tensor_parallel_size=4)
    one = estimate_disaggregated("meta-llama/Llama-3.1-70B", "H200", "H100", decode_workers=1, **kw)
    two = estimate_disaggregated("meta-llama/Llama-3.1-70B", "H200", "H100", decode_workers=2, **kw)
    assert two.throughput_tokens_per_sec > one.throughput_tokens_per_sec
    assert any("network" in n for n in one.notes)  # H200 and H100 are different nodes
    assert two.throughput_tokens_per_sec <= 512 * 1000 / two.itl_ms


def test_bad_pool_settings_are_one_line_errors():
    with pytest.raises(WorkloadError, match="kv_link"):
        estimate_disaggregated("Qwen/Qwen3-8B", "H100", kv_link="carrier pigeon", **KW)
    with pytest.raises(WorkloadError, match="decode_workers"):
        estimate_disaggregated("Qwen/Qwen3-8B", "H100", decode_workers=0, **KW)


def test_the_shared_xpyd_file_is_predicted_row_by_row():
    report = validate_file(DISAGG)
    assert report.kind == "disaggregated" and report.n_rows == 66 and report.n_errors == 0
    assert any(r.config.startswith("1P(tp1 dp16 ep16 b1) 3D(tp16 ep16 b10)") for r in report.rows)


def test_the_as_run_file_keeps_every_measurement_and_changes_only_layouts():
    """scripts/disagg_as_run.py writes the rows whose InferenceX recipes are known with those recipes'
    pool layouts and the front end that served them (Dynamo: InferenceX's dynamo-trt entry): the measured
    values and everything else stay those of the recorded file."""
    from gpurec_core.validate_disagg import POOL_COLUMNS

    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "disagg_as_run.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

    def workload(row):
        return row["model"], row["engine"], row["isl"], row["osl"], row["concurrency"], row["metric"]

    with DISAGG.open(newline="") as f:
        recorded = {workload(r): r for r in csv.DictReader(f)}
    with AS_RUN.open(newline="") as f:
        as_run = list(csv.DictReader(f))
    assert len(as_run) == 24
    for row in as_run:
        before = recorded[workload(row)]
        changed = {k for k in row if row[k] != before.get(k)}
        assert changed <= {f"{pool}_{size}" for pool in ("prefill", "decode")
                           for size in POOL_COLUMNS} | {"kv_cache_dtype", "source", "frontend"}
        assert row["frontend"] == "dynamo"
        assert row["source"].startswith(before["source"]) and "recipes/trtllm/h100-fp8/" in row["source"]


@pytest.mark.parametrize("isl, users, slots_per_worker, measured_ttft_ms", [
    (1024, 6, 1, 12345.082), (1024, 9, 2, 7137.267), (8192, 6, 1, 13693.258)])
def test_users_beyond_the_decode_slots_wait_for_one(isl, users, slots_per_worker, measured_ttft_ms):
    """InferenceX's H100 DeepSeek runs (NVIDIA/srt-slurm recipe ctx1_gen3_tep16_batch1/2: 3 decode
    workers of max_batch_size 1 or 2, fp8 KV cache) put 6 or 9 closed-loop users on 3 or 6 decode slots:
    the users left over wait for a slot, about one request's decode each. Measured TTFT from
    serving_disagg_h100.csv (aiconfigurator-core 0.12.0, DeepSeek-V3 config 494 rows); the recipes'
    settings from scripts/disagg_as_run.py."""
    e = estimate_disaggregated("deepseek-ai/DeepSeek-V3", "H100", input_length=isl, output_length=1024,
                               concurrency=users, prefill_tensor_parallel_size=1, prefill_data_parallel_size=16,
                               prefill_expert_parallel_size=16, prefill_max_batch=2 if isl == 1024 else 1,
                               decode_workers=3, decode_tensor_parallel_size=16, decode_expert_parallel_size=16,
                               decode_max_batch=slots_per_worker, precision="fp8", kv_cache_dtype="fp8",
                               engine="trtllm")
    assert e.time_to_first_token_ms == pytest.approx(measured_ttft_ms, rel=0.25)
    # The decode pool limits the loop: its 3 x max_batch slots decode, the other users wait, and the note says so.
    slots = 3 * slots_per_worker
    assert f"the decode pool: {slots} requests decode at a time, so about {users - slots} of the {users} users" in e.notes[0]
    assert e.breakdown["ttft_pool_wait"] > e.time_to_first_token_ms / 2


def test_validate_notes_a_ttft_that_is_mostly_waiting_for_the_recorded_pools():
    """The shared file records InferenceX's DeepSeek-R1 TensorRT-LLM runs as one TP16 worker per pool where
    the recipes ran attention DP16 with 2-3 workers (docs/disaggregated.md): read as recorded, the 4,916 users
    of the 1k/1k run (24,119 ms measured TTFT) mostly wait for the one worker's decode slots, and the row says
    that its prediction rests on the recorded layout. A run whose users all fit (1 user) gets no such note."""
    rows = {(r.config, r.metric): r for r in validate_file(DISAGG).rows}
    crowded = rows[("1P(tp16 ep16) 1D(tp16 ep16) isl1024 osl1024 c4916 fp8", "ttft_ms")]
    assert crowded.measured == pytest.approx(24119.117)
    assert "users waiting for a pool of the layout as recorded" in crowded.note and "attention DP" in crowded.note
    assert rows[("1P(tp16 ep16) 1D(tp16 ep16) isl1024 osl1024 c4916 fp8", "itl_ms")].note is None
    assert rows[("1P(tp16) 1D(tp16) isl1024 osl1024 c1 fp8", "ttft_ms")].note is None


def test_recommend_ranks_both_modes_with_mixed_gpu_pools():
    """`gpurec recommend meta-llama/Llama-3.1-70B --disagg --prefill-gpus H200 --decode-gpus H100` (issue 14)."""
    from gpurec_core import recommend_gpus

    result = recommend_gpus("meta-llama/Llama-3.1-70B", disaggregated=True, prefill_gpus=["H200"], decode_gpus=["H100"])
    modes = {r.recommendation.mode for r in result}
    assert modes == {"aggregated", "disaggregated"}
    split = [r for r in result if r.recommendation.mode == "disaggregated"]
    assert all(r.recommendation.disaggregated.prefill.gpu.name == "H200" and
               r.recommendation.disaggregated.decode.gpu.name == "H100" for r in split)
    data = split[0].recommendation.disaggregated
    assert split[0].recommendation.total_gpus == data.prefill.gpus + data.decode.gpus
    row = next(r for r in result.to_dict()["recommendations"] if r["mode"] == "disaggregated")
    assert set(row["pools"]) == {"prefill", "decode"} and row["pools"]["prefill"]["gpu"] == "H200"
    assert {"workers", "layout", "gpus"} <= set(row["pools"]["decode"])
    # ranked together on one cost basis: $/M output tokens at the loaded throughput for both modes
    assert all(r.cost.usd_per_million_output_tokens is not None for r in result if r.recommendation.model_fits)
    command = split[0].launch_command()
    assert "NixlConnector" in command and "toy_proxy_server.py" in command


def test_disagg_alone_pairs_each_gpu_type_with_itself_and_named_pools_mix():
    """`--disagg --gpus H100,H200`: each type serves both its pools; `--prefill-gpus H200` pairs H200 prefill
    with every searched decode type."""
    from gpurec_core import recommend_gpus

    def pairs(**kw) -> set:
        result = recommend_gpus("meta-llama/Llama-3.1-8B", **kw)
        return {(r.recommendation.disaggregated.prefill.gpu.name, r.recommendation.disaggregated.decode.gpu.name)
                for r in result if r.recommendation.mode == "disaggregated"}

    assert pairs(gpus=["H100", "H200"], disaggregated=True) == {("H100", "H100"), ("H200", "H200")}
    assert pairs(gpus=["H100", "H200"], prefill_gpus=["H200"]) == {("H200", "H100"), ("H200", "H200")}


def test_disaggregated_search_follows_the_slos():
    from gpurec_core import recommend_gpus

    result = recommend_gpus("deepseek-ai/DeepSeek-R1", gpus=["H200"], disaggregated=True, ttft_slo_ms=1000,
                            itl_slo_ms=50)
    split = [r for r in result if r.recommendation.mode == "disaggregated"]
    assert split and all(r.slo is not None for r in split)
    best = next(r for r in split if r.slo.max_concurrency > 0)
    at_slo = estimate_disaggregated(
        "deepseek-ai/DeepSeek-R1", "H200", input_length=1024, output_length=512, concurrency=best.slo.max_concurrency,
        prefill_workers=best.recommendation.disaggregated.prefill.workers,
        prefill_tensor_parallel_size=best.recommendation.disaggregated.prefill.parallelism.tensor_parallel_size,
        prefill_data_parallel_size=best.recommendation.disaggregated.prefill.parallelism.data_parallel_size,
        prefill_expert_parallel_size=best.recommendation.disaggregated.prefill.parallelism.expert_parallel_size,
        decode_workers=best.recommendation.disaggregated.decode.workers,
        decode_tensor_parallel_size=best.recommendation.disaggregated.decode.parallelism.tensor_parallel_size,
        decode_data_parallel_size=best.recommendation.disaggregated.decode.parallelism.data_parallel_size,
        decode_expert_parallel_size=best.recommendation.disaggregated.decode.parallelism.expert_parallel_size)
    assert at_slo.ttft_ms <= 1000 and at_slo.itl_ms <= 50


def test_the_plot_draws_both_pareto_fronts(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (gpurec[plot])")
    from gpurec_core import recommend_gpus
    from gpurec_core.plotting import plot_recommendations

    result = recommend_gpus("meta-llama/Llama-3.1-70B", disaggregated=True, prefill_gpus=["H200"], decode_gpus=["H100"])
    plot_recommendations(result, str(tmp_path / "fronts.png"), top=8)
    assert (tmp_path / "fronts.png").stat().st_size > 10_000


def test_pareto_front_keeps_only_undominated_points():
    from gpurec_core.plotting import pareto_front

    points = [(10.0, 100.0), (12.0, 90.0), (15.0, 150.0), (20.0, 140.0), (30.0, 300.0)]
    assert pareto_front(points) == [(10.0, 100.0), (15.0, 150.0), (30.0, 300.0)]


def test_fleet_mode_finds_the_cheapest_mix_and_says_why():
    """A target of 20 requests/s of Llama-3.1-70B (2048 in / 512 out) within TTFT 1 s and ITL 40 ms."""
    from click.testing import CliRunner

    from gpurec_core.cli import cli
    from gpurec_core.fleet import gpu_types, plan_fleet

    plan = plan_fleet("meta-llama/Llama-3.1-70B", gpus=["H100", "H200"], target_requests_per_sec=20,
                      ttft_slo_ms=1000, itl_slo_ms=40, input_length=2048, output_length=512)
    assert plan.best is not None and plan.best_single_type is not None
    assert plan.best.cost.usd_per_hour <= plan.best_single_type.cost.usd_per_hour
    assert len(gpu_types(plan.best_single_type)) == 1
    if len(gpu_types(plan.best)) > 1:
        assert "less per hour than the best single-type deployment" in plan.why
    saturation = plan.best.saturation
    assert saturation.requests_per_sec >= 20 or plan.best.slo.goodput_tokens_per_sec >= 20 * 512
    out = CliRunner().invoke(cli, ["fleet", "meta-llama/Llama-3.1-70B", "--gpus", "H100,H200"])
    assert out.exit_code == 2 and "target" in out.output


def test_ttft_includes_the_benchmarks_start_up_burst():
    """SGLang DeepSeek-R1, 1P1D of TP16 (shared xPyD file): measured TTFT grows from 211 ms (1 user) to
    439 / 699 / 1125 ms at 32 / 64 / 128 users, far beyond the prefill queue at 14-31 % utilisation.
    The closed-loop benchmark starts every user at once; that burst's staircase, one request in
    benchmark.requests_per_user, accounts for it: each predicted within 35 %."""
    import csv

    with open(DISAGG, newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["engine"] == "sglang" and r["isl"] == "1024" and r["osl"] == "1024" and r["metric"] == "ttft_ms"]
    measured = {int(r["concurrency"]): float(r["value"]) for r in rows}
    assert measured[1] == pytest.approx(211.091) and measured[128] == pytest.approx(1125.44)
    for users in (1, 32, 64, 128):
        estimate = estimate_disaggregated(
            "deepseek-ai/DeepSeek-R1", "H100", input_length=1024, output_length=1024, concurrency=users,
            prefill_tensor_parallel_size=16, decode_tensor_parallel_size=16, precision="fp8", engine="sglang")
        assert estimate.time_to_first_token_ms == pytest.approx(measured[users], rel=0.35), users
        if users > 1:
            assert estimate.breakdown["ttft_startup_burst"] > 2 * estimate.breakdown["ttft_steady"]
