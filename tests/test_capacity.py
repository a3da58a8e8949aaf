"""The bundled capacity plugin: vLLM-faithful memory plans (and SGLang / TensorRT-LLM profiles).

Figures are pinned to what vLLM 0.19.0 printed at start-up on an H100 80GB (79.19 GiB visible),
tests/fixtures/measurements/vllm_memory_h100.csv, each with the log it came from.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpurec_core
from gpurec_core import GPUSpec, Parallelism, Precision, hookimpl
from gpurec_core.api import as_model
from gpurec_core.errors import CatalogError, WorkloadError
from gpurec_core.memory_math import valid_tensor_parallel_sizes

from gpurec_capacity.engine_constants import engine_constants, parse_engine_file
from gpurec_capacity.planner import stage_weights_bytes

CSV = Path(__file__).parent / "fixtures" / "measurements" / "vllm_memory_h100.csv"
H100 = GPUSpec(name="H100", memory_gb=79.19, bandwidth_tb_s=3.35, bf16_tflops_dense=989.4, fp8_tflops_dense=1978.9)
NO_FP8 = GPUSpec(name="A100", memory_gb=79.15, bandwidth_tb_s=2.04, bf16_tflops_dense=312.0)


def measured(model: str, metric: str, **config) -> tuple[float, str]:
    """(value, source) of the CSV row of ``model`` / ``metric`` whose columns equal ``config``."""
    defaults = {"tp": "1", "pp": "1", "max_model_len": "8192", "dtype": "bfloat16", "quantization": "", "kv_cache_dtype": ""}
    want = {**defaults, **{k: str(v) for k, v in config.items()}}
    with open(CSV, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["model"] == model and row["metric"] == metric and all(row[k] == v for k, v in want.items()):
                return float(row["value"]), row["source"]
    raise LookupError((model, metric, want))


def plan(model: str, **options):
    options.setdefault("max_model_len", 8192)
    options.setdefault("gpu_memory_utilization", 0.95)
    options.setdefault("max_num_batched_tokens", 8192)
    options.setdefault("max_num_seqs", 1024)
    return gpurec_core.plan_memory(model, H100, **options)


LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-7B-Instruct"


def test_llama_8b_bf16_tp1_matches_vllm_log():
    value, source = measured(LLAMA, "weights_gib")
    assert "fixtures" not in source and "vLLM 0.19.0 start-up log" in source
    p = plan(LLAMA)
    assert p.weights_gib == pytest.approx(value, abs=0.01)  # "Model loading took 14.99 GiB"
    assert p.activation_gib == pytest.approx(measured(LLAMA, "activation_gib")[0], rel=0.02)
    assert p.kv_cache_gib == pytest.approx(measured(LLAMA, "kv_cache_gib")[0], rel=0.003)
    assert p.kv_cache_tokens == pytest.approx(measured(LLAMA, "kv_cache_tokens")[0], rel=0.003)
    assert p.max_concurrency == pytest.approx(measured(LLAMA, "max_concurrency")[0], rel=0.003)
    assert p.fits and p.block_size == 16


def test_qwen25_7b_weights_within_one_percent():
    value, _ = measured(QWEN, "weights_gib")  # 14.25 GiB
    assert plan(QWEN).weights_gib == pytest.approx(value, rel=0.01)


def test_tensor_parallel_pays_nccl_and_splits_weights():
    tp4 = plan(LLAMA, tensor_parallel_size=4)
    assert tp4.weights_gib == pytest.approx(measured(LLAMA, "weights_gib", tp=4)[0], abs=0.01)  # 3.77
    assert tp4.non_torch_gib == pytest.approx(measured(LLAMA, "non_torch_gib", tp=4)[0], abs=0.02)  # 2.13
    assert tp4.kv_cache_tokens == pytest.approx(measured(LLAMA, "kv_cache_tokens", tp=4)[0], rel=0.003)


def test_pipeline_parallel_reports_rank0_and_the_smallest_pool():
    p = plan(LLAMA, pipeline_parallel_size=2)
    assert p.weights_gib == pytest.approx(measured(LLAMA, "weights_gib", pp=2)[0], abs=0.01)  # 7.51
    assert p.activation_gib == pytest.approx(measured(LLAMA, "activation_gib", pp=2)[0], rel=0.02)  # 1.10, no sampler
    assert p.non_torch_gib == pytest.approx(measured(LLAMA, "non_torch_gib", pp=2)[0], abs=0.01)  # 0.07
    # "GPU KV cache size: 1,075,312 tokens": the last stage (sampler, more non-torch) limits the pool
    assert p.kv_cache_tokens == pytest.approx(measured(LLAMA, "kv_cache_tokens", pp=2)[0], rel=0.003)


def test_fp8_kv_doubles_tokens():
    p = plan(LLAMA, kv_cache_dtype="fp8")
    assert p.kv_cache_tokens == pytest.approx(measured(LLAMA, "kv_cache_tokens", kv_cache_dtype="fp8")[0], rel=0.003)


def test_runtime_fp8_and_int4_exports():
    assert plan(LLAMA, quantization="fp8").weights_gib == pytest.approx(
        measured(LLAMA, "weights_gib", quantization="fp8")[0], rel=0.005)  # 8.49
    assert plan(LLAMA, quantization="int4").weights_gib == pytest.approx(
        measured(LLAMA, "weights_gib", quantization="int4", dtype="float16")[0], rel=0.01)  # 5.38 (w4a16 export)


def test_moe_workspace_in_activation_peak():
    # Qwen3-30B-A3B: 2.68 GiB (sampler 2.1 + the persistent fused-MoE workspace 0.5)
    assert plan("Qwen/Qwen3-30B-A3B").activation_gib == pytest.approx(measured("Qwen/Qwen3-30B-A3B", "activation_gib")[0], rel=0.02)
    mixtral = plan("mistralai/Mixtral-8x7B-Instruct-v0.1", tensor_parallel_size=2)
    assert mixtral.weights_gib == pytest.approx(43.51, rel=0.005)
    assert mixtral.activation_gib == pytest.approx(1.21, rel=0.03)


def test_fp32_dtype_doubles_weights_and_kv():
    p = plan(LLAMA, dtype="float32")
    assert p.weights_gib == pytest.approx(measured(LLAMA, "weights_gib", dtype="float32")[0], abs=0.02)  # 29.98
    assert p.kv_bytes_per_token == 2 * 131072


def test_fp8_kv_refused_on_gpu_without_fp8():
    p = gpurec_core.plan_memory(LLAMA, NO_FP8, max_model_len=8192, kv_cache_dtype="fp8")
    assert not p.fits
    assert "fp8" in p.reason and "A100" in p.reason


@pytest.mark.parametrize(("model", "gpu", "tp", "half"), [
    ("nvidia/Qwen3-32B-NVFP4", "A100", 1, "bf16"),        # hf_quant_config kv_cache_quant_algo FP8
    ("Qwen/Qwen3-32B-FP8-Static-PerTensor", "A100", 1, "bf16"),
    ("nvidia/Gemma-4-26B-A4B-NVFP4", "T4", 4, "fp16"),    # T4: neither FP8 nor bf16 tensor units
])
def test_fp8_kv_refusal_gives_advice_that_works(model, gpu, tp, half):
    """A checkpoint whose own KV cache is fp8, on a GPU without FP8: the refusal names a kv_cache_dtype
    (and CLI flag) that plans and estimates; 'auto' is not it, since it keeps the checkpoint's fp8."""
    import json
    import re

    from click.testing import CliRunner

    from gpurec_core.api import estimate_performance
    from gpurec_core.cli import cli
    from gpurec_core.errors import EstimationError

    args = dict(tensor_parallel_size=tp, input_length=1000, output_length=100)
    with pytest.raises(EstimationError) as refused:
        estimate_performance(model, gpu, **args)
    message = str(refused.value)
    advised = re.search(r"kv_cache_dtype='(\w+)'", message).group(1)
    flag = re.search(r"--kv-cache-dtype (\w+)", message).group(1)
    assert advised == flag == half and "'auto'" not in message
    with pytest.raises(EstimationError, match="fp8 KV cache needs FP8"):
        estimate_performance(model, gpu, kv_cache_dtype="auto", **args)
    estimate = estimate_performance(model, gpu, kv_cache_dtype=advised, **args)
    assert estimate.inter_token_latency_ms > 0 and estimate.throughput_tokens_per_sec > 0

    command = ["model", model, "--gpu", gpu, "-tp", str(tp), "--max-model-len", "8192", "--json"]
    for extra, fits in (([], False), (["--kv-cache-dtype", flag], True)):
        result = CliRunner().invoke(cli, command + extra)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["memory_plan"]["fits"] is fits


