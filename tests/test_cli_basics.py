"""CLI basics: tables, --json, and one-line errors with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"


def run(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True,
                          env={**os.environ, "GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})})


def test_gpus_table_and_json():
    table = run("gpus")
    assert table.returncode == 0 and "H100" in table.stdout
    data = json.loads(run("gpus", "--json").stdout)
    assert len(data) >= 30


def test_gpu_shows_sources():
    result = run("gpu", "mi300x", "--json")
    data = json.loads(result.stdout)
    assert data["name"] == "MI300X" and data["sources"]["bandwidth_tb_s"]


def test_unknown_gpu_one_line_exit_2():
    result = run("gpu", "H1000")
    assert result.returncode == 2
    assert "H100" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_user_catalog_gpu_listed():
    result = run("gpus", "--json", env={"GPUREC_GPU_CATALOG": str(FIXTURES / "custom_gpu.toml")})
    assert "LAB_CARD" in {g["name"] for g in json.loads(result.stdout)}


def test_bad_catalog_one_line_naming_file_entry_field():
    result = run("gpus", env={"GPUREC_GPU_CATALOG": str(FIXTURES / "bad_type.toml")})
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "bad_type.toml" in line and "BROKEN" in line and "memory_gib" in line


def test_estimators_json():
    data = json.loads(run("estimators", "--json").stdout)
    assert {"roofline", "llm-optimizer"} <= {e["name"] for e in data}


def test_import_is_quiet_and_light():
    code = "import sys, gpurec_core; print(sorted(m for m in ('pydantic','transformers','huggingface_hub','rich','torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]" and result.stderr == ""
