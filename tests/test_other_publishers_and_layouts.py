"""Rows other publishers measure, predicted rather than refused (issue 10: every row predicted).

Each case is a deployment a published benchmark ran, which gpurec used to refuse or could not name:

- aiconfigurator-core's silicon_sample.csv (the source of the reference measurements) writes
  ``moe_ep_size`` 0 for a deployment without expert parallelism (e.g. its row
  ``qwen3_32b_qwen3_32b_h100_sxm_trtllm_agg_4000x1000_c_tp2_epnone_1``: Qwen3-32B, TP2, moe_ep_size 0).
- The same file labels DeepSeek-R1 runs on B200 ``fp4`` (gemm and MoE quant mode nvfp4) although the
  model path is the fp8 checkpoint: those runs served an NVFP4 export.
- GLM-5 is published as zai-org/GLM-5 on Hugging Face and as ZhipuAI/GLM-5 on ModelScope (GLM-5's
  README lists both); NVIDIA's ModelOpt exports keep the base name with a suffix
  (nvidia/Llama-3.1-8B-Instruct-FP8 is the FP8 export of meta-llama/Llama-3.1-8B-Instruct, TensorRT-LLM
  docs/source/performance/perf-overview.md "FP8 Models").
- Expert parallelism in vLLM's FusedMoE splits the experts over the EP ranks and each expert over
  tp / ep ranks only (whole experts once ep >= tp), so fp8-block quantization groups (128) bind the
  expert width only where an expert is split: Qwen3-235B-A22B-FP8's moe_intermediate_size 1536 at TP8
  is 192 per rank without EP (not a multiple of 128) and whole with EP8 (its config.json, bundled).
- TensorRT-LLM splits MoE as moe_tensor_parallel_size x moe_expert_parallel_size over the attention
  ranks (aiconfigurator rows with attention_dp_size 64, moe_tp_size 8, moe_ep_size 8).
- The same file records DeepSeek-R1 on GB200 at tp_size 12 to 72 (e.g. its row
  ``2026_04_06_deepseek_r1_gb200_trtllm_fp4_agg_1024x1024_c32_tp36_ep1_11``): 128 query heads do not
  split 36 ways, and 256 experts do not divide over 36 ranks. The engines run such GPUs as attention
  data parallelism with the experts over every rank, and vLLM spreads a remainder of experts over the
  first ranks (``determine_expert_map``: E // e each, one more on the first E % e).
"""

from __future__ import annotations

import pytest

from gpurec_core.api import as_model, estimate_disaggregated, estimate_performance, plan_memory
from gpurec_core.errors import EstimationError, ModelNotFoundError, WorkloadError
from gpurec_core.measurement_cells import parallel_degree
from gpurec_core.memory_math import tensor_parallel_problems
from gpurec_core.model_facts import experts_on_fullest_rank
from gpurec_core.plugins import engine_info
from gpurec_core.validate_serving import predict_rows, served_precision


def test_a_parallel_degree_of_zero_means_not_used():
    assert parallel_degree("0") == 1 and parallel_degree("8") == 8
    with pytest.raises(ValueError):
        parallel_degree("-1")
    row = {"model": "Qwen/Qwen3-32B", "engine": "trtllm", "gpu": "H100", "tp": "2", "ep": "0", "dp": "0",
           "isl": "4000", "osl": "1000", "concurrency": "8", "precision": "fp8", "metric": "itl_ms", "value": "20"}
    (out,) = predict_rows([row], ".", "roofline")
    assert out["error"] is None and out["predicted"] > 0 and out["config"].startswith("tp2 isl4000")