def test_does_not_fit_reasons():
    small = GPUSpec(name="SMALL24", memory_gb=22.0, bf16_tflops_dense=100.0)
    p = gpurec_core.plan_memory("meta-llama/Llama-3.1-70B-Instruct", small, max_model_len=8192)
    assert not p.fits and "exceed" in p.reason and p.kv_cache_gib < 0
    long = gpurec_core.plan_memory(LLAMA, H100, max_model_len=1_000_000)
    assert not long.fits and "1000000-token request" in long.reason


def test_invalid_tp_is_reported():
    p = gpurec_core.plan_memory(QWEN, H100, tensor_parallel_size=7, max_model_len=4096)
    assert not p.fits and "num_key_value_heads" in p.reason


def test_default_batch_limits_by_gpu_size():
    h100 = gpurec_core.plan_memory(LLAMA, H100, max_model_len=8192)
    assert "max_num_batched_tokens=8192, max_num_seqs=1024" in h100.notes[0]
    l4 = GPUSpec(name="L4", memory_gb=22.05, bf16_tflops_dense=121.0, fp8_tflops_dense=242.0)
    small = gpurec_core.plan_memory("Qwen/Qwen3-0.6B", l4, max_model_len=8192)
    assert "max_num_batched_tokens=2048, max_num_seqs=256" in small.notes[0]


