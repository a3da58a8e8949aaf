"""Secrets and trust: an HF token never shows; a model config never makes gpurec import or run anything.

* The token (``hf_token=`` or ``HF_TOKEN``) is sent to the Hub (a fake one on 127.0.0.1, from
  tests/test_resolve.py) and appears nowhere else, through the whole recommend pipeline: not in CLI
  stdout/stderr, DEBUG logs, ``to_dict()``, reprs, the objects' state or any exception in a chain.
* ``trust_remote_code`` is never enabled anywhere in the shipped source (gpurec_core/, plugins/).
* A config with ``auto_map`` naming a module that sits on ``sys.path``, ``architectures`` naming a
  class that does not exist, a ``model_type`` that is Python code and a strange ``quant_method``
  imports no module, runs no command, compiles no code and creates no file. This is watched with a
  ``sys.addaudithook`` hook (import, exec/compile, process and file-open events) and by comparing
  ``sys.modules`` and the working directory before and after.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import subprocess
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from gpurec_core import ModelArchitecture, estimate_performance, plan_memory, recommend_gpus
from gpurec_core import resolve
from gpurec_core.cli import cli
from gpurec_core.errors import GatedModelError, GpurecError

if str(Path(__file__).parent) not in sys.path:  # pytest's default import mode put it there already
    sys.path.insert(0, str(Path(__file__).parent))
from test_resolve import LLAMA_31_8B_CONFIG, FakeHub, closed_port, llama_31_8b_shards  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_SECRETtoken123"
SHIPPED_SOURCE = [REPO_ROOT / "gpurec_core", REPO_ROOT / "plugins"]


# --------------------------------------------------------------------------------------------
# A fake Hub serving a private Llama-3.1-8B copy and a gated repo


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Iterator[FakeHub]:
    """A fake Hub as HF_ENDPOINT, an empty HF cache in tmp, no token or proxy in the environment."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HUGGINGFACE_HUB_CACHE",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    resolve._clear_probe_cache()
    fake = FakeHub()
    fake.repos["acme/private-llama"] = {"config.json": json.dumps(LLAMA_31_8B_CONFIG).encode(),
                                        **llama_31_8b_shards()}
    fake.gated.add("acme/gated-llama")
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    yield fake
    fake.close()
    resolve._clear_probe_cache()