def test_a_label_narrower_than_the_checkpoint_is_the_export_the_run_served():
    r1, gpt_oss = as_model("deepseek-ai/DeepSeek-R1"), as_model("openai/gpt-oss-120b")
    assert served_precision(r1, "fp4") == "fp4" and served_precision(r1, "nvfp4") == "nvfp4"
    assert served_precision(r1, "fp8") is None  # its own weights
    assert served_precision(gpt_oss, "fp8") is None  # MXFP4 weights, fp8 activations
    assert served_precision(as_model("Qwen/Qwen3-32B"), "fp8") == "fp8"  # a float checkpoint quantized at load
    row = {"model": "deepseek-ai/DeepSeek-R1", "engine": "sglang", "gpu": "B200", "tp": "4", "ep": "4",
           "isl": "8192", "osl": "1024", "concurrency": "8", "precision": "fp4", "metric": "itl_ms", "value": "20"}
    (out,) = predict_rows([row], ".", "roofline")  # 671B at fp8 would not fit on 4 x B200
    assert out["error"] is None and out["predicted"] > 0


@pytest.mark.parametrize("typed, entry, export", [
    ("ZhipuAI/GLM-5", "zai-org/GLM-5", False),
    ("zhipuai/GLM-5", "zai-org/GLM-5", False),
    ("nvidia/Llama-3.1-8B-Instruct-FP8", "meta-llama/Llama-3.1-8B-Instruct", True),
    ("nvidia/DeepSeek-R1-NVFP4", "deepseek-ai/DeepSeek-R1", True),
    # names benchmark tables use: SemiAnalysis InferenceMAX's DeepSeek-R1 FP4 checkpoint, AMD Quark exports
    ("nvidia/DeepSeek-R1-0528-FP4-V2", "deepseek-ai/DeepSeek-R1-0528", True),
    ("amd/DeepSeek-R1-0528-MXFP4-Preview", "deepseek-ai/DeepSeek-R1-0528", True),
    ("amd/Llama-3.3-70B-Instruct-FP8-KV", "meta-llama/Llama-3.3-70B-Instruct", True),
])
def test_another_publishers_name_plans_with_the_entrys_config_and_says_so(typed, entry, export):
    model, base = as_model(typed), as_model(entry)
    assert model.model_id == typed and model.num_parameters == base.num_parameters
    assert f"planned with the config of {entry}" in model.resolution_note
    assert ("quantized export" in model.resolution_note) == export


@pytest.mark.parametrize("typed, entry", [
    ("gpt-oss-120b", "openai/gpt-oss-120b"), ("deepseek-r1", "deepseek-ai/DeepSeek-R1"),
    ("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"), ("Qwen3-32B", "Qwen/Qwen3-32B"),
])
def test_a_name_without_its_publisher_is_the_one_entry_of_that_name(typed, entry):
    """Benchmark tables often drop the org: a name one entry has under some org is that entry, planned under its
    full id (launch lines need it), and the note says so."""
    model = as_model(typed)
    assert model.model_id == entry and model.num_parameters == as_model(entry).num_parameters
    assert model.resolution_note.startswith(f"{typed} names no publisher; planned as {entry}")


def test_a_name_without_a_publisher_that_no_entry_has_is_still_not_found():
    with pytest.raises(ModelNotFoundError, match="not in the bundled catalog"):
        as_model("Mixtral-8x7B")


def test_an_export_planned_at_its_format():
    plan = plan_memory("nvidia/Llama-3.1-8B-Instruct-FP8", "H100", max_model_len=4096)
    bf16 = plan_memory("meta-llama/Llama-3.1-8B-Instruct", "H100", max_model_len=4096)
    # 8.03B parameters (model card): about 8 GB of weights at fp8 against 16 GB at bf16, the embedding
    # and lm_head staying 16-bit; the name alone says fp8, --precision need not
    assert 0.5 < plan.weights_gib / bf16.weights_gib < 0.6


