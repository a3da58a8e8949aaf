"""Every bad input gives one line on stderr and exit status 2, in bounded time: no traceback, no hang.

Measurement CSVs (``gpurec validate``), model directories and their JSON files (bounded size, depth
and numbers; FIFOs, devices, directories, permissions), ``GPUREC_GPU_CATALOG`` files, a Hub that
accepts connections and never answers, and absurd but valid inputs (10,000 layers, 10,000 GPUs).
Inputs that could hang run in a child process with a timeout, so a regression fails instead of
hanging the suite. Time bounds here are generous hang guards; speed is measured by
``benchmarks/bench_bad_inputs.py``. No test touches the internet.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from gpurec_core import resolve
from gpurec_core.bounded_read import MAX_JSON_DEPTH, MAX_JSON_FILE_BYTES, json_depth
from gpurec_core.cli import cli
from gpurec_core.errors import ModelNotFoundError
from gpurec_core.resolve import resolve_model

REPO_ROOT = Path(__file__).resolve().parents[1]
LLAMA_8B = REPO_ROOT / "catalogs" / "models" / "meta-llama" / "Llama-3.1-8B" / "config.json"
HANG_GUARD_S = 30  # a child process still running after this has hung
FAKE_TOKEN = "hf_SECRETbadinputs123"

MEMORY_HEADER = ("model,model_path,checkpoint,dtype,quantization,kv_cache_dtype,engine,engine_version,gpu,tp,pp,"
                 "max_model_len,gpu_memory_utilization,max_num_batched_tokens,max_num_seqs,metric,value,source")
MEMORY_ROW = ("meta-llama/Llama-3.1-8B,,,bfloat16,,,vllm,0.19.0,H100,1,1,8192,0.9,8192,256,weights_gib,14.99,"
              "vLLM 0.19 on H100 reports 14.99 GiB of weights")
SERVING_HEADER = ("model,model_path,checkpoint,precision,kv_cache_dtype,engine,engine_version,gpu,tp,pp,ep,isl,osl,"
                  "concurrency,metric,value,source")
SERVING_ROW = "meta-llama/Llama-3.1-8B,,,bf16,,vllm,0.18.0,H100,1,1,1,1024,128,4,itl_ms,10.0,test"


# --------------------------------------------------------------------------------------------
# Helpers


def run_cli(*args: str) -> tuple[int, list[str], float]:
    """(exit code, stderr lines, seconds) of the CLI run in this process."""
    started = time.monotonic()
    result = CliRunner().invoke(cli, list(args))
    elapsed = time.monotonic() - started
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr.strip().splitlines(), elapsed


def run_process(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()):
    """(exit code, stdout, stderr lines, seconds) of ``python -m gpurec_core`` in a child process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "GPUREC_"))}
    base.update({"HF_HUB_OFFLINE": "1", "GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})})
    started = time.monotonic()
    done = subprocess.run([*prefix, sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True,
                          env=base, cwd=REPO_ROOT, timeout=HANG_GUARD_S)
    return done.returncode, done.stdout, done.stderr.strip().splitlines(), time.monotonic() - started


def assert_one_line(code: int, lines: list[str], *fragments: str) -> str:
    """Exit 2, exactly one stderr line, no traceback, every fragment in it."""
    assert code == 2, lines
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("gpurec: error: ") and "Traceback" not in line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def llama_config(**changes) -> dict:
    """Llama-3.1-8B's bundled config.json with ``changes``."""
    return {**json.loads(LLAMA_8B.read_text()), **changes}


def model_dir(path: Path, files: dict[str, object]) -> Path:
    """A model directory: bytes are written, 'FIFO' makes a named pipe, 'DIR' a directory, a Path a symlink."""
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = path / name
        if content == "FIFO":
            os.mkfifo(target)
        elif content == "DIR":
            target.mkdir()
        elif isinstance(content, Path):
            target.symlink_to(content)
        else:
            target.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def unprivileged_prefix() -> tuple[str, ...]:
    """How to run a child that file permissions apply to: as is when not root; as root without
    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (``setpriv``); skip when neither is possible."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--") if setpriv else ()
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"gpurec-noperm-{os.getpid()}"
    probe.mkdir(mode=0, exist_ok=True)
    try:
        blocked = bool(prefix) and subprocess.run([*prefix, "ls", str(probe)], capture_output=True).returncode != 0
    finally:
        probe.rmdir()
    if not blocked:
        pytest.skip("running as root, and root cannot be denied a read here (no setpriv able to drop "
                    "CAP_DAC_OVERRIDE): permission errors cannot be produced")
    return prefix


# --------------------------------------------------------------------------------------------
# 1. gpurec validate: a malformed cell or file is one line naming the file, row and column


def write_csv(tmp_path: Path, header: str, rows: list[str], name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def with_cell(header: str, row: str, column: str, value: str) -> str:
    names = header.split(",")
    cells = row.split(",", len(names) - 1)
    cells[names.index(column)] = value
    return ",".join(cells)


BAD_CELLS = [
    ("memory", "tp", "abc"), ("memory", "value", "abc"), ("memory", "tp", "inf"), ("memory", "tp", "0"),
    ("memory", "tp", "-1"), ("memory", "tp", "1.5"), ("memory", "value", "nan"), ("memory", "max_model_len", "1e999"),
    ("memory", "gpu_memory_utilization", "2"), ("memory", "max_num_seqs", "-4"), ("memory", "value", ""),
    ("serving", "isl", "nan"), ("serving", "concurrency", "1e999"), ("serving", "osl", "abc"), ("serving", "tp", "0"),
    ("serving", "concurrency", "-3"), ("serving", "ep", "x"), ("serving", "value", "inf"), ("serving", "isl", ""),
    ("serving", "model", ""),
]


@pytest.mark.parametrize(("schema", "column", "value"), BAD_CELLS)
def test_validate_bad_cell_is_one_line_naming_file_row_column_value(tmp_path, schema, column, value):
    header, row = (MEMORY_HEADER, MEMORY_ROW) if schema == "memory" else (SERVING_HEADER, SERVING_ROW)
    path = write_csv(tmp_path, header, [row, with_cell(header, row, column, value)])
    code, lines, _ = run_cli("validate", str(path))
    line = assert_one_line(code, lines, "m.csv", "row 3", f"column {column!r}")
    assert repr(value) in line if value else "empty" in line


@pytest.mark.parametrize(("rows", "expected"), [
    ([MEMORY_ROW + ",extra"], ("row 2", "column 19", "'extra'")),
    ([",".join(MEMORY_ROW.split(",")[:5])], ("row 2", "column 'kv_cache_dtype'", "missing cell")),
    ([], ("row 2", "no measurements")),
    (['"' + MEMORY_ROW, MEMORY_ROW], ("row 2", "column 'model'", "runs over 2 lines", "never closed")),
])
def test_validate_row_of_the_wrong_length_or_no_rows(tmp_path, rows, expected):
    path = write_csv(tmp_path, MEMORY_HEADER, rows)
    assert_one_line(*run_cli("validate", str(path))[:2], "m.csv", *expected)


def test_validate_header_with_an_unclosed_quote(tmp_path):
    path = write_csv(tmp_path, '"' + MEMORY_HEADER, [MEMORY_ROW])
    assert_one_line(*run_cli("validate", str(path))[:2], "m.csv", "row 1", "header", "never closed")


def test_validate_empty_file(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"")
    assert_one_line(*run_cli("validate", str(path))[:2], "m.csv", "row 1", "empty")


def test_validate_non_utf8_file_names_row_and_column(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(f"{MEMORY_HEADER}\n{MEMORY_ROW}".encode() + b" \xff\xfe\n")  # in the last cell, 'source'
    assert_one_line(*run_cli("validate", str(path))[:2], "m.csv", "row 2", "column 'source'", "0xff", "UTF-8")


def test_validate_fifo_is_refused_at_once(tmp_path):
    path = tmp_path / "m.csv"
    os.mkfifo(path)
    code, _, lines, seconds = run_process("validate", str(path))
    assert_one_line(code, lines, "m.csv", "FIFO")
    assert seconds < HANG_GUARD_S


def test_validate_good_file_still_predicts(tmp_path):
    path = write_csv(tmp_path, MEMORY_HEADER, [MEMORY_ROW])
    result = CliRunner().invoke(cli, ["validate", "--json", str(path)])
    assert result.exit_code == 0, result.stderr
    # vLLM 0.19 on H100 reports 14.99 GiB of weights for Llama-3.1-8B (data/measurements/vllm_memory_h100.csv)
    assert json.loads(result.stdout)["rows"][0]["predicted"] == pytest.approx(14.99, abs=0.01)


# --------------------------------------------------------------------------------------------
# 2. Bounded JSON: size, depth, number length; one function reads every model JSON file


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("config.json", b"[" * 1000 + b"]" * 1000, f"more than {MAX_JSON_DEPTH} deep"),
    ("config.json", json.dumps(llama_config(x=json.loads("[" * 100 + "]" * 100))).encode(), "deep"),
    ("config.json", json.dumps(llama_config()).encode()[:-1] + b', "x": ' + b"1" * 5000 + b"}", "4300 digits"),
    ("hf_quant_config.json", b"{" + b'"a":{' * 3000 + b"}" * 3001, "deep"),
])
def test_absurd_json_is_one_line_naming_the_file(tmp_path, name, content, expected):
    directory = model_dir(tmp_path / "m", {"config.json": llama_config(), name: content})
    assert_one_line(*run_cli("model", str(directory))[:2], str(directory / name), expected)


def test_oversized_config_is_refused_before_it_is_read(tmp_path):
    directory = model_dir(tmp_path / "m", {})
    with open(directory / "config.json", "wb") as handle:
        handle.truncate(MAX_JSON_FILE_BYTES + 1)  # sparse: the size alone must refuse it
    tracemalloc.start()
    try:
        code, lines, _ = run_cli("model", str(directory))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_line(code, lines, "config.json", f"{MAX_JSON_FILE_BYTES + 1:,} bytes")
    assert peak < MAX_JSON_FILE_BYTES / 2


@pytest.mark.parametrize("claimed", [10**12, 99_000_000])
def test_safetensors_header_length_is_checked_against_the_file(tmp_path, caplog, claimed):
    """A length prefix claiming terabytes (or more than the file holds) is refused before anything is
    allocated; parameter counts are optional, so it is a one-line warning and the config still resolves."""
    directory = model_dir(tmp_path / "m", {"config.json": llama_config(),
                                           "model.safetensors": claimed.to_bytes(8, "little") + b"{}"})
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger="gpurec_core.resolve"):
            resolved = resolve_model(str(directory))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert resolved.safetensors_params is None
    assert peak < 10 * 2**20
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "model.safetensors" in warnings[0] and f"{claimed:,}" in warnings[0]


def test_deep_safetensors_header_is_a_warning_not_a_recursion_error(tmp_path, caplog):
    header = b"[" * 5000 + b"]" * 5000
    directory = model_dir(tmp_path / "m", {"config.json": llama_config(),
                                           "model.safetensors": len(header).to_bytes(8, "little") + header})
    with caplog.at_level(logging.WARNING, logger="gpurec_core.resolve"):
        assert resolve_model(str(directory)).safetensors_params is None
    assert "deep" in caplog.text


@pytest.mark.parametrize(("text", "depth"), [
    ('{"a": [1, {"b": "[[[{{"}], "c\\"[": 2}', 3), ("3", 0), ('"[\\\\"', 0), ('["\\\\", ["\\\\\\"["]]', 2),
    ('{"\u00e9[": [[]]}', 3),
])
def test_json_depth_ignores_brackets_inside_strings(text, depth):
    json.loads(text)
    assert json_depth(text) == depth


# --------------------------------------------------------------------------------------------
# 3. Unreadable paths: FIFOs, devices, directories, permissions; never blocking


@pytest.mark.parametrize(("files", "entry", "expected"), [
    ({"config.json": "FIFO"}, "config.json", "is a FIFO"),
    ({"config.json": Path("/dev/zero")}, "config.json", "is a character device"),
    ({"config.json": "DIR"}, "config.json", "is a directory"),
    ({"config.json": llama_config(), "hf_quant_config.json": "FIFO"}, "hf_quant_config.json", "is a FIFO"),
])
def test_model_directory_entry_that_is_not_a_file(tmp_path, files, entry, expected):
    directory = model_dir(tmp_path / "m", files)
    code, _, lines, seconds = run_process("model", str(directory))
    assert_one_line(code, lines, str(directory / entry), expected)
    assert seconds < HANG_GUARD_S


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_model_path_that_is_not_a_file_or_directory(tmp_path, kind):
    path = tmp_path / "pipe.json"
    os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    code, _, lines, _ = run_process("model", str(path))
    assert_one_line(code, lines, str(path), "neither a directory nor a config file")


@pytest.mark.parametrize("name", ["model.safetensors", "model.safetensors.index.json"])
def test_safetensors_fifo_does_not_block(tmp_path, name):
    directory = model_dir(tmp_path / "m", {"config.json": llama_config(), name: "FIFO"})
    code, stdout, lines, seconds = run_process("model", str(directory), "--json")
    assert code == 0 and json.loads(stdout)
    assert seconds < HANG_GUARD_S


def test_model_directory_without_read_permission(tmp_path):
    prefix = unprivileged_prefix()
    directory = model_dir(tmp_path / "m", {"config.json": llama_config()})
    directory.chmod(0)
    try:
        code, _, lines, _ = run_process("model", str(directory), prefix=prefix)
    finally:
        directory.chmod(0o755)
    assert_one_line(code, lines, str(directory), "Permission denied")


def test_hf_cache_without_read_permission(tmp_path):
    prefix = unprivileged_prefix()
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        code, _, lines, _ = run_process("model", "acme/whatever", env={"HF_HUB_CACHE": str(locked / "hub")},
                                        prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert_one_line(code, lines, "Hugging Face cache", "Permission denied", "HF_HUB_CACHE")


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_gpu_catalog_that_is_not_a_file_is_refused_at_once(tmp_path, kind):
    path = tmp_path / "gpus.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:  # a directory named like a file inside the directory named by GPUREC_GPU_CATALOG
        (tmp_path / "catalogs" / "inner.toml").mkdir(parents=True)
        path = tmp_path / "catalogs"
    code, _, lines, seconds = run_process("gpus", env={"GPUREC_GPU_CATALOG": str(path)})
    assert_one_line(code, lines, "not a regular file")
    assert seconds < HANG_GUARD_S


# --------------------------------------------------------------------------------------------
# 4. A 10,000-entry user GPU catalog merges in linear time


def test_user_gpus_override_and_keep_order(tmp_path):
    from gpurec_toml_catalog.loader import merge_user_entries

    from gpurec_core.models import GPUSpec

    def gpu(name, *aliases):
        return GPUSpec(name=name, aliases=list(aliases), manufacturer="Acme", memory_gib=80, bandwidth_tb_s=3.35)

    bundled = [gpu("A100", "a100-80gb"), gpu("H100", "h100-sxm"), gpu("L4")]
    merged, notices = merge_user_entries(bundled, [gpu("MyCard"), gpu("H100-SXM", "a100")], tmp_path / "u.toml")
    assert [g.name for g in merged] == ["L4", "MyCard", "H100-SXM"]
    assert [n.split(" overridden")[0] for n in notices] == ["GPU 'A100'", "GPU 'H100'"]
    assert merged[-1].notes.endswith(f"overrides A100, H100 from {tmp_path / 'u.toml'}")


def test_ten_thousand_user_gpus_load(tmp_path, monkeypatch):
    entries = [f'[[gpu]]\nname = "Card-{i}"\naliases = ["card{i}x"]\nmanufacturer = "Acme"\nmemory_gib = 80\n'
               f"bandwidth_tb_s = 3.35\nbf16_tflops_dense = 989\n" for i in range(10_000)]
    (tmp_path / "gpus.toml").write_text("\n".join(entries))
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(tmp_path / "gpus.toml"))
    from gpurec_core.plugins import gpu_catalog

    started = time.monotonic()
    catalog = gpu_catalog()
    assert time.monotonic() - started < 60  # was over two minutes when the merge was quadratic
    assert catalog.get("card9999x").name == "Card-9999"


# --------------------------------------------------------------------------------------------
# 5. An absurd but valid config: 10,000 layers, the most accepted


def test_ten_thousand_layers_recommend_over_the_whole_catalog(tmp_path):
    from gpurec_core import ModelArchitecture, recommend_gpus
    from gpurec_core.memory_math import kv_bytes_per_token, layer_groups

    directory = model_dir(tmp_path / "deep", {"config.json": llama_config(num_hidden_layers=10_000)})
    model = ModelArchitecture(str(directory))
    started = time.monotonic()
    result = recommend_gpus(model)
    assert time.monotonic() - started < 60  # took 8.4 s when every layer was walked per layout
    assert len(result) > 0
    assert len(layer_groups(model.config)) == 1
    # Llama-3.1-8B caches 8 KV heads x 128 dims x (K + V) x 2 bytes = 4,096 bytes per token per layer
    assert kv_bytes_per_token(model.config, model.precision) == 10_000 * 4096


def test_every_per_layer_field_is_grouped():
    """layer_groups groups layers by PER_LAYER_FIELDS: a per-layer field left out would merge layers
    that differ. Every tuple field of ModelConfig but ``architectures`` holds one entry per layer."""
    from gpurec_core.model_config import PER_LAYER_FIELDS, ModelConfig

    tuples = {name for name, field in ModelConfig.model_fields.items() if "tuple" in str(field.annotation)}
    assert tuples - {"architectures"} == set(PER_LAYER_FIELDS)


def test_layer_groups_partition_the_layers_of_a_patterned_model():
    from gpurec_core import ModelArchitecture
    from gpurec_core.memory_math import layer_groups

    cfg = ModelArchitecture("google/gemma-3-27b-it").config  # 5 sliding layers per global one
    groups = layer_groups(cfg)
    assert sorted(i for g in groups for i in g.layers) == list(range(cfg.num_hidden_layers))
    assert {cfg.layer_types[g.first] for g in groups} == {"sliding_attention", "full_attention"}
    for group in groups:
        assert {cfg.layer_types[i] for i in group.layers} == {cfg.layer_types[group.first]}
        assert group.count_in(range(0, cfg.num_hidden_layers)) == len(group.layers)


# --------------------------------------------------------------------------------------------
# 6. The Hub: one deadline for the whole online resolution


@pytest.fixture
def stalled_hub(tmp_path, monkeypatch):
    """HF_ENDPOINT at a local listener that accepts connections and never answers; Hub access on."""
    from huggingface_hub import constants

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes connects; nothing ever reads or answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("GPUREC_HUB_TIMEOUT", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # its agent list would use another endpoint
    resolve._clear_probe_cache()
    yield url
    listener.close()
    resolve._clear_probe_cache()


def test_stalled_hub_fails_at_the_default_deadline(stalled_hub):
    assert resolve.HUB_REQUEST_TIMEOUT_S > 5  # so only the overall deadline can end it in time
    code, lines, seconds = run_cli("recommend", "acme/stalled")
    assert_one_line(code, lines, "did not answer within 3 s", "GPUREC_HUB_TIMEOUT", "HF_HUB_OFFLINE=1",
                    "gpurec models", "local directory")
    assert seconds < 5


def test_stalled_hub_in_a_real_process_never_shows_the_token(tmp_path):
    """A fresh process, HF_ENDPOINT set before huggingface_hub is imported: its extra agent-list request
    goes to the stalled endpoint too, and the deadline still holds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{listener.getsockname()[1]}", "HF_HOME": str(tmp_path / "home"),
           "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_TOKEN": FAKE_TOKEN, "GPUREC_HUB_TIMEOUT": "1",
           "HF_HUB_OFFLINE": "0", "NO_PROXY": "*"}
    try:
        code, stdout, lines, seconds = run_process("recommend", "acme/stalled", env=env)
    finally:
        listener.close()
    assert_one_line(code, lines, "did not answer within 1 s")
    assert seconds < 5
    assert FAKE_TOKEN not in stdout + "\n".join(lines)


def test_config_in_time_but_safetensors_late_resolves_without_counts(monkeypatch, caplog):
    monkeypatch.setenv("GPUREC_HUB_TIMEOUT", "0.5")
    found = resolve.ResolvedModel(model_id="acme/slow", source="hub", config={"model_type": "llama"},
                                  location="http://hub/acme/slow")

    def slow_headers(repo_id, revision, token, progress):
        progress["without_params"] = found
        time.sleep(3)
        return found.model_copy(update={"safetensors_params": {"BF16": 1}})

    monkeypatch.setattr(resolve, "_resolve_from_hub_now", slow_headers)
    with caplog.at_level(logging.WARNING, logger="gpurec_core.resolve"):
        assert resolve._resolve_from_hub("acme/slow", None, FAKE_TOKEN) is found
    assert "acme/slow" in caplog.text and FAKE_TOKEN not in caplog.text


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_bad_hub_timeout_setting(monkeypatch, value):
    monkeypatch.setenv("GPUREC_HUB_TIMEOUT", value)
    with pytest.raises(ModelNotFoundError, match="GPUREC_HUB_TIMEOUT must be a number of seconds above 0"):
        resolve.hub_timeout_s()