@pytest.fixture
def debug_logs(caplog, monkeypatch):
    """Every logger at DEBUG, huggingface_hub's included."""
    monkeypatch.setattr(logging.getLogger("huggingface_hub"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    return caplog


def tokens_sent(hub: FakeHub) -> list:
    return [headers.get("authorization") for _, _, headers in hub.requests]


def deep_text(value: Any, seen: set | None = None) -> str:
    """repr of an object and, recursively, of its attributes and items (state a token could hide in)."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, (type, type(len), type(deep_text))):
        return ""
    seen.add(id(value))
    parts = [repr(value)]
    if isinstance(value, dict):
        parts += [deep_text(k, seen) + deep_text(v, seen) for k, v in value.items()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        parts += [deep_text(v, seen) for v in value]
    elif hasattr(value, "__dict__") and not isinstance(value, (threading.Lock().__class__, logging.Logger)):
        parts += [deep_text(v, seen) for v in vars(value).values()]
    return "\n".join(parts)


def exception_text(exc: BaseException) -> str:
    """str, repr, args and the formatted traceback of an exception and every one chained to it."""
    parts = []
    while exc is not None:
        parts += [str(exc), repr(exc), repr(exc.args)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def assert_no_token(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text


# --------------------------------------------------------------------------------------------
# The token through the whole pipeline


@pytest.mark.parametrize("token_from", ["argument", "HF_TOKEN"])
def test_token_never_leaks_through_the_recommend_pipeline(hub, debug_logs, monkeypatch, token_from):
    kwargs = {"hf_token": TOKEN} if token_from == "argument" else {}
    if token_from == "HF_TOKEN":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = recommend_gpus("acme/private-llama", gpus=["H100", "L4"], ttft_slo_ms=500, **kwargs)
    assert f"Bearer {TOKEN}" in tokens_sent(hub)  # the token was used ...
    plan = plan_memory("acme/private-llama", "H100", max_model_len=8192, **kwargs)
    perf = estimate_performance("acme/private-llama", "H100", input_length=512, output_length=64, **kwargs)
    model = ModelArchitecture("acme/private-llama", **kwargs)
    assert model.source in ("hub", "hf-cache")  # the first call filled the HF cache
    assert model.num_parameters == pytest.approx(8_030_261_248, rel=0.005)  # Llama-3.1-8B, model card
    texts = [json.dumps(result.to_dict()), result.summary(), repr(result), deep_text(result), repr(model),
             deep_text(model), repr(plan), repr(perf), debug_logs.text,
             "\n".join(str(record.args) + record.getMessage() for record in debug_logs.records)]
    texts += [str(item) + item.launch_command("vllm") + item.launch_command("sglang") for item in result]
    assert_no_token(*texts)  # ... and appears nowhere


@pytest.mark.parametrize("token_from", ["argument", "HF_TOKEN"])
def test_token_never_leaks_from_a_refusal(hub, debug_logs, monkeypatch, token_from):
    kwargs = {"hf_token": TOKEN} if token_from == "argument" else {}
    if token_from == "HF_TOKEN":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    for call in (lambda: recommend_gpus("acme/gated-llama", gpus=["H100"], **kwargs),
                 lambda: plan_memory("acme/gated-llama", "H100", **kwargs),
                 lambda: estimate_performance("acme/gated-llama", "H100", input_length=8, output_length=8, **kwargs)):
        with pytest.raises(GatedModelError) as info:
            call()
        assert "403" in str(info.value)  # the token was sent and refused
        assert_no_token(exception_text(info.value), "".join(traceback.format_exception(info.value)))
    assert f"Bearer {TOKEN}" in tokens_sent(hub)
    assert_no_token(debug_logs.text)


@pytest.mark.parametrize("model", [f"https://{TOKEN}@huggingface.co/acme/missing",
                                   f"https://user:{TOKEN}@example.org/acme/missing",
                                   f"https://user:{TOKEN}@[::1/acme/missing"])
def test_token_in_a_pasted_url_never_leaks(hub, model):
    with pytest.raises(GpurecError) as info:
        ModelArchitecture(model)
    assert_no_token(exception_text(info.value))


def test_token_never_leaks_through_the_cli(hub, monkeypatch):
    runner = CliRunner()
    env = {"HF_TOKEN": TOKEN, "GPUREC_TRACE_PLUGINS": "1"}
    for args in (["recommend", "acme/private-llama", "--gpus", "H100", "--json"],
                 ["recommend", "acme/private-llama", "--gpus", "H100", "--explain", "--launch"],
                 ["model", "acme/private-llama", "--json"],
                 ["recommend", "acme/gated-llama", "--gpus", "H100"]):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code in (0, 2), result.output
        assert_no_token(result.stdout, result.stderr)
    assert f"Bearer {TOKEN}" in tokens_sent(hub)


def test_token_never_leaks_from_a_real_process_with_debug_logging(hub, tmp_path):
    """`python -m gpurec_core recommend` with HF_TOKEN and huggingface_hub's HF_DEBUG request logging."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "home"), HF_HUB_CACHE=str(tmp_path / "cache"),
               HF_TOKEN=TOKEN, HF_DEBUG="1", GPUREC_TRACE_PLUGINS="1", GPUREC_DISABLE_PLUGIN_AUTOLOAD="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    for args, code in ((["recommend", "acme/private-llama", "--gpus", "H100", "--json"], 0),
                       (["recommend", "acme/gated-llama", "--gpus", "H100"], 2)):
        completed = subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True,
                                   env=env, timeout=120, cwd=tmp_path)
        assert completed.returncode == code, completed.stderr[-2000:]
        assert_no_token(completed.stdout, completed.stderr)
    assert f"Bearer {TOKEN}" in tokens_sent(hub)