def test_an_export_is_planned_in_the_format_its_name_gives():
    """nvidia/Llama-3.3-70B-Instruct-FP8 is Llama-3.3-70B-Instruct in FP8 with an fp8 KV cache (its
    hf_quant_config.json: quant_algo FP8, kv_cache_quant_algo FP8). Planned with the base's config.json:
    the linear weights at 1 byte, the untied embedding and lm_head (128,256 x 8,192 each) at 2, and a
    token of KV 80 layers x 8 KV heads x 128 x 2 (K, V) x 1 byte = 163,840 bytes."""
    export, base = as_model("nvidia/Llama-3.3-70B-Instruct-FP8"), as_model("meta-llama/Llama-3.3-70B-Instruct")
    embed = 128_256 * 8_192
    assert export.model_memory_gb() * 2**30 == pytest.approx(base.num_parameters - 2 * embed + 2 * embed * 2, rel=1e-3)
    assert export.get_kv_cache_detail(1, 1).full_attention_bytes_per_token == 163_840
    assert "at fp8 weights, fp8 KV cache (the name's -FP8)" in export.resolution_note
    # what a user says still wins: --kv-cache-dtype bf16, and --precision bf16 is vLLM's --dtype
    assert export.resolve_precision(None, "bf16").kv_cache_dtype == "bf16"
    assert export.resolve_precision("bf16").weight == "fp8"


@pytest.mark.parametrize("typed, weight, kv", [
    ("nvidia/DeepSeek-R1-0528-FP4-V2", "nvfp4", "fp8"),  # ModelOpt FP4 is NVFP4 (nvidia/DeepSeek-R1-FP4's quant_algo)
    ("nvidia/DeepSeek-R1-NVFP4", "nvfp4", "fp8"),
    ("amd/DeepSeek-R1-0528-MXFP4-Preview", "mxfp4", "bf16"),  # the fp8 base re-stored: an export's what-if
    ("amd/Llama-3.3-70B-Instruct-FP8-KV", "fp8", "fp8"),  # Quark's -KV: an fp8 KV cache
    ("Qwen/Qwen3-32B-AWQ", "int4", "bf16"),
    # the name of a catalog entry (Qwen's block-fp8 release) under NVIDIA: its own fp8, and ModelOpt's fp8 KV
    ("nvidia/Qwen3-235B-A22B-FP8", "fp8", "fp8"),
])
def test_other_exports_by_their_names(typed, weight, kv):
    precision = as_model(typed).precision
    assert (precision.weight, precision.kv_cache_dtype) == (weight, kv)


def test_the_fp8_kv_rule_for_nvidia_exports_agrees_with_every_bundled_one():
    """catalog_names' rule that an nvidia/ FP8 or FP4 export ships an fp8 KV cache, checked against the
    real exports in the catalog (their own config.json / hf_quant_config.json): every single-format one."""
    from gpurec_core.catalog_names import export_format
    from gpurec_core.resolve import list_catalog_models

    checked = 0
    for entry in list_catalog_models():
        fmt = export_format(entry["id"]) if entry["id"].startswith("nvidia/") else None
        if fmt is None:
            continue
        precision = as_model(entry["id"]).precision
        if "mixed" in precision.source or precision.routed_expert_weight:
            continue  # MIXED_PRECISION exports (DeepSeek-V4's FP8 + NVFP4 experts, MiniMax-M3) state their own KV choice
        assert (precision.weight, precision.kv_cache_dtype) == (fmt.weight, fmt.kv_cache_dtype), entry["id"]
        checked += 1
    assert checked >= 20


def test_the_fp4_export_of_deepseek_r1_fits_four_b200s_without_a_precision_argument():
    """Issue 10's what-if asked by the export's own name: 671B parameters at NVFP4 (4.5 bits with the
    fp8 scale per 16) are about 380 GB, which 4 x 180 GB of B200 hold (B200 datasheet)."""
    estimate = estimate_performance("nvidia/DeepSeek-R1-0528-FP4-V2", "B200", tensor_parallel_size=4,
                                    input_length=1024, output_length=1024, concurrency=16, engine="trtllm")
    assert estimate.error is None and estimate.time_to_first_token_ms > 0


