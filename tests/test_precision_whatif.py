"""``precision=`` as a what-if: a precision other than the checkpoint's is planned as the typical
export in that format, says so in one note (``Precision.what_if_note``) wherever a plan is shown,
and only what no engine runs on the GPU is refused, with the reason and what to choose instead.

Figures and their sources:

- DeepSeek-R1 (and V3, the same architecture) has 671B parameters, 37B active (DeepSeek-V3 and
  DeepSeek-R1 model cards on huggingface.co: "671B total parameters with 37B activated"; the
  685B on the Hub include the 14B multi-token-prediction module, which vLLM does not load by
  default). Its checkpoint is FP8 e4m3 with 128x128 blocks (its config.json, bundled in
  catalogs/models/deepseek-ai/DeepSeek-R1/config.json, with vocab_size 129280, hidden_size 7168,
  61 layers, q_lora_rank 1536, kv_lora_rank 512, qk_rope_head_dim 64, 256 routed experts from
  layer 3 on).
- NVFP4 stores a 4-bit e2m1 value and one fp8-e4m3 scale per 16 values: 4 + 8/16 = 4.5 bits =
  0.5625 bytes per weight (NVIDIA TensorRT Model Optimizer NVFP4 format; vLLM
  marlin_utils_fp4.py FP4_MARLIN_SUPPORTED_GROUP_SIZES = [16]).
- Which engine runs which format on which GPU: plugins/gpurec_capacity/precision.py lists each
  rule with its source (vLLM docs features/quantization and its Marlin utilities, SGLang
  fp8_utils.py, the TensorRT-LLM and Model Optimizer support matrices, the vLLM gpt-oss recipe).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gpurec_core.api import as_model, estimate_performance, plan_memory
from gpurec_core.cli import cli
from gpurec_core.errors import WorkloadError
from gpurec_core.recommend import recommend_gpus

R1 = "deepseek-ai/DeepSeek-R1"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
GIB = 2**30

# DeepSeek-R1's config.json (bundled): the numbers the expected NVFP4 weights are derived from.
VOCAB, HIDDEN, LAYERS, Q_LORA, KV_LORA, ROPE, EXPERTS, FIRST_MOE = 129280, 7168, 61, 1536, 512, 64, 256, 3
PUBLISHED_PARAMS = 671e9  # model card
NVFP4_BYTES = 0.5 + 1.0 / 16  # 4-bit value + one fp8 scale per 16 values


def r1_nvfp4_plan(**extra):
    return plan_memory(R1, "B200", tensor_parallel_size=4, quantization="nvfp4", max_model_len=2048, **extra)


# --- the what-if itself ------------------------------------------------------------------------


def test_a_quantized_checkpoint_asked_for_another_format_is_planned_as_that_export():
    model = as_model(R1)
    assert model.precision.weight == "fp8" and model.precision.what_if_note is None
    nvfp4 = model.resolve_precision("nvfp4")
    assert nvfp4.weight == "nvfp4" and nvfp4.weight_bytes_per_param == pytest.approx(NVFP4_BYTES)
    assert nvfp4.compute_dtype == "fp4" and nvfp4.kv_cache_dtype == "bf16"
    note = nvfp4.what_if_note
    assert note.startswith(f"nvfp4 weights need a pre-quantized nvfp4 checkpoint of {R1} (it is fp8")
    assert "what-if" in note and "NVFP4 export" in note and "not this checkpoint" in note
    assert "\n" not in note
    # the checkpoint's own format asked for by name is the checkpoint, no what-if
    assert model.resolve_precision("fp8") == model.precision


def test_a_float_dtype_of_a_quantized_checkpoint_stays_vllms_dtype_and_says_so():
    """vLLM's --dtype on a quantized checkpoint sets the activations and unquantized modules only:
    the measured rows of tests/fixtures/measurements (``--dtype float16`` with an AWQ checkpoint)
    and plan_memory(dtype=...) mean that, and precision and dtype reach the planner as one string,
    so the original bf16 model is planned by its own id, and the note says so."""
    model = as_model(R1)
    bf16 = model.resolve_precision("bf16")
    assert (bf16.weight, bf16.weight_bytes_per_param) == ("fp8", model.precision.weight_bytes_per_param)
    assert "vLLM's --dtype" in bf16.what_if_note and "weights stay fp8" in bf16.what_if_note
    item = recommend_gpus(R1, gpus=["B200"], precision="bf16", estimate_performance_flag=False)[0]
    assert item.deployment.checkpoint_note is None  # the same checkpoint, served with --dtype bfloat16


def test_a_float_checkpoint_keeps_its_semantics_and_gains_the_note():
    model = as_model("Qwen/Qwen3-32B")
    assert model.resolve_precision("fp16").what_if_note is None  # vLLM --dtype
    fp8 = model.resolve_precision("fp8")  # vLLM / SGLang --quantization fp8: quantized at load, no new checkpoint
    assert "no other checkpoint needed" in fp8.what_if_note and "--quantization fp8" in fp8.what_if_note
    item = recommend_gpus("Qwen/Qwen3-32B", gpus=["H100"], precision="fp8",
                          estimate_performance_flag=False).filter_fitting_only()[0]
    assert "--quantization fp8" in item.launch_command() and not item.launch_command().startswith("#")
    int4 = model.resolve_precision("int4")
    assert int4.what_if_note.startswith("int4 weights need a pre-quantized int4 checkpoint of Qwen/Qwen3-32B (it is bf16)")


# --- DeepSeek-R1 as NVFP4 on 4x B200 ---------------------------------------------------------------


def test_r1_nvfp4_on_4_b200_is_estimated():
    estimate = estimate_performance(R1, "B200", tensor_parallel_size=4, precision="nvfp4", input_length=1024,
                                    output_length=1024, concurrency=8)
    assert estimate.error is None
    assert estimate.time_to_first_token_ms > 0 and estimate.inter_token_latency_ms > 0
    assert estimate.max_concurrent_requests >= 8
    assert any("what-if" in n and "pre-quantized nvfp4 checkpoint" in n for n in estimate.notes)
    # and by the memory plan of the same deployment
    plan = plan_memory(R1, "B200", tensor_parallel_size=4, quantization="nvfp4", max_model_len=2048)
    assert plan.fits and any("what-if" in n and "NVFP4 export" in n for n in plan.notes)


def test_r1_nvfp4_weights_per_gpu_follow_the_parameter_count():
    """Per GPU at TP4: every linear weight NVFP4 and split 4 ways, except what vLLM keeps whole or
    unquantized: embed_tokens and lm_head in bf16 (vocab-split), the MoE routers in bf16 on every
    rank (ReplicatedLinear), and MLA's q_a_proj / kv_a_proj_with_mqa (hidden -> q_lora_rank and
    kv_lora_rank + qk_rope_head_dim) on every rank (ReplicatedLinear in vLLM's deepseek_v2.py)."""
    embed = VOCAB * HIDDEN  # embed_tokens, and lm_head again (tie_word_embeddings false)
    router = (LAYERS - FIRST_MOE) * EXPERTS * HIDDEN
    replicated = LAYERS * HIDDEN * (Q_LORA + KV_LORA + ROPE)
    expected = ((PUBLISHED_PARAMS - 2 * embed - router) * NVFP4_BYTES / 4 + 2 * embed * 2.0 / 4 + router * 2.0
                + replicated * NVFP4_BYTES * (1 - 1 / 4)) / GIB
    floor = PUBLISHED_PARAMS * NVFP4_BYTES / 4 / GIB  # everything NVFP4 and split four ways: 87.9 GiB
    plan = r1_nvfp4_plan()
    assert floor < plan.weights_gib
    assert plan.weights_gib == pytest.approx(expected, rel=0.01)  # 89.05 GiB derived; rotary cache aside
    # half the FP8 checkpoint's 1 byte + fp32 scale per 128x128 block, plus the same bf16 parts
    fp8 = plan_memory(R1, "B200", tensor_parallel_size=4, max_model_len=2048)
    assert plan.weights_gib < 0.6 * fp8.weights_gib
    assert plan.kv_cache_tokens > fp8.kv_cache_tokens


def test_r1_nvfp4_through_recommend_gpus_says_it_needs_an_nvfp4_export():
    result = recommend_gpus(R1, gpus=["B200"], precision="nvfp4", input_length=1024, output_length=1024,
                            batch_size=8, estimate_performance_flag=False)
    assert result.precision == "nvfp4"
    assert any("what-if" in n and "NVFP4 export" in n for n in result.notes)
    assert any("what-if" in n for n in result.to_dict()["notes"])
    tp4 = next(r for r in result.filter_fitting_only() if r.recommendation.layout == "TP4")
    assert any("what-if" in n for n in tp4.recommendation.memory.notes)
    assert tp4.launch_command().startswith("# nvfp4 weights need a pre-quantized nvfp4 checkpoint")


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})


