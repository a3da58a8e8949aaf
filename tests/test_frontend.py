"""What takes the requests: the engine's own server or NVIDIA Dynamo's frontend (gpurec_core.models.Frontend).

Figures: NVIDIA NIM for LLMs benchmarking docs (Llama-3.3-70B FP8 on 2x H100, TP2; NIM 1.8.0, NIM's own
server in front of TensorRT-LLM), as copied in tests/fixtures/measurements/serving_h100.csv.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gpurec_core import estimate_performance
from gpurec_core.cli import cli
from gpurec_core.errors import MeasurementFileError, WorkloadError
from gpurec_core.validate import validate_file
from gpurec_roofline.constants import load_constants

ROOT = pathlib.Path(__file__).resolve().parents[1]
MEASUREMENTS = ROOT / "tests" / "fixtures" / "measurements"
NIM = dict(tensor_parallel_size=2, precision="fp8", engine="trtllm", input_length=500, output_length=2000,
           concurrency=1)
NIM_TTFT_MS = 47.77  # NIM 1.8.0, 500 in / 2000 out, 1 user


def test_the_engines_own_server_is_the_default_and_dynamo_adds_its_overhead():
    """Only TTFT moves, by the difference of the two request overheads in roofline.toml; a lone user has
    no queue for it to change."""
    own = estimate_performance("meta-llama/Llama-3.3-70B-Instruct", "H100", **NIM)
    same = estimate_performance("meta-llama/Llama-3.3-70B-Instruct", "H100", frontend="engine", **NIM)
    via = estimate_performance("meta-llama/Llama-3.3-70B-Instruct", "H100", frontend="dynamo", **NIM)
    trtllm = load_constants().engine("trtllm")
    assert own.ttft_ms == same.ttft_ms and via.itl_ms == pytest.approx(own.itl_ms, rel=1e-3)
    extra = trtllm.frontend_request_overhead_ms["dynamo"] - trtllm.request_overhead_ms
    assert via.ttft_ms - own.ttft_ms == pytest.approx(extra, rel=1e-3)
    assert own.breakdown["ttft_request_overhead"] == trtllm.request_overhead_ms
    assert via.breakdown["ttft_request_overhead"] == trtllm.frontend_request_overhead_ms["dynamo"]


def test_nims_own_server_reads_closer_than_the_dynamo_overhead():
    """NIM's row at 1 user measures 47.77 ms: planned behind the engine's own server it reads within 1.5x
    (the own-server overhead was fitted on these rows with vLLM's, docs/accuracy.md "Front ends"); the
    overhead TensorRT-LLM shows behind Dynamo would put it at 3x."""
    own = estimate_performance("meta-llama/Llama-3.3-70B-Instruct", "H100", **NIM)
    via = estimate_performance("meta-llama/Llama-3.3-70B-Instruct", "H100", frontend="dynamo", **NIM)
    assert own.ttft_ms / NIM_TTFT_MS < 1.5 < 2.5 < via.ttft_ms / NIM_TTFT_MS


def test_an_unknown_frontend_is_a_typed_error():
    with pytest.raises(WorkloadError, match="frontend='nginx'.*'engine' or 'dynamo'"):
        estimate_performance("meta-llama/Llama-3.1-8B", "H100", input_length=128, output_length=16, frontend="nginx")


def _write(path: pathlib.Path, rows: list[dict]) -> pathlib.Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _nim_rows() -> list[dict]:
    with open(MEASUREMENTS / "serving_h100.csv", newline="") as handle:
        return [r for r in csv.DictReader(handle) if "NIM" in r["source"] and r["concurrency"] == "1"
                and r["isl"] == "500"]


def test_a_frontend_column_and_inferencex_dynamo_engine_names_are_read(tmp_path):
    """A `frontend` cell says it; so does an engine named as InferenceX names its Dynamo runs (`dynamo-trt`,
    .github/configs/nvidia-master.yaml) or a source naming a Dynamo runtime image; the report labels the row."""
    rows = _nim_rows()
    own = validate_file(_write(tmp_path / "own.csv", rows))
    column = validate_file(_write(tmp_path / "column.csv", [dict(r, frontend="dynamo") for r in rows]))
    named = validate_file(_write(tmp_path / "named.csv", [dict(r, engine="dynamo-trt") for r in rows]))
    module = validate_file(_write(tmp_path / "module.csv", [dict(r, engine="dynamo-trtllm") for r in rows]))
    image = validate_file(_write(tmp_path / "image.csv", [
        dict(r, source="image=nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1") for r in rows]))
    ttft = {name: next(r.predicted for r in report.rows if r.metric == "ttft_ms")
            for name, report in (("own", own), ("column", column), ("named", named), ("image", image))}
    ttft["module"] = next(r.predicted for r in module.rows if r.metric == "ttft_ms")
    assert ttft["column"] == ttft["named"] == ttft["module"] == ttft["image"] > ttft["own"]
    assert all(r.config.endswith("via dynamo") for r in column.rows + named.rows + module.rows + image.rows)
    assert not any("via" in r.config for r in own.rows)


def test_a_bad_frontend_cell_names_its_row_and_column(tmp_path):
    path = _write(tmp_path / "bad.csv", [dict(r, frontend="triton") for r in _nim_rows()])
    with pytest.raises(MeasurementFileError, match=r"row 2, column 'frontend': 'triton' is not 'engine' or 'dynamo'"):
        validate_file(path)


def test_recommend_says_what_it_timed_and_what_launch_prints():
    args = ["recommend", "meta-llama/Llama-3.1-8B", "--gpus", "H100", "--engine", "trtllm", "--top", "1"]
    plain = CliRunner().invoke(cli, args)
    via = CliRunner().invoke(cli, [*args, "--frontend", "dynamo"])
    assert plain.exit_code == 0 and via.exit_code == 0, via.output
    assert "trtllm, roofline estimator" in plain.output and "behind NVIDIA Dynamo" not in plain.output
    assert "trtllm behind NVIDIA Dynamo, roofline estimator" in " ".join(via.output.split())
    assert "python -m dynamo.trtllm" in via.output
    bad = CliRunner().invoke(cli, [*args, "--frontend", "nginx"])
    assert bad.exit_code == 2 and "'nginx' is not one of 'engine', 'dynamo'" in bad.output


def test_the_as_served_copy_is_the_shared_file_plus_its_front_ends():
    """scripts/serving_frontends.py --check: every row and value of serving_h100.csv, plus `frontend` and
    `random_range_ratio`."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "serving_frontends.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1332 rows via dynamo, 308 via the engine's own server" in result.stdout


def test_fleet_sizes_for_the_frontend_asked():
    """A TTFT SLO between the two front ends' TTFTs: behind the engine's own server the 1-GPU deployment
    meets it, behind Dynamo it does not (the overheads of roofline.toml)."""
    own = estimate_performance("meta-llama/Llama-3.1-8B", "H100", engine="trtllm", input_length=1024,
                               output_length=256, concurrency=1)
    via = estimate_performance("meta-llama/Llama-3.1-8B", "H100", engine="trtllm", input_length=1024,
                               output_length=256, concurrency=1, frontend="dynamo")
    slo = (own.ttft_ms + via.ttft_ms) / 2
    args = ["fleet", "meta-llama/Llama-3.1-8B", "--gpus", "H100", "--engine", "trtllm", "--target-rps", "0.5",
            "--ttft-slo-ms", f"{slo:.1f}", "--output-length", "256", "--json"]
    plain = CliRunner().invoke(cli, args)
    dynamo = CliRunner().invoke(cli, [*args, "--frontend", "dynamo"])
    assert plain.exit_code == 0 and dynamo.exit_code == 0, dynamo.output
    assert json.loads(plain.output)["best"]["layout"] == "TP1"
    assert json.loads(dynamo.output)["best"] is None
    assert json.loads(dynamo.output)["workload"]["frontend"] == "dynamo"


def test_a_calibrated_request_overhead_is_the_one_of_the_runs_it_was_fitted_on():
    """`gpurec calibrate` fits request_overhead_ms on the user's own runs, whatever front end served them: a
    profile's value applies behind either front end (docs/calibrate.md)."""
    from gpurec_roofline.fitting import with_factors

    calibrated = with_factors(load_constants(), {"request_overhead_ms": 42.0}, "hopper", "vllm", "bf16")
    assert calibrated.engine("vllm").request_overhead_ms == 42.0
    assert calibrated.engine("vllm", "dynamo").request_overhead_ms == 42.0
    assert load_constants().engine("vllm", "dynamo").request_overhead_ms != 42.0


def test_validate_says_how_it_read_each_rows_front_end(tmp_path):
    rows = _nim_rows()
    path = _write(tmp_path / "mixed.csv", [dict(rows[0], frontend="dynamo"), dict(rows[1], frontend="")])
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert ("Front ends: 1 row(s) read as served through NVIDIA Dynamo, 1 through the engine's own server"
            in " ".join(result.output.split()))
    assert [r["frontend"] for r in json.loads(CliRunner().invoke(cli, ["validate", str(path), "--json"]).output)
            ["rows"]] == ["dynamo", "engine"]


def test_calibrate_reads_the_front_end_of_the_runs(tmp_path):
    """`gpurec calibrate` takes the front end from a vllm bench file's `--metadata frontend=...` or from
    --frontend, and fits from that front end's request overhead (the scope's default); a bad value is one
    line naming it."""
    from gpurec_core.benchmark_files import read_benchmark_file, write_vllm_bench_json
    from gpurec_roofline.calibrate import _Scope

    rows = _nim_rows()
    plain = tmp_path / "plain.json"
    write_vllm_bench_json(rows, plain)
    tagged = tmp_path / "dynamo.json"
    write_vllm_bench_json([dict(r, frontend="dynamo") for r in rows], tagged)
    assert {r.get("frontend", "") for r in read_benchmark_file(plain, {})} == {""}
    assert {r["frontend"] for r in read_benchmark_file(tagged, {})} == {"dynamo"}
    assert {r["frontend"] for r in read_benchmark_file(plain, {"frontend": "dynamo"})} == {"dynamo"}
    trtllm = load_constants().engine("trtllm")
    for path, expected in ((plain, trtllm.request_overhead_ms),
                           (tagged, trtllm.frontend_request_overhead_ms["dynamo"])):
        scope = _Scope(read_benchmark_file(path, {}), load_constants(), {})
        assert scope.defaults["request_overhead_ms"] == expected
    triton = tmp_path / "triton.json"
    write_vllm_bench_json([dict(r, frontend="triton") for r in rows], triton)
    with pytest.raises(MeasurementFileError, match="frontend 'triton' is not one of engine, dynamo"):
        read_benchmark_file(triton, {})
    bad = CliRunner().invoke(cli, ["calibrate", str(plain), "--frontend", "nginx", "-o", str(tmp_path / "p.toml")])
    assert bad.exit_code == 2 and "'nginx' is not one of 'engine', 'dynamo'" in bad.output


def test_a_sweep_is_timed_behind_the_front_end_asked():
    from gpurec_core import sweep

    kwargs = dict(tensor_parallel_sizes=[1], input_lengths=[1024], output_lengths=[128], concurrencies=[1],
                  engine="trtllm")
    own = sweep("meta-llama/Llama-3.1-8B", ["H100"], **kwargs)
    via = sweep("meta-llama/Llama-3.1-8B", ["H100"], frontend="dynamo", **kwargs)
    trtllm = load_constants().engine("trtllm")
    extra = trtllm.frontend_request_overhead_ms["dynamo"] - trtllm.request_overhead_ms
    assert float(via.ttft_ms[0] - own.ttft_ms[0]) == pytest.approx(extra, rel=1e-3)


#: Dynamo-served TensorRT-LLM 1.0.0rc3 runs of Llama-3.1-8B-Instruct bf16 on H100, TP8 (aiconfigurator-core 0.12.0
#: systems/silicon_sample.csv, as copied in tests/fixtures/measurements/serving_h100.csv): 1024 in / 512 out at 128
#: users (TTFT 2,019.632 ms, ITL 10.165 ms), and 2048 in / 512 out at 64 users (TTFT 296.024 ms, ITL 6.330 ms), the
#: highest rate any Dynamo-served TensorRT-LLM calibration run delivered: 64 x 512 / (0.296024 + 511 x 0.00633) s.
PLATEAU = dict(tensor_parallel_size=8, engine="trtllm", input_length=1024, output_length=512, concurrency=128)
PLATEAU_TTFT_MS = 2019.632
HIGHEST_DELIVERED = 64 * 512 / (0.296024 + 511 * 0.00633)


def _calibrate_roofline():
    spec = importlib.util.spec_from_file_location("calibrate_roofline", ROOT / "scripts" / "calibrate_roofline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dynamo_delivery_ceiling_is_read_off_the_calibration_runs():
    """scripts/calibrate_roofline.py's DELIVERY stage, on the Dynamo-served calibration rows of the as-served file,
    gives roofline.toml's ceilings: TensorRT-LLM's is the highest rate one of its runs delivered (12 of its runs are
    predicted above it); vLLM's and SGLang's runs show no such plateau and get none."""
    script = _calibrate_roofline()
    with open(MEASUREMENTS / "serving_h100_as_served.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if script.calibration_split(r) == "calibration" and script.frontend_of(r) == "dynamo"]
    constants = load_constants()
    read = script.fit_delivery(script.Problem(rows), constants)
    assert read.engines["trtllm"].frontend_delivery_tokens_per_s == {"dynamo": round(HIGHEST_DELIVERED)}
    assert constants.engine("trtllm", "dynamo").delivery_tokens_per_s == round(HIGHEST_DELIVERED) == 9281
    for engine in ("vllm", "sglang"):
        assert read.engines[engine].frontend_delivery_tokens_per_s == {}
        assert constants.engine(engine, "dynamo").delivery_tokens_per_s is None


def test_a_front_end_slower_than_the_engine_holds_requests_before_it():
    """At 128 users TensorRT-LLM on 8 H100s makes more than 9,281 tok/s of Llama-3.1-8B; behind Dynamo the users'
    cycle stretches to 128 x 512 / 9,281 s and the wait is TTFT (the ITL is the engine's). Measured: 2,019.6 ms,
    within 2.5x; read behind the engine's own server (no ceiling known) it is more than 10x short."""
    own = estimate_performance("meta-llama/Llama-3.1-8B-Instruct", "H100", **PLATEAU)
    via = estimate_performance("meta-llama/Llama-3.1-8B-Instruct", "H100", frontend="dynamo", **PLATEAU)
    ceiling = load_constants().engine("trtllm", "dynamo").delivery_tokens_per_s
    assert own.throughput_tokens_per_sec > ceiling and own.breakdown["ttft_front_end_wait"] == 0
    assert via.throughput_tokens_per_sec == pytest.approx(ceiling)
    # the steady cycle; the mean TTFT also holds the benchmark's start-up burst, one request per user in a run
    assert via.ttft_ms + 511 * via.itl_ms == pytest.approx(128 * 512 / ceiling * 1e3, rel=0.01)
    assert via.breakdown["ttft_front_end_wait"] > via.ttft_ms / 2
    assert "the front end streams at most 9,281 output tokens/s per replica" in via.notes[0]
    assert 0.4 < via.ttft_ms / PLATEAU_TTFT_MS < 2.5 and PLATEAU_TTFT_MS / own.ttft_ms > 10


def test_no_ceiling_where_the_front_end_keeps_up_or_none_is_known():
    """The ceiling binds only above it: 16 users make far fewer tokens than 9,281 a second; vLLM behind Dynamo
    has no ceiling in roofline.toml, so 128 users there are not held back."""
    light = estimate_performance("meta-llama/Llama-3.1-8B-Instruct", "H100", frontend="dynamo",
                                 **{**PLATEAU, "concurrency": 16})
    vllm = estimate_performance("meta-llama/Llama-3.1-8B-Instruct", "H100", frontend="dynamo",
                                **{**PLATEAU, "engine": "vllm"})
    assert light.throughput_tokens_per_sec < 9281 and light.breakdown["ttft_front_end_wait"] == 0
    assert vllm.throughput_tokens_per_sec > 9281 and vllm.breakdown["ttft_front_end_wait"] == 0