def test_a_name_no_catalog_entry_has_is_still_not_found():
    from gpurec_core.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError):
        as_model("someone/NotAModel-FP8")
    with pytest.raises(ModelNotFoundError):  # a bf16 re-save of the MXFP4 gpt-oss is wider than its config says
        as_model("lmsys/gpt-oss-120b-bf16")


def test_expert_parallelism_keeps_experts_whole_for_the_quantization_groups():
    cfg = as_model("Qwen/Qwen3-235B-A22B-FP8").config
    assert tensor_parallel_problems(cfg, 8, "trtllm") == [
        "moe_intermediate_size/8=192 is not a multiple of the quantization group 128"]
    assert tensor_parallel_problems(cfg, 8, "trtllm", expert_parallel_size=8) == []
    kwargs = dict(tensor_parallel_size=8, input_length=1024, output_length=128, concurrency=4, engine="trtllm")
    estimate = estimate_performance("Qwen/Qwen3-235B-A22B-FP8", "H100", expert_parallel_size=8, **kwargs)
    assert estimate.itl_ms > 0 and not any("attention data parallelism" in n for n in estimate.notes)


def test_a_what_if_precision_is_not_held_to_the_checkpoints_quantization_groups():
    cfg = as_model("MiniMaxAI/MiniMax-M2.5").config
    assert any("quantization group 128" in p for p in tensor_parallel_problems(cfg, 8, "vllm"))
    assert tensor_parallel_problems(cfg, 8, "vllm", checkpoint_weights=False) == []
    kwargs = dict(tensor_parallel_size=8, input_length=1024, output_length=128, concurrency=4)
    estimate = estimate_performance("MiniMaxAI/MiniMax-M2.5", "B200", precision="nvfp4", **kwargs)
    assert estimate.itl_ms > 0 and not any("attention data parallelism" in n for n in estimate.notes)


def test_moe_tensor_parallelism_within_expert_groups_is_planned_as_experts_over_every_rank():
    layout = dict(tensor_parallel_size=1, data_parallel_size=64, max_model_len=4096, engine="trtllm")
    moe_tp = plan_memory("deepseek-ai/DeepSeek-V3", "B200", expert_parallel_size=8, **layout)
    wide = plan_memory("deepseek-ai/DeepSeek-V3", "B200", expert_parallel_size=64, **layout)
    assert moe_tp.weights_gib == wide.weights_gib
    assert any("split 8-way within its EP group" in n for n in moe_tp.notes)
    with pytest.raises(WorkloadError, match="must equal"):  # 64 ranks cannot hold 3 EP groups
        plan_memory("deepseek-ai/DeepSeek-V3", "B200", expert_parallel_size=3, **layout)


def test_tensorrt_llm_shrinks_the_tp_of_dense_and_shared_expert_mlps_for_the_fp8_blocks():
    """DeepSeek-V3's dense MLP (intermediate_size 18432) and shared expert (2048) at TP64 are 288 and 32
    per rank, not multiples of its 128-wide fp8 blocks: vLLM refuses the layout, TensorRT-LLM runs those
    MLPs at gcd(width / 128, 64) ranks (_compute_mlp_tp_size, _compute_shared_expert_tp_size of
    tensorrt_llm/_torch/models/modeling_deepseekv3.py)."""
    cfg = as_model("deepseek-ai/DeepSeek-V3").config
    assert "intermediate_size/64=288 is not a multiple of the quantization group 128" in \
        tensor_parallel_problems(cfg, 64, "vllm", expert_parallel_size=8)
    assert tensor_parallel_problems(cfg, 64, "trtllm", expert_parallel_size=8) == []
    kwargs = dict(tensor_parallel_size=64, expert_parallel_size=8, input_length=1024, output_length=128, concurrency=8)
    trtllm = estimate_performance("deepseek-ai/DeepSeek-V3", "B200", engine="trtllm", **kwargs)
    assert trtllm.itl_ms > 0 and not any("attention data parallelism" in n for n in trtllm.notes)