@pytest.mark.parametrize("model", ["google/gemma-3-27b-it", "Qwen/Qwen3-Next-80B-A3B-Thinking",
                                   "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-20b",
                                   "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"])
def test_attention_kinds_plan(model):
    arch = as_model(model)
    tp = max(t for t in valid_tensor_parallel_sizes(arch.config, max_size=8))
    p = gpurec_core.plan_memory(arch, H100, tensor_parallel_size=tp, max_model_len=4096)
    assert p.kv_cache_tokens >= 0 and p.max_concurrency >= 0
    if p.fits:
        assert p.max_concurrency >= 1


def test_hybrid_concurrency_counts_window_and_state_blocks():
    # gemma-3: sliding layers need only ~window blocks per request, so at long context the
    # pool serves more requests than tokens / max_model_len suggests... but vLLM prints
    # num_blocks / blocks_per_request over all KV groups.
    p = gpurec_core.plan_memory("google/gemma-3-27b-it", H100, max_model_len=32768, gpu_memory_utilization=0.95)
    assert p.fits and 0 < p.max_concurrency < p.kv_cache_tokens / 1024


@pytest.mark.parametrize("engine", ["sglang", "trtllm"])
def test_other_engine_profiles(engine):
    p = gpurec_core.plan_memory(LLAMA, H100, max_model_len=8192, engine=engine)
    assert p.engine == engine and p.fits
    assert 40 < p.kv_cache_gib < 65


def test_sglang_default_mem_fraction_static_on_h100():
    # sglang memory_hook.py on an 80 GB GPU: reserved = max(512 + 1.5*8192 + 128 + 2*256, 10240) MB
    p = gpurec_core.plan_memory(LLAMA, H100, max_model_len=8192, engine="sglang")
    assert "mem_fraction_static=0.834" in p.notes[0]


def test_unknown_engine():
    with pytest.raises(WorkloadError, match="unknown engine"):
        gpurec_core.plan_memory(LLAMA, H100, engine="tgi")


