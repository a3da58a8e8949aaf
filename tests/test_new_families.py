"""Families beyond the llama-style decoders: GPT-J, GPT-NeoX, Falcon, Phi-2, Phi-3.5-MoE, EXAONE 3.5,
OLMo 3, ChatGLM / GLM-4-9B (and the parsers' structure for the others in ``_config_parse``).

Each real config (tests/fixtures/families/, see SOURCES.md) is checked against a published parameter
count, the KV bytes per token its config implies (stated as arithmetic below), and a quick memory plan.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import gpurec_core
from gpurec_core.architecture import ModelArchitecture
from gpurec_core.memory_math import kv_bytes_per_token
from gpurec_core.param_count import count_parameters

FIXTURES = Path(__file__).parent / "fixtures" / "families"
BF16 = 2


def _arch(name: str) -> ModelArchitecture:
    return ModelArchitecture.from_config(json.loads((FIXTURES / f"{name}.json").read_text()), model_id=f"fixture/{name}")


def _kv_bf16(arch: ModelArchitecture) -> float:
    return kv_bytes_per_token(arch.config, arch.resolve_precision("bf16", None))


def _rounds_to(value: int, published: float, digits: int) -> bool:
    return round(value / 1e9, digits) == published


# (fixture, model_type, KV bytes/token in bf16 with the arithmetic from the config)
KV_CASES = [
    ("gptj", "gptj", 28 * 2 * 16 * 256 * BF16),          # n_layer 28, MHA 16 heads x 4096/16
    ("phi", "phi", 32 * 2 * 32 * 80 * BF16),              # 32 layers, MHA 32 heads x 2560/32
    ("phimoe", "phimoe", 32 * 2 * 8 * 128 * BF16),        # 32 layers, 8 KV heads x 4096/32
    ("exaone", "exaone", 32 * 2 * 8 * 128 * BF16),        # num_layers 32, 8 KV heads x 4096/32
    ("olmo3", "olmo3", 64 * 2 * 8 * 128 * BF16),          # 64 layers (48 sliding, uncapped here), 8 KV x 128
    ("chatglm", "chatglm", 40 * 2 * 2 * 128 * BF16),      # num_layers 40, multi_query_group_num 2 x kv_channels 128
]


@pytest.mark.parametrize("name,model_type,kv", KV_CASES, ids=[c[0] for c in KV_CASES])
def test_family_kv_bytes_per_token_and_quick_plan(name: str, model_type: str, kv: int) -> None:
    arch = _arch(name)
    assert arch.config.model_type == model_type
    assert _kv_bf16(arch) == kv
    start = time.perf_counter()
    plan = gpurec_core.plan_memory(arch, "H100", max_model_len=4096)
    # a hang guard only (a per-layer walk per layout once took seconds); the speed, under 0.5 s an entry,
    # is measured by benchmarks/bench_catalog.py, not asserted on a shared CI machine
    assert time.perf_counter() - start < 10.0
    assert plan is not None


def test_gptj_6b() -> None:
    """EleutherAI/gpt-j-6B model card (huggingface.co/EleutherAI/gpt-j-6B, hyperparameter table):
    "n_parameters 6053381344". The HF GPT-J module (modeling_gptj.py: q/k/v/out_proj without bias,
    fc_in/fc_out with bias, one LayerNorm per layer, lm_head with bias) holds 2,498,560 fewer; we have
    not found what the card's figure counts beyond the module, so we assert agreement within 0.05% and
    the exact HF-module structure."""
    cfg = _arch("gptj").config
    params = count_parameters(cfg)
    assert abs(params.total - 6_053_381_344) / 6_053_381_344 < 5e-4
    assert (cfg.gated_mlp, cfg.mlp_bias, cfg.norm_bias, cfg.lm_head_bias, cfg.norms_per_layer) == (False, True, True, True, 1)
    assert cfg.intermediate_size == 4 * 4096  # n_inner null: 4 x n_embd
    assert params.lm_head == 50400 * 4096 + 50400
    assert _kv_bf16(_arch("gptj")) == 28 * 2 * 16 * 256 * BF16


def test_phi2_kv_and_structure() -> None:
    """microsoft/phi-2: 32 layers of 32 heads x 80 dims, dense MLP with biases (config.json)."""
    arch = _arch("phi")
    assert _kv_bf16(arch) == 32 * 2 * 32 * 80 * BF16
    assert arch.config.mlp_bias and not arch.config.gated_mlp


def test_phi35_moe() -> None:
    """microsoft/Phi-3.5-MoE-instruct: "41.9B total (6.6B active per token)" (model card of its GGUF
    conversion, huggingface.co/MikeKuykendall/phi-3.5-moe-cpu-offload-gguf, which names the base model)."""
    arch = _arch("phimoe")
    params = count_parameters(arch.config)
    assert _rounds_to(params.total, 41.9, 1)
    assert _rounds_to(params.active_per_token, 6.6, 1)
    assert arch.config.norm_bias and arch.config.attention_output_bias


def test_exaone_35_kv_and_structure() -> None:
    """LGAI-EXAONE/EXAONE-3.5-7.8B-Instruct: 32 layers, 8 KV heads of 128 dims (config.json), a
    7.8B model by its name."""
    arch = _arch("exaone")
    assert _kv_bf16(arch) == 32 * 2 * 8 * 128 * BF16
    assert abs(count_parameters(arch.config).total / 7.8e9 - 1) < 0.03


def test_olmo31_32b() -> None:
    """allenai/Olmo-3.1-32B-Instruct: a 32B model by its name; 3 of 4 layers sliding (layer_types)."""
    cfg = _arch("olmo3").config
    assert _rounds_to(count_parameters(cfg).total, 32, 0)
    assert cfg.num_layers_of == {"sliding_attention": 48, "full_attention": 16}
    assert cfg.qk_norm == "per_layer" and cfg.norms_per_layer == 2


def test_glm4_9b_chatglm() -> None:
    """THUDM/glm-4-9b (chatglm remote code): 2 KV groups of 128 dims (multi_query_group_num,
    kv_channels in config.json), a 9B model by its name."""
    cfg = _arch("chatglm").config
    assert abs(count_parameters(cfg).total / 9e9 - 1) < 0.06
    assert (cfg.num_key_value_heads, cfg.head_dim, cfg.attention_kind) == (2, 128, "GQA")


def test_remote_code_family_missing_field_is_one_line() -> None:
    raw = {"model_type": "internlm2", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
           "vocab_size": 92544, "max_position_embeddings": 32768}
    with pytest.raises(gpurec_core.errors.ModelConfigError) as err:
        ModelArchitecture.from_config(raw)
    assert "intermediate_size" in str(err.value) and "\n" not in str(err.value)


def test_nemotron_mlp_is_up_and_down_only():
    """Minitron-8B-Base (model_type nemotron; transformers models/nemotron/modeling_nemotron.py: NemotronMLP
    is up_proj -> relu2 -> down_proj, no gate; LayerNorm1P has a bias). Minitron's model card: "8B"."""
    model = ModelArchitecture("nvidia/Minitron-8B-Base")
    cfg = model.config
    assert cfg.gated_mlp is False and cfg.norm_bias is True and cfg.hidden_act == "relu2"
    assert 7.5e9 < model.num_parameters < 8.5e9