def test_a_tp_size_that_cannot_split_a_moe_model_runs_as_attention_data_parallelism():
    """DeepSeek-R1 on 36 GB200s (the aiconfigurator row in the module docstring): 128 heads / 36 is not
    whole, so the deployment is planned as 36 attention ranks of TP 1 with the 256 experts over all 36,
    the layout TensorRT-LLM's enable_attention_dp runs; the plan is the same as asking for it."""
    cfg = as_model("deepseek-ai/DeepSeek-R1").config
    assert (cfg.num_attention_heads, cfg.num_experts) == (128, 256)  # config.json: n_routed_experts 256
    assert "num_attention_heads=128 is not divisible by 36" in tensor_parallel_problems(cfg, 36, "trtllm")
    common = dict(input_length=1024, output_length=1024, concurrency=32, precision="nvfp4", engine="trtllm")
    asked = estimate_performance("deepseek-ai/DeepSeek-R1", "GB200", tensor_parallel_size=36, **common)
    wide = estimate_performance("deepseek-ai/DeepSeek-R1", "GB200", tensor_parallel_size=1, data_parallel_size=36,
                                expert_parallel_size=36, **common)
    assert (asked.itl_ms, asked.ttft_ms) == (wide.itl_ms, wide.ttft_ms)
    assert any("planned as 36 attention ranks of TP 1 with EP 36" in n for n in asked.notes)
    assert any("4 ranks hold 8 and the others 7" in n for n in asked.notes)  # 256 = 36 x 7 + 4


def test_a_dense_model_keeps_the_refusal_of_a_tp_size_that_cannot_split_it():
    with pytest.raises(EstimationError, match="num_attention_heads=64 is not divisible by 48"):
        estimate_performance("meta-llama/Llama-3.1-70B", "H100", tensor_parallel_size=48, input_length=1024,
                             output_length=128, engine="trtllm")


def test_experts_an_ep_size_does_not_divide_fill_the_first_ranks_one_more():
    """vLLM's determine_expert_map gives each of e ranks E // e experts and the first E % e one more;
    Qwen1.5-MoE-A2.7B has 60 experts (config.json num_experts 60; 24 layers, hidden 2048,
    moe_intermediate_size 1408), so at EP8 rank 0 holds 8 experts where TP8 gives each rank 7.5."""
    assert [experts_on_fullest_rank(256, e) for e in (1, 8, 36, 72)] == [256, 32, 8, 4]
    common = dict(tensor_parallel_size=8, max_model_len=4096)
    ep8 = plan_memory("Qwen/Qwen1.5-MoE-A2.7B-Chat", "H100", expert_parallel_size=8, **common)
    tp8 = plan_memory("Qwen/Qwen1.5-MoE-A2.7B-Chat", "H100", **common)
    expert_bytes = 24 * 3 * 2048 * 1408 * 2  # gate, up and down of one bf16 expert in every layer
    assert ep8.fits and ep8.weights_gib - tp8.weights_gib == pytest.approx((8 - 7.5) * expert_bytes / 2**30, abs=1e-9)
    assert any("60 experts over 8 EP ranks: 4 ranks hold 8 and the others 7" in n for n in ep8.notes)
    too_wide = plan_memory("Qwen/Qwen1.5-MoE-A2.7B-Chat", "H100", tensor_parallel_size=1, data_parallel_size=64,
                           expert_parallel_size=64, max_model_len=4096)
    assert not too_wide.fits and "expert_parallel_size=64 exceeds the 60 experts" in too_wide.reason


def test_a_disaggregated_workers_attention_dp_ranks_share_its_experts():
    """A pool worker of attention DP 8 without EP (aiconfigurator's disaggregated rows of DeepSeek-V3 on
    B200 with prefill_attention_dp_size 8, prefill_moe_ep_size 0) is one engine whose MoE spans all
    8 GPUs (vLLM flattens the MoE's TP across DP ranks): 671B parameters fit, where 8 replicas would not."""
    estimate = estimate_disaggregated(
        "deepseek-ai/DeepSeek-V3", "B200", input_length=1024, output_length=1024, concurrency=16,
        prefill_data_parallel_size=8, decode_data_parallel_size=8, decode_expert_parallel_size=8, engine="sglang")
    assert estimate.itl_ms > 0
    assert any(n.startswith("prefill pool: 8 attention DP ranks of one engine share the experts") for n in estimate.notes)