def test_engine_constants_have_sources():
    for engine in ("vllm", "sglang", "trtllm"):
        constants = engine_constants(engine)
        for name, value in constants:
            if hasattr(value, "source"):
                assert value.source, (engine, name)


def test_malformed_engine_file_names_file_entry_field(tmp_path):
    bad = tmp_path / "vllm.toml"
    text = (Path(gpurec_core.__file__).parent.parent / "catalogs" / "engines" / "vllm.toml").read_text()
    bad.write_text(text.replace('value = 16\nsource = "vllm/config/cache.py', 'value = "sixteen"\nsource = "vllm/config/cache.py'))
    with pytest.raises(CatalogError) as info:
        parse_engine_file(bad, "vllm")
    assert "vllm.toml" in str(info.value) and "block_size" in str(info.value) and "value" in str(info.value)
    broken = tmp_path / "sglang.toml"
    broken.write_text("engine = [")
    with pytest.raises(CatalogError, match="not valid TOML"):
        parse_engine_file(broken, "sglang")


def test_infer_precision_is_trylast(register_plugin):
    class Acme:
        @hookimpl
        def infer_precision(self, model):
            return Precision(weight="int4", weight_bytes_per_param=0.5625, quant_method="acme4")

    register_plugin(Acme(), "acme")
    model = as_model(LLAMA)
    assert model.precision.quant_method == "acme4"


@settings(max_examples=40, deadline=None)
@given(model_id=st.sampled_from([LLAMA, "Qwen/Qwen3-30B-A3B", "deepseek-ai/DeepSeek-V3", "google/gemma-3-27b-it",
                                 "Qwen/Qwen3-Next-80B-A3B-Thinking", "openai/gpt-oss-20b", "mistralai/Mixtral-8x7B-Instruct-v0.1"]),
       pp=st.sampled_from([1, 2]))
def test_weights_per_gpu_never_rise_with_tp(model_id, pp):
    model = as_model(model_id)
    sizes = valid_tensor_parallel_sizes(model.config, max_size=16)
    per_gpu = [stage_weights_bytes(model, model.precision, Parallelism(tensor_parallel_size=t, pipeline_parallel_size=pp), 0)
               for t in sizes]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(per_gpu, per_gpu[1:]))


@settings(max_examples=40, deadline=None)
@given(model_id=st.sampled_from([LLAMA, "Qwen/Qwen3-30B-A3B", "google/gemma-3-27b-it", "Qwen/Qwen3-Next-80B-A3B-Thinking"]),
       length=st.integers(1, 300_000), util=st.floats(0.3, 1.0), engine=st.sampled_from(["vllm", "sglang", "trtllm"]))
def test_plans_are_finite(model_id, length, util, engine):
    p = gpurec_core.plan_memory(model_id, H100, max_model_len=length, gpu_memory_utilization=util, engine=engine)
    assert p.kv_cache_tokens >= 0 and p.max_concurrency >= 0
    # pydantic validator already refuses non-finite floats; fits agrees with the pool
    if p.fits:
        assert p.kv_cache_gib > 0


def test_experts_tp_sharded_when_ep_below_tp():
    # TensorRT-LLM served Qwen3-235B-A22B fp8 on 4x H100 with EP2 (moe_tp 2 x moe_ep 2 = tp 4):
    # aiconfigurator-core 0.12.0 systems/silicon_sample.csv rows with tp=4, ep=2. Each GPU holds 1/4 of the experts.
    from gpurec_core import plan_memory

    ep2 = plan_memory("Qwen/Qwen3-235B-A22B", "H100", tensor_parallel_size=4, expert_parallel_size=2,
                      quantization="fp8", max_model_len=8192)
    ep4 = plan_memory("Qwen/Qwen3-235B-A22B", "H100", tensor_parallel_size=4, expert_parallel_size=4,
                      quantization="fp8", max_model_len=8192)
    assert ep2.fits
    assert ep2.weights_gib == pytest.approx(ep4.weights_gib, rel=1e-6)


