"""``validate_file`` on memory measurement CSVs: accuracy on the vLLM H100 logs, report shape, errors."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from gpurec_core.errors import MeasurementFileError
from gpurec_core.validate import validate_file

FIXTURES = Path(__file__).parent / "fixtures"
CSV = FIXTURES / "measurements" / "vllm_memory_h100.csv"
HEADER = ("model,model_path,checkpoint,dtype,quantization,kv_cache_dtype,engine,engine_version,gpu,tp,pp,"
          "max_model_len,gpu_memory_utilization,max_num_batched_tokens,max_num_seqs,metric,value,source")


@pytest.fixture(scope="module")
def report():
    return validate_file(CSV)


def test_accuracy_targets_on_vllm_h100_logs(report):
    # 217 rows of what vLLM 0.19.0 printed at start-up on H100 80GB (llm-d-planner logs)
    assert report.kind == "memory" and report.n_rows == 217 and report.n_errors == 0
    assert report.metrics["weights_gib"].median_ape <= 1.0
    assert report.metrics["kv_cache_gib"].median_ape <= 3.0
    assert report.metrics["kv_cache_tokens"].median_ape <= 3.0
    for row in report.rows:
        if row.metric in ("weights_gib", "kv_cache_gib", "kv_cache_tokens", "max_concurrency"):
            assert row.ape is not None and row.ape <= 10.0, row


def test_every_fp8_pp_tp4_and_moe_row_is_within_one_percent(report):
    hard = [r for r in report.rows if r.metric in ("kv_cache_gib", "kv_cache_tokens")
            and ("kv=fp8" in r.config or "pp=2" in r.config or "pp=4" in r.config or "tp=4" in r.config
                 or "Mixtral" in r.model or "A3B" in r.model)]
    assert len(hard) >= 16
    assert max(r.ape for r in hard) < 1.0


def test_report_json_shape(report):
    data = json.loads(json.dumps(report.to_dict()))
    assert {"metrics", "by_engine", "by_model", "rows", "worst"} <= set(data)
    assert set(data["metrics"]["kv_cache_gib"]) >= {"n", "median_ape", "p90_ape"}
    assert "vllm" in data["by_engine"] and "meta-llama/Llama-3.1-8B-Instruct" in data["by_model"]
    row = data["rows"][0]
    assert {"model", "config", "metric", "measured", "predicted", "ape", "error"} <= set(row)
    assert "vLLM 0.19.0 start-up log" in row["source"]
    assert data["worst"][0]["ape"] == max(r["ape"] for r in data["rows"] if r["ape"] is not None)


def _write(tmp_path: Path, lines: list[str], name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_value_names_file_row_and_column(tmp_path):
    path = _write(tmp_path, [HEADER, "meta-llama/Llama-3.1-8B-Instruct,,,bfloat16,,,vllm,0.19.0,H100,1,1,8192,0.95,8192,1024,weights_gib,lots,x"])
    with pytest.raises(MeasurementFileError) as info:
        validate_file(path)
    message = str(info.value)
    assert "m.csv" in message and "row 2" in message and "'value'" in message


def test_malformed_tp_and_unknown_metric(tmp_path):
    path = _write(tmp_path, [HEADER, "meta-llama/Llama-3.1-8B-Instruct,,,bfloat16,,,vllm,0.19.0,H100,1.5,1,8192,0.95,8192,1024,weights_gib,15,x"])
    with pytest.raises(MeasurementFileError, match="row 2, column 'tp'"):
        validate_file(path)
    path = _write(tmp_path, [HEADER, "meta-llama/Llama-3.1-8B-Instruct,,,bfloat16,,,vllm,0.19.0,H100,1,1,8192,0.95,8192,1024,joy_gib,15,x"])
    with pytest.raises(MeasurementFileError, match="unknown metric"):
        validate_file(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(MeasurementFileError, match="no such file"):
        validate_file(tmp_path / "missing.csv")
    with pytest.raises(MeasurementFileError, match="empty"):
        validate_file(_write(tmp_path, [""], "empty.csv"))
    with pytest.raises(MeasurementFileError, match="schema"):
        validate_file(_write(tmp_path, ["model,metric,value", "x,y,1"], "odd.csv"))
    with pytest.raises(MeasurementFileError, match="row 2"):
        validate_file(_write(tmp_path, [HEADER, "a,b"], "short.csv"))


def test_unknown_model_is_a_row_error_not_a_crash(tmp_path):
    path = _write(tmp_path, [HEADER, "nobody/no-such-model,,,bfloat16,,,vllm,0.19.0,H100,1,1,8192,0.95,8192,1024,weights_gib,15,x"])
    result = validate_file(path)
    assert result.n_errors == 1 and result.rows[0].predicted is None
    assert "no-such-model" in result.rows[0].error


def test_model_path_is_relative_to_the_csv(tmp_path):
    shutil.copytree(FIXTURES / "quantized" / "awq-llama-2-7b", tmp_path / "awq")
    path = _write(tmp_path, [HEADER, "TheBloke/Llama-2-7B-AWQ,awq,,float16,,,vllm,0.19.0,H100,1,1,4096,0.9,,,weights_gib,3.70,test"])
    result = validate_file(path)
    assert result.n_errors == 0
    # resolved from ./awq/config.json, so priced as AWQ 4-bit: ~3.6 GiB instead of 12.6 GiB in fp16
    assert 3.4 < result.rows[0].predicted < 3.9


def test_serving_files_go_to_validate_serving(tmp_path, monkeypatch):
    calls = []

    def predict_rows(rows, csv_dir, estimator):
        calls.append((len(rows), csv_dir, estimator))
        return [{"model": r["model"], "engine": r["engine"], "metric": r["metric"], "measured": float(r["value"]),
                 "predicted": 2 * float(r["value"]), "ape": 100.0, "config": "c", "error": None} for r in rows]

    fake = types.ModuleType("gpurec_core.validate_serving")
    fake.predict_rows = predict_rows
    monkeypatch.setitem(sys.modules, "gpurec_core.validate_serving", fake)
    import gpurec_core

    monkeypatch.setattr(gpurec_core, "validate_serving", fake, raising=False)
    path = _write(tmp_path, ["model,engine,gpu,tp,isl,osl,concurrency,metric,value",
                             "meta-llama/Llama-3.1-8B-Instruct,vllm,H100,1,1024,128,8,itl_ms,10"], "s.csv")
    result = validate_file(path, estimator="roofline")
    assert result.kind == "serving" and calls == [(1, tmp_path, "roofline")]
    assert result.metrics["itl_ms"].median_ape == 100.0
