"""Parameter counts against published figures (catalogs/models/sizes.csv, each with its source),
plus invariants of the breakdown for every bundled config."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from gpurec_core._config_parse import parse_hf_config
from gpurec_core.param_count import ParameterCount, count_parameters

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalogs" / "models"
CATALOG_IDS = sorted(str(p.parent.relative_to(CATALOG)) for p in CATALOG.glob("*/*/config.json"))
TOLERANCE = 0.005  # the accuracy bar: within 0.5% of every published total


def count(model_id: str) -> ParameterCount:
    return count_parameters(parse_hf_config(json.loads((CATALOG / model_id / "config.json").read_text())))


def rel_err(ours: int, published: int) -> float:
    return abs(ours - published) / published


# ---------------------------------------------------------------------------------------------
# Published totals of the HF checkpoint's language model
# ---------------------------------------------------------------------------------------------

PUBLISHED_TOTALS = [
    # (catalog config, published total, source)
    ("meta-llama/Llama-3.1-8B", 8_030_261_248, "keras-hub llama3_presets.py 'llama3.1_8b'; thamada/modelQuery README"),
    ("meta-llama/Llama-3.1-8B-Instruct", 8_030_261_248, "keras-hub llama3_presets.py 'llama3.1_instruct_8b'"),
    ("meta-llama/Llama-3.1-70B-Instruct", 70_562_938_880, "thamada/modelQuery README row 'Llama-3.1-70B-Instruct'"),
    ("meta-llama/Llama-3.1-405B", 405_882_404_864, "thamada/modelQuery README row 'Llama-3.1-405B-Instruct(mp8)'"),
    ("Qwen/Qwen3-0.6B", 596_049_920, "keras-hub qwen3_presets.py 'qwen3_0.6b_en' (tied embedding counted once)"),
    ("Qwen/Qwen3-4B", 4_022_468_096, "keras-hub qwen3_presets.py 'qwen3_4b_en' (tied embedding counted once)"),
    ("Qwen/Qwen3-8B", 8_190_735_360, "keras-hub qwen3_presets.py 'qwen3_8b_en'"),
    ("Qwen/Qwen3-32B", 32_762_123_264, "keras-hub qwen3_presets.py 'qwen3_32b_en'"),
    ("Qwen/Qwen3-30B-A3B", 30_532_122_624, "keras-hub qwen3_moe_presets.py 'qwen3_moe_30b_a3b_en'"),
    ("Qwen/Qwen3-235B-A22B", 235_093_634_560, "keras-hub qwen3_moe_presets.py 'qwen3_moe_235b_a22b_en'"),
    # Only the base Qwen2.5-72B config is bundled; the Instruct differs in generation fields only
    # (SOURCES.md), so the Instruct's published count applies to the same architecture.
    ("Qwen/Qwen2.5-72B", 72_706_203_648, "keras-hub qwen_presets.py 'qwen2.5_instruct_72b_en'"),
    # sizes.csv marks keras-hub's 'qwen2.5_7b_en' (6,993,420,288) SUSPICIOUS; the same file's
    # 'qwen2.5_math_7b_en' has the same architecture and gives this figure, as does the HF model card (7.61B).
    ("Qwen/Qwen2.5-7B-Instruct", 7_615_616_512, "keras-hub qwen_presets.py 'qwen2.5_math_7b_en'; HF card '7.61B'"),
    ("mistralai/Mistral-7B-Instruct-v0.3", 7_248_023_552, "keras-hub mistral_presets.py 'mistral_0.3_instruct_7b_en'"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46_702_792_704, "keras-hub mixtral_presets.py 'mixtral_8_instruct_7b_en'"),
    ("mistralai/Mixtral-8x7B-v0.1", 46_700_000_000, "sgl-project/ome interface_test.go expects 46.7B for mixtral.json"),
    ("microsoft/Phi-3-mini-128k-instruct", 3_821_079_552, "keras-hub phi3_presets.py 'phi3_mini_128k_instruct_en'"),
    ("openai/gpt-oss-20b", 20_914_757_184, "keras-hub gpt_oss_presets.py 'gpt_oss_20b_en'"),
    ("openai/gpt-oss-120b", 116_829_156_672, "keras-hub gpt_oss_presets.py 'gpt_oss_120b_en'"),
    # Text model only: keras-hub 'gemma3_instruct_27b_text' is 27,009,002,240 with a 262,144-row
    # vocabulary; the HF checkpoint has 262,208 rows (64 x 5376 = 344,064 more). The vision count
    # 27,432,062,576 ('gemma3_instruct_27b') includes the SigLIP tower, which gpurec does not count.
    ("google/gemma-3-27b-it", 27_009_002_240, "keras-hub gemma3_presets.py 'gemma3_instruct_27b_text'"),
    # DeepSeek-V3 model card: "671B main model weights and 14B of MTP module weights" (685B on the Hub).
    ("deepseek-ai/DeepSeek-V3", 671_000_000_000, "deepseek-ai/DeepSeek-V3 model card (671B + 14B MTP)"),
    ("deepseek-ai/DeepSeek-R1", 671_000_000_000, "deepseek-ai/DeepSeek-R1 model card: 671B total, 37B activated"),
]


@pytest.mark.parametrize(("model_id", "published", "source"), PUBLISHED_TOTALS,
                         ids=[f"{m} has {p:,} ({s})" for m, p, s in PUBLISHED_TOTALS])
def test_total_matches_published_figure(model_id, published, source):
    assert rel_err(count(model_id).total, published) <= TOLERANCE, source


@pytest.mark.parametrize(("model_id", "published"), [
    ("meta-llama/Llama-3.1-8B", 8_030_261_248),
    ("Qwen/Qwen3-0.6B", 596_049_920),
    ("Qwen/Qwen3-32B", 32_762_123_264),
    ("Qwen/Qwen3-30B-A3B", 30_532_122_624),
    ("Qwen/Qwen3-235B-A22B", 235_093_634_560),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46_702_792_704),
    ("microsoft/Phi-3-mini-128k-instruct", 3_821_079_552),
    ("openai/gpt-oss-120b", 116_829_156_672),
    ("openai/gpt-oss-20b", 20_914_757_184),
])
def test_keras_hub_counts_are_matched_exactly(model_id, published):
    """keras-hub presets (sizes.csv) give exact counts; these architectures we reproduce to the parameter."""
    assert count(model_id).total == published


@pytest.mark.parametrize(("model_id", "keras_count"), [
    # sizes.csv CAUTION: keras-hub llama3_presets.py 'llama3.2_instruct_1b' / '_3b' count a separate
    # lm_head although the HF config ties it. Adding one V x H matrix to our (tied) count gives
    # keras' figure exactly, so the difference is that lm_head and nothing else.
    ("meta-llama/Llama-3.2-1B-Instruct", 1_498_482_688),
    ("meta-llama/Llama-3.2-3B-Instruct", 3_606_752_256),
])
def test_llama32_keras_counts_include_an_untied_lm_head(model_id, keras_count):
    params = count(model_id)
    assert params.lm_head == 0
    assert params.total + params.embedding == keras_count


def test_llama32_1b_hf_size_is_124b():
    # sizes.csv note: "HF-stated size is ~1.24B" for meta-llama/Llama-3.2-1B-Instruct
    assert rel_err(count("meta-llama/Llama-3.2-1B-Instruct").total, 1_240_000_000) <= TOLERANCE


def test_gemma3_27b_differs_from_keras_text_count_by_the_64_extra_vocab_rows():
    assert count("google/gemma-3-27b-it").total - 27_009_002_240 == 64 * 5376


def test_qwen25_7b_keras_base_figure_is_not_this_architecture():
    # sizes.csv marks 'qwen2.5_7b_en' = 6,993,420,288 SUSPICIOUS; our count agrees with the other sources instead.
    assert rel_err(count("Qwen/Qwen2.5-7B").total, 6_993_420_288) > 0.05


@pytest.mark.parametrize(("model_id", "published", "source"), [
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", 12_900_000_000, "nosana-ci README: '12.9B active parameters'"),
    ("deepseek-ai/DeepSeek-V3", 37_000_000_000, "DeepSeek-V3 model card: 37B activated per token"),
])
def test_active_parameters_match_published_figure(model_id, published, source):
    # Both are stated with 2-3 significant figures, so allow their rounding (2%) rather than 0.5%.
    assert rel_err(count(model_id).active_per_token, published) <= 0.02, source


def test_qwen3_coder_30b_a3b_matches_its_model_card():
    # Model card (README.md beside the config in sagui-nlp/nanoGPT-moe @ 2675cf4c): 'Number of Parameters: 30.5B in
    # total'; the same architecture as Qwen3-30B-A3B, whose keras-hub count is 30,532,122,624 (sizes.csv).
    ours = count("Qwen/Qwen3-Coder-30B-A3B-Instruct").total
    assert rel_err(ours, 30_500_000_000) <= TOLERANCE and ours == count("Qwen/Qwen3-30B-A3B").total


# ---------------------------------------------------------------------------------------------
# Breakdown
# ---------------------------------------------------------------------------------------------


def test_llama_31_8b_breakdown():
    # Llama 3 paper Table 3: 32 layers, d_model 4096, FFN 14336, 8 KV heads, vocab 128K, untied
    p = count("meta-llama/Llama-3.1-8B")
    assert p.embedding == p.lm_head == 128_256 * 4096
    assert p.attention == 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024)
    assert p.dense_mlp == 32 * 3 * 4096 * 14336
    assert p.norms == 65 * 4096
    assert p.routed_experts == p.shared_experts == p.router == p.linear_attention_and_mamba == 0


def test_tied_embeddings_have_no_lm_head():
    assert count("Qwen/Qwen3-0.6B").lm_head == 0
    assert count("google/gemma-3-1b-it").lm_head == 0


def test_moe_breakdown_of_qwen3_30b_a3b():
    p = count("Qwen/Qwen3-30B-A3B")
    assert p.routed_experts == 48 * 128 * 3 * 2048 * 768
    assert p.router == 48 * 128 * 2048
    assert p.dense_mlp == p.shared_experts == 0
    # 8 of 128 experts per token: active = total - 120/128 of the experts
    assert p.active_per_token == p.total - p.routed_experts * 120 // 128


def test_hybrid_models_count_their_linear_mixers():
    assert count("Qwen/Qwen3-Next-80B-A3B-Thinking").linear_attention_and_mamba > 0
    assert count("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16").linear_attention_and_mamba > 0
    assert count("moonshotai/Kimi-K3").linear_attention_and_mamba > 0


@pytest.mark.parametrize("model_id, hidden, latent, moe_layers", [
    # config.json: hidden_size, moe_latent_size, 'E' in hybrid_override_pattern / 'moe' in layers_block_type
    ("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8", 4096, 1024, 40),
    ("nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16", 8192, 2048, 48),
    # text_config: hidden_size, routed_expert_hidden_size, 93 layers - first_k_dense_replace 1
    ("moonshotai/Kimi-K3", 7168, 3584, 92),
])
def test_latent_moe_projections_are_always_active(model_id, hidden, latent, moe_layers):
    """A latent MoE's hidden->L->hidden projections (modeling_nemotron_h.py ``fc1_latent_proj`` /
    ``fc2_latent_proj``; Kimi K3 ``routed_expert_down_proj`` / ``routed_expert_up_proj``) run for every
    token: their own component, counted in full in active_per_token, not among the routed experts."""
    from gpurec_core.api import as_model
    from gpurec_core.model_facts import facts_for
    from gpurec_core.models import Parallelism

    p = count(model_id)
    assert p.latent_projections == moe_layers * 2 * hidden * latent
    cfg = parse_hf_config(json.loads((CATALOG / model_id / "config.json").read_text()))
    k, e = cfg.num_experts_per_tok, cfg.num_experts
    assert p.active_per_token == p.total - p.routed_experts + p.routed_experts * k // e

    # The facts read them in full every step, replicated on every TP rank (vLLM nemotron_h.py
    # NemotronHMoE builds them as ReplicatedLinear), and the total held at TP 1 is the same split.
    arch = as_model(model_id)
    precision = arch.resolve_precision(None, None)
    one = facts_for(arch, precision, Parallelism(), None, text_only=True).stages[0]
    eight = facts_for(arch, precision, Parallelism(tensor_parallel_size=8), None, text_only=True).stages[0]
    latent_bytes = one.weight_bytes_by_component["latent_projections"]
    assert latent_bytes > 0 and eight.weight_bytes_by_component["latent_projections"] == pytest.approx(latent_bytes)
    assert one.matmul_flops_by_component["latent_projections"] == pytest.approx(2.0 * p.latent_projections)
    assert one.matmul_flops_by_component["routed_experts"] == pytest.approx(2.0 * p.routed_experts * k / e)
    assert one.expert_weight_bytes == one.weight_bytes_by_component["routed_experts"]


def test_quantized_exports_count_like_their_bf16_originals():
    assert count("Qwen/Qwen3-32B-FP8").total == count("Qwen/Qwen3-32B").total
    assert count("nvidia/Qwen3-235B-A22B-NVFP4").total == count("Qwen/Qwen3-235B-A22B").total
    assert count("nvidia/Kimi-K2.5-NVFP4").total == count("moonshotai/Kimi-K2.5").total


@pytest.mark.parametrize("model_id", CATALOG_IDS)
def test_every_catalog_model_has_a_consistent_finite_positive_count(model_id):
    p = count(model_id)
    parts = (p.embedding + p.lm_head + p.attention + p.dense_mlp + p.routed_experts + p.latent_projections
             + p.shared_experts + p.router + p.norms + p.linear_attention_and_mamba + p.other)
    assert p.total == parts and math.isfinite(p.total) and p.total > 0
    assert 0 < p.active_per_token <= p.total
    assert p.quantizable_linear_params + p.unquantized_params == p.total
    assert p.attention > 0 and p.embedding > 0
    dumped = p.model_dump()
    assert dumped["quantizable_linear_params"] == p.quantizable_linear_params
    assert all(isinstance(v, int) and v >= 0 for v in dumped.values())


_NAME_SIZE = re.compile(r"-(\d+(?:\.\d+)?)B(?:-A(\d+(?:\.\d+)?)B)?(?:-|$)")


@pytest.mark.parametrize("model_id", [
    "Qwen/Qwen3-Coder-480B-A35B-Instruct", "Qwen/Qwen3-Next-80B-A3B-Thinking", "Qwen/Qwen3.5-122B-A10B",
    "Qwen/Qwen3.5-27B", "Qwen/Qwen3.5-397B-A17B", "Qwen/Qwen3.5-35B-A3B", "meta-llama/Llama-3.3-70B-Instruct",
    "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8", "nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16",
    "nvidia/Nemotron-H-56B-Base-8K", "nvidia/Llama-3_3-Nemotron-Super-49B-v1", "nvidia/Gemma-4-31B-IT-NVFP4",
])
def test_total_agrees_with_the_size_in_the_model_name(model_id):
    """The rounded size in a model's own name (e.g. '-397B-A17B') is a coarse published figure: within 3%."""
    total = _NAME_SIZE.search(model_id.split("/")[1])
    assert total, model_id
    assert rel_err(count(model_id).total, float(total.group(1)) * 1e9) <= 0.03


def _published_entries():
    import tomllib

    index = tomllib.loads((CATALOG / "index.toml").read_text())["model"]
    return [e for e in index if "published_params" in e]


@pytest.mark.parametrize("entry", _published_entries(), ids=lambda e: f"{e['id']} ({e['params_source']})")
def test_every_published_figure_in_index_toml_is_met(entry):
    """index.toml's published_params (copied from sizes.csv with its source): within 0.5%, once the
    figure's params_note says what it counts differently from the HF checkpoint's language model."""
    params = count(entry["id"])
    note = entry.get("params_note", "")
    if "SUSPICIOUS" in note:
        pytest.skip(f"sizes.csv marks this figure SUSPICIOUS: {note}")
    ours = params.total + (params.embedding if "separate lm_head" in note else 0)
    if "vision tower" in note:  # the figure counts the checkpoint's vision tower and projector too
        from gpurec_core.api import as_model

        ours += as_model(entry["id"]).towers.total
    assert rel_err(ours, entry["published_params"]) <= TOLERANCE, entry["params_source"]
