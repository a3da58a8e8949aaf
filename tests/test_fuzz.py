"""Property tests: fuzzed model configs, workloads and GPU catalogs, through the library and the CLI.

The invariants (docs/errors.md, STYLE.md 16 and 21):

* every failure is a :class:`GpurecError` with a one-line message that names the bad input;
  any other exception escaping is a bug — and so is a bundled plugin crashing inside a hook, which
  the facade reports as a ``PluginError`` chained to a non-gpurec exception;
* nothing returned holds NaN or infinity (``to_dict()``, ``MemoryPlan``, ``PerformanceEstimate``,
  ``--json`` output parsed with NaN/Infinity rejected);
* nothing hangs: fuzzed sizes are bounded, every example has a deadline, and every test runs
  under an alarm (the whole file takes well under a minute on two cores).

The CLI runs in-process through ``click.testing.CliRunner`` (fast), plus a few real
``python -m gpurec_core`` subprocesses to prove a one-line stderr and exit status 2.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import warnings
from contextlib import contextmanager
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gpurec_core import GPUSpec, ModelArchitecture, estimate_performance, plan_memory, recommend_gpus
from gpurec_core.cli import cli
from gpurec_core.errors import CatalogError, GpurecError, ModelConfigError, PluginError, WorkloadError

REPO_ROOT = Path(__file__).resolve().parents[1]
CATALOG = REPO_ROOT / "catalogs" / "models"
QUANTIZED = Path(__file__).parent / "fixtures" / "quantized"

#: Every example must finish within this; a slower one is a finding (sizes are bounded below).
DEADLINE = timedelta(seconds=10)
#: No single test may run longer than this (a hang fails the test instead of stalling the suite).
TEST_ALARM_S = 45 if "GPUREC_FUZZ_EXAMPLES" not in os.environ else 0

#: Examples per property; raise it for a soak run: GPUREC_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py
EXAMPLES = int(os.environ.get("GPUREC_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=DEADLINE,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
FEW = settings(FUZZ, max_examples=max(1, EXAMPLES * 3 // 8))


# --------------------------------------------------------------------------------------------
# Invariant helpers


class Hang(Exception):
    """Raised by the alarm when a test runs past TEST_ALARM_S."""


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """Fail (rather than stall) a test that runs past TEST_ALARM_S."""
    def on_alarm(signum, frame):
        raise Hang(f"test ran past {TEST_ALARM_S} s: a hang")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_ALARM_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_finite(value: Any, path: str = "") -> None:
    """No NaN or infinity anywhere in a nested dict / list / number."""
    if isinstance(value, float):
        assert math.isfinite(value), f"non-finite {value!r} at {path or '<root>'}"
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_finite(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            assert_finite(item, f"{path}[{index}]")


def _reject_constant(name: str) -> None:
    raise AssertionError(f"JSON output holds {name}")


def strict_json(text: str) -> Any:
    """json.loads that rejects NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


def check_user_error(exc: BaseException, *names: str) -> None:
    """A GpurecError with a one-line message naming the input (one of ``names`` when given)."""
    assert isinstance(exc, GpurecError), f"{type(exc).__name__} escaped: {exc}"
    if isinstance(exc, PluginError) and exc.__cause__ is not None and not isinstance(exc.__cause__, GpurecError):
        raise AssertionError(f"a plugin crashed inside a hook: {exc}") from exc.__cause__
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} without a message"
    assert "\n" not in message, f"multi-line message: {message!r}"
    if names:
        assert any(name in message for name in names), f"{message!r} names none of {names}"


