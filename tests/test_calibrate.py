"""Calibration profiles (issue 11): the fit, cross-validation, profile files and their use.

Rows are taken from tests/fixtures/measurements/serving_h100.csv (an unchanged copy of the reference
data, aiconfigurator-core 0.12.0 silicon_sample.csv, H100 SXM): Qwen3-32B bf16 on vLLM 0.12, 18
configurations, TP1/TP2. The H100 factors are reset to the uncalibrated defaults ([efficiency.default])
as in scripts/calibrate_acceptance.py.
"""

from __future__ import annotations

import csv
import importlib.util
import pathlib

import pytest
from click.testing import CliRunner

from gpurec_core.api import estimate_performance
from gpurec_core.calibration import read_profile, using_profiles, write_profile
from gpurec_core.catalogs import catalog_path
from gpurec_core.cli import cli
from gpurec_core.errors import CatalogError
from gpurec_core.plugins import fit_calibration

ROOT = pathlib.Path(__file__).resolve().parents[1]
SERVING = ROOT / "tests" / "fixtures" / "measurements" / "serving_h100.csv"


def _acceptance():
    spec = importlib.util.spec_from_file_location("calibrate_acceptance", ROOT / "scripts" / "calibrate_acceptance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reset_constants(tmp_path_factory):
    path = tmp_path_factory.mktemp("constants") / "roofline_reset.toml"
    path.write_text(_acceptance().reset_hopper((catalog_path("engines") / "roofline.toml").read_text()))
    return path


@pytest.fixture
def reset(reset_constants, monkeypatch):
    from gpurec_roofline.constants import load_constants

    monkeypatch.setenv("GPUREC_ROOFLINE_CONSTANTS", str(reset_constants))
    load_constants.cache_clear()
    yield reset_constants
    monkeypatch.delenv("GPUREC_ROOFLINE_CONSTANTS")
    load_constants.cache_clear()


def qwen_vllm_rows() -> list[dict]:
    with open(SERVING, newline="") as handle:
        return [r for r in csv.DictReader(handle)
                if r["model"] == "Qwen/Qwen3-32B" and r["engine"] == "vllm" and r["precision"] == "bf16"]


def fitted_profile(rows: list[dict], name: str, tmp_path_factory, reset_constants):
    """The profile ``gpurec calibrate`` fits on ``rows`` from the reset H100 factors, written and read back."""
    import os

    from gpurec_roofline.constants import load_constants

    os.environ["GPUREC_ROOFLINE_CONSTANTS"] = str(reset_constants)
    load_constants.cache_clear()
    try:
        fitted = fit_calibration(rows, "roofline", files=("serving_h100.csv",), folds=3)
    finally:
        del os.environ["GPUREC_ROOFLINE_CONSTANTS"]
        load_constants.cache_clear()
    path = tmp_path_factory.mktemp("profile") / name
    write_profile(fitted, path)
    return read_profile(path)


@pytest.fixture(scope="module")
def profile(tmp_path_factory, reset_constants):
    return fitted_profile(qwen_vllm_rows(), "h100.toml", tmp_path_factory, reset_constants)


def test_the_fit_cross_validates_and_beats_the_defaults(profile):
    (scope,) = profile.scopes
    assert (scope.gpu, scope.engine, scope.precision) == ("H100", "vllm", "bf16")
    assert scope.rows == 180 and scope.configurations == 18 and scope.folds == 3
    for metric in ("itl_ms", "ttft_ms"):
        assert scope.error_after[metric].median < scope.error_before[metric].median, metric
    factors = {f.name: f for f in scope.factors}
    # [efficiency.default] bandwidth 0.7 is the reset default; the runs move it
    assert factors["bandwidth_efficiency"].default == 0.7 and factors["bandwidth_efficiency"].value is not None
    # only TP1/TP2 of one model: per-layer gaps cannot be told from the step overhead
    assert factors["per_layer_overhead_us"].value is None
    assert "different layer counts" in factors["per_layer_overhead_us"].why
    assert set(scope.bands) >= {"itl_ms", "ttft_ms"}


def test_a_profile_round_trips_through_its_toml(profile, tmp_path):
    again = tmp_path / "again.toml"
    write_profile(profile, again)
    assert read_profile(again).model_copy(update={"path": ""}) == profile.model_copy(update={"path": ""})


def test_estimates_use_the_profile_only_for_its_scope(profile, reset):
    """Qwen3-32B bf16, vLLM, TP2, 1024 in / 512 out, 8 users: measured ITL 16.478 ms (fixture row)."""
    with open(SERVING, newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["model"] == "Qwen/Qwen3-32B" and r["engine"] == "vllm"
                   and r["tp"] == "2" and r["isl"] == "1024" and r["osl"] == "512" and r["concurrency"] == "8"
                   and r["metric"] == "itl_ms")
    measured = float(row["value"])
    assert measured == 16.478
    kwargs = dict(tensor_parallel_size=2, input_length=1024, output_length=512, concurrency=8)
    plain = estimate_performance("Qwen/Qwen3-32B", "H100", **kwargs)
    other_gpu = estimate_performance("Qwen/Qwen3-32B", "H200", **kwargs)
    with using_profiles([profile.path]):
        calibrated = estimate_performance("Qwen/Qwen3-32B", "H100", **kwargs)
        h200 = estimate_performance("Qwen/Qwen3-32B", "H200", **kwargs)
    assert abs(calibrated.itl_ms - measured) < abs(plain.itl_ms - measured)
    assert h200.itl_ms == other_gpu.itl_ms  # no H200 scope: the defaults
    assert "calibration profile" in calibrated.bands.fitted_on["itl_ms"]


def test_the_cli_names_the_profile_in_use_and_rejects_a_bad_one(profile, tmp_path, monkeypatch):
    runner = CliRunner()
    shown = runner.invoke(cli, ["estimators", "--profile", profile.path])
    assert shown.exit_code == 0 and "calibration profile in use" in shown.output and "H100/vllm/bf16" in shown.output
    monkeypatch.setenv("GPUREC_PROFILE", profile.path)
    assert "H100/vllm/bf16" in runner.invoke(cli, ["estimators"]).output
    monkeypatch.delenv("GPUREC_PROFILE")
    bad = tmp_path / "bad.toml"
    bad.write_text("schema_version = 1\nestimator = 'roofline'\n")
    result = runner.invoke(cli, ["recommend", "Qwen/Qwen3-32B", "--gpus", "H100", "--profile", str(bad)])
    assert result.exit_code == 2 and "bad.toml" in result.output and "Traceback" not in result.output
    with pytest.raises(CatalogError, match="no such calibration profile"):
        read_profile(tmp_path / "missing.toml")


def test_a_plugin_ships_a_profile_through_an_entry_point(profile, tmp_path, monkeypatch):
    """A distribution with a `gpurec.profiles` entry point (a callable returning the profile's path)."""
    import importlib

    from plugin_dists import write_distribution

    from gpurec_core.calibration import active_profiles, scope_for

    shipped = tmp_path / "site" / "acme_profiles_data"
    shipped.mkdir(parents=True)
    (shipped / "h100.toml").write_text(pathlib.Path(profile.path).read_text())
    write_distribution(tmp_path / "site", "acme-profiles", group="gpurec.profiles",
                       modules={"acme_profiles": f"def profiles():\n    return [{str(shipped / 'h100.toml')!r}]\n"},
                       entry_points={"acme": "acme_profiles:profiles"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    active_profiles.cache_clear()
    try:
        found = scope_for("roofline", "H100", "vllm", "bf16")
        assert found is not None and found[0].path.endswith("acme_profiles_data/h100.toml")
        assert scope_for("roofline", "H100", "sglang", "bf16") is None
    finally:
        active_profiles.cache_clear()


BENCH = ROOT / "tests" / "fixtures" / "benchmarks"


def test_gpurec_calibrate_reads_vllm_and_guidellm_files(tmp_path):
    """The converted fixtures (tests/fixtures/benchmarks/README.md): vLLM bench JSON and GuideLLM reports
    of Qwen3-32B bf16 on vLLM 0.12, H100."""
    files = sorted(str(p) for p in BENCH.glob("*.json") if p.name not in ("malformed.json", "unknown_shape.json"))
    out = tmp_path / "p.toml"
    result = CliRunner().invoke(cli, ["calibrate", *files, "--gpu", "H100", "--output", str(out)])
    assert result.exit_code == 0, result.output
    (scope,) = read_profile(out).scopes
    assert (scope.gpu, scope.engine, scope.precision) == ("H100", "vllm", "bf16") and scope.rows > 0
    assert f"wrote {out}" in result.output


def test_a_fit_that_predicts_held_out_configurations_worse_keeps_the_defaults(tmp_path):
    """docs/calibrate.md's example: five files, three configurations of Qwen3-32B on vLLM (H100). TTFT
    factors fitted on two configurations trade the per-request overhead against the in-flight wait and
    predict the third worse than the bundled defaults, so the TTFT factors keep their defaults, the
    profile says why, and the held-out TTFT error is no worse than the defaults'; the ITL factors the
    runs constrain are still fitted."""
    files = [str(BENCH / name) for name in (
        "vllm_qwen3-32b_tp2_isl1024_osl1024_c8.json", "vllm_qwen3-32b_tp2_isl1024_osl1024_c16.json",
        "vllm_qwen3-32b_tp2_isl1024_osl1024_c64_c128_appended.json", "guidellm_v2_qwen3-32b_tp2_isl4096_osl128.json",
        "guidellm_v0.3_qwen3-32b_tp4_isl1024_osl128.json")]
    out = tmp_path / "qwen.toml"
    result = CliRunner().invoke(cli, ["calibrate", *files, "--output", str(out)])
    assert result.exit_code == 0, result.output
    (scope,) = read_profile(out).scopes
    assert scope.configurations == 3 and scope.folds == 3
    factors = {f.name: f for f in scope.factors}
    for name in ("request_overhead_ms", "arrival_wait_steps"):
        assert factors[name].value is None and "held-out ttft_ms error worse" in factors[name].why, name
    assert factors["step_overhead_ms"].value is not None
    # only the ITL factors are fitted; the step overhead is in every TTFT too, so TTFT may move by a hair
    assert scope.error_after["ttft_ms"].median <= scope.error_before["ttft_ms"].median + 0.1
    assert scope.error_after["itl_ms"].median < scope.error_before["itl_ms"].median
    assert "so the default is kept" in result.output


@pytest.mark.parametrize("name, expected", [("malformed.json", "malformed.json"),
                                            ("unknown_shape.json", "unknown_shape.json")])
def test_gpurec_calibrate_refuses_what_it_cannot_read_in_one_line(name, expected, tmp_path):
    result = CliRunner().invoke(cli, ["calibrate", str(BENCH / name), "--output", str(tmp_path / "p.toml")])
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "p.toml").exists()


def vllm_fp8_rows() -> list[dict]:
    """vLLM fp8 runs of two models in one (GPU, engine, precision) scope: Llama-3.1-70B (dense, 9
    configurations) and MiniMax-M2.5 (MoE, 3 configurations)."""
    with open(SERVING, newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["engine"] == "vllm" and r["precision"] == "fp8"
                and r["model"] in ("meta-llama/Llama-3.1-70B", "MiniMaxAI/MiniMax-M2.5")]


@pytest.fixture(scope="module")
def two_model_profile(tmp_path_factory, reset_constants):
    return fitted_profile(vllm_fp8_rows(), "two_models.toml", tmp_path_factory, reset_constants)


def test_a_model_with_runs_of_its_own_gets_its_own_scope(two_model_profile, tmp_path):
    from gpurec_core.calibration import ANY, scope_for

    scopes = {s.model: s for s in two_model_profile.scopes}
    every = scopes[ANY]
    assert (every.rows, every.configurations) == (120, 12)
    # Llama-3.1-70B: 90 values, 9 configurations; MiniMax-M2.5: 30 values, 3 configurations (vllm_fp8_rows)
    sizes = {"meta-llama/Llama-3.1-70B": (90, 9, 3), "MiniMaxAI/MiniMax-M2.5": (30, 3, 3)}
    own = {model: scope for model, scope in scopes.items() if model != ANY}
    assert own, "neither model's own scope was kept"
    mean = lambda errors: sum(e.median for e in errors.values()) / len(errors)  # noqa: E731
    fitted_for_both = every.fitted()
    for model, scope in own.items():
        assert (scope.rows, scope.configurations, scope.folds) == sizes[model]
        # kept because it predicts the model's held-out configurations better than the scope of both models
        # (each fitted without the held-out fold, on the folds of the scope of both models)
        assert mean(scope.error_after) < mean(scope.error_before), model
        # the factors the model's runs leave alone keep the values fitted on both models
        for factor in scope.factors:
            if factor.name in fitted_for_both:
                assert factor.value is not None, (model, factor.name)
    again = tmp_path / "again.toml"
    write_profile(two_model_profile, again)
    assert read_profile(again).model_copy(update={"path": ""}) == two_model_profile.model_copy(update={"path": ""})
    with using_profiles([two_model_profile.path]):
        for model in sizes:  # a model's own scope where it was kept, else the scope of both models
            assert scope_for("roofline", "H100", "vllm", "fp8", model)[1] == own.get(model, every)
        assert scope_for("roofline", "H100", "vllm", "fp8", "Qwen/Qwen3-32B")[1] == every
        assert scope_for("roofline", "H100", "vllm", "fp8")[1] == every


def test_a_models_own_scope_brings_its_estimates_to_its_runs(two_model_profile, reset):
    """Over the fixture values of a model whose own scope was kept (the runs its scope was fitted on),
    estimates through the profile use that scope and come closer than with the scope of both models alone;
    a model without runs of its own (Qwen3-32B fp8) gets the scope of both models."""
    import statistics

    from gpurec_core.calibration import ANY
    from gpurec_core.validate_serving import predict_rows

    kept = next(s.model for s in two_model_profile.scopes if s.model != ANY)
    runs = [r for r in vllm_fp8_rows() if r["model"] == kept]
    every_only = two_model_profile.model_copy(update={"scopes": tuple(s for s in two_model_profile.scopes
                                                                      if s.model == ANY)})
    path = pathlib.Path(two_model_profile.path).with_name("every_only.toml")
    write_profile(every_only, path)

    def median_errors(profile_path):
        with using_profiles([str(profile_path)]):
            rows = predict_rows(runs, SERVING.parent, "roofline")
        return {m: statistics.median(r["ape"] for r in rows if r["metric"] == m) for m in ("itl_ms", "ttft_ms")}

    own, shared = median_errors(two_model_profile.path), median_errors(path)
    assert own != shared  # the model's estimates go through its own scope
    # the fit's objective, the mean over metrics of the median error, is lower on the runs it was fitted on
    assert sum(own.values()) < sum(shared.values()), (own, shared)
    kwargs = dict(tensor_parallel_size=2, input_length=1024, output_length=1024, concurrency=8, precision="fp8")
    with using_profiles([str(path)]):
        shared = estimate_performance("Qwen/Qwen3-32B", "H100", **kwargs)
    with using_profiles([two_model_profile.path]):
        same = estimate_performance("Qwen/Qwen3-32B", "H100", **kwargs)
    assert (same.ttft_ms, same.itl_ms) == (shared.ttft_ms, shared.itl_ms)


def test_the_qwen_vllm_runs_show_no_front_end_ceiling(profile):
    """vLLM behind Dynamo delivers at most 5.9k tok/s in these runs, and none is predicted far above what it
    delivered: no plateau, so the profile carries no delivery ceiling and says why."""
    (scope,) = profile.scopes
    assert scope.delivery_tokens_per_s is None and "predicted above it" in scope.delivery_read
    assert "delivery_tokens_per_s" not in scope.fitted()


def test_a_front_end_ceiling_is_read_off_the_runs_that_plateau(tmp_path_factory, reset_constants):
    """TensorRT-LLM's Dynamo-served Llama-3.1-8B runs at TP4 and TP8 (aiconfigurator-core silicon data, the
    as-served copy of serving_h100.csv) plateau near 9.2k output tok/s per replica whatever their TP; the highest,
    TP8 2048 in / 512 out at 64 users (TTFT 296.024 ms, ITL 6.330 ms), delivered 64 x 512 / (0.296024 + 511 x
    0.00633) s = 9,281 tok/s. The profile reads that ceiling off the runs and applies it whatever front end a
    later estimate names (the user's runs are their own stack)."""
    with open(SERVING.parent / "serving_h100_as_served.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["model"] == "meta-llama/Llama-3.1-8B-Instruct"
                and r["engine"] == "trtllm" and r["tp"] in ("4", "8") and r["isl"] in ("1024", "2048")]
    fitted = fitted_profile(rows, "trtllm.toml", tmp_path_factory, reset_constants)
    (scope,) = fitted.scopes
    assert scope.delivery_tokens_per_s == round(64 * 512 / (0.296024 + 511 * 0.00633)) == 9281
    assert scope.delivery_read.startswith("60 runs, highest delivered 9,281 tok/s")
    with using_profiles([fitted.path]):
        own = estimate_performance("meta-llama/Llama-3.1-8B-Instruct", "H100", tensor_parallel_size=8, engine="trtllm",
                                   input_length=1024, output_length=512, concurrency=128)
    assert own.throughput_tokens_per_sec == pytest.approx(9281)