def test_a_plan_that_misses_by_the_default_memory_fraction_says_the_fraction_that_fits():
    """Both engines refuse to start when their default budget cannot hold one request (vLLM's
    'No available memory for the cache blocks', SGLang's 'Not enough memory. Please try to increase
    --mem-fraction-static'); the plan names the fraction that would, and that fraction fits.

    Qwen3-32B bf16 on one H100 at its full 40,960-token context: one request's KV is 10 GiB
    (64 layers x 8 KV heads x 128 x 2 x 2 bytes = 262,144 B per token, config.json); DeepSeek-V3 fp8
    on 4 GB200 under SGLang: 157.5 GiB of weights per GPU against SGLang's default 0.859 x 182.9 GiB."""
    from gpurec_core import plan_memory

    for model, gpu, tp, engine, context in (("Qwen/Qwen3-32B", "H100", 1, "vllm", None),
                                            ("deepseek-ai/DeepSeek-V3", "GB200", 4, "sglang", 2048)):
        plan = plan_memory(model, gpu, tensor_parallel_size=tp, engine=engine, max_model_len=context)
        assert not plan.fits
        flag = "--gpu-memory-utilization" if engine == "vllm" else "--mem-fraction-static"
        fraction = float(plan.reason.split(flag + " ")[1].split()[0])
        assert plan_memory(model, gpu, tensor_parallel_size=tp, engine=engine, max_model_len=context,
                           gpu_memory_utilization=fraction).fits
    qwen = plan_memory("Qwen/Qwen3-32B", "H100", engine="vllm")
    assert qwen.kv_bytes_per_token == 262_144


# DeepSeek-V4's released checkpoints store the routed experts in FP4 (config.json ``expert_dtype: "fp4"``)
# beside FP8 128x128-block weights. The Hub's safetensors metadata of deepseek-ai/DeepSeek-V4-Pro lists
# 786,381,668,352 I8 elements (two e2m1 values per byte) and 49,150,268,416 F8_E8M0 scales (one per 32);
# its files total 864.7 GB, DeepSeek-V4-Flash's 159.6 GB (figures read through the project's search tool
# from a public GitHub survey of those repositories that quotes the Hub; the Hub is unreachable here).
# Both checkpoints carry one MTP layer (num_nextn_predict_layers 1) that gpurec does not count.
V4_PRO_I8_ELEMENTS = 786_381_668_352
V4_PRO_E8M0_SCALES = 49_150_268_416
V4_FILES_GB = {"deepseek-ai/DeepSeek-V4-Pro": 864.7, "deepseek-ai/DeepSeek-V4-Flash": 159.6}


def test_deepseek_v4_routed_experts_are_counted_and_stored_as_the_checkpoint_stores_them():
    """Routed experts (61 layers + the MTP layer's) = two values per I8 element, and their bytes (MXFP4: half a
    byte per value + a one-byte e8m0 scale per 32) = the I8 + F8_E8M0 bytes of the checkpoint."""
    from gpurec_core.memory_math import component_bytes, weight_components

    model = as_model("deepseek-ai/DeepSeek-V4-Pro")
    cfg, precision = model.config, model.precision
    assert cfg.expert_weight_dtype == "fp4" and cfg.num_mtp_layers == 1
    mtp_layer_experts = cfg.num_experts * 3 * cfg.hidden_size * cfg.moe_intermediate_size
    assert model.parameters.routed_experts + mtp_layer_experts == 2 * V4_PRO_I8_ELEMENTS
    expert_bytes = sum(component_bytes(c, precision) for c in weight_components(cfg, model.parameters, precision)
                       if c.kind == "routed_experts")
    stored = expert_bytes * (model.parameters.routed_experts + mtp_layer_experts) / model.parameters.routed_experts
    assert stored == pytest.approx(V4_PRO_I8_ELEMENTS + V4_PRO_E8M0_SCALES, rel=1e-4)


