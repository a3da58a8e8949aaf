"""The offline catalog as people use it: every entry resolves and plans; names are forgiven; variants carry evidence."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gpurec_core import ModelArchitecture, plan_memory
from gpurec_core.catalog_names import config_hash, suffix_variants, without_prefix
from gpurec_core.cli import cli
from gpurec_core.errors import ModelNotFoundError
from gpurec_core.resolve import list_catalog_models, list_catalog_variants

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = [m["id"] for m in list_catalog_models()]
VARIANTS = list_catalog_variants()


@pytest.mark.parametrize("model_id", ENTRIES)
def test_every_catalog_entry_resolves_offline_parses_and_plans_on_h100(model_id):
    model = ModelArchitecture(model_id)
    assert model.source == "catalog" and model.num_parameters > 0
    tp = max(t for t in model.possible_tensor_parallel_sizes() if t <= 8)
    plan = plan_memory(model, "H100", tensor_parallel_size=tp, max_model_len=4096)
    assert plan.weights_gib > 0


@pytest.mark.parametrize("variant", VARIANTS, ids=[v["id"] for v in VARIANTS])
def test_every_variant_resolves_under_its_own_id_to_its_entrys_config(variant):
    model = ModelArchitecture(variant["id"])
    entry = ModelArchitecture(variant["same_as"])
    assert model.model_id == variant["id"] and model.resolution_note is None
    assert config_hash(model._resolved.config) == config_hash(entry._resolved.config)
    assert "identical" in variant["evidence"].lower() and len(variant["evidence"]) > 40


@pytest.mark.parametrize("typed, expected", [
    ("qwen/qwen3-8b", "Qwen/Qwen3-8B"),
    ("hf.co/Qwen/Qwen3-8B", "Qwen/Qwen3-8B"),
    ("huggingface.co/Qwen/Qwen3-8B", "Qwen/Qwen3-8B"),
    ("https://huggingface.co/Qwen/Qwen3-8B", "Qwen/Qwen3-8B"),
    ("https://hf.co/Qwen/Qwen3-8B/tree/main", "Qwen/Qwen3-8B"),
])
def test_spellings_people_type_find_the_entry(typed, expected):
    model = ModelArchitecture(typed)
    assert model.model_id == expected and model.resolution_note is None


def test_a_suffix_or_dated_revision_plans_with_the_entrys_config_and_says_so():
    model = ModelArchitecture("Qwen/Qwen3-32B-Instruct")  # no such repo: Qwen3-32B is the instruct model
    assert model.model_id == "Qwen/Qwen3-32B-Instruct"
    assert "planned with the config of Qwen/Qwen3-32B" in model.resolution_note
    from gpurec_core import recommend_gpus

    assert any("Qwen/Qwen3-32B-Instruct is not in the bundled catalog" in n
               for n in recommend_gpus(model, gpus=["H100"]).notes)


@pytest.mark.parametrize("name, spellings", [
    ("deepseek-ai/DeepSeek-R1-0528", ["deepseek-ai/DeepSeek-R1"]),
    ("meta-llama/Llama-3.1-8B-Instruct", ["meta-llama/Llama-3.1-8B"]),
    ("google/gemma-3-27b", ["google/gemma-3-27b-it"]),
    ("meta-llama/Llama-2-7b-chat-hf", ["meta-llama/Llama-2-7b"]),
])
def test_suffix_variants_drop_and_add_the_usual_suffixes(name, spellings):
    variants = list(suffix_variants(name))
    for spelling in spellings:
        assert spelling in variants


def test_without_prefix():
    assert without_prefix("hf.co/org/name") == "org/name" and without_prefix("org/name") == "org/name"


def test_a_miss_suggests_near_ids_and_how_to_add_a_local_config():
    with pytest.raises(ModelNotFoundError) as info:
        ModelArchitecture("Qwen/Qwen3-32X")
    message = str(info.value)
    assert "Did you mean" in message and "Qwen/Qwen3-32B" in message
    assert "local directory holding config.json" in message


@pytest.mark.parametrize("model_id", ["mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-7b-hf", "EleutherAI/gpt-j-6b",
                                      # a variant with evidence of an identical config (aliases.toml)
                                      "deepseek-ai/DeepSeek-R1-0528", "meta-llama/Llama-3.1-405B-Instruct"])
def test_ids_the_issue_names_resolve_offline_with_their_own_config(model_id):
    model = ModelArchitecture(model_id)
    assert model.model_id == model_id and model.resolution_note is None and model.num_parameters > 0


@pytest.mark.parametrize("model_id, stands_in", [
    ("deepseek-ai/DeepSeek-V3-0324", "deepseek-ai/DeepSeek-V3"),         # a dated revision: same architecture
    ("meta-llama/Meta-Llama-3-70B-Instruct", "meta-llama/Meta-Llama-3-70B"),  # instruct of a bundled base
])
def test_ids_the_issue_names_resolve_offline_through_a_named_variant(model_id, stands_in):
    model = ModelArchitecture(model_id)
    assert model.model_id == model_id and f"planned with the config of {stands_in}" in model.resolution_note


def test_models_command_filters_by_family_and_name():
    result = CliRunner().invoke(cli, ["models", "--family", "qwen", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and all(r["family"] == "qwen" or r["id"].lower().startswith("qwen/") for r in rows)
    assert {"parameters", "active_parameters", "kind", "attention", "context_length"} <= set(rows[0])
    named = json.loads(CliRunner().invoke(cli, ["models", "llama-3.1-8b", "--json"]).stdout)
    assert {r["id"] for r in named} >= {"meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"}
    none = CliRunner().invoke(cli, ["models", "no-such-model-anywhere"])
    assert none.exit_code == 2 and "no bundled model matches" in none.stderr


def test_docs_models_md_is_generated_from_the_catalog():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_model_docs.py"), "--check"],
                            capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert result.returncode == 0, result.stdout + result.stderr
