"""Config defaults from transformers' config classes (issue 9, points 1 and 2).

A config.json may leave out keys its transformers config class defaults (Gemma's tied embeddings,
Mistral's 8 KV heads, Qwen3's head_dim 128); a multimodal model's text_config may leave out any key
that equals its class's default. gpurec reads those defaults from the shipped table
``catalogs/config_defaults/transformers_config_defaults.json``, while the size fields of a top-level
config must be the config's own (a missing one is a ModelConfigError, never 0 or a toy default).

Configs under tests/fixtures/defaults/ are real HuggingFace config.json files (verbatim copies, see
SOURCES.md there), some with defaulted keys removed: the Gemma 1/2 files are as published (they
already leave out tie_word_embeddings); Mistral-7B-v0.1 has its num_key_value_heads removed.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpurec_core import config_defaults
from gpurec_core._config_parse import _REQUIRED_AT_TOP, _TEXT_TYPE_OF_WRAPPER, _text_section, parse_hf_config
from gpurec_core.errors import ModelConfigError
from gpurec_core.param_count import count_parameters

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "defaults"
CATALOG = ROOT / "catalogs" / "models"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def catalog_config(model_id: str) -> dict:
    return json.loads((CATALOG / model_id / "config.json").read_text())


def total(raw: dict) -> int:
    return count_parameters(parse_hf_config(raw)).total


def assert_close(got: int, published: int, tolerance: float = 0.005) -> None:
    assert abs(got - published) <= tolerance * published, f"{got:,} vs published {published:,}"


# Verbatim copies of the published config.json files (see fixtures/defaults/SOURCES.md). The three
# Gemma files have no tie_word_embeddings (GemmaConfig / Gemma2Config: True) as published.
GEMMA_7B = fixture("gemma-7b.json")
GEMMA_2_2B = fixture("gemma-2-2b.json")
GEMMA_2_9B = fixture("gemma-2-9b.json")
# mistralai/Mistral-7B-v0.1 config.json without num_key_value_heads (MistralConfig: 8).
MISTRAL_7B_V01 = fixture("mistral-7b-v0.1-no-kv-heads.json")


# --------------------------------------------------------------------------------------------
# Published parameter counts, with configs that leave keys to their class defaults
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "published"),
    [
        # HF Hub page of google/gemma-7b: "8.54B params" (safetensors); untied it would be 9.32B.
        pytest.param(GEMMA_7B, 8_540_000_000, id="gemma-7b"),
        # google/gemma-2-2b safetensors total 2,614,341,888 (issue 9); untied gpurec counted 3.20B.
        pytest.param(GEMMA_2_2B, 2_614_341_888, id="gemma-2-2b"),
        # HF Hub page of google/gemma-2-9b: "9.24B params" (safetensors).
        pytest.param(GEMMA_2_9B, 9_240_000_000, id="gemma-2-9b"),
        # mistralai/Mistral-7B-v0.1 safetensors total 7,241,732,096 (issue 9).
        pytest.param(MISTRAL_7B_V01, 7_241_732_096, id="mistral-7b-v0.1-no-kv-heads"),
    ],
)
def test_published_totals_of_configs_written_out_here(raw, published):
    assert_close(total(raw), published)


@pytest.mark.parametrize(
    ("name", "published"),
    [
        # keras-hub mistral_presets.py 'mistral_0.3_instruct_7b_en' (reference sizes.csv).
        pytest.param("mistral-7b-instruct-v0.3.json", 7_248_023_552, id="mistral-7b-v0.3-no-kv-heads"),
        # keras-hub mixtral_presets.py 'mixtral_8_instruct_7b_en' (reference sizes.csv).
        pytest.param("mixtral-8x7b-instruct-v0.1.json", 46_702_792_704, id="mixtral-8x7b-no-kv-heads"),
        # keras-hub qwen3_presets.py 'qwen3_8b_en' (catalogs/models/sizes.csv).
        pytest.param("qwen3-8b.json", 8_190_735_360, id="qwen3-8b-no-head-dim"),
        # keras-hub qwen3_presets.py 'qwen3_32b_en' (catalogs/models/sizes.csv); head_dim 128 != 5120/64.
        pytest.param("qwen3-32b.json", 32_762_123_264, id="qwen3-32b-no-head-dim"),
        # keras-hub gemma3_presets.py 'gemma3_instruct_27b_text' (text only; reference sizes.csv note).
        pytest.param("gemma-3-27b-it.json", 27_009_002_240, id="gemma-3-27b-it-text-config"),
    ],
)
def test_published_totals_of_catalog_configs_without_defaulted_keys(name, published):
    assert_close(total(fixture(name)), published)


def test_the_defaulted_keys_take_the_class_values():
    gemma2 = parse_hf_config(GEMMA_2_2B)
    assert gemma2.tie_word_embeddings is True
    assert gemma2.layer_types[:4] == ("sliding_attention", "full_attention", "sliding_attention", "full_attention")
    assert gemma2.norms_per_layer == 4
    assert total(GEMMA_2_2B) == 2_614_341_888  # exact: embedding + 26 x (attention, MLP, 4 norms) + norm
    assert parse_hf_config(MISTRAL_7B_V01).num_key_value_heads == 8
    qwen = parse_hf_config(fixture("qwen3-32b.json"))
    assert qwen.head_dim == 128 and qwen.num_key_value_heads == 8 and qwen.tie_word_embeddings is False
    gemma3 = parse_hf_config(fixture("gemma-3-27b-it.json"))
    # Gemma3TextConfig defaults for what text_config leaves out.
    assert (gemma3.vocab_size, gemma3.max_position_embeddings, gemma3.tie_word_embeddings) == (262_208, 131_072, True)
    assert gemma3.hidden_act == "gelu_pytorch_tanh" and gemma3.is_multimodal


def test_explicit_values_and_nulls_win_over_class_defaults():
    assert parse_hf_config(dict(GEMMA_2_2B, tie_word_embeddings=False)).tie_word_embeddings is False
    # MistralConfig.num_key_value_heads is 8, but an explicit null means "as many as the query heads".
    assert parse_hf_config(dict(MISTRAL_7B_V01, num_key_value_heads=None)).num_key_value_heads == 32
    assert parse_hf_config(dict(MISTRAL_7B_V01, num_key_value_heads=4)).num_key_value_heads == 4
    # MistralConfig.sliding_window is 4096; Mistral v0.3 writes null: no window.
    assert parse_hf_config(fixture("mistral-7b-instruct-v0.3.json")).sliding_window is None


def test_every_nested_key_may_come_from_the_class_defaults():
    """A text_config holding only its model_type is Gemma3TextConfig's default model, as in transformers."""
    raw = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
           "text_config": {"model_type": "gemma3_text"}, "vision_config": {"model_type": "siglip_vision_model"}}
    cfg = parse_hf_config(raw)
    d = config_defaults.class_defaults("gemma3_text")
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size, cfg.vocab_size) == (
        d["hidden_size"], d["num_hidden_layers"], d["intermediate_size"], d["vocab_size"])