def test_shared_experts_given_as_a_count_are_one_routed_expert_wide():
    """Ling-lite-1.5 (bailing_moe: num_shared_experts 2, moe_intermediate_size 1408, no shared width):
    16.8B total, 2.75B activated (Ling-lite in a public model table, find_string id 63400684692)."""
    model = ModelArchitecture("inclusionAI/Ling-lite-1.5")
    assert model.num_parameters == pytest.approx(16.8e9, rel=0.005)
    assert model.active_parameters == pytest.approx(2.75e9, rel=0.005)


@pytest.mark.parametrize("model_id, nominal", [("facebook/opt-1.3b", 1.3e9), ("facebook/opt-2.7b", 2.7e9),
                                               ("facebook/opt-6.7b", 6.7e9), ("facebook/opt-13b", 13e9),
                                               ("facebook/opt-30b", 30e9)])
def test_opt_sizes_match_the_paper(model_id, nominal):
    """OPT (Zhang et al. 2022, Table 1: 1.3B, 2.7B, 6.7B, 13B, 30B): ffn_dim MLP without gate, biases,
    learned positions of max_position_embeddings + 2 rows, tied lm_head; within the paper's rounding."""
    model = ModelArchitecture(model_id)
    assert model.config.gated_mlp is False and model.config.position_embedding_rows == 2050
    assert model.num_parameters == pytest.approx(nominal, rel=0.03)