@contextmanager
def user_errors_only(*names: str) -> Iterator[None]:
    """Let a GpurecError through (after checking it); any other exception fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except GpurecError as exc:
        check_user_error(exc, *names)


def check_result(result) -> None:
    data = result.to_dict()
    assert_finite(data)
    strict_json(json.dumps(data))
    result.summary()
    for item in result:
        str(item)
        item.launch_command("vllm")


# --------------------------------------------------------------------------------------------
# Model configs: real configs of every architecture family, mutated


def _base_configs() -> list[tuple[str, dict]]:
    """One catalog config per (model_type, quantized, multimodal) plus the quantized fixtures."""
    seen: dict[tuple, tuple[str, dict]] = {}
    for path in sorted(CATALOG.glob("*/*/config.json")) + sorted(QUANTIZED.glob("*/config.json")):
        config = json.loads(path.read_text())
        key = (config.get("model_type"), bool(config.get("quantization_config")), "text_config" in config)
        seen.setdefault(key, (path.parent.name, config))
    return list(seen.values())


BASES = _base_configs()
LLAMA = json.loads((CATALOG / "meta-llama" / "Llama-3.1-8B" / "config.json").read_text())
SMALL = json.loads((CATALOG / "Qwen" / "Qwen3-0.6B" / "config.json").read_text())

INJECTION = "__import__('os').system('touch GPUREC_PWNED')"
WEIRD = st.one_of(
    st.sampled_from([0, -1, -7, 1, 2, 3, 7, 64, 65_537, 2**31, 2**63, 10**30, True, False, None, "", "abc", "32",
                     INJECTION, math.nan, math.inf, -math.inf, 0.5, 1.5, 1e308, 1e-300, -0.0, 3.0, [], {}]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-2, 5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-2, 5), max_size=2),
)


def _paths(node: Any, prefix: tuple = (), depth: int = 3) -> list[tuple]:
    """Key paths into a config, nested objects and the first items of lists included."""
    out: list[tuple] = []
    children = list(node.items())[:200] if isinstance(node, dict) else list(enumerate(node[:3])) if isinstance(node, list) else []
    for key, child in children:
        out.append(prefix + (key,))
        if depth > 1 and isinstance(child, (dict, list)):
            out += _paths(child, prefix + (key,), depth - 1)
    return out


@st.composite
def mutated_configs(draw, bases=BASES) -> tuple[str, dict, list]:
    """A real config with 1-3 fields set to weird values, deleted, or added."""
    name, base = draw(st.sampled_from(bases))
    config = copy.deepcopy(base)
    log = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(config)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["head_dim", "num_experts", "sliding_window", "layer_types", "text_config",
                                         "quantization_config", "num_key_value_heads", "moe_intermediate_size"]))] = draw(WEIRD)
        else:
            parent[path[-1]] = draw(WEIRD)
        log.append((action, path))
    return name, config, log


def exercise_model(arch: ModelArchitecture, *, full: bool = True) -> None:
    """Every derived fact, a memory plan, a performance estimate and (bounded) a recommendation."""
    arch.num_parameters, arch.active_parameters, arch.attention_kind, arch.is_quantized
    assert_finite([arch.model_memory_gb(), arch.kv_cache_memory_gb(4096, 2), arch.total_memory_gb(1024, 1)])
    arch.inferred_dtype, arch.inferred_kv_cache_dtype, arch.possible_tensor_parallel_sizes()
    with user_errors_only():
        assert_finite(plan_memory(arch, "H100", max_model_len=4096).model_dump())
    with user_errors_only():
        estimate = estimate_performance(arch, "H100", input_length=512, output_length=64, concurrency=4,
                                        max_model_len=4096)
        assert_finite(estimate.model_dump())
    if full and arch.config.num_hidden_layers <= 512:  # bound the search's cost per example
        with user_errors_only():
            check_result(recommend_gpus(arch, gpus=["H100", "L4"], ttft_slo_ms=2000, itl_slo_ms=100,
                                        target_throughput_tokens_per_sec=500))


@FUZZ
@given(case=mutated_configs())
def test_fuzzed_model_configs_through_the_library(case):
    _, config, _ = case
    try:
        arch = ModelArchitecture.from_config(config)
    except GpurecError as exc:
        check_user_error(exc, "config.json", "hf_quant_config.json", "model_type")
        event(f"rejected: {type(exc).__name__}")
        return
    event("accepted")
    exercise_model(arch)


REQUIRED_INT_FIELDS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                       "max_position_embeddings", "num_key_value_heads", "intermediate_size", "head_dim"]
WRONG_INTS = st.one_of(st.integers(max_value=-1), st.sampled_from([0.5, math.nan, math.inf, -math.inf, "abc", "32", [8],
                                                                   {"a": 1}, True, 10**30, 2**63]))


@FUZZ
@given(field=st.sampled_from(REQUIRED_INT_FIELDS), value=WRONG_INTS, wrap=st.booleans())
def test_bad_size_field_is_named(field, value, wrap):
    """A negative, fractional, non-finite, wrongly typed or absurd size names the field."""
    config = {**LLAMA, field: value}
    if wrap:  # the same text model inside a multimodal wrapper
        config = {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"], "text_config": config}
    with pytest.raises(ModelConfigError) as info:
        ModelArchitecture.from_config(config)
    check_user_error(info.value, field)
    if wrap:
        assert f"text_config.{field}" in str(info.value) or "text_config" in str(info.value)


@FUZZ
@given(field=st.sampled_from(["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"]))
def test_missing_or_zero_required_field_is_named(field):
    for config in ({k: v for k, v in LLAMA.items() if k != field}, {**LLAMA, field: 0}, {**LLAMA, field: None}):
        with pytest.raises(ModelConfigError) as info:
            ModelArchitecture.from_config(config)
        check_user_error(info.value, field)


@FUZZ
@given(value=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                       st.lists(st.integers(), max_size=3), st.just([LLAMA]), st.binary(max_size=10),
                       st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2)))
def test_non_object_configs(value):
    with pytest.raises(ModelConfigError) as info:
        ModelArchitecture.from_config(value)
    check_user_error(info.value, "config.json")


@FUZZ
@given(model_type=st.one_of(st.text(min_size=1, max_size=30), st.just(INJECTION), st.just("__class__"),
                            st.just("os.system")),
       with_fields=st.booleans())
def test_unknown_model_types(model_type, with_fields):
    """Unknown types with llama-style fields parse as a generic decoder; without them, an error naming the type."""
    config = {**SMALL, "model_type": model_type} if with_fields else {"model_type": model_type, "vocab_size": 100}
    with user_errors_only("model_type", "config.json"):
        arch = ModelArchitecture.from_config(config)
        assert with_fields
        exercise_model(arch, full=False)


@FEW
@given(inner=st.one_of(st.just(SMALL), st.just(LLAMA), WEIRD), key=st.sampled_from(["text_config", "llm_config",
                                                                                    "language_config", "thinker_config"]),
       depth=st.integers(1, 3), outer_type=st.sampled_from(["llava", "qwen3_vl", "gemma3", "mystery_vlm"]))
def test_nested_text_configs(inner, key, depth, outer_type):
    config: Any = inner
    for _ in range(depth):
        config = {"model_type": outer_type, key: config}
    with user_errors_only("config.json", "model_type"):
        arch = ModelArchitecture.from_config(config)
        assert arch.config.is_multimodal
        exercise_model(arch, full=False)


@FEW
@given(overrides=st.fixed_dictionaries({}, optional={
    "num_hidden_layers": st.sampled_from([1, 2, 126, 10_000, 10_001, 2**31]),
    "vocab_size": st.sampled_from([1, 2**20, 2**24, 2**24 + 1, 10**12]),
    "num_attention_heads": st.sampled_from([1, 3, 2**16, 2**16 + 1, 10**30]),
    "hidden_size": st.sampled_from([1, 64, 2**24, 2**40]),
    "intermediate_size": st.sampled_from([0, 2**24, 2**50]),
    "max_position_embeddings": st.sampled_from([1, 10**8, 10**8 + 1, 2**62]),
    "num_experts": st.sampled_from([0, 2**16, 2**20]),
}))
def test_huge_sizes_are_rejected_or_finite_and_fast(overrides):
    """Absurd sizes: a ModelConfigError naming the field, or finite numbers within the deadline."""
    config = {**LLAMA, **overrides}
    if "num_attention_heads" in overrides:
        config.pop("num_key_value_heads")
        config["head_dim"] = 128
    with user_errors_only(*overrides, "config.json"):
        arch = ModelArchitecture.from_config(config)
        exercise_model(arch, full=False)


QUANT_METHODS = ["awq", "awq_marlin", "gptq", "gptq_marlin", "mxfp4", "fbgemm_fp8", "bitsandbytes", "fp8",
                 "compressed-tensors", "modelopt", "strange-method", INJECTION, ""]
def mostly(valid: st.SearchStrategy, junk: st.SearchStrategy, odds: int = 3) -> st.SearchStrategy:
    """``valid`` ``odds`` times in ``odds + 1``, else ``junk`` (st.one_of would weigh each of junk's branches)."""
    return st.integers(0, odds).flatmap(lambda pick: junk if pick == odds else valid)


def _mostly(*values: Any) -> st.SearchStrategy:
    """Mostly one of ``values`` (valid for the field), sometimes anything at all."""
    return mostly(st.sampled_from(values), WEIRD)


BITS = _mostly(2, 3, 4, 8, 16, None)
GROUP = _mostly(16, 32, 64, 128, -1, 0, None)
ALGO = _mostly("FP8", "NVFP4", "W4A16_NVFP4", "MXFP4", "MXFP8", "INT8", "W4A16", "W4A8_AWQ", "MIXED_PRECISION", "", None)
QUANT_FIELDS = {
    "bits": BITS, "w_bit": BITS, "group_size": GROUP, "q_group_size": GROUP, "zero_point": _mostly(True, False),
    "load_in_4bit": _mostly(True, False), "weight_block_size": _mostly([128, 128], [1, 1], [64, 32], None),
    "quant_algo": ALGO, "format": _mostly("pack-quantized", "naive-quantized", "float-quantized", "mxfp4-pack-quantized"),
    "ignore": _mostly(["lm_head"], ["re:.*mlp.*", "lm_head"], []), "modules_to_not_convert": _mostly(["lm_head"], None),
    "kv_cache_scheme": _mostly({"num_bits": 8, "type": "float"}, "fp8", None), "kv_cache_quant_algo": ALGO,
    "producer": _mostly({"name": "modelopt"}, "modelopt"),
}
WEIGHT_FIELDS = {"num_bits": BITS, "type": _mostly("int", "float"), "strategy": _mostly("group", "channel", "tensor", "block"),
                 "group_size": GROUP, "symmetric": _mostly(True, False), "block_structure": _mostly([128, 128], None)}


@st.composite
def quantization_configs(draw) -> dict:
    """quantization_config / hf_quant_config dicts: every method, mostly plausible fields, some junk."""
    q: dict[str, Any] = {"quant_method": draw(_mostly(*QUANT_METHODS))}
    for key in draw(st.lists(st.sampled_from(sorted(QUANT_FIELDS)), max_size=4, unique=True)):
        q[key] = draw(QUANT_FIELDS[key])
    if draw(st.booleans()):
        fields = draw(st.lists(st.sampled_from(sorted(WEIGHT_FIELDS)), max_size=4, unique=True))
        weights = {field: draw(WEIGHT_FIELDS[field]) for field in fields}
        q["config_groups"] = {"group_0": {"targets": draw(_mostly(["Linear"], ["re:.*mlp.*"], ["lm_head"], [])),
                                          "weights": draw(mostly(st.just(weights), WEIRD))}}
    if draw(st.booleans()):
        layer = st.fixed_dictionaries({"quant_algo": ALGO}, optional={"group_size": GROUP})
        q["quantized_layers"] = draw(st.dictionaries(
            st.sampled_from(["model.layers.0.mlp.*", "*self_attn*", "lm_head", "model.layers.1.mlp.experts.*"]),
            mostly(layer, WEIRD), max_size=3))
    return q


@FUZZ
@given(q=quantization_configs(), base=st.sampled_from(["Qwen3-0.6B", "Qwen3-30B-A3B"]), modelopt=st.booleans())
def test_fuzzed_quantization_configs(q, base, modelopt):
    """A strange quant_method or malformed quantization field: an error naming it, or a finite plan."""
    config = json.loads((CATALOG / "Qwen" / base / "config.json").read_text())
    hf_quant_config = None
    if modelopt:
        hf_quant_config = {"producer": {"name": "modelopt"}, "quantization": q}
    else:
        config["quantization_config"] = q
    try:
        arch = ModelArchitecture.from_config(config, hf_quant_config=hf_quant_config)
    except GpurecError as exc:
        check_user_error(exc, "quantization", "hf_quant_config.json")
        event("rejected")
        return
    event(f"accepted: {arch.precision.weight}")
    exercise_model(arch, full=False)


# --------------------------------------------------------------------------------------------
# Model configs through the CLI: `gpurec model DIR` and `gpurec recommend DIR`


def invoke(*args: str, env: dict | None = None):
    """Run the CLI in-process; return (exit code, stdout, stderr), asserting the CLI contract."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"gpurec {' '.join(args)} raised {type(result.exception).__name__}") from result.exception
    assert result.exit_code in (0, 2), (result.exit_code, result.output[-500:])
    if result.exit_code == 2 and "gpurec: error:" in result.stderr:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gpurec: error: "), result.stderr
        assert "Traceback" not in result.stderr
    elif result.exit_code == 2:  # click's own usage error: it names the option
        assert "Error: " in result.stderr and "Traceback" not in result.stderr, result.stderr
    return result.exit_code, result.stdout, result.stderr


def write_config(directory: Path, config: Any) -> Path:
    (directory / "config.json").write_text(json.dumps(config))  # NaN and Infinity written as JSON allows in Python
    return directory


@FEW
@given(case=mutated_configs(), command=st.sampled_from(["model", "recommend"]))
def test_fuzzed_config_directory_through_the_cli(case, command):
    _, config, _ = case
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = str(write_config(Path(tmp), config))
        args = [command, model_dir, "--json"]
        if command == "recommend":
            args += ["--gpus", "H100,L4", "--no-performance"]
        code, out, err = invoke(*args)
    if code == 0:
        assert_finite(strict_json(out))
    try:  # the CLI and the library agree: a config the library rejects is rejected with its message
        ModelArchitecture.from_config(json.loads(json.dumps(config)))
    except ModelConfigError as exc:
        assert code == 2 and str(exc) in err, (str(exc), err)


@FEW
@given(content=st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
                         st.sampled_from([b"[]", b"null", b"42", b'"llama"', b"{", b'{"model_type": "llama"}',
                                          b"\xff\xfe{}", b'{"model_type": NaN}'])))
def test_unreadable_config_file_through_the_cli(content):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_bytes(content)
        code, out, err = invoke("model", tmp, "--json")
    assert code == 2
    assert "config.json" in err


# --------------------------------------------------------------------------------------------
# Workloads: library keyword arguments and CLI flags

OPTION_VALUES = st.one_of(
    st.sampled_from([0, -1, -(10**9), 10**9, 10**12, 2**63, 10**30, math.nan, math.inf, -math.inf, 0.0, 1.5, 1e308,
                     True, False, "abc", "", "1024", [], {}, [1]]),
    st.integers(-(2**64), 2**64), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
)
RECOMMEND_OPTIONS = ["input_length", "output_length", "context_length", "batch_size", "gpu_memory_utilization",
                     "max_tensor_parallel", "max_gpus", "ttft_slo_ms", "itl_slo_ms",
                     "target_throughput_tokens_per_sec", "target_requests_per_sec", "pipeline_parallel", "precision",
                     "kv_cache_dtype", "engine", "estimator", "gpus"]


@pytest.fixture(scope="module")
def small_model() -> ModelArchitecture:
    return ModelArchitecture("Qwen/Qwen3-0.6B")


@pytest.fixture(scope="module")
def moe_model() -> ModelArchitecture:
    return ModelArchitecture("Qwen/Qwen3-30B-A3B")


@FUZZ
@given(option=st.sampled_from(RECOMMEND_OPTIONS), value=OPTION_VALUES)
def test_one_bad_recommend_option_is_named(small_model, option, value):
    """One fuzzed option: a WorkloadError (or GPU/estimator error) naming it, or a finite result."""
    kwargs = {option: value}
    if option != "gpus":
        kwargs["gpus"] = ["H100"]
    names = {"context_length": ("context_length", "input_length + output_length"),
             "gpus": ("gpu", "GPU"), "precision": ("precision",), "estimator": ("estimator",)}.get(option, (option,))
    with user_errors_only(*names):
        check_result(recommend_gpus(small_model, **kwargs))


@FUZZ
@given(kwargs=st.fixed_dictionaries({}, optional={
    "input_length": st.one_of(st.integers(-5, 300_000), OPTION_VALUES),
    "output_length": st.one_of(st.integers(-5, 300_000), OPTION_VALUES),
    "context_length": st.one_of(st.integers(-5, 2_000_000), OPTION_VALUES),
    "batch_size": st.one_of(st.integers(-2, 100_000), OPTION_VALUES),
    "gpu_memory_utilization": st.one_of(st.floats(-0.5, 1.5), OPTION_VALUES),
    "max_tensor_parallel": st.one_of(st.integers(-1, 16), st.none()),
    "max_gpus": st.one_of(st.integers(-1, 64), st.none()),
    "ttft_slo_ms": st.one_of(st.floats(-1, 1e6), st.none(), OPTION_VALUES),
    "itl_slo_ms": st.one_of(st.floats(-1, 1e4), st.none()),
    "target_throughput_tokens_per_sec": st.one_of(st.floats(-1, 1e308), st.none()),
    "target_requests_per_sec": st.one_of(st.floats(-1, 1e308), st.none()),
    "pipeline_parallel": st.one_of(st.integers(-1, 2000), st.none()),
    "precision": st.sampled_from([None, "fp8", "int4", "nvfp4", "mxfp4", "bf16", "fp32", "int8", "fp3", 8]),
    "kv_cache_dtype": st.sampled_from([None, "auto", "fp8", "bf16", "int2"]),
    "engine": st.sampled_from(["vllm", "sglang", "trtllm", "vlm", None]),
    "estimate_performance_flag": st.booleans(),
}), gpus=st.sampled_from([["H100"], ["L4", "T4"], ["MI300X", "B200"], ["GAUDI3"]]))
def test_fuzzed_workloads_into_recommend(small_model, moe_model, kwargs, gpus):
    for model in (small_model, moe_model):
        with user_errors_only():
            check_result(recommend_gpus(model, gpus=gpus, **kwargs))


@FUZZ
@given(kwargs=st.fixed_dictionaries({}, optional={
    "tensor_parallel_size": st.one_of(st.integers(-1, 2000), OPTION_VALUES),
    "pipeline_parallel_size": st.one_of(st.integers(-1, 2000), OPTION_VALUES),
    "expert_parallel_size": st.one_of(st.integers(-1, 64), OPTION_VALUES),
    "max_model_len": st.one_of(st.integers(-1, 2 * 10**8), st.none(), OPTION_VALUES),
    "gpu_memory_utilization": st.one_of(st.floats(-0.5, 1.5), OPTION_VALUES),
    "max_num_batched_tokens": st.one_of(st.integers(-1, 10**7), st.none(), OPTION_VALUES),
    "max_num_seqs": st.one_of(st.integers(-1, 10**5), st.none(), OPTION_VALUES),
    "dtype": st.sampled_from([None, "bf16", "fp16", "fp32", "float8", "int4", 3]),
    "quantization": st.sampled_from([None, "fp8", "awq", "nvfp4", "w8a8", "nope"]),
    "kv_cache_dtype": st.sampled_from([None, "auto", "fp8", "fp8_e5m2", "bf16", "int2"]),
    "engine": st.sampled_from(["vllm", "sglang", "trtllm", "tgi", None, 1]),
}), gpu=st.sampled_from(["H100", "L4", "T4", "V100", "MI300X", "B200", "GAUDI3", "nope", ""]))
def test_fuzzed_options_into_plan_memory(small_model, moe_model, kwargs, gpu):
    for model in (small_model, moe_model):
        with user_errors_only():
            assert_finite(plan_memory(model, gpu, **kwargs).model_dump())


def test_sizes_given_as_strings_are_read_as_numbers(moe_model):
    """Found by the fuzzer above: an expert_parallel_size given as text reached the layout notes
    uncoerced (TypeError comparing '4' with 2)."""
    plan = plan_memory(moe_model, "H100", tensor_parallel_size="2", data_parallel_size="4", expert_parallel_size="4")
    assert any("expert_parallel_size 4 over 8 attention ranks" in note for note in plan.notes)


@FUZZ
@given(kwargs=st.fixed_dictionaries({
    "input_length": st.one_of(st.integers(-1, 500_000), OPTION_VALUES),
    "output_length": st.one_of(st.integers(-1, 100_000), OPTION_VALUES),
}, optional={
    "concurrency": st.one_of(st.integers(-1, 10**8), st.just("max"), OPTION_VALUES),
    "tensor_parallel_size": st.sampled_from([1, 2, 4, 8, 3, 0]),
    "max_model_len": st.one_of(st.integers(-1, 10**6), st.none()),
    "gpu_memory_utilization": st.one_of(st.floats(-0.5, 1.5), OPTION_VALUES),
    "precision": st.sampled_from([None, "fp8", "int4", "nvfp4", "bf16", "xx"]),
    "kv_cache_dtype": st.sampled_from([None, "fp8", "bf16"]),
    "engine": st.sampled_from(["vllm", "sglang", "trtllm", "x"]),
    "estimator": st.one_of(st.sampled_from(["roofline", "roofline", "llm-optimizer", "rooflin", ""]), OPTION_VALUES),
}), gpu=st.sampled_from(["H100", "L4", "T4", "MI300X", "B200", "GAUDI3"]))
def test_fuzzed_options_into_estimate_performance(small_model, moe_model, kwargs, gpu):
    for model in (small_model, moe_model):
        with user_errors_only():
            assert_finite(estimate_performance(model, gpu, **kwargs).model_dump())


FLAG_TEXT = st.one_of(st.sampled_from(["0", "-1", "1", "7", "4096", "100000000", "100000001", "99999999999999999999999",
                                       "0.5", "1.5", "nan", "inf", "-inf", "abc", "", "1e308", "true", "fp8", "max"]),
                      st.text(max_size=6))
RECOMMEND_FLAGS = ["--input-length", "--output-length", "--max-model-len", "--batch-size", "--precision",
                   "--kv-cache-dtype", "--gpu-memory-utilization", "-tp", "--max-tensor-parallel", "-pp", "--max-gpus",
                   "--gpus", "--engine", "--estimator", "--ttft-slo-ms", "--itl-slo-ms", "--target-throughput",
                   "--target-rps", "--sort", "--top"]
MODEL_FLAGS = ["--gpu", "-tp", "-pp", "--max-model-len", "--gpu-memory-utilization", "--dtype", "--quantization",
               "--kv-cache-dtype", "--max-num-batched-tokens", "--max-num-seqs", "--engine"]


@FUZZ
@given(flags=st.lists(st.tuples(st.sampled_from(RECOMMEND_FLAGS), FLAG_TEXT), max_size=3),
       output=st.sampled_from(["--json", "--csv", "--markdown", "--explain", "--launch"]))
def test_fuzzed_recommend_flags(flags, output):
    args = ["recommend", "Qwen/Qwen3-0.6B"]
    for flag, value in flags:
        args += [flag, value]
    if "--gpus" not in args:
        args += ["--gpus", "H100,L4"]
    code, out, err = invoke(*args, output)
    if code == 0 and output == "--json":
        assert_finite(strict_json(out))


@FUZZ
@given(flags=st.lists(st.tuples(st.sampled_from(MODEL_FLAGS), FLAG_TEXT), max_size=3))
def test_fuzzed_model_flags(flags):
    args = ["model", "Qwen/Qwen3-30B-A3B", "--json"]
    for flag, value in flags:
        args += [flag, value]
    code, out, err = invoke(*args)
    if code == 0:
        assert_finite(strict_json(out))


# --------------------------------------------------------------------------------------------
# GPU catalogs: GPUREC_GPU_CATALOG files of random bytes, wrong types, missing names, duplicates

_catalog_files = count()
FIGURE = mostly(st.floats(0.01, 10_000), st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                                    st.integers(-(2**70), 2**70),
                                                    st.sampled_from([80, 1e-300, 1e308, -1, 0, "80", True, [80]])))
GPU_FIELDS = {
    "name": mostly(st.sampled_from(["LAB_A", "LAB_B", "H100", "", "lab-a"]), st.one_of(st.integers(), st.text(max_size=5))),
    "aliases": mostly(st.lists(st.sampled_from(["lab-a", "LAB_A", "h100_sxm", "x", ""]), max_size=3), WEIRD),
    "memory_gib": FIGURE, "memory_gb": FIGURE, "bandwidth_tb_s": FIGURE, "bf16_tflops_dense": FIGURE,
    "fp8_tflops_dense": FIGURE, "interconnect_gb_s": FIGURE, "price_usd_per_hour": FIGURE, "tdp_w": FIGURE,
    "gpus_per_node": st.one_of(st.integers(-2, 1000), FIGURE), "release_year": st.one_of(st.integers(), FIGURE),
    "confidence": st.sampled_from(["high", "low", "certain", 3]), "sources": mostly(st.just({}), WEIRD),
    "override": st.booleans(), "mystery_field": st.integers(),
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value) if isinstance(value, str) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


@st.composite
def catalog_files(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=120))
    lines = []
    if draw(st.integers(0, 14)) == 0:
        lines.append(draw(st.sampled_from(["gpu = 5", "[other]\nx = 1", "gpu = []", "[gpu]\nname = 'LAB_A'"])))
    for index in range(draw(st.integers(0, 3))):
        entry = {"name": f"LAB_{index}", "memory_gib": 80.0, "bandwidth_tb_s": 3.0, "bf16_tflops_dense": 900.0}
        fields = draw(st.lists(st.sampled_from(sorted(GPU_FIELDS)), max_size=4, unique=True))
        entry.update({field: draw(GPU_FIELDS[field]) for field in fields})
        if draw(st.integers(0, 9)) == 0:
            entry.pop("name")
        lines.append("[[gpu]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in entry.items()]
    return "\n".join(lines).encode()


@FUZZ
@given(content=catalog_files())
def test_fuzzed_gpu_catalog_files(small_model, content):
    """A user catalog is either rejected naming the file, or every GPU in it gives finite results."""
    from gpurec_core.plugins import gpu_catalog

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        path = Path(tmp) / f"fuzz-{next(_catalog_files)}.toml"  # a new path: the catalog cache is keyed by it
        path.write_bytes(content)
        mp.setenv("GPUREC_GPU_CATALOG", str(path))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                catalog = gpu_catalog()
        except GpurecError as exc:
            check_user_error(exc, str(path), "GPUREC_GPU_CATALOG")
            assert isinstance(exc, CatalogError)
            event("rejected")
            return
        event("accepted")
        user_gpus = [spec for spec in catalog.specs if str(path) in json.dumps(spec.sources) + spec.notes]
        for spec in catalog.specs:
            assert_finite(spec.model_dump())
        for spec in user_gpus[:2]:
            with user_errors_only():
                check_result(recommend_gpus(small_model, gpus=[spec.name], ttft_slo_ms=500,
                                            target_throughput_tokens_per_sec=1000))
        code, out, err = invoke("gpus", "--json", env={"GPUREC_GPU_CATALOG": str(path)})
        assert code == 0 and len(strict_json(out)) == len(catalog.specs)


def log_uniform(low: float, high: float, optional: bool = False) -> st.SearchStrategy:
    """Figures spread over orders of magnitude, the bounds themselves included."""
    spread = st.floats(math.log(low), math.log(high)).map(lambda x: min(high, max(low, math.exp(x))))
    figures = st.one_of(st.sampled_from([low, high]), spread)
    return st.one_of(st.none(), figures) if optional else figures


GPU_SPECS = st.builds(
    GPUSpec, name=st.just("FUZZ_GPU"), memory_gb=log_uniform(0.01, 100_000), bandwidth_tb_s=log_uniform(1e-6, 1000),
    bf16_tflops_dense=log_uniform(1e-6, 1e7, optional=True), fp16_tflops_dense=log_uniform(1e-6, 1e7, optional=True),
    fp8_tflops_dense=log_uniform(1e-6, 1e7, optional=True), fp4_tflops_dense=log_uniform(1e-6, 1e7, optional=True),
    int8_tops_dense=log_uniform(1e-6, 1e7, optional=True), tflops=log_uniform(1e-6, 1e7, optional=True),
    interconnect_gb_s=log_uniform(1e-6, 1e7, optional=True), gpus_per_node=st.sampled_from([1, 2, 8, 72, 576]),
    price_usd_per_hour=log_uniform(1e-6, 100_000, optional=True))


@FEW
@given(gpu=GPU_SPECS, model_id=st.sampled_from(["Qwen/Qwen3-0.6B", "Qwen/Qwen3-30B-A3B", "deepseek-ai/DeepSeek-V3",
                                               "Qwen/Qwen3-Next-80B-A3B-Thinking", "openai/gpt-oss-20b"]),
       engine=st.sampled_from(["vllm", "sglang", "trtllm"]), tp=st.sampled_from([1, 2, 8]),
       precision=st.sampled_from([None, "fp8", "int4", "nvfp4", "fp32"]), kv=st.sampled_from([None, "fp8"]),
       concurrency=st.one_of(st.integers(1, 10**6), st.just("max")))
def test_fuzzed_gpu_specs_into_the_estimators(gpu, model_id, engine, tp, precision, kv, concurrency):
    """Any GPU the catalog accepts, tiny or huge: finite plans and estimates, or a typed error."""
    model = ModelArchitecture(model_id)
    with user_errors_only():
        assert_finite(plan_memory(model, gpu, tensor_parallel_size=tp, engine=engine, quantization=precision,
                                  kv_cache_dtype=kv, max_model_len=8192).model_dump())
    with user_errors_only():
        assert_finite(estimate_performance(model, gpu, tensor_parallel_size=tp, engine=engine, precision=precision,
                                           kv_cache_dtype=kv, input_length=2048, output_length=256,
                                           concurrency=concurrency).model_dump())
    with user_errors_only():
        check_result(recommend_gpus(model, gpus=[gpu], engine=engine, precision=precision, kv_cache_dtype=kv,
                                    ttft_slo_ms=1000, itl_slo_ms=50, target_throughput_tokens_per_sec=10_000))


def test_duplicate_names_in_one_user_catalog_are_an_error(tmp_path, monkeypatch):
    from gpurec_core.plugins import gpu_catalog

    path = tmp_path / "dup.toml"
    path.write_text('[[gpu]]\nname = "LAB_A"\nmemory_gib = 80\naliases = ["lab-x"]\n'
                    '[[gpu]]\nname = "LAB_B"\nmemory_gib = 96\naliases = ["LAB_X"]\n')
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(path))
    with pytest.raises(CatalogError) as info:
        gpu_catalog()
    check_user_error(info.value, str(path))
    assert "LAB_A" in str(info.value) and "LAB_B" in str(info.value) and "labx" in str(info.value)


@pytest.mark.parametrize("content", [b"\xff\xfe[[gpu]]", b'[[gpu]]\nname = "X"\nmemory_gib = nan\n',
                                     b'[[gpu]]\nname = "X"\nmemory_gib = -80\n', b'[[gpu]]\nmemory_gib = 80\n',
                                     b'[[gpu]]\nname = "X"\nmemory_gib = 80\nprice_usd_per_hour = inf\n'])
def test_bad_catalog_files_name_the_file(tmp_path, monkeypatch, content):
    from gpurec_core.plugins import gpu_catalog

    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(path))
    with pytest.raises(CatalogError) as info:
        gpu_catalog()
    check_user_error(info.value, str(path))


@pytest.mark.parametrize("value", ["~no-such-user-gpurec/gpus.toml", "/tmp/" + "x" * 300 + ".toml"])
def test_unusable_catalog_paths_are_catalog_errors(monkeypatch, value):
    from gpurec_core.plugins import gpu_catalog

    monkeypatch.setenv("GPUREC_GPU_CATALOG", value)
    with pytest.raises(CatalogError) as info:
        gpu_catalog()
    check_user_error(info.value, "GPUREC_GPU_CATALOG", value[:40])


@pytest.mark.parametrize("model", ["~no-such-user-gpurec/model", "x" * 5000, "org/a\x00b", "~x\x00y"])
def test_unusable_model_paths_are_model_errors(model):
    from gpurec_core.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError) as info:
        ModelArchitecture(model)
    check_user_error(info.value)


@pytest.mark.parametrize("model", [None, 42, [], {}, b"Qwen/Qwen3-0.6B"])
def test_model_ids_of_the_wrong_type(model):
    with pytest.raises(GpurecError) as info:
        ModelArchitecture(model)
    check_user_error(info.value, "model")
    with pytest.raises(WorkloadError):
        recommend_gpus(model)


# --------------------------------------------------------------------------------------------
# Real processes: one line on stderr, exit status 2


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1", "HF_HUB_OFFLINE": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True,
                          env=environment, timeout=120, cwd=REPO_ROOT)


def assert_one_line_exit_2(completed: subprocess.CompletedProcess, *names: str) -> None:
    assert completed.returncode == 2, (completed.returncode, completed.stderr[-2000:])
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpurec: error: "), completed.stderr[-2000:]
    assert completed.stdout == ""
    for name in names:
        assert name in lines[0]


def test_subprocess_bad_config_directory(tmp_path):
    write_config(tmp_path, {**LLAMA, "num_attention_heads": -32})
    assert_one_line_exit_2(run_cli("recommend", str(tmp_path), "--gpus", "H100"), "num_attention_heads")
    write_config(tmp_path, {**LLAMA, "quantization_config": {"quant_method": "awq", "bits": "four"}})
    assert_one_line_exit_2(run_cli("model", str(tmp_path)), "quantization_config.bits")


def test_subprocess_bad_workload_and_bad_catalog(tmp_path):
    assert_one_line_exit_2(run_cli("recommend", "Qwen/Qwen3-0.6B", "--gpu-memory-utilization", "nan"),
                           "gpu_memory_utilization")
    catalog = tmp_path / "random.toml"
    catalog.write_bytes(bytes(range(256)))
    assert_one_line_exit_2(run_cli("gpus", env={"GPUREC_GPU_CATALOG": str(catalog)}), str(catalog))


# --------------------------------------------------------------------------------------------
# Regressions found by this file (each a crash, hang or silent failure before the fix)


def test_huge_head_count_does_not_hang():
    """num_attention_heads near the bound: TP sizes are the divisors, not every integer up to it."""
    arch = ModelArchitecture.from_config({**LLAMA, "num_attention_heads": 65_536, "num_key_value_heads": 65_536,
                                          "head_dim": 64})
    assert arch.possible_tensor_parallel_sizes()[:4] == [1, 2, 4, 8]


def test_malformed_quantization_fields_are_named():
    for q, field in [({"quant_method": "fp8", "weight_block_size": 1.5}, "weight_block_size"),
                     ({"quant_method": "awq", "bits": "four"}, "bits"),
                     ({"quant_method": "gptq", "group_size": "128"}, "group_size"),
                     ({"quant_method": {"a": 1}}, "quant_method"),
                     ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 64}}}},
                      "num_bits"),
                     ({"quant_method": "modelopt", "ignore": [1, 2]}, "ignore")]:
        with pytest.raises(ModelConfigError) as info:
            ModelArchitecture.from_config({**SMALL, "quantization_config": q})
        check_user_error(info.value, f"quantization_config.{field}" if field != "num_bits" else field)


def test_unknown_estimator_is_one_error_not_a_dash_on_every_row(small_model):
    from gpurec_core.errors import EstimatorUnavailableError

    with pytest.raises(EstimatorUnavailableError, match="rooflin.*Did you mean roofline"):
        recommend_gpus(small_model, gpus=["H100"], estimator="rooflin")
    with pytest.raises(WorkloadError, match="estimator"):
        estimate_performance(small_model, "H100", input_length=10, output_length=10, estimator=None)
    assert len(recommend_gpus(small_model, gpus=["H100"], estimator="rooflin", estimate_performance_flag=False)) > 0


def test_absurd_target_load_is_a_reason_not_an_overflow(small_model):
    result = recommend_gpus(small_model, gpus=["H100"], target_requests_per_sec=1e308)
    check_result(result)
    assert all("replicas" in " ".join(item.recommendation.reasons) for item in result if item.performance)


@pytest.mark.parametrize("gpu, options", [("H100", {"pipeline_parallel_size": 417}),
                                          ("H100", {"max_num_batched_tokens": 100_000_000}),
                                          ("H100", {"tensor_parallel_size": 2, "pipeline_parallel_size": 1000}),
                                          (GPUSpec(name="TINY", memory_gb=1.0, bandwidth_tb_s=0.1), {"tensor_parallel_size": 2})])
def test_sglang_reserve_beyond_the_gpu_is_a_reason_not_a_crash(small_model, gpu, options):
    """SGLang's default reserve grows with chunked prefill and TP x PP, and non-torch memory with TP; past
    the GPU either gave a negative budget, which the capacity plugin turned into a crash (a pydantic
    ValidationError, reported as a multi-line PluginError)."""
    plan = plan_memory(small_model, gpu, engine="sglang", **options)
    assert not plan.fits and plan.budget_gib >= 0
    assert_finite(plan.model_dump())
    with user_errors_only():
        check_result(recommend_gpus(small_model, gpus=["L4"], engine="sglang", pipeline_parallel=28))


@FUZZ
@given(name=st.one_of(st.text(max_size=30), st.sampled_from(["h100", "H100-80GB", "nvidia", "", " ", "x" * 5000]),
                      st.none(), st.integers(), st.floats(), st.lists(st.text(max_size=3), max_size=2)))
def test_fuzzed_gpu_names(small_model, name):
    from gpurec_core.gpus import get_gpu_spec

    with user_errors_only("GPU", "gpu"):
        assert_finite(get_gpu_spec(name).model_dump())
    with user_errors_only("GPU", "gpu"):
        check_result(recommend_gpus(small_model, gpus=[name], estimate_performance_flag=False))
    with user_errors_only("GPU", "gpu"):
        recommend_gpus(small_model, gpus=["H100"], estimate_performance_flag=False).filter_by_gpu_name(name).to_dict()
    if isinstance(name, str) and name and not name.startswith("-") and "\x00" not in name:
        code, out, err = invoke("gpu", name, "--json")
        if code == 0:
            assert_finite(strict_json(out))
        else:
            assert len(err) < 2000  # a long name is not echoed in full