@pytest.mark.parametrize("written, engine", [
    ("TensorRT-LLM", "trtllm"), ("TRT-LLM", "trtllm"), ("tensorrt_llm", "trtllm"),  # the project's own spellings
    ("trt", "trtllm"), ("dynamo-trt", "trtllm"), ("dynamo-sglang", "sglang"),  # InferenceMAX's framework names
    # InferenceX's configs/*-master.yaml: vLLM and SGLang images run under these framework names
    ("dynamo-vllm", "vllm"), ("vllm-disagg", "vllm"), ("llmd-vllm", "vllm"), ("sglang-disagg", "sglang"),
    ("vLLM", "vllm"), ("SGLang", "sglang"),
    # the server command and Dynamo's worker module (python -m dynamo.trtllm); vLLM's OpenAI-server images
    ("trtllm-serve", "trtllm"), ("dynamo-trtllm", "trtllm"), ("vllm-openai", "vllm"), ("vllm-openai-rocm", "vllm"),
    # with the version or image tag benchmark files write after the name (plugins.without_version)
    ("sglang-0.5", "sglang"), ("vLLM V1", "vllm"), ("TensorRT-LLM 1.0.0rc3", "trtllm"), ("vllm==0.11.0", "vllm"),
    ("vllm/vllm-openai:v0.10.1", "vllm"), ("lmsysorg/sglang:v0.5.3-cu126", "sglang"), ("SGLang v0.5.2", "sglang"),
])
def test_other_publishers_names_of_an_engine_find_it(written, engine):
    assert engine_info(written).name == engine


def test_an_engine_gpurec_does_not_model_is_still_refused_with_or_without_a_version():
    """Stripping a version finds only engines gpurec knows: TGI and LMDeploy stay typed errors."""
    for written in ("tgi", "lmdeploy 0.6.0", "text-generation-inference:3.0"):
        with pytest.raises(WorkloadError, match="unknown engine"):
            engine_info(written)


def test_a_row_naming_the_engine_another_way_is_predicted_as_that_engine():
    """A TensorRT-LLM row written 'TensorRT-LLM' gets the trtllm prediction, its ModelOpt fp8 KV rule
    included (validate_serving.kv_cache_dtype_of), and the API takes the name too."""
    row = {"model": "Qwen/Qwen3-32B", "engine": "TensorRT-LLM", "gpu": "H100", "tp": "2", "isl": "1024",
           "osl": "128", "concurrency": "8", "precision": "fp8", "metric": "itl_ms", "value": "10"}
    spelled, own = predict_rows([row, dict(row, engine="trtllm")], ".", "roofline")
    assert spelled["error"] is None and spelled["engine"] == "trtllm" and spelled["predicted"] == own["predicted"]
    kwargs = dict(tensor_parallel_size=2, input_length=1024, output_length=128, concurrency=8, precision="fp8")
    assert estimate_performance("Qwen/Qwen3-32B", "H100", engine="TRT-LLM", **kwargs).itl_ms == \
        estimate_performance("Qwen/Qwen3-32B", "H100", engine="trtllm", **kwargs).itl_ms
    with pytest.raises(WorkloadError, match="unknown engine 'tensor-rt'. Did you mean"):
        estimate_performance("Qwen/Qwen3-32B", "H100", engine="tensor-rt", **kwargs)