# --------------------------------------------------------------------------------------------
# Size fields of a top-level config are required
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "field", "named"),
    [
        pytest.param("meta-llama/Llama-3.1-8B", "intermediate_size", "intermediate_size", id="llama-no-ffn"),
        pytest.param("meta-llama/Llama-3.1-8B", "vocab_size", "vocab_size", id="llama-no-vocab"),
        pytest.param("meta-llama/Llama-3.1-8B", "hidden_size", "hidden_size", id="llama-no-hidden"),
        pytest.param("meta-llama/Llama-3.1-8B", "num_hidden_layers", "num_hidden_layers", id="llama-no-layers"),
        pytest.param("meta-llama/Llama-3.1-8B", "num_attention_heads", "num_attention_heads", id="llama-no-heads"),
        pytest.param("Qwen/Qwen3-30B-A3B", "moe_intermediate_size", "moe_intermediate_size", id="qwen3-moe-no-width"),
        pytest.param("Qwen/Qwen3-30B-A3B", "num_experts", "num_experts", id="qwen3-moe-no-experts"),
        pytest.param("Qwen/Qwen3-30B-A3B", "num_experts_per_tok", "num_experts_per_tok", id="qwen3-moe-no-top-k"),
        pytest.param("mistralai/Mixtral-8x7B-v0.1", "num_local_experts", "num_local_experts", id="mixtral-no-experts"),
        # Mixtral's experts are intermediate_size wide: the expert width.
        pytest.param("mistralai/Mixtral-8x7B-v0.1", "intermediate_size", "intermediate_size", id="mixtral-no-width"),
        pytest.param("deepseek-ai/DeepSeek-V3", "moe_intermediate_size", "moe_intermediate_size", id="dsv3-no-width"),
        pytest.param("deepseek-ai/DeepSeek-V3", "n_routed_experts", "n_routed_experts", id="dsv3-no-experts"),
        pytest.param("deepseek-ai/DeepSeek-V3", "intermediate_size", "intermediate_size", id="dsv3-no-dense-ffn"),
    ],
)
def test_a_missing_size_field_names_the_field_and_model_type(model_id, field, named):
    raw = catalog_config(model_id)
    assert field in raw
    del raw[field]
    with pytest.raises(ModelConfigError) as info:
        parse_hf_config(raw)
    message = str(info.value)
    assert f"'{named}'" in message and f"(model_type {raw['model_type']})" in message
    assert "is missing" in message and len(message.splitlines()) == 1