@pytest.mark.parametrize("model_id", sorted(V4_FILES_GB))
def test_deepseek_v4_weights_are_mxfp4_experts_and_fp8_blocks(model_id):
    """Weights + the MTP layer's experts (MXFP4: 0.5 B + one 1-byte scale per 32 values) fall within 1 % of
    the checkpoint's files; all-FP8 weights would be 1.8x them."""
    from gpurec_core.memory_math import quantized_bytes_per_param, weights_bytes

    model = as_model(model_id)
    cfg, precision = model.config, model.precision
    assert (precision.weight, precision.routed_expert_weight, precision.compute_dtype) == ("fp8", "mxfp4", "fp8")
    mtp_params = cfg.num_experts * 3 * cfg.hidden_size * cfg.moe_intermediate_size
    mtp_experts = mtp_params * quantized_bytes_per_param(4, 32, 1.0)
    total = weights_bytes(cfg, model.parameters, precision) + mtp_experts
    assert total / 1e9 == pytest.approx(V4_FILES_GB[model_id], rel=0.01)


def test_deepseek_v4_pro_fits_the_deployments_the_engines_run():
    """vLLM's DeepSeek-V4 recipe serves Pro on 8 H200s (TP8; SemiAnalysis InferenceX configs/nvidia-master.yaml
    dsv4-fp8-h200-vllm, "DeepSeek-V4-Pro H200 recipe from https://vllm.ai/blog/deepseek-v4"); its -Base
    checkpoint (no expert_dtype: FP8 experts, about 1.6 TB) does not fit there."""
    layout = dict(tensor_parallel_size=8, max_model_len=16384)
    assert gpurec_core.plan_memory("deepseek-ai/DeepSeek-V4-Pro", "H200", **layout).fits
    base = gpurec_core.plan_memory("deepseek-ai/DeepSeek-V4-Pro-Base", "H200", **layout)
    assert as_model("deepseek-ai/DeepSeek-V4-Pro-Base").precision.weight == "fp8" and not base.fits



def test_nvidias_deepseek_v4_nvfp4_conversion_keeps_the_fp8_blocks_outside_the_experts():
    """nvidia/DeepSeek-V4-Pro-NVFP4 (hf_quant_config producer "dsv4-nvfp4-experts") lists only the 61 layers'
    routed experts in quantized_layers (NVFP4, group 16) and keeps the base's quant_method fp8 with
    128x128 weight blocks: the attention and shared experts its ignore list names stay FP8, as in the
    released checkpoint, so the two differ only in the experts' format (0.5625 vs 0.53125 B/param)."""
    from gpurec_core.memory_math import weights_bytes

    nvfp4, native = as_model("nvidia/DeepSeek-V4-Pro-NVFP4"), as_model("deepseek-ai/DeepSeek-V4-Pro")
    assert (nvfp4.precision.weight, nvfp4.precision.routed_expert_weight) == ("fp8", "nvfp4")
    assert nvfp4.precision.quantized_bytes_per_param("routed_experts") == 0.5625
    difference = weights_bytes(nvfp4.config, nvfp4.parameters, nvfp4.precision) - \
        weights_bytes(native.config, native.parameters, native.precision)
    assert difference == pytest.approx(native.parameters.routed_experts * (0.5625 - 0.53125), rel=1e-9)


@pytest.mark.parametrize(("model_id", "expected"), [
    # hf_quant_config.json quantized_layers: self_attn.*, the dense layers' mlp.* and block_sparse_moe.shared_experts.*
    # MXFP8 (e4m3 + an e8m0 scale per 32 values), block_sparse_moe.experts.* NVFP4 (e2m1 + an fp8 scale per 16)
    ("nvidia/MiniMax-M3-NVFP4", {"attention": 1 + 1 / 32, "dense_mlp": 1 + 1 / 32, "shared_experts": 1 + 1 / 32,
                                 "routed_experts": 0.5 + 1 / 16}),
    # self_attn.* and linear_attn.* FP8 (per-tensor scales), mlp.* W4A16_NVFP4 group 16
    ("nvidia/Qwen3.6-27B-NVFP4", {"attention": 1.0, "linear_mixer": 1.0, "dense_mlp": 0.5 + 1 / 16}),
])
def test_a_mixed_precision_export_stores_each_kind_of_weight_in_its_own_format(model_id, expected):
    """The bytes a decode step reads depend on which weights are narrow: a single average over the checkpoint
    would read MiniMax-M3's MXFP8 attention at 0.57 B/param."""
    precision = as_model(model_id).precision
    for kind, nbytes in expected.items():
        assert precision.quantized_bytes_per_param(kind) == pytest.approx(nbytes, rel=1e-9), kind