def test_a_run_the_default_memory_fraction_cannot_start_is_planned_at_a_higher_one():
    """SemiAnalysis InferenceX's benchmarks/single_node/fixed_seq_len/dsr1_fp8_b200.sh serves DeepSeek-R1 fp8
    on 4 B200s with SGLang at TP4 (8192 in / 1024 out, up to 32 users) with --mem-fraction-static 0.95:
    SGLang's default on B200 leaves the weights no room for a KV pool, so gpurec refuses that launch, but a
    measured row of the run is planned at 0.95 and says so (validate_serving.STARTED_RUN_MEMORY_FRACTION)."""
    kwargs = dict(tensor_parallel_size=4, input_length=8192, output_length=1024, concurrency=32, precision="fp8",
                  engine="sglang")
    with pytest.raises(EstimationError, match="--mem-fraction-static 0.9"):
        estimate_performance("deepseek-ai/DeepSeek-R1", "B200", **kwargs)
    assert plan_memory("deepseek-ai/DeepSeek-R1", "B200", tensor_parallel_size=4, max_model_len=9216,
                       gpu_memory_utilization=0.95, engine="sglang").fits
    row = {"model": "deepseek-ai/DeepSeek-R1", "engine": "sglang", "gpu": "B200", "tp": "4", "isl": "8192",
           "osl": "1024", "concurrency": "32", "precision": "fp8", "metric": "itl_ms", "value": "10"}
    (record,) = predict_rows([row], ".", "roofline")
    assert record["error"] is None and record["predicted"] > 0
    assert "memory fraction 0.95" in record["note"]
    assert record["predicted"] == estimate_performance("deepseek-ai/DeepSeek-R1", "B200", gpu_memory_utilization=0.95,
                                                       **kwargs).itl_ms


def test_attention_dp_ranks_without_expert_parallelism_share_the_experts():
    """SGLang ``--tensor-parallel-size 4 --dp 4 --enable-dp-attention`` without ``--ep-size`` serves
    DeepSeek-V4-Pro on 4 MI355Xs at --mem-fraction-static 0.90 (SemiAnalysis InferenceX
    benchmarks/single_node/fixed_seq_len/dsv4_fp4_mi355x_sglang.sh @843c6254, config dsv4-fp4-mi355x-sglang
    {tp: 4, dp-attn: true}): the MoE layers span the 4 GPUs (SGLang's MoE spans --tp under
    --enable-dp-attention), where 4 replicas of the ~850 GB checkpoint would not fit."""
    layout = dict(tensor_parallel_size=1, data_parallel_size=4, engine="sglang", max_model_len=9216)
    shared = plan_memory("deepseek-ai/DeepSeek-V4-Pro", "MI355X", gpu_memory_utilization=0.90, **layout)
    wide = plan_memory("deepseek-ai/DeepSeek-V4-Pro", "MI355X", gpu_memory_utilization=0.90, expert_parallel_size=4,
                       **layout)
    assert shared.fits and shared.weights_gib == wide.weights_gib
    assert any("4 attention DP ranks of one engine share the experts" in n for n in shared.notes)


def test_published_runs_on_gpus_no_constant_was_fitted_on_meet_the_issues_targets():
    """tests/fixtures/measurements/published_other_gpus.csv: Intel's vLLM team's gpt-oss table for the Arc Pro
    B60 (vLLM blog 2025-11-11, Table 1: e.g. gpt-oss-120b TP4 at 1024/1024 and 100 users, 58.78 ms TPOT and
    1,495.12 output tok/s) and a Llama-3.1-8B run on an A40 (databasemart: 35.96 ms median TPOT at 50 users).
    Nothing was fitted on either GPU (the B60 runs at its own measured kernel rates, the A40 as Ampere);
    issue 10 expects median ITL <= 15 % and saturation throughput <= 20 % on GPUs not measured here."""
    from pathlib import Path

    from gpurec_core.validate import validate_file

    report = validate_file(Path(__file__).parent / "fixtures" / "measurements" / "published_other_gpus.csv")
    assert report.n_rows == 13 and report.n_errors == 0
    assert report.metrics["itl_ms"].median_ape <= 15 and report.metrics["output_tok_s"].median_ape <= 20
    assert report.max_ratio < 2