def test_minimax_m1_lightning_attention():
    """MiniMax-M1 (MiniMax-AI/MiniMax-M1 config.json @ 2abb4f4): 70 lightning-attention layers and 10
    softmax ones (attn_type_list), 32 experts, top-2. The README gives 456 B total and 45.9 B active
    (which leaves out the 2 x 200,064 x 6,144 embedding and lm_head); model.safetensors.index.json
    names qkv_proj, output_gate, norm and out_proj in 70 layers and q/k/v/o_proj in 10. Only the
    softmax layers keep a per-token KV cache: 10 x 2 x 8 KV heads x 128 x 2 bytes; each lightning
    layer keeps one 128 x 128 state per head (64 heads) per sequence."""
    from gpurec_core.memory_math import recurrent_state_bytes_per_layer

    arch = ModelArchitecture("MiniMaxAI/MiniMax-M1-40k")
    cfg = arch.config
    assert cfg.layer_types.count("linear_attention") == 70 and cfg.layer_types.count("full_attention") == 10
    assert cfg.linear_attention_kind == "lightning"
    total = count_parameters(cfg).total
    assert abs(total / 456e9 - 1) < 0.005
    embeddings = 2 * 200_064 * 6_144
    assert abs((arch.active_parameters - embeddings) / 45.9e9 - 1) < 0.005
    assert kv_bytes_per_token(cfg, arch.resolve_precision("bf16", None)) == 10 * 2 * 8 * 128 * BF16
    lightning = cfg.layer_types.index("linear_attention")
    assert recurrent_state_bytes_per_layer(cfg, lightning, BF16, 8) == 64 // 8 * 128 * 128 * BF16


def test_a_multimodal_wrapper_ties_embeddings_as_its_text_config_says():
    """Mistral-Small-3.1-24B-Instruct-2503: text_config names no tie_word_embeddings and MistralConfig's
    default is False (transformers' tie_weights reads get_text_config(decoder=True)), so lm_head is
    its own 131,072 x 5,120 matrix: 24.0 B in all, as the id says ('24B'); tied, it would be 23.34 B."""
    arch = ModelArchitecture("mistralai/Mistral-Small-3.1-24B-Instruct-2503")
    assert arch.config.tie_word_embeddings is False
    assert abs(arch.num_parameters / 24e9 - 1) < 0.005


def test_codegen_reads_as_gptj():
    """Salesforce/codegen-2B-mono (model_type codegen): modeling_codegen.py is GPT-J's block with q/k/v
    fused in one bias-free qkv_proj, n_inner null = 4 x n_embd, an untied lm_head with a bias. From the
    config: 32 x (4 x 2560^2 attention + 2 x 2560 x 10240 MLP + 10240 + 2560 MLP biases + 2 x 2560
    LayerNorm) + 2 x 51200 x 2560 embeddings + 51200 lm_head bias + 2 x 2560 final LayerNorm; KV per
    token 32 layers x 2 x 2560 x 2 bytes."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arch = ModelArchitecture("Salesforce/codegen-2B-mono")
    h, layers, vocab = 2560, 32, 51200
    expected = layers * (4 * h * h + 2 * h * 4 * h + 4 * h + h + 2 * h) + 2 * vocab * h + vocab + 2 * h
    assert count_parameters(arch.config).total == expected
    assert kv_bytes_per_token(arch.config, arch.resolve_precision("bf16", None)) == layers * 2 * h * BF16


def test_gpt2_and_gpt_bigcode():
    """GPT-2 (modeling_gpt2.py): learned positions, fused c_attn with biases, a 4H MLP with biases,
    lm_head tied; openai-community/gpt2 counts 124,439,808 and gpt2-medium 354,823,168 (keras-hub
    gpt2_presets.py 'gpt2_base_en' / 'gpt2_medium_en'). The bare id 'gpt2' finds it. GPTBigCode
    (modeling_gpt_bigcode.py, fixture from mlc-llm's 'gpt_bigcode' preset) is multi-query: one KV head
    of n_embd / n_head = 128, so 24 layers x 2 x 128 x 2 bytes of KV per token, and c_attn is
    H x (H + 2 x 128) + bias."""
    small = ModelArchitecture("gpt2")
    assert small.model_id == "openai-community/gpt2"
    assert count_parameters(small.config).total == 124_439_808
    assert kv_bytes_per_token(small.config, small.resolve_precision("bf16", None)) == 12 * 2 * 768 * BF16
    assert count_parameters(ModelArchitecture("openai-community/gpt2-medium").config).total == 354_823_168
    code = _arch("gpt_bigcode")
    assert code.config.num_key_value_heads == 1
    assert _kv_bf16(code) == 24 * 2 * 128 * BF16
    h, layers, vocab, positions, inner = 2048, 24, 49280, 2048, 8192
    per_layer = (h * (h + 2 * 128) + h + 256) + (h * h + h) + (h * inner + inner) + (inner * h + h) + 4 * h
    assert count_parameters(code.config).total == vocab * h + positions * h + layers * per_layer + 2 * h