def test_cli_recommend_and_model_print_the_what_if():
    args = ("recommend", R1, "--precision", "nvfp4", "--gpus", "B200", "--input-length", "1024",
            "--output-length", "1024", "--batch-size", "8", "--no-performance")
    text = run_cli(*args)
    assert text.exit_code == 0, text.output
    assert "note: nvfp4 weights need a pre-quantized nvfp4 checkpoint" in text.stdout and "what-if" in text.stdout
    as_json = run_cli(*args, "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["precision"] == "nvfp4" and any("what-if" in n for n in data["notes"])
    model = run_cli("model", R1, "--gpu", "B200", "-tp", "4", "--precision", "nvfp4", "--max-model-len", "2048",
                    "--json")
    assert model.exit_code == 0, model.output
    assert any("what-if" in n for n in json.loads(model.stdout)["memory_plan"]["notes"])


# --- what the GPU runs -------------------------------------------------------------------------------


def test_weight_only_where_the_engine_runs_it_so():
    # vLLM: FP8 Marlin (W8A16) from compute capability 7.5, FP4 Marlin (W4A16) from 7.5
    a100 = plan_memory(LLAMA, "A100", quantization="fp8", max_model_len=4096)
    assert any("weight-only" in n and "FP8 Marlin" in n for n in a100.notes)
    t4 = plan_memory(LLAMA, "T4", quantization="fp8", max_model_len=4096)
    assert any("weight-only" in n and "computing in fp16" in n for n in t4.notes)  # T4 has no bf16
    h100 = plan_memory(LLAMA, "H100", quantization="nvfp4", max_model_len=4096)
    assert any("weight-only" in n and "FP4 Marlin" in n for n in h100.notes)
    # gpt-oss's MXFP4 on H100 (vLLM measurements in tests/fixtures/measurements/serving_h100.csv)
    oss = plan_memory("openai/gpt-oss-120b", "H100", max_model_len=4096)
    assert any("weight-only" in n and "mxfp4" in n for n in oss.notes)
    # natively where the GPU has the unit: no such note
    b200 = r1_nvfp4_plan()
    assert not any("weight-only" in n for n in b200.notes)


@pytest.mark.parametrize("model, gpu, precision, engine, why", [
    (LLAMA, "V100", "fp8", "vllm", "compute capability 7.0"),      # FP8 Marlin needs 7.5
    (R1, "V100", None, "vllm", "compute capability 7.0"),          # the FP8 checkpoint itself
    (LLAMA, "T4", "fp8", "sglang", "can_auto_enable_marlin_fp8"),  # SGLang: FP8 Marlin on 8.0 to 8.8
    (LLAMA, "A100", "fp8", "trtllm", "support matrix"),            # TensorRT-LLM: FP8 from Ada
    (LLAMA, "V100", "nvfp4", "vllm", "FP4 Marlin"),
    (LLAMA, "H100", "nvfp4", "trtllm", "Blackwell"),
    (LLAMA, "MI300X", "nvfp4", "vllm", "CUDA-only"),
    (LLAMA, "MI250X", "fp8", "vllm", "CUDA-only"),
    ("openai/gpt-oss-120b", "T4", None, "vllm", "Turing does not support Marlin MXFP4"),
    (LLAMA, "V100", "int8", "vllm", "not Volta"),
])
def test_what_no_engine_runs_is_refused_with_the_reason(model, gpu, precision, engine, why):
    with pytest.raises(WorkloadError) as caught:
        plan_memory(model, gpu, quantization=precision, max_model_len=4096, engine=engine)
    message = str(caught.value)
    assert "\n" not in message and gpu in message and why in message and "cannot run" in message
    assert "choose" in message


def test_a_refusal_names_the_engine_that_does_run_it():
    with pytest.raises(WorkloadError, match="choose engine='vllm' \\(it runs fp8 on T4\\)"):
        plan_memory(LLAMA, "T4", quantization="fp8", max_model_len=4096, engine="sglang")


def test_a_refused_gpu_is_a_reason_in_a_search_and_adds_no_pipeline_stages():
    result = recommend_gpus(R1, gpus=["V100", "B200"], precision="nvfp4", estimate_performance_flag=False)
    v100 = [r for r in result if r.recommendation.gpu_spec.name == "V100"]
    assert v100 and all(not r.recommendation.model_fits and "cannot run nvfp4" in r.recommendation.reasons[0]
                        for r in v100)
    assert all(r.recommendation.pipeline_parallel_size == 1 for r in v100)
    assert any(r.recommendation.model_fits for r in result if r.recommendation.gpu_spec.name == "B200")


def test_cli_refusal_is_one_line_and_exit_status_2():
    result = run_cli("model", LLAMA, "--gpu", "V100", "--precision", "fp8", "--max-model-len", "4096")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "V100" in lines[0] and "fp8" in lines[0] and "Traceback" not in result.output
