"""gpurec_core.resolve: local path, bundled catalog, HF cache, and the Hub (a fake one on 127.0.0.1).

No test touches the internet: every test runs with HF_ENDPOINT pointing at a closed local port
unless it starts its own fake Hub, and with HF_HUB_CACHE / HF_HOME in a temporary directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import ValidationError

from gpurec_core import resolve
from gpurec_core.catalogs import catalog_path
from gpurec_core.errors import CatalogError, GatedModelError, ModelConfigError, ModelNotFoundError
from gpurec_core.resolve import ResolvedModel, list_catalog_models, resolve_model

FIXTURE_CATALOG = Path(__file__).parent / "fixtures" / "resolve" / "catalog"
REPO_ROOT = Path(__file__).resolve().parents[1]
FAKE_TOKEN = "hf_SECRETtoken123"
COMMIT = "5206a32e0bd3067aef1ce90f5528ade7d866253f"
LLAMA_31_8B_PARAMS = 8_030_261_248  # meta-llama/Llama-3.1-8B model card; sizes.csv (keras-hub presets)
LLAMA_31_8B_CONFIG = json.loads((FIXTURE_CATALOG / "meta-llama" / "Llama-3.1-8B" / "config.json").read_text())


# --------------------------------------------------------------------------------------------
# Helpers: safetensors files and the Llama-3.1-8B tensor layout


def llama_31_8b_tensors() -> list[tuple[str, list[int]]]:
    """Tensor names and shapes of meta-llama/Llama-3.1-8B's safetensors checkpoint (291 tensors)."""
    tensors = [("model.embed_tokens.weight", [128256, 4096])]
    for layer in range(32):
        prefix = f"model.layers.{layer}."
        tensors += [
            (prefix + "self_attn.q_proj.weight", [4096, 4096]),
            (prefix + "self_attn.k_proj.weight", [1024, 4096]),
            (prefix + "self_attn.v_proj.weight", [1024, 4096]),
            (prefix + "self_attn.o_proj.weight", [4096, 4096]),
            (prefix + "mlp.gate_proj.weight", [14336, 4096]),
            (prefix + "mlp.up_proj.weight", [14336, 4096]),
            (prefix + "mlp.down_proj.weight", [4096, 14336]),
            (prefix + "input_layernorm.weight", [4096]),
            (prefix + "post_attention_layernorm.weight", [4096]),
        ]
    tensors += [("model.norm.weight", [4096]), ("lm_head.weight", [128256, 4096])]
    return tensors