def test_deepseek_v4_weights_match_a_quantizers_rules_by_vllms_module_names():
    """RedHatAI/DeepSeek-V4-Flash-NVFP4-FP8 targets ``re:.*attn.*(fused_wqa_wkv|wq_b|wo_a|wo_b)$`` with FP8 128x128
    blocks and ``re:.*ffn.*(gate|up|down)_proj$`` with NVFP4 (its config.json config_groups; vLLM's names of
    DeepSeek-V4's modules): the attention reads 1 + 4 / 128^2 B/param, the routed and shared experts 0.5625."""
    precision = as_model("RedHatAI/DeepSeek-V4-Flash-NVFP4-FP8").precision
    expected = {"attention": 1 + 4 / 128**2, "routed_experts": 0.5 + 1 / 16, "shared_experts": 0.5 + 1 / 16}
    for kind, nbytes in expected.items():
        assert precision.quantized_bytes_per_param(kind) == pytest.approx(nbytes, rel=1e-9), kind


def test_sglang_launch_line_carries_the_mem_fraction_static_the_plan_assumed():
    """Left at its default, SGLang picks mem_fraction_static from the GPU and the batch limits
    (sglang_mem_fraction_static); the plan assumes that value, so the launch line must set it, not the
    workload's 0.9 (SGLang would then give the KV pool what its default keeps for activations)."""
    from gpurec_core import recommend_gpus

    result = recommend_gpus("meta-llama/Llama-3.1-8B", gpus=["H100"], engine="sglang", input_length=1024,
                            output_length=256)
    for item in result:
        plan = item.recommendation.memory
        assumed = float(next(n for n in plan.notes if "mem_fraction_static=" in n)
                        .split("mem_fraction_static=")[1].split(",")[0])
        assert plan.memory_fraction == assumed != 0.9
        assert f"--mem-fraction-static {assumed:g}" in item.launch_command()
        assert "--gpu-memory-utilization 0.9" in item.launch_command("vllm")  # another engine: the workload's


def test_a_gpu_sharing_its_memory_with_the_os_plans_the_vllm_fraction_that_starts():
    """On a DGX Spark (GB10) CUDA finds 101.3-102.2 of its 121.69 GiB free at start, so vLLM's start-up
    check refuses gpu_memory_utilization 0.87 ('wants 105.87 GiB') and runs at 0.82-0.83
    (MiaAI-Lab/GLM-5.3-Flash-EXL3-2x-DGX-Sparks issue #47). The default 0.9 is lowered to what starts; a
    fraction the user sets is kept and refused with the reason; SGLang and TensorRT-LLM size their pools
    from what is free."""
    from gpurec_core import plan_memory, recommend_gpus

    plan = plan_memory("meta-llama/Llama-3.1-8B", "DGX Spark", engine="vllm")
    assert plan.fits and plan.memory_fraction <= 101.3 / 121.69 and plan.budget_gib <= 101.3
    launch = recommend_gpus("meta-llama/Llama-3.1-8B", gpus=["DGX Spark"], input_length=1024,
                            output_length=256)[0].launch_command()
    assert f"--gpu-memory-utilization {plan.memory_fraction:g}" in launch
    refused = plan_memory("meta-llama/Llama-3.1-8B", "DGX Spark", engine="vllm", gpu_memory_utilization=0.87)
    assert not refused.fits and "vLLM refuses to start" in refused.reason and "105.87 GiB" in refused.reason
    for engine in ("sglang", "trtllm"):
        assert plan_memory("meta-llama/Llama-3.1-8B", "DGX Spark", engine=engine).budget_gib <= 101.3


def test_free_memory_above_the_total_is_refused():
    with pytest.raises(ValueError, match="memory_free_at_start_gib 90 exceeds memory_gib 80"):
        GPUSpec(name="LAB", memory_gb=80, memory_free_at_start_gib=90)