def test_offline_errors_never_echo_the_token(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    for offline in ("1", ""):
        monkeypatch.setenv("HF_HUB_OFFLINE", offline)
        resolve._clear_probe_cache()
        with pytest.raises(GpurecError) as info:
            recommend_gpus("acme/nowhere", gpus=["H100"], hf_token=TOKEN)
        assert_no_token(exception_text(info.value))


# --------------------------------------------------------------------------------------------
# trust_remote_code: never enabled in the shipped source


def shipped_python_files() -> list[Path]:
    files = [path for root in SHIPPED_SOURCE for path in root.rglob("*.py")]
    assert len(files) > 20
    return files


def test_trust_remote_code_is_never_enabled():
    for path in shipped_python_files():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"trust_remote_code\s*=\s*True", text), path
        tree = ast.parse(text, filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "trust_remote_code":  # passed at all: only the literal False
                    assert isinstance(keyword.value, ast.Constant) and keyword.value.value is False, \
                        f"{path}:{node.lineno} passes trust_remote_code={ast.unparse(keyword.value)}"
                if keyword.arg is None and isinstance(keyword.value, ast.Dict):  # **{"trust_remote_code": ...}
                    for key, value in zip(keyword.value.keys, keyword.value.values):
                        if isinstance(key, ast.Constant) and key.value == "trust_remote_code":
                            assert isinstance(value, ast.Constant) and value.value is False, f"{path}:{node.lineno}"


def test_shipped_source_never_evaluates_text():
    """No eval/exec/compile of strings and no transformers loader anywhere gpurec reads a config."""
    for path in shipped_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile", "__import__"), f"{path}:{node.lineno}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_pretrained":
                assert any(k.arg == "trust_remote_code" for k in node.keywords), f"{path}:{node.lineno}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if path.name == "transformers_config_classes.py":  # config classes' declared defaults, nothing else
                    assert all(name in ("transformers.models.auto.configuration_auto", "CONFIG_MAPPING")
                               for name in names if name and name.split(".")[0] == "transformers" or name == "CONFIG_MAPPING"), \
                        f"{path}:{node.lineno}"
                    continue
                assert not any((name or "").split(".")[0] == "transformers" for name in names), f"{path}:{node.lineno}"


# --------------------------------------------------------------------------------------------
# A config cannot make gpurec import or run anything


EVIL_MODULE = "gpurec_evil_remote_code"
MARKER = "GPUREC_PWNED"
EVIL_CONFIGS = {
    "auto_map": {**LLAMA_31_8B_CONFIG, "auto_map": {
        "AutoConfig": f"{EVIL_MODULE}.EvilConfig", "AutoModelForCausalLM": f"{EVIL_MODULE}.EvilModel",
        "AutoTokenizer": [f"{EVIL_MODULE}.EvilTokenizer", None]}},
    "architectures": {**LLAMA_31_8B_CONFIG, "architectures": ["DefinitelyNotARealClassForCausalLM", f"{EVIL_MODULE}.X"]},
    "model_type": {**LLAMA_31_8B_CONFIG, "model_type": f"__import__('os').system('touch {MARKER}')"},
    "text_config model_type": {"model_type": f"__import__('{EVIL_MODULE}')",
                               "text_config": {**LLAMA_31_8B_CONFIG, "model_type": f"eval('__import__(\"{EVIL_MODULE}\")')"}},
    "quant_method": {**LLAMA_31_8B_CONFIG, "quantization_config": {
        "quant_method": EVIL_MODULE, "quant_algo": f"__import__('os').system('touch {MARKER}')",
        "config_groups": {"g": {"targets": [f"re:(?{EVIL_MODULE})"], "weights": {"num_bits": 4, "type": "int"}}}}},
    "bitsandbytes": {**LLAMA_31_8B_CONFIG, "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True,
                                                                  "bnb_4bit_quant_storage": EVIL_MODULE}},
}

#: Audit events that mean gpurec imported, ran or compiled something, or wrote a file.
WATCHED_EVENTS = ("import", "exec", "compile", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                  "subprocess.Popen", "ctypes.dlopen", "open", "os.mkdir", "os.rename", "os.remove", "shutil")
_audit_log: list[tuple[str, tuple]] | None = None
_audit_thread: int | None = None