def safetensors_bytes(tensors: list[tuple[str, str, list[int]]], metadata: Optional[dict] = None) -> bytes:
    """A header-only safetensors file: 8-byte little-endian length, then the JSON header.

    The tensor data is left out: counting parameters reads only the header.
    """
    itemsize = {"BF16": 2, "F16": 2, "F32": 4, "F8_E4M3": 1, "U8": 1, "I32": 4}
    header: dict = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, dtype, shape in tensors:
        size = itemsize[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def llama_31_8b_shards(big_metadata_in_last: bool = False) -> dict[str, bytes]:
    """model.safetensors.index.json and four shards holding Llama-3.1-8B's tensors, as BF16."""
    tensors = llama_31_8b_tensors()
    bounds = [0, 80, 160, 240, len(tensors)]
    files: dict[str, bytes] = {}
    weight_map = {}
    for number in range(4):
        name = f"model-{number + 1:05d}-of-00004.safetensors"
        chunk = tensors[bounds[number] : bounds[number + 1]]
        metadata = {"format": "pt"}
        if big_metadata_in_last and number == 3:
            metadata["padding"] = "x" * 150_000  # header > 100 kB: huggingface_hub needs a second range read
        files[name] = safetensors_bytes([(t, "BF16", shape) for t, shape in chunk], metadata)
        weight_map.update({t: name for t, _ in chunk})
    index = {"metadata": {"total_size": 16_060_522_496}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = json.dumps(index).encode()
    return files


def write_files(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return directory


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# A fake Hub: exactly the requests huggingface_hub 2.x makes for resolve_model


class FakeHub:
    """Serves HEAD/GET /{org}/{name}/resolve/{revision}/{file}, with HTTP Range, like the Hub.

    Errors carry the Hub's X-Error-Code header (GatedRepo, RepoNotFound, RevisionNotFound,
    EntryNotFound), which is how huggingface_hub tells them apart.
    """

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.gated: set[str] = set()
        self.broken: set[str] = set()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # http.server's naming
                hub.handle(self, send_body=False)

            def do_GET(self) -> None:
                hub.handle(self, send_body=True)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, send_body: bool) -> None:
        self.requests.append((request.command, request.path, dict(request.headers)))
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", urlsplit(request.path).path)
        if match is None:
            return self.error(request, 404, None, "Not found", send_body)
        repo, revision, filename = (unquote(part) for part in match.groups())
        if repo in self.broken:
            return self.error(request, 503, None, "Service unavailable", send_body)
        if repo in self.gated:
            status = 403 if request.headers.get("authorization") else 401
            message = f"Access to model {repo} is restricted and you are not in the authorized list."
            return self.error(request, status, "GatedRepo", message, send_body)
        files = self.repos.get(repo)
        if files is None:
            return self.error(request, 404, "RepoNotFound", "Repository not found", send_body)
        if revision not in ("main", COMMIT):
            return self.error(request, 404, "RevisionNotFound", "Invalid rev id", send_body)
        content = files.get(filename)
        if content is None:
            return self.error(request, 404, "EntryNotFound", "Entry not found", send_body, commit=True)
        status, body, extra = 200, content, {}
        wanted = request.headers.get("range")
        if wanted:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start, end = int(first), min(int(last) if last else len(content) - 1, len(content) - 1)
            status, body = 206, content[start : end + 1]
            extra["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        request.send_response(status)
        request.send_header("X-Repo-Commit", COMMIT)
        request.send_header("ETag", '"' + hashlib.sha256(content).hexdigest() + '"')
        request.send_header("Accept-Ranges", "bytes")
        request.send_header("Content-Length", str(len(body)))
        for key, value in extra.items():
            request.send_header(key, value)
        request.end_headers()
        if send_body:
            request.wfile.write(body)

    def error(self, request, status: int, code: Optional[str], message: str, send_body: bool, commit: bool = False):
        body = json.dumps({"error": message}).encode()
        request.send_response(status)
        if code:
            request.send_header("X-Error-Code", code)
        request.send_header("X-Error-Message", message)
        if commit:
            request.send_header("X-Repo-Commit", COMMIT)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if send_body:
            request.wfile.write(body)


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(autouse=True)
def isolated_hf(tmp_path, monkeypatch):
    """Empty HF cache and home in tmp, no token, no proxy, and a Hub endpoint on a closed port."""
    for name in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HUGGINGFACE_HUB_CACHE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    resolve._clear_probe_cache()
    yield
    resolve._clear_probe_cache()


@pytest.fixture
def fixture_catalog(monkeypatch) -> Path:
    """The small catalog under tests/fixtures/resolve/catalog, whatever the real one holds."""
    monkeypatch.setattr(resolve, "_catalog_dir", lambda: FIXTURE_CATALOG)
    return FIXTURE_CATALOG


@pytest.fixture
def hub_online(tmp_path, monkeypatch):
    """huggingface_hub online and caching in tmp, whatever the environment was at its import.

    huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_CACHE once, at import (an earlier test may
    have imported it with HF_HUB_OFFLINE=1). resolve passes the endpoint and cache explicitly,
    but get_safetensors_metadata downloads the shard index into the import-time cache, so that
    constant is pointed at tmp too.
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    # Its user agent otherwise fetches an "agent harness" list from the import-time endpoint,
    # which may be huggingface.co when another test module imported it first.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)


@pytest.fixture
def fake_hub(hub_online, monkeypatch):
    """A fake Hub on 127.0.0.1 set as HF_ENDPOINT."""
    hub = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    yield hub
    hub.close()


def real_catalog_has(model_id: str) -> bool:
    index = catalog_path("models") / "index.toml"
    return index.is_file() and f'"{model_id}"' in index.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# 1. Local paths


def test_local_directory_reads_config_quant_config_and_single_safetensors(tmp_path):
    model_dir = write_files(
        tmp_path / "tiny-fp8",
        {
            "config.json": json.dumps({"model_type": "llama", "hidden_size": 64}).encode(),
            "hf_quant_config.json": json.dumps({"quantization": {"quant_algo": "FP8"}}).encode(),
            "model.safetensors": safetensors_bytes(
                [
                    ("model.embed_tokens.weight", "BF16", [1000, 64]),
                    ("model.layers.0.mlp.up_proj.weight", "F8_E4M3", [256, 64]),
                    ("model.layers.0.mlp.up_proj.weight_scale", "F32", []),
                ]
            ),
        },
    )
    result = resolve_model(str(model_dir))
    assert result.source == "path"
    assert result.model_id == str(model_dir)
    assert result.location == str(model_dir.resolve())
    assert result.config == {"model_type": "llama", "hidden_size": 64}
    assert result.hf_quant_config == {"quantization": {"quant_algo": "FP8"}}
    assert result.safetensors_params == {"BF16": 64_000, "F8_E4M3": 16_384, "F32": 1}
    assert result.revision is None


def test_config_file_path_reads_siblings(tmp_path):
    model_dir = write_files(tmp_path / "ckpt", llama_31_8b_shards())
    (model_dir / "config.json").write_text(json.dumps(LLAMA_31_8B_CONFIG))
    result = resolve_model(str(model_dir / "config.json"))
    assert result.source == "path"
    assert result.location == str((model_dir / "config.json").resolve())
    assert result.config == LLAMA_31_8B_CONFIG
    assert result.hf_quant_config is None
    # Llama-3.1-8B has 8,030,261,248 parameters (model card), all BF16, in four shards.
    assert result.safetensors_params == {"BF16": LLAMA_31_8B_PARAMS}


def test_sharded_checkpoint_with_a_missing_shard_has_no_counts(tmp_path):
    files = llama_31_8b_shards()
    del files["model-00003-of-00004.safetensors"]
    model_dir = write_files(tmp_path / "partial", files)
    (model_dir / "config.json").write_text("{}")
    assert resolve_model(str(model_dir)).safetensors_params is None


def test_truncated_safetensors_header_gives_no_counts_and_a_warning(tmp_path, caplog):
    model_dir = write_files(tmp_path / "broken", {"config.json": b"{}", "model.safetensors": b"\x00\x10\x00"})
    with caplog.at_level(logging.WARNING, logger="gpurec_core.resolve"):
        assert resolve_model(str(model_dir)).safetensors_params is None
    assert "model.safetensors" in caplog.text


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "is not valid JSON"), ("[1, 2]", "holds a JSON list, not an object"), (b"\xff\xfe", "UTF-8")],
)
def test_bad_config_json_names_the_file(tmp_path, content, expected):
    model_dir = tmp_path / "bad"
    model_dir.mkdir()
    config = model_dir / "config.json"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ModelConfigError) as info:
        resolve_model(str(model_dir))
    assert str(config) in str(info.value)
    assert expected in str(info.value)


def test_bad_hf_quant_config_names_the_file(tmp_path):
    model_dir = write_files(tmp_path / "m", {"config.json": b"{}", "hf_quant_config.json": b'"FP8"'})
    with pytest.raises(ModelConfigError, match="hf_quant_config.json"):
        resolve_model(str(model_dir))


def test_directory_without_config_json(tmp_path):
    (tmp_path / "weights-only").mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no config.json"):
        resolve_model(str(tmp_path / "weights-only"))


def test_missing_path_fails_without_asking_the_hub(tmp_path):
    with pytest.raises(ModelNotFoundError, match="No such file or directory"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelNotFoundError, match="No such file or directory"):
        resolve_model("./no/such/dir")


# --------------------------------------------------------------------------------------------
# 2. Bundled catalog


@pytest.mark.parametrize(
    "name",
    ["meta-llama/Llama-3.1-8B", "META-LLAMA/llama-3.1-8b", "meta-llama/meta-llama-3.1-8b", " meta-llama/Llama-3.1-8B "],
)
def test_catalog_by_id_any_case_and_alias(fixture_catalog, name):
    result = resolve_model(name)
    assert result.source == "catalog"
    assert result.model_id == "meta-llama/Llama-3.1-8B"
    assert result.config == LLAMA_31_8B_CONFIG
    assert result.location == str(fixture_catalog / "meta-llama" / "Llama-3.1-8B")
    assert result.hf_quant_config is None
    assert result.safetensors_params is None
    assert result.published_params == LLAMA_31_8B_PARAMS
    assert "keras-hub" in result.published_params_source


def test_catalog_reads_hf_quant_config(fixture_catalog):
    result = resolve_model("qwen/qwen3-32b-fp8-static-pertensor")
    assert result.model_id == "Qwen/Qwen3-32B-FP8-Static-PerTensor"
    assert result.hf_quant_config["quantization"]["quant_algo"] == "FP8"
    assert result.published_params is None


def test_model_page_url(fixture_catalog):
    result = resolve_model("https://huggingface.co/meta-llama/Llama-3.1-8B/tree/main")
    assert (result.source, result.model_id) == ("catalog", "meta-llama/Llama-3.1-8B")
    with pytest.raises(ModelNotFoundError, match="not a model page"):
        resolve_model("https://example.com/meta-llama/Llama-3.1-8B")


def test_revision_skips_the_catalog(fixture_catalog, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        resolve_model("meta-llama/Llama-3.1-8B", revision="main")


def test_list_catalog_models(fixture_catalog):
    models = {entry["id"]: entry for entry in list_catalog_models()}
    assert set(models) == {"meta-llama/Llama-3.1-8B", "Qwen/Qwen3-32B-FP8-Static-PerTensor"}
    llama = models["meta-llama/Llama-3.1-8B"]
    assert llama["aliases"] == ["meta-llama/Meta-Llama-3.1-8B"]
    assert llama["published_params"] == LLAMA_31_8B_PARAMS
    assert llama["source"]
    assert set(llama) >= {"id", "aliases", "source", "published_params"}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('id = "a/b"\nsource = "x"\nnotes = "?"', r"entry 1 \('a/b'\), field 'notes'"),
        ('id = "a/b"\nsource = "x"\npublished_params = 7', r"published_params needs a params_source"),
        ('id = "a/b"\nsource = "x"\npublished_params = "7B"\nparams_source = "card"', r"field 'published_params'"),
        ('id = "no-org"\nsource = "x"', r"field 'id'"),
        ('id = "a/b"', r"field 'source'"),
    ],
)
def test_bad_catalog_entry_names_file_entry_and_field(tmp_path, monkeypatch, entry, expected):
    (tmp_path / "index.toml").write_text(f"[[model]]\n{entry}\n")
    monkeypatch.setattr(resolve, "_catalog_dir", lambda: tmp_path)
    with pytest.raises(CatalogError, match=expected) as info:
        list_catalog_models()
    assert str(tmp_path / "index.toml") in str(info.value)


def test_catalog_alias_clash_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "index.toml").write_text(
        '[[model]]\nid = "a/b"\nsource = "x"\n\n[[model]]\nid = "c/d"\naliases = ["A/B"]\nsource = "y"\n'
    )
    monkeypatch.setattr(resolve, "_catalog_dir", lambda: tmp_path)
    with pytest.raises(CatalogError, match="already used by 'a/b'"):
        list_catalog_models()


def test_catalog_entry_without_config_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "index.toml").write_text('[[model]]\nid = "a/b"\nsource = "x"\n')
    monkeypatch.setattr(resolve, "_catalog_dir", lambda: tmp_path)
    with pytest.raises(CatalogError, match="has no"):
        resolve_model("a/b")


@pytest.mark.skipif(not real_catalog_has("meta-llama/Llama-3.1-8B"), reason="bundled catalog not copied yet")
def test_real_catalog_llama_31_8b():
    for name in ("meta-llama/Llama-3.1-8B", "META-LLAMA/LLAMA-3.1-8B"):
        result = resolve_model(name)
        assert result.source == "catalog"
        assert result.model_id == "meta-llama/Llama-3.1-8B"
        assert result.config["num_hidden_layers"] == 32
        assert result.config["hidden_size"] == 4096
    for entry in list_catalog_models():
        if entry["id"] == "meta-llama/Llama-3.1-8B":
            for alias in entry["aliases"]:
                assert resolve_model(alias.lower()).model_id == "meta-llama/Llama-3.1-8B"


@pytest.mark.skipif(not (catalog_path("models") / "index.toml").is_file(), reason="bundled catalog not copied yet")
def test_every_real_catalog_entry_resolves():
    entries = list_catalog_models()
    assert entries
    for entry in entries:
        result = resolve_model(entry["id"])
        assert result.source == "catalog", entry["id"]
        assert result.config, entry["id"]


# --------------------------------------------------------------------------------------------
# 3. HF cache


def make_hf_cache_repo(cache: Path, repo_id: str, files: dict[str, bytes], commit: str = COMMIT) -> Path:
    """The cache layout huggingface_hub writes: blobs, snapshots/<commit>/ symlinks, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_hf_cache_offline(tmp_path, monkeypatch, fixture_catalog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = {
        "config.json": json.dumps(LLAMA_31_8B_CONFIG).encode(),
        "hf_quant_config.json": b'{"quantization": {"quant_algo": "NVFP4"}}',
        **llama_31_8b_shards(),
    }
    snapshot = make_hf_cache_repo(tmp_path / "hf-cache", "acme/Llama-Copy", files)
    for name, revision in (("acme/Llama-Copy", None), ("ACME/llama-copy", None), ("acme/Llama-Copy", COMMIT)):
        result = resolve_model(name, revision=revision)
        assert result.source == "hf-cache"
        assert result.model_id == "acme/Llama-Copy"
        assert result.revision == COMMIT
        assert result.location == str(snapshot)
        assert result.config == LLAMA_31_8B_CONFIG
        assert result.hf_quant_config == {"quantization": {"quant_algo": "NVFP4"}}
        assert result.safetensors_params == {"BF16": LLAMA_31_8B_PARAMS}


def test_hf_cache_respects_hf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "elsewhere"))
    make_hf_cache_repo(tmp_path / "elsewhere" / "hub", "acme/tiny", {"config.json": b'{"model_type": "qwen3"}'})
    result = resolve_model("acme/tiny")
    assert (result.source, result.config, result.safetensors_params) == ("hf-cache", {"model_type": "qwen3"}, None)


def test_hf_cache_unknown_revision_is_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    make_hf_cache_repo(tmp_path / "hf-cache", "acme/tiny", {"config.json": b"{}"})
    with pytest.raises(ModelNotFoundError):
        resolve_model("acme/tiny", revision="v2")


# --------------------------------------------------------------------------------------------
# Offline and unreachable


def test_offline_names_the_three_ways_and_near_matches(fixture_catalog, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("meta-llama/Llama-3.1-8")
    message = str(info.value)
    assert "\n" not in message
    assert "HF_HUB_OFFLINE" in message
    assert "local directory holding config.json" in message
    assert "`gpurec models`" in message
    assert "Did you mean meta-llama/Llama-3.1-8B?" in message
    assert "HF_ENDPOINT" in message and "hf download meta-llama/Llama-3.1-8 config.json" in message


def test_a_name_typed_without_its_separators_is_suggested(fixture_catalog, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("llama8b")
    assert "Did you mean meta-llama/Llama-3.1-8B" in str(info.value)


def test_a_name_typed_without_its_organisation_is_the_one_entry_of_that_name(fixture_catalog, monkeypatch):
    """Rule 4 of catalog_names: one entry has that name under some org, so it is planned, under its full id,
    with a note."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    found = resolve_model("Llama-3.1-8B")
    assert found.model_id == "meta-llama/Llama-3.1-8B" and "names no publisher" in found.note


def test_offline_sends_no_request(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub.repos["acme/tiny"] = {"config.json": b"{}"}
    with pytest.raises(ModelNotFoundError):
        resolve_model("acme/tiny")
    assert fake_hub.requests == []


def test_unreachable_endpoint_fails_fast(fixture_catalog):
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("acme/not-in-the-catalog")
    elapsed = time.monotonic() - started
    assert elapsed < 1.5  # hang guard: no retry back-off may run
    assert "unreachable" in str(info.value)
    assert "local directory holding config.json" in str(info.value)
    assert "HF_ENDPOINT" in str(info.value)


def test_reachability_probe_goes_to_the_proxy_when_one_is_set(monkeypatch):
    proxy_port = closed_port()
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(ModelNotFoundError, match=f"the proxy 127.0.0.1:{proxy_port} cannot be reached"):
        resolve_model("acme/behind-a-proxy")


def test_invalid_repo_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="not a local directory"):
        resolve_model("not a valid id")


# --------------------------------------------------------------------------------------------
# 4. The Hub (fake, local)


def test_hub_sharded_checkpoint_exact_counts_then_cached(fake_hub, monkeypatch, tmp_path):
    files = {"config.json": json.dumps(LLAMA_31_8B_CONFIG).encode(), **llama_31_8b_shards(big_metadata_in_last=True)}
    fake_hub.repos["acme/Llama-Copy"] = files
    result = resolve_model("acme/Llama-Copy")
    assert result.source == "hub"
    assert result.model_id == "acme/Llama-Copy"
    assert result.config == LLAMA_31_8B_CONFIG
    assert result.hf_quant_config is None
    assert result.revision == COMMIT
    assert result.location == f"{fake_hub.url}/acme/Llama-Copy"
    # Llama-3.1-8B has 8,030,261,248 parameters (model card), all BF16.
    assert result.safetensors_params == {"BF16": LLAMA_31_8B_PARAMS}
    ranges = [headers.get("range") for method, _, headers in fake_hub.requests if headers.get("range")]
    assert "bytes=0-100000" in ranges and len(ranges) == 5  # 4 shards + a second read of the big header

    # The download filled the HF cache: offline, the next call resolves from it.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = resolve_model("acme/Llama-Copy")
    assert (again.source, again.revision, again.config) == ("hf-cache", COMMIT, LLAMA_31_8B_CONFIG)


def test_hub_single_file_with_quant_config_and_revision(fake_hub):
    fake_hub.repos["acme/tiny-fp8"] = {
        "config.json": b'{"model_type": "llama"}',
        "hf_quant_config.json": b'{"quantization": {"quant_algo": "FP8"}}',
        "model.safetensors": safetensors_bytes(
            [("w", "F8_E4M3", [128, 64]), ("w_scale", "F32", [1]), ("norm", "BF16", [64])]
        ),
    }
    result = resolve_model("acme/tiny-fp8", revision="main")
    assert result.hf_quant_config == {"quantization": {"quant_algo": "FP8"}}
    assert result.safetensors_params == {"F8_E4M3": 8192, "F32": 1, "BF16": 64}
    assert result.location == f"{fake_hub.url}/acme/tiny-fp8/tree/main"


def test_hub_without_safetensors_has_no_counts(fake_hub):
    fake_hub.repos["acme/bin-only"] = {"config.json": b"{}", "pytorch_model.bin": b"..."}
    result = resolve_model("acme/bin-only")
    assert result.source == "hub"
    assert result.safetensors_params is None


def test_hub_unreadable_safetensors_header_gives_no_counts(fake_hub, caplog):
    header_says_5_bytes = (5).to_bytes(8, "little")
    fake_hub.repos["acme/corrupt"] = {"config.json": b"{}", "model.safetensors": header_says_5_bytes + b"{oops"}
    with caplog.at_level(logging.WARNING, logger="gpurec_core.resolve"):
        result = resolve_model("acme/corrupt")
    assert (result.source, result.safetensors_params) == ("hub", None)
    assert "acme/corrupt" in caplog.text


@pytest.mark.parametrize("token_from", ["argument", "HF_TOKEN", None])
def test_hub_gated_never_leaks_the_token(fake_hub, monkeypatch, caplog, token_from):
    fake_hub.gated.add("meta-llama/Llama-4-Secret")
    monkeypatch.setattr(logging.getLogger("huggingface_hub"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    if token_from == "HF_TOKEN":
        monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    token = FAKE_TOKEN if token_from == "argument" else None
    with pytest.raises(GatedModelError) as info:
        resolve_model("meta-llama/Llama-4-Secret", hf_token=token)
    message = str(info.value)
    assert "accept the model's licence" in message.lower()
    assert f"{fake_hub.url}/meta-llama/Llama-4-Secret" in message
    assert "HF_TOKEN" in message and "hf_token" in message
    assert ("403" if token_from else "401") in message
    assert isinstance(info.value, ModelNotFoundError)
    assert info.value.__context__ is None and info.value.__cause__ is None
    sent = [headers.get("authorization") for _, _, headers in fake_hub.requests]
    if token_from:
        assert f"Bearer {FAKE_TOKEN}" in sent  # the token was used ...
    for text in (message, repr(info.value), caplog.text, *(str(record.args) for record in caplog.records)):
        assert FAKE_TOKEN not in text  # ... and appears nowhere


def test_hub_success_with_token_does_not_leak_it(fake_hub, monkeypatch, caplog):
    fake_hub.repos["acme/private"] = {"config.json": b'{"model_type": "llama"}'}
    monkeypatch.setattr(logging.getLogger("huggingface_hub"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    result = resolve_model("acme/private", hf_token=FAKE_TOKEN)
    assert result.source == "hub"
    assert f"Bearer {FAKE_TOKEN}" in [headers.get("authorization") for _, _, headers in fake_hub.requests]
    for text in (repr(result), str(result), json.dumps(result.model_dump()), caplog.text):
        assert FAKE_TOKEN not in text


def test_hub_404_suggests_near_matches(fake_hub, fixture_catalog):
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("meta-llama/Llama-3.1-8C")
    assert not isinstance(info.value, GatedModelError)
    message = str(info.value)
    assert "not found" in message and "404" in message
    assert "Did you mean meta-llama/Llama-3.1-8B?" in message
    assert "HF_TOKEN" in message  # it may be private


def test_hub_repo_without_config_json(fake_hub):
    fake_hub.repos["acme/gguf-only"] = {"model.gguf": b"GGUF"}
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        resolve_model("acme/gguf-only")


def test_hub_unknown_revision(fake_hub):
    fake_hub.repos["acme/tiny"] = {"config.json": b"{}"}
    with pytest.raises(ModelNotFoundError, match="has no revision 'v9'"):
        resolve_model("acme/tiny", revision="v9")


def test_hub_server_error_is_not_retried(fake_hub):
    fake_hub.broken.add("acme/down")
    with pytest.raises(ModelNotFoundError, match="answered HTTP 503"):
        resolve_model("acme/down")
    assert len(fake_hub.requests) == 1  # one HEAD, no back-off retries


def test_hub_that_accepts_but_never_answers_fails_within_the_timeout(hub_online, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel completes connects; nothing ever reads or answers
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(resolve, "HUB_REQUEST_TIMEOUT_S", 0.3)
    try:
        started = time.monotonic()
        with pytest.raises(ModelNotFoundError, match="failed to answer"):
            resolve_model("acme/stalled")
        assert time.monotonic() - started < 1.5  # hang guard: one timed-out HEAD, no retries
    finally:
        listener.close()


# --------------------------------------------------------------------------------------------
# The Hub as the CLI meets it: HF_ENDPOINT and HF_TOKEN set before huggingface_hub is imported

SUBPROCESS_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys, time
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from huggingface_hub.utils import logging as hf_logging
    hf_logging.set_verbosity_debug()
    from gpurec_core.resolve import resolve_model
    from gpurec_core.errors import GpurecError
    out = {}
    for name in sys.argv[1:]:
        started = time.monotonic()
        try:
            result = resolve_model(name)
            out[name] = {"source": result.source, "params": result.safetensors_params, "repr": repr(result)}
        except GpurecError as err:
            out[name] = {"error": type(err).__name__, "message": str(err), "repr": repr(err)}
        out[name]["seconds"] = time.monotonic() - started
    print(json.dumps(out))
    """
)


def test_hub_in_a_fresh_process_with_env_set_before_import(tmp_path):
    hub = FakeHub()
    try:
        hub.repos["acme/Llama-Copy"] = {"config.json": json.dumps(LLAMA_31_8B_CONFIG).encode(), **llama_31_8b_shards()}
        hub.gated.add("acme/gated")
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("HF_", "HUGGING")) and "proxy" not in key.lower()
        }
        env.update(
            HF_ENDPOINT=hub.url,
            HF_HOME=str(tmp_path / "home"),
            HF_HUB_CACHE=str(tmp_path / "cache"),
            HF_TOKEN=FAKE_TOKEN,
            HF_DEBUG="1",  # huggingface_hub then logs every request as a curl command
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        )
        completed = subprocess.run(
            [sys.executable, "-c", SUBPROCESS_SCRIPT, "acme/Llama-Copy", "acme/gated"],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        hub.close()
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    assert out["acme/Llama-Copy"]["source"] == "hub"
    assert out["acme/Llama-Copy"]["params"] == {"BF16": LLAMA_31_8B_PARAMS}
    assert out["acme/gated"]["error"] == "GatedModelError"
    assert f"Bearer {FAKE_TOKEN}" in [headers.get("authorization") for _, _, headers in hub.requests]
    assert "curl" in completed.stderr  # the debug log did run ...
    assert FAKE_TOKEN not in completed.stdout + completed.stderr  # ... and never showed the token


def test_import_is_cheap():
    code = (
        "import sys, gpurec_core.resolve; "
        "print(sorted(m for m in ('huggingface_hub', 'transformers', 'httpx2') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_resolved_model_is_frozen_and_strict(fixture_catalog):
    result = resolve_model("meta-llama/Llama-3.1-8B")
    with pytest.raises(ValidationError):
        result.source = "hub"
    with pytest.raises(ValidationError):
        ResolvedModel(model_id="x", source="somewhere", config={}, location="x")
