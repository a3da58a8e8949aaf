"""Inputs gpurec must refuse in one line, before any long work, or flag row by row instead of
predicting nonsense: an engine on hardware it does not run on, an unwritable profile path, a
precision nobody knows, a measurement of zero, a missing profile in GPUREC_PROFILE, a bundled
plugin switched off, a memory row whose deployment cannot start."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpurec_core import estimate_performance
from gpurec_core.errors import EstimationError, WorkloadError
from gpurec_core.validate import validate_file

HEADER = "model,isl,osl,gpu,tp,concurrency,metric,value\n"


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True,
                          env={**os.environ, "GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})})


def one_line_error(result, *words):
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("gpurec: error:")]
    assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr


def test_engines_run_only_on_their_makers_gpus():
    """TensorRT-LLM runs on NVIDIA GPUs only and ATOM on AMD Instinct only (catalogs/engines/trtllm.toml and
    atom.toml, engine_info.manufacturers with their sources): recommend says why for the others, and a single
    estimate refuses."""
    rows = json.loads(run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", "MI300X,H100", "--engine", "trtllm",
                          "--json").stdout)["recommendations"]
    assert rows[0]["gpu"] == "H100" and rows[0]["model_fits"]
    mi300x = [r for r in rows if r["gpu"] == "MI300X"]
    assert mi300x and all(not r["model_fits"] and "trtllm runs on NVIDIA GPUs only" in " ".join(r["reasons"])
                          for r in mi300x)
    with pytest.raises(EstimationError, match="atom runs on AMD GPUs only and H100 is NVIDIA's"):
        estimate_performance("meta-llama/Llama-3.1-8B", "H100", engine="atom", input_length=1024, output_length=256)
    engines = {e["name"]: e for e in json.loads(run("engines", "--json").stdout)}
    assert engines["trtllm"]["manufacturers"] == ["NVIDIA"] and engines["vllm"]["manufacturers"] == []


def test_calibrate_checks_its_output_path_before_fitting(tmp_path):
    runs = tmp_path / "runs.csv"
    runs.write_text(HEADER + "meta-llama/Llama-3.1-8B,1024,512,H100,1,1,itl_ms,5\n")
    result = run("calibrate", str(runs), "-o", str(tmp_path / "missing" / "profile.toml"))
    one_line_error(result, "does not exist")
    assert "fitting" not in result.stderr  # refused before the fit starts


def test_calibrate_names_an_unknown_precision(tmp_path):
    runs = tmp_path / "runs.csv"
    runs.write_text(HEADER + "meta-llama/Llama-3.1-8B,1024,512,H100,1,1,itl_ms,5\n")
    one_line_error(run("calibrate", str(runs), "-o", str(tmp_path / "p.toml"), "--precision", "foo"),
                   "unknown precision 'foo'")


def test_a_serving_measurement_of_zero_is_refused_with_its_row(tmp_path):
    path = tmp_path / "zero.csv"
    path.write_text(HEADER + "meta-llama/Llama-3.1-8B,1024,512,H100,1,1,itl_ms,0\n")
    one_line_error(run("validate", str(path)), "row 2", "'value'")


def test_memory_rows_without_a_percentage_error_or_kv_cache_say_why(tmp_path):
    """Llama-3.1-8B in bf16 (8,030,261,248 parameters, its model card: 14.96 GiB of weights) cannot start on a
    16 GB T4: its KV-cache rows get an error, not a negative prediction; a measured 0 has no percentage error."""
    path = tmp_path / "memory.csv"
    path.write_text("model,dtype,engine,gpu,tp,max_model_len,metric,value\n"
                    "meta-llama/Llama-3.1-8B,bfloat16,vllm,T4,1,4096,kv_cache_gib,1.5\n"
                    "meta-llama/Llama-3.1-8B,bfloat16,vllm,T4,1,4096,weights_gib,14.96\n"
                    "meta-llama/Llama-3.1-8B,bfloat16,vllm,H100,1,4096,cuda_graph_gib,0\n")
    rows = validate_file(path).rows
    assert rows[0].predicted is None and "no KV cache is left" in rows[0].error
    assert rows[1].predicted == pytest.approx(14.96, rel=0.01) and rows[1].error is None
    assert rows[2].measured == 0 and "other than 0" in rows[2].error


def test_a_missing_profile_in_the_environment_stops_the_command():
    one_line_error(run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", "H100",
                       env={"GPUREC_PROFILE": str(Path("/nonexistent/profile.toml"))}),
                   "no such calibration profile")


def test_switching_off_the_bundled_engines_plugin_is_named():
    one_line_error(run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", "H100",
                       env={"GPUREC_DISABLED_PLUGINS": "capacity"}), "'capacity'", "GPUREC_DISABLED_PLUGINS")


@pytest.mark.parametrize("figure", ["true", '"80"'])
def test_a_gpu_figure_that_is_not_a_number_is_a_catalog_error(tmp_path, figure):
    catalog = tmp_path / "gpus.toml"
    catalog.write_text(f'[[gpu]]\nname = "LAB_X"\nmemory_gib = {figure}\nbandwidth_tb_s = 1.0\n')
    one_line_error(run("gpu", "LAB_X", env={"GPUREC_GPU_CATALOG": str(catalog)}), "memory_gib must be a number")


def test_a_bool_is_not_a_length():
    with pytest.raises(WorkloadError, match="input_length must be a number, got True"):
        estimate_performance("meta-llama/Llama-3.1-8B", "H100", input_length=True, output_length=512)


@pytest.mark.parametrize("gpus", ["", ","])
def test_a_gpu_list_that_names_nothing_is_refused(gpus):
    one_line_error(run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", gpus), "names no GPU")
    one_line_error(run("fleet", "meta-llama/Llama-3.1-8B", "--gpus", gpus, "--target-rps", "1"), "names no GPU")


def test_a_target_load_nothing_carries_is_not_recommended():
    result = run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", "H100", "--target-rps", "1e7")
    assert result.returncode == 0 and "Recommended: nothing carries the target load" in result.stdout
    rows = json.loads(run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", "H100", "--target-rps", "1e7",
                          "--json").stdout)["recommendations"]
    assert not any(r["meets_target"] for r in rows)
    assert all(r["meets_target"] for r in json.loads(run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", "H100",
                                                         "--json").stdout)["recommendations"] if r["model_fits"])


def test_fleet_says_what_stands_in_the_way():
    """V100 (compute capability 7.0) has no FP8 units: no fleet of it runs fp8 weights, and the text says so
    rather than blaming SLOs nobody set."""
    result = run("fleet", "meta-llama/Llama-3.1-8B", "--gpus", "V100", "--target-rps", "1", "--precision", "fp8")
    assert result.returncode == 0 and "No fleet: no deployment carries the target" in result.stdout
    assert "fp8" in result.stdout and "SLOs" not in result.stdout


def test_an_overloaded_deployment_says_its_ttft_is_queueing():
    """Ten million users on one H100: the KV pool holds a few hundred requests, so nearly every user waits."""
    crowded = estimate_performance("meta-llama/Llama-3.1-8B", "H100", input_length=1024, output_length=512,
                                   concurrency=10_000_000)
    assert any("users are waiting for their first token" in n and "10,000,000" in n for n in crowded.notes)
    assert not estimate_performance("meta-llama/Llama-3.1-8B", "H100", input_length=1024, output_length=512,
                                    concurrency=16).notes


@pytest.mark.parametrize("kwargs, option", [
    (dict(prefill_gpus=1.5), "prefill_gpus"), (dict(decode_gpus=True), "decode_gpus"), (dict(gpus=[1]), "gpus"),
    (dict(gpus=[]), "gpus names no GPU"), (dict(gpus=["H100"], progress=True), "progress must be a function")])
def test_recommend_gpus_names_a_wrong_type(kwargs, option):
    from gpurec_core import recommend_gpus

    with pytest.raises(WorkloadError, match=option):
        recommend_gpus("meta-llama/Llama-3.1-8B", **kwargs)


@pytest.mark.parametrize("gpus", [True, [], 5])
def test_sweep_names_a_wrong_gpu_list(gpus):
    from gpurec_core import sweep

    with pytest.raises(WorkloadError, match="gpus"):
        sweep(["meta-llama/Llama-3.1-8B"], gpus, input_lengths=[1024], output_lengths=[512], concurrencies=[1])


@pytest.mark.parametrize("args, words", [
    (("-tp", "4", "--max-tensor-parallel", "2"), ("conflict",)), (("--dtype", "int8"), ("not a float dtype",))])
def test_recommend_options_that_contradict_or_misname(args, words):
    one_line_error(run("recommend", "meta-llama/Llama-3.1-8B", "--gpus", "H100", *args), *words)


@pytest.mark.parametrize(("fields", "bytes_per_param", "said"), [
    ({"bits": 3}, 3 / 8, "3-bit weights (its 'bits' field"),  # AutoGPTQ's name for the bits
    ({"w_bit": 4, "group_size": 64}, 4 / 8 + 2 / 64, "group 64"),  # AutoAWQ's, with an fp16 scale per group
    ({}, 1.0, "8-bit weights (no bits field"),
])
def test_an_unknown_quant_method_is_planned_from_its_bits_and_said_to_be_a_guess(tmp_path, fields, bytes_per_param,
                                                                                  said):
    from gpurec_core import ModelArchitecture, recommend_gpus

    config = json.loads((Path(__file__).parents[1] / "catalogs/models/meta-llama/Llama-3.1-8B/config.json").read_text())
    config["quantization_config"] = {"quant_method": "superquant", **fields}
    (tmp_path / "config.json").write_text(json.dumps(config))
    model = ModelArchitecture(str(tmp_path))
    assert model.precision.weight_bytes_per_param == pytest.approx(bytes_per_param)
    estimate = estimate_performance(model, "H100", input_length=512, output_length=64, concurrency=1)
    result = recommend_gpus(model, gpus=["H100"])
    for notes in (estimate.notes, result.notes):
        assert any(said in n and "weights are a guess" in n for n in notes), notes
    assert not any("guess" in n for n in estimate_performance(model, "H100", precision="fp8", input_length=512,
                                                              output_length=64, concurrency=1).notes)
