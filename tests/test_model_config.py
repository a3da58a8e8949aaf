"""config.json -> ModelConfig: every bundled config parses; architecture facts match their model
cards and papers; malformed configs raise ModelConfigError naming the field and the model_type."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import pytest

from gpurec_core._config_parse import parse_hf_config
from gpurec_core.errors import GpurecError, ModelConfigError
from gpurec_core.model_config import ModelConfig

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalogs" / "models"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "quantized"
CATALOG_IDS = sorted(str(p.parent.relative_to(CATALOG)) for p in CATALOG.glob("*/*/config.json"))


def raw_config(model_id: str) -> dict:
    return json.loads((CATALOG / model_id / "config.json").read_text())


def load(model_id: str) -> ModelConfig:
    quant = CATALOG / model_id / "hf_quant_config.json"
    return parse_hf_config(raw_config(model_id), json.loads(quant.read_text()) if quant.exists() else None)


# ---------------------------------------------------------------------------------------------
# The bundled catalog
# ---------------------------------------------------------------------------------------------


def test_catalog_directories_hold_config_json():
    assert len(CATALOG_IDS) >= 111  # every directory with a config.json (the 111 of the first catalog and more)


def test_index_toml_lists_every_directory_once_with_a_source():
    index = tomllib.loads((CATALOG / "index.toml").read_text())["model"]
    ids = [entry["id"] for entry in index]
    assert sorted(ids) == CATALOG_IDS
    assert all(entry["source"].strip() for entry in index)
    names = [n.lower() for entry in index for n in (entry["id"], *entry.get("aliases", ()))]
    assert len(names) == len(set(names)), "an alias clashes with another id or alias"
    for entry in index:
        if "published_params" in entry:
            assert entry["params_source"].strip()
            assert isinstance(entry["published_params"], int) and entry["published_params"] > 0


def test_index_aliases_cover_the_pre_rename_llama_31_names():
    index = {e["id"]: e for e in tomllib.loads((CATALOG / "index.toml").read_text())["model"]}
    assert "meta-llama/Meta-Llama-3.1-8B" in index["meta-llama/Llama-3.1-8B"]["aliases"]


@pytest.mark.parametrize("model_id", CATALOG_IDS)
def test_every_catalog_config_parses(model_id):
    cfg = load(model_id)
    assert len(cfg.layer_types) == cfg.num_hidden_layers
    assert not cfg.moe_layers or len(cfg.moe_layers) == cfg.num_hidden_layers
    assert cfg.is_moe == any(cfg.moe_layers)
    assert cfg.attention_kind in ("MHA", "GQA", "MQA", "MLA")
    if "sliding_attention" in cfg.layer_types:
        assert cfg.sliding_window and cfg.sliding_window > 0


@pytest.mark.parametrize("model_id", CATALOG_IDS)
def test_quantization_config_is_kept_verbatim(model_id):
    raw = raw_config(model_id)
    expected = raw.get("quantization_config", (raw.get("text_config") or {}).get("quantization_config"))
    assert load(model_id).quantization_config == expected


def test_hf_quant_config_is_passed_through():
    cfg = load("nvidia/Qwen3-32B-NVFP4")
    assert cfg.hf_quant_config["quantization"]["quant_algo"] == "NVFP4"


def test_every_attention_kind_is_represented():
    kinds = {load(m).attention_kind for m in CATALOG_IDS}
    assert kinds == {"MHA", "GQA", "MQA", "MLA"}


def test_every_layer_kind_is_represented():
    kinds = {k for m in CATALOG_IDS for k in load(m).layer_types}
    assert kinds == {"full_attention", "sliding_attention", "linear_attention", "mamba", "mlp_only", "cross_attention"}


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir()))
def test_quantized_fixtures_parse(fixture):
    raw = json.loads((FIXTURES / fixture / "config.json").read_text())
    cfg = parse_hf_config(raw)
    assert cfg.model_type == "llama" and cfg.quantization_config == raw["quantization_config"]


def test_model_config_from_hf_config_delegates_to_the_parser():
    assert ModelConfig.from_hf_config(raw_config("Qwen/Qwen3-8B")) == load("Qwen/Qwen3-8B")


# ---------------------------------------------------------------------------------------------
# Architecture facts, each from the model card / paper named in the comment
# ---------------------------------------------------------------------------------------------


def test_llama_31_8b_is_gqa_with_8_kv_heads():
    # Llama 3 paper (arXiv 2407.21783) Table 3: 8B has 32 layers, 32 heads, 8 KV heads, FFN 14,336
    cfg = load("meta-llama/Llama-3.1-8B")
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (32, 32, 8)
    assert cfg.attention_kind == "GQA" and cfg.intermediate_size == 14336 and not cfg.is_moe
    assert cfg.layer_types == ("full_attention",) * 32


def test_phi3_mini_is_mha_and_its_huge_window_means_full_attention():
    # Phi-3 technical report (arXiv 2404.14219): phi-3-mini uses 32 heads, 32 layers (MHA);
    # the 128k config's sliding_window 262144 exceeds its context, so no layer is windowed.
    cfg = load("microsoft/Phi-3-mini-128k-instruct")
    assert cfg.attention_kind == "MHA"
    assert set(cfg.layer_types) == {"full_attention"} and cfg.sliding_window is None


def test_qwen25_without_use_sliding_window_is_all_full_attention():
    # Qwen2.5 model card: "use_sliding_window": false is the shipped setting (full attention, 131k context)
    cfg = load("Qwen/Qwen2.5-7B")
    assert set(cfg.layer_types) == {"full_attention"} and cfg.attention_bias


def test_mixtral_8x7b_has_8_experts_top2_on_every_layer():
    # Mixtral paper (arXiv 2401.04088): 8 experts, top-2 routing, every layer sparse
    cfg = load("mistralai/Mixtral-8x7B-v0.1")
    assert (cfg.num_experts, cfg.num_experts_per_tok, cfg.moe_intermediate_size) == (8, 2, 14336)
    assert all(cfg.moe_layers) and cfg.intermediate_size == 0


def test_qwen3_30b_a3b_has_128_experts_top8():
    # Qwen3-30B-A3B model card: 48 layers, 32 Q / 4 KV heads, 128 experts, 8 activated
    cfg = load("Qwen/Qwen3-30B-A3B")
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (48, 32, 4)
    assert (cfg.num_experts, cfg.num_experts_per_tok) == (128, 8) and all(cfg.moe_layers)
    assert cfg.qk_norm == "per_head"


def test_deepseek_v3_mla_first_three_layers_dense_mtp_excluded():
    # DeepSeek-V3 technical report (arXiv 2412.19437) sec. 4.2: 61 layers, MLA with d_c = 512 and
    # d_c' = 1536, 128 heads; all FFNs except the first three are MoE with 1 shared + 256 routed
    # experts, 8 activated; plus one MTP module (not part of the 61 layers).
    cfg = load("deepseek-ai/DeepSeek-V3")
    assert cfg.attention_kind == "MLA" and (cfg.kv_lora_rank, cfg.q_lora_rank) == (512, 1536)
    assert cfg.num_hidden_layers == 61 and cfg.num_mtp_layers == 1
    assert cfg.moe_layers[:3] == (False, False, False) and all(cfg.moe_layers[3:])
    assert (cfg.num_experts, cfg.num_shared_experts, cfg.num_experts_per_tok) == (256, 1, 8)
    assert cfg.quantization_config["quant_method"] == "fp8"


def test_deepseek_v32_and_glm5_carry_the_lightning_indexer():
    # DeepSeek-V3.2-Exp paper: DSA lightning indexer selects top-2048 tokens per query
    cfg = load("deepseek-ai/DeepSeek-V3.2")
    assert cfg.attention_kind == "MLA" and cfg.index_topk == 2048 and cfg.index_n_heads == 64
    assert load("zai-org/GLM-5").index_n_heads == 32


def test_kimi_k25_is_multimodal_and_parsed_from_its_text_config():
    # Kimi K2 tech report: DeepSeek-V3-style MLA, 64 heads, 384 experts, 8 active, 1 shared
    cfg = load("moonshotai/Kimi-K2.5")
    assert cfg.is_multimodal and cfg.model_type == "kimi_k2" and cfg.attention_kind == "MLA"
    assert (cfg.num_attention_heads, cfg.num_experts, cfg.num_experts_per_tok) == (64, 384, 8)


def test_gpt_oss_alternates_banded_and_dense_attention():
    # gpt-oss model card (OpenAI, Aug 2025): attention alternates banded window (128 tokens) and
    # dense layers; learned attention sinks; 128 experts top-4 (120b); MXFP4 MoE weights
    cfg = load("openai/gpt-oss-120b")
    assert cfg.layer_types[:2] == ("sliding_attention", "full_attention")
    assert cfg.num_layers_of == {"sliding_attention": 18, "full_attention": 18}
    assert cfg.sliding_window == 128 and cfg.attention_sinks
    assert (cfg.num_experts, cfg.num_experts_per_tok) == (128, 4)
    assert cfg.quantization_config["quant_method"] == "mxfp4"


def test_gemma3_27b_is_five_local_to_one_global_from_its_text_config():
    # Gemma 3 technical report (arXiv 2503.19786): 5 local layers per global layer, local window
    # 1024 tokens, 128k context; the 27B model is multimodal with a tied vocabulary of 262k
    cfg = load("google/gemma-3-27b-it")
    assert cfg.is_multimodal and cfg.model_type == "gemma3_text" and cfg.tie_word_embeddings
    assert cfg.layer_types[:6] == ("sliding_attention",) * 5 + ("full_attention",)
    assert cfg.sliding_window == 1024 and cfg.max_position_embeddings == 131072
    assert cfg.vocab_size == 262208 and cfg.norms_per_layer == 4


def test_gemma3_1b_has_one_kv_head_of_256():
    # Gemma 3 report Table: 1B uses MQA (1 KV head), head dim 256
    cfg = load("google/gemma-3-1b-it")
    assert cfg.attention_kind == "MQA" and cfg.head_dim == 256 and not cfg.is_multimodal


def test_gemma4_global_layers_use_their_own_heads():
    # Gemma 4 model card: global layers use 512-dim heads with K=V; sliding window 1024
    cfg = load("nvidia/Gemma-4-31B-IT-NVFP4")
    full = cfg.layer_types.index("full_attention")
    assert cfg.head_dim_of_layer(full) == 512 and cfg.kv_heads_of_layer(full) == 4
    assert cfg.head_dim_of_layer(0) == 256 and cfg.kv_heads_of_layer(0) == 16
    assert cfg.attention_k_eq_v and cfg.sliding_window == 1024


def test_llama4_chunked_attention_on_three_of_four_layers():
    # Llama 4 model card: iRoPE - interleaved attention layers without positional embeddings
    # (every 4th) and chunked local attention (8192) on the rest; Maverick alternates dense and MoE
    scout = load("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    assert scout.layer_types[:4] == ("sliding_attention",) * 3 + ("full_attention",)
    assert scout.sliding_window == 8192 and all(scout.moe_layers) and scout.num_shared_experts == 1
    maverick = load("meta-llama/Llama-4-Maverick-17B-128E-Instruct")
    assert maverick.moe_layers[:2] == (False, True) and maverick.intermediate_size == 16384


def test_qwen3_next_is_three_deltanet_layers_per_attention_layer():
    # Qwen3-Next blog / model card: hybrid layout 12 x (3 x (Gated DeltaNet -> MoE) + 1 x (Gated Attention -> MoE))
    cfg = load("Qwen/Qwen3-Next-80B-A3B-Thinking")
    assert cfg.layer_types[:4] == ("linear_attention",) * 3 + ("full_attention",)
    assert cfg.num_layers_of == {"linear_attention": 36, "full_attention": 12}
    assert cfg.is_hybrid and cfg.linear_attention_kind == "gated_deltanet"
    assert (cfg.num_experts, cfg.num_experts_per_tok) == (512, 10) and cfg.shared_expert_gate


def test_qwen35_reads_layer_types_from_its_text_config():
    cfg = load("Qwen/Qwen3.5-397B-A17B")
    assert cfg.is_multimodal and cfg.num_layers_of == {"linear_attention": 45, "full_attention": 15}
    assert cfg.num_mtp_layers == 1


def test_nemotron3_nano_hybrid_pattern():
    # NVIDIA-Nemotron-3-Nano-30B-A3B model card: 52 layers = 23 Mamba-2, 23 MoE and 6 attention layers
    cfg = load("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    assert cfg.num_layers_of == {"mamba": 23, "mlp_only": 23, "full_attention": 6}
    assert sum(cfg.moe_layers) == 23 and cfg.mamba_state_size == 128 and not cfg.gated_mlp


def test_nemotron_nas_skips_attention_on_no_op_layers():
    cfg = load("nvidia/Llama-3_3-Nemotron-Super-49B-v1")
    assert "mlp_only" in cfg.layer_types and cfg.num_key_value_heads == 8
    no_op = cfg.layer_types.index("mlp_only")
    assert cfg.kv_heads_of_layer(no_op) == 0 and cfg.dense_intermediate_size_of_layer(no_op) > 0


def test_kimi_k3_mixes_mla_and_kimi_delta_attention():
    # Kimi K3 config: linear_attn_config.full_attn_layers (1-based) are MLA, kda_layers are KDA
    cfg = load("moonshotai/Kimi-K3")
    assert cfg.attention_kind == "MLA" and cfg.num_layers_of == {"linear_attention": 69, "full_attention": 24}
    assert cfg.layer_types[3] == "full_attention" and cfg.linear_attention_kind == "kimi_delta"


def test_deepseek_v4_compression_pattern():
    cfg = load("deepseek-ai/DeepSeek-V4-Flash")
    assert cfg.attention_kind == "MQA" and cfg.layer_kv_compress_ratios[:4] == (0, 0, 4, 128)
    assert cfg.layer_types[:3] == ("sliding_attention", "sliding_attention", "full_attention")
    assert cfg.hc_mult == 4 and cfg.num_mtp_layers == 1


def test_deepseek_v4_expert_dtype():
    # the released checkpoints store their routed experts in FP4; the -Base ones omit the field
    assert load("deepseek-ai/DeepSeek-V4-Flash").expert_weight_dtype == "fp4"
    assert load("deepseek-ai/DeepSeek-V4-Flash-Base").expert_weight_dtype is None
    with pytest.raises(ModelConfigError, match="expert_dtype.*'fp4' or 'fp8'"):
        parse_hf_config(dict(raw_config("deepseek-ai/DeepSeek-V4-Flash"), expert_dtype="int2"))


def test_mimo_v2_flash_sliding_layers_have_their_own_kv_heads():
    cfg = load("XiaomiMiMo/MiMo-V2-Flash")
    assert cfg.layer_types[:2] == ("full_attention", "sliding_attention")
    assert cfg.kv_heads_of_layer(0) == 4 and cfg.kv_heads_of_layer(1) == 8
    assert (cfg.head_dim, cfg.v_head_dim) == (192, 128)


# ---------------------------------------------------------------------------------------------
# Generic and malformed configs
# ---------------------------------------------------------------------------------------------

LLAMA_LIKE = {
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 2048,
}


def test_unknown_model_type_with_llama_fields_parses_as_a_generic_decoder():
    from gpurec_core._config_parse import _warn_unknown_type
    from gpurec_core.errors import ModelConfigWarning

    raw = dict(LLAMA_LIKE, model_type="acme_decoder")
    _warn_unknown_type.cache_clear()
    with pytest.warns(ModelConfigWarning, match="acme_decoder"):
        cfg = parse_hf_config(raw)
    assert cfg.model_type == "acme_decoder" and cfg.attention_kind == "GQA" and cfg.head_dim == 64


def test_config_too_unusual_to_parse_says_so():
    with pytest.raises(ModelConfigError, match="too unusual to parse"):
        parse_hf_config({"model_type": "acme_vision_only", "image_size": 224})


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        pytest.param("num_attention_heads", None, "is missing", id="missing-heads"),
        pytest.param("hidden_size", None, "is missing", id="missing-hidden"),
        pytest.param("num_hidden_layers", 0, "must be a positive integer, got 0", id="zero-layers"),
        pytest.param("hidden_size", -4096, "must be a positive integer, got -4096", id="negative-hidden"),
        pytest.param("intermediate_size", -1, "must be a non-negative integer, got -1", id="negative-mlp"),
        pytest.param("vocab_size", 0, "must be a positive integer, got 0", id="zero-vocab"),
        pytest.param("num_attention_heads", "abc", "must be a positive integer, got 'abc'", id="string-heads"),
        pytest.param("num_key_value_heads", 2.5, "must be a positive integer, got 2.5", id="float-kv"),
        pytest.param("num_hidden_layers", True, "must be a positive integer, got True", id="bool-layers"),
        pytest.param("num_key_value_heads", 3, "must divide num_attention_heads", id="kv-not-divisor"),
        pytest.param("tie_word_embeddings", "yes", "must be true or false, got 'yes'", id="string-flag"),
        pytest.param("max_position_embeddings", [4096], "must be a positive integer, got [4096]", id="list-context"),
        pytest.param("num_hidden_layers", 10**9, "must be at most 10,000", id="absurd-layers"),
    ],
)
def test_malformed_configs_name_the_field_and_model_type(field, value, expected):
    raw = copy.deepcopy(LLAMA_LIKE)
    if value is None:
        del raw[field]
    else:
        raw[field] = value
    with pytest.raises(ModelConfigError) as info:
        parse_hf_config(raw)
    message = str(info.value)
    assert f"'{field}'" in message and expected in message and "(model_type llama)" in message


def test_the_documented_message_verbatim():
    with pytest.raises(ModelConfigError) as info:
        parse_hf_config(dict(LLAMA_LIKE, num_attention_heads="abc"))
    assert str(info.value) == (
        "config.json field 'num_attention_heads' must be a positive integer, got 'abc' (model_type llama)"
    )


@pytest.mark.parametrize("raw", [None, [], "config", 42, ["model_type", "llama"]], ids=repr)
def test_non_dict_config_raises_model_config_error(raw):
    with pytest.raises(ModelConfigError, match="must be a JSON object"):
        parse_hf_config(raw)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param({"model_type": "gemma3", "text_config": "oops"}, "text_config", id="text-config-not-dict"),
        pytest.param(dict(LLAMA_LIKE, model_type=7), "model_type", id="model-type-not-string"),
        pytest.param(dict(LLAMA_LIKE, quantization_config="fp8"), "quantization_config", id="quant-not-dict"),
        pytest.param(dict(LLAMA_LIKE, layer_types=["full_attention"]), "layer_types", id="layer-types-length"),
        pytest.param(dict(LLAMA_LIKE, layer_types=["full_attention", "warp"]), "layer_types[1]", id="layer-kind"),
        pytest.param(dict(LLAMA_LIKE, hidden_size=250, num_key_value_heads=4), "head_dim", id="hidden-not-divisible"),
        pytest.param(dict(LLAMA_LIKE, num_local_experts=4, num_experts_per_tok=8), "num_experts_per_tok",
                     id="top-k-above-experts"),
        pytest.param(dict(raw_config("mistralai/Mixtral-8x7B-Instruct-v0.1"), num_local_experts=0), "num_local_experts",
                     id="zero-experts-routed-to"),
        pytest.param(dict(LLAMA_LIKE, sliding_window="big", use_sliding_window=True), "sliding_window",
                     id="window-not-int"),
    ],
)
def test_structural_errors_name_the_field(raw, field):
    with pytest.raises(ModelConfigError, match=f"'{field}'".replace("[", r"\[").replace("]", r"\]")):
        parse_hf_config(raw)


def test_malformed_text_config_names_the_nested_field():
    raw = raw_config("google/gemma-3-27b-it")
    raw["text_config"]["num_attention_heads"] = -32
    with pytest.raises(ModelConfigError, match=r"'text_config.num_attention_heads'.*got -32 \(model_type gemma3_text\)"):
        parse_hf_config(raw)


@pytest.mark.parametrize("model_id", ["deepseek-ai/DeepSeek-V3", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16",
                                      "Qwen/Qwen3-Next-80B-A3B-Thinking", "nvidia/Llama-3_3-Nemotron-Super-49B-v1"])
@pytest.mark.parametrize("field", ["hidden_size", "num_attention_heads", "vocab_size"])
def test_every_family_reports_broken_core_fields(model_id, field):
    raw = raw_config(model_id)
    raw[field] = "abc"
    with pytest.raises(ModelConfigError, match=f"'{field}' must be a positive integer, got 'abc'"):
        parse_hf_config(raw)


def test_model_config_error_is_a_gpurec_error():
    assert issubclass(ModelConfigError, GpurecError)


def test_an_unknown_model_type_is_read_by_the_llama_rule_with_a_warning(tmp_path):
    """Llama-3.1-8B's config under an unknown model_type: planned as a llama (8,030,261,248 parameters,
    keras-hub llama3.1_8b) and warned once that the rule, not a family parser, read it."""
    import warnings

    from gpurec_core._config_parse import _warn_unknown_type
    from gpurec_core.architecture import ModelArchitecture
    from gpurec_core.errors import ModelConfigWarning

    config = json.loads((ROOT / "catalogs/models/meta-llama/Llama-3.1-8B/config.json").read_text())
    config["model_type"] = "notarealfamily"
    (tmp_path / "config.json").write_text(json.dumps(config))
    _warn_unknown_type.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ModelArchitecture(str(tmp_path))
    assert model.num_parameters == 8_030_261_248
    assert [w for w in caught if issubclass(w.category, ModelConfigWarning) and "notarealfamily" in str(w.message)]


def _catalog_config(model_id: str) -> dict:
    return json.loads((ROOT / "catalogs/models" / model_id / "config.json").read_text())


def test_unknown_model_type_with_a_latent_kv_is_read_as_deepseek_v3(tmp_path):
    """A DeepSeek-V3-derived family gpurec has no parser for (its config has kv_lora_rank) is read with
    DeepSeek-V3's layout, not as a llama: 671B parameters (DeepSeek-V3 model card: 671B main model + 14B
    MTP) and 61 x (512 + 64) x 2 = 70,272 KV bytes per token (DeepSeek-V2 paper, Table 1: (d_c + d_h^R) l)."""
    import warnings

    from gpurec_core._config_parse import _warn_unknown_type
    from gpurec_core.architecture import ModelArchitecture
    from gpurec_core.errors import ModelConfigWarning
    from gpurec_core.memory_math import kv_bytes_per_token

    config = _catalog_config("deepseek-ai/DeepSeek-V3")
    config["model_type"] = "acme_latent_moe"
    config["layer_types"] = ["indexed_attention"] * config["num_hidden_layers"]  # transformers 5.x's DSA name
    (tmp_path / "config.json").write_text(json.dumps(config))
    _warn_unknown_type.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ModelArchitecture(str(tmp_path))
    assert abs(model.num_parameters - 671e9) / 671e9 < 0.005
    assert model.attention_kind.startswith("MLA")
    assert kv_bytes_per_token(model.config, model.precision, 8) == 70272
    assert any("DeepSeek-V3-style" in str(w.message) for w in caught if issubclass(w.category, ModelConfigWarning))


def test_indexed_attention_layers_cache_every_token_like_full_attention():
    # transformers 5.x names a layer with a sparse-attention indexer "indexed_attention"
    # (configuration_utils.ALLOWED_ATTN_LAYER_TYPES; _LEGACY_LAYER_TYPE_REMAP maps
    # "deepseek_sparse_attention" to it): its KV cache holds every token.
    raw = dict(LLAMA_LIKE, model_type="llama", layer_types=["indexed_attention", "deepseek_sparse_attention"])
    assert list(parse_hf_config(raw).layer_types) == ["full_attention", "full_attention"]


def test_nemotron_h_block_names_of_transformers_5():
    """transformers 5.x writes Nemotron-H's pattern as layers_block_type with "linear_attention" for a Mamba-2
    block and "full_attention" for attention (NemotronHConfig._pattern_to_list): the same 23 Mamba-2, 23 MoE
    and 6 attention layers (NVIDIA-Nemotron-3-Nano-30B-A3B model card) as its hybrid_override_pattern."""
    config = _catalog_config("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    names = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}
    config["layers_block_type"] = [names[c] for c in config.pop("hybrid_override_pattern")]
    cfg = parse_hf_config(config)
    assert cfg.num_layers_of == {"mamba": 23, "mlp_only": 23, "full_attention": 6}
    assert sum(cfg.moe_layers) == 23


def test_a_config_without_any_attention_layer_is_refused_with_why():
    """Every layer recurrent (transformers' GraniteMoeHybridConfig default writes 32 "linear_attention" layers):
    no KV cache per token to plan, so a clear ModelConfigError rather than a KV pool of 0 tokens."""
    raw = dict(LLAMA_LIKE, layer_types=["linear_attention", "mamba"])
    with pytest.raises(ModelConfigError, match="no attention layer"):
        parse_hf_config(raw)