def test_a_missing_dense_width_is_not_a_silent_zero_even_when_null():
    raw = catalog_config("meta-llama/Llama-3.1-8B")
    for value in (None, 0):
        with pytest.raises(ModelConfigError, match="'intermediate_size'.*model_type llama"):
            parse_hf_config(dict(raw, intermediate_size=value))


def test_the_cli_names_a_missing_size_field_in_one_line_with_exit_2():
    path = FIXTURES / "llama-3.1-8b-no-intermediate-size.json"
    result = subprocess.run([sys.executable, "-m", "gpurec_core", "model", str(path)], capture_output=True,
                            text=True, env={**os.environ, "GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "'intermediate_size'" in lines[0] and "model_type llama" in lines[0]


# --------------------------------------------------------------------------------------------
# The catalog, stripped the way to_diff_dict strips, reads the same
# --------------------------------------------------------------------------------------------


def _strip_default_keys(raw: dict) -> tuple[dict, int]:
    """Remove what transformers' to_diff_dict may leave out: any text_config key equal to its class's
    default; at the top level, keys equal to the class default other than the size fields."""
    raw = copy.deepcopy(raw)
    text, prefix, nested = _text_section(raw, raw.get("model_type"))
    if nested:
        sub = (config_defaults.sub_config_model_type(raw["model_type"], prefix[:-1]) or text.get("model_type")
               or _TEXT_TYPE_OF_WRAPPER.get(raw["model_type"]))
        defaults = config_defaults.class_defaults(sub or "")
        drop = [k for k, v in text.items() if k != "model_type" and k in defaults and defaults[k] == v]
    else:
        defaults = config_defaults.class_defaults(raw.get("model_type", ""))
        drop = [k for k, v in text.items() if k not in _REQUIRED_AT_TOP and k in defaults and defaults[k] == v]
    for key in drop:
        del text[key]
    return raw, len(drop)


def test_catalog_configs_without_their_default_valued_keys_parse_the_same():
    paths = sorted(CATALOG.glob("**/config.json"))
    assert len(paths) > 100
    stripped = 0
    for path in paths:
        raw = json.loads(path.read_text())
        lean, dropped = _strip_default_keys(raw)
        stripped += dropped
        assert parse_hf_config(lean) == parse_hf_config(raw), path
    assert stripped > 500  # the check is not vacuous


# --------------------------------------------------------------------------------------------
# The table and its module
# --------------------------------------------------------------------------------------------


def test_table_header_and_lookups():
    path = config_defaults.table_path()
    assert path.name == "transformers_config_defaults.json" and path.stat().st_size < 1_000_000
    head = json.loads(path.read_text())
    assert head["generator"] == "scripts/generate_config_defaults.py"
    assert head["transformers_version"] == config_defaults.table_version() and config_defaults.table_version()
    assert "configuration_" in head["source"] and head["generated"]
    assert config_defaults.class_defaults("gemma2")["tie_word_embeddings"] is True
    assert config_defaults.class_defaults("mistral")["num_key_value_heads"] == 8
    assert config_defaults.class_defaults("qwen3_moe")["num_key_value_heads"] == 4
    assert config_defaults.class_defaults("qwen3")["head_dim"] == 128
    assert config_defaults.class_defaults("llama")["num_key_value_heads"] is None  # None kept: "= heads"
    assert config_defaults.config_class("gemma2") == "Gemma2Config"
    assert config_defaults.sub_config_model_type("gemma3", "text_config") == "gemma3_text"
    assert config_defaults.sub_config_model_type("gemma3", "vision_config") is None  # AutoConfig
    assert config_defaults.sub_config_model_type("llama", "text_config") is None
    assert config_defaults.class_defaults("no_such_model_type") == {}
    assert "return_dict" not in config_defaults.class_defaults("llama")  # plumbing left out


def test_class_defaults_are_copies():
    first = config_defaults.class_defaults("gemma2")
    first["tie_word_embeddings"] = False
    assert config_defaults.class_defaults("gemma2")["tie_word_embeddings"] is True


def test_importing_gpurec_does_not_import_transformers_and_the_table_loads_fast():
    code = ("import sys, time, gpurec_core, gpurec_core._config_parse; from gpurec_core import config_defaults as c; "
            "t = time.perf_counter(); c.class_defaults('llama'); dt = time.perf_counter() - t; "
            "print('transformers' in sys.modules, dt)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, seconds = result.stdout.split()
    assert imported == "False"
    assert float(seconds) < 2.0  # a hang guard: about 10 ms here; the speed is benchmarks/'s to measure


def test_the_table_is_loaded_once_across_threads():
    import threading

    config_defaults._table = None
    results = []
    threads = [threading.Thread(target=lambda: results.append(config_defaults.class_defaults("mistral")))
               for _ in range(8)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.perf_counter() - started < 5
    assert len(results) == 8 and all(r == results[0] and r["num_key_value_heads"] == 8 for r in results)