def _audit(event: str, args: tuple) -> None:
    if _audit_log is not None and threading.get_ident() == _audit_thread and event.startswith(WATCHED_EVENTS):
        if event == "open":
            path, mode, flags = (args + (None, None, 0))[:3]
            if mode is None or not any(c in str(mode) for c in "wax+"):
                if not (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                    return  # reading is fine
        _audit_log.append((event, args))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only inside watching()


@contextmanager
def watching() -> Iterator[list]:
    """Record the watched audit events this thread raises inside the block."""
    global _audit_log, _audit_thread
    _audit_log, _audit_thread = [], threading.get_ident()
    try:
        yield _audit_log
    finally:
        _audit_log, _audit_thread = None, None


def run_pipeline(model_dir: Path) -> None:
    """Everything a user can do with a model directory: the API and the CLI."""
    try:
        model = ModelArchitecture(str(model_dir))
        model.precision, model.num_parameters, model.possible_tensor_parallel_sizes()
        plan_memory(model, "H100", max_model_len=4096)
        estimate_performance(model, "H100", input_length=256, output_length=32)
        recommend_gpus(model, gpus=["H100", "L4"]).to_dict()
    except GpurecError:
        pass
    runner = CliRunner()
    for args in (["model", str(model_dir), "--json"], ["recommend", str(model_dir), "--gpus", "H100,L4", "--json"],
                 ["recommend", str(model_dir), "--gpus", "H100", "--explain", "--launch"]):
        result = runner.invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


@pytest.fixture
def evil_setup(tmp_path, monkeypatch):
    """A tempting module on sys.path (importing it drops a marker file) and an empty working directory."""
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / f"{EVIL_MODULE}.py").write_text(
        f"import pathlib\npathlib.Path({str(tmp_path / MARKER)!r}).write_text('imported')\n"
        "class EvilConfig: pass\nclass EvilModel: pass\nclass X: pass\n")
    monkeypatch.syspath_prepend(str(code_dir))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    warm = tmp_path / "benign"
    warm.mkdir()
    (warm / "config.json").write_text(json.dumps(LLAMA_31_8B_CONFIG))
    run_pipeline(warm)  # first use loads gpurec's own lazy imports; they are not what is watched
    return tmp_path, cwd


def _top_level(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("case", sorted(EVIL_CONFIGS))
def test_a_config_cannot_import_or_run_anything(evil_setup, case):
    tmp_path, cwd = evil_setup
    model_dir = tmp_path / "evil"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(EVIL_CONFIGS[case]))
    before_modules = set(sys.modules)
    before_files = {p for p in tmp_path.rglob("*")}

    with watching() as events:
        run_pipeline(model_dir)

    new_modules = set(sys.modules) - before_modules
    assert EVIL_MODULE not in sys.modules and not (tmp_path / MARKER).exists() and not (cwd / MARKER).exists()
    # Only gpurec's and the standard library's own lazily loaded modules may appear; nothing the config names.
    known_roots = {_top_level(name) for name in before_modules} | set(sys.stdlib_module_names)
    assert not {name for name in new_modules if _top_level(name) not in known_roots}, new_modules
    assert not any(EVIL_MODULE in name or "transformers" == _top_level(name) for name in new_modules)
    assert {p for p in tmp_path.rglob("*")} == before_files  # no file created anywhere under tmp (cwd included)
    assert not list(cwd.iterdir())
    imported = sorted({args[0] for event, args in events if event == "import"})
    assert not [name for name in imported if _top_level(name) not in known_roots], imported
    ran = [(event, args) for event, args in events if not event.startswith(("import", "open", "compile", "exec"))]
    assert not ran, ran
    compiled = [args for event, args in events if event in ("compile", "exec")]
    assert not [args for args in compiled if EVIL_MODULE in repr(args) or MARKER in repr(args)], compiled
    written = [args for event, args in events if event == "open"]
    assert not written, written
