"""Per-GPU static facts of one deployment: the bytes and FLOPs coefficients an engine step needs.

A :class:`DeploymentProfile` is computed once per (model, GPU, parallel layout, precision) and
then evaluated for any batch composition by :mod:`gpurec_roofline.step` (numpy, vectorised).
All quantities are *per GPU of one pipeline stage*: a TP group shares each layer, a pipeline
stage holds ``num_hidden_layers / pipeline_parallel_size`` layers.

Notation: H hidden size, V vocabulary, n query heads, g KV heads, d q/k head dim, d_v v head
dim, E routed experts, k experts per token, t = tensor_parallel_size, P = pipeline_parallel_size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Optional

import numpy as np

from gpurec_core.config_memo import memo_per_config
from gpurec_core.errors import EstimationError
from gpurec_core.model_config import ModelConfig
from gpurec_core.model_facts import deployment_facts, moe_kernel_padding
from gpurec_core.models import GPUSpec, Parallelism, Precision

#: Bytes of one activation element exchanged between GPUs and written between kernels
#: (engines keep activations in bf16/fp16 even with fp8 weights).
ACTIVATION_BYTES = 2.0

#: Fallback order when a GPU lacks tensor units for the compute dtype (weight-only quantization
#: dequantizes to the activation dtype before the matmul). 4-bit float weights on a GPU without FP4
#: tensor cores run as W4A16 with bf16 activations, not fp8: vLLM serves MXFP4/NVFP4 on Hopper
#: through Marlin or triton_kernels' matmul_ogs (bf16 x dequantized weights), TensorRT-LLM's Hopper
#: gpt-oss path uses the TRITON MoE backend the same way.
_COMPUTE_FALLBACK = {
    "nvfp4": ("fp4", "bf16", "fp16", "fp32"),
    "mxfp4": ("fp4", "bf16", "fp16", "fp32"),
    "fp4": ("fp4", "bf16", "fp16", "fp32"),
    "fp8": ("fp8", "bf16", "fp16", "fp32"),
    "int8": ("int8", "bf16", "fp16", "fp32"),
    "int4": ("bf16", "fp16", "fp32"),
    "bf16": ("bf16", "fp16", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
    "fp32": ("fp32", "bf16", "fp16"),
}


@dataclass(frozen=True)
class DeploymentProfile:
    """Static per-GPU coefficients of one pipeline stage (see module docstring for notation)."""

    layers_per_stage: float
    pipeline_stages: int
    tensor_parallel: int
    expert_parallel: int
    weight_bytes_held: float         # every weight byte this GPU holds (the memory plan's weights)
    dense_weight_bytes: float        # weights read in full every step (attention, dense MLP, shared experts, lm_head, norms, router)
    expert_weight_bytes: float       # routed-expert weights held by this GPU (read when touched)
    head_weight_bytes: float         # the logits matrix (lm_head, or the tied embedding) among dense_weight_bytes
    num_experts: int
    experts_per_token: int
    moe_layers_per_stage: float
    matmul_flops_per_token: float    # 2 x active matmul parameters per GPU per token, lm_head excluded
    lm_head_flops_per_token: float   # 2 x V x H / t, for tokens whose logits are computed
    attn_flops_per_pair_full: float  # prefill attention-score FLOPs per (query, key) pair over every key, all layers
    attn_flops_per_pair_window: float  # same for sliding-window layers (keys inside the window)
    attn_flops_per_pair_sparse: float  # same for sparse-attention layers (a query's top-k keys)
    attn_decode_flops_per_pair_full: float    # the same three in decode (MLA in its absorbed form)
    attn_decode_flops_per_pair_window: float
    attn_decode_flops_per_pair_sparse: float
    kv_bytes_per_token_full: float   # KV bytes per cached token on this GPU read for every key (full layers, indexers)
    kv_bytes_per_token_window: float  # same for sliding-window layers
    kv_bytes_per_token_sparse: float  # same for sparse-attention layers, read for a query's top-k keys only
    latent_kv: bool                  # the KV cache holds MLA latents, read by MLA decode kernels
    window: int                      # sliding window in tokens (0: none)
    sparse_topk: int                 # keys a sparse-attention query attends (0: none)
    state_bytes_per_sequence: float  # linear-attention / Mamba recurrent state per sequence on this GPU
    activation_bytes_per_token: float  # activation traffic to and from HBM per token per GPU
    allreduce_bytes_per_token: float  # bytes of one TP all-reduce per token (H x activation bytes)
    allreduces_per_step: float       # TP all-reduces per step on this stage (2 per transformer layer, 1 per
    #                                  single-mixer block, fewer with wide EP)
    alltoalls_per_step: float        # EP all-to-alls per step (dispatch + combine per MoE layer)
    alltoall_bytes_per_token: float  # bytes one token sends in one all-to-all (k x H x activation bytes)
    peak_tflops: float               # dense tensor TFLOPS of the compute dtype on this GPU
    attention_peak_tflops: float     # dense tensor TFLOPS of the attention dtype (the KV cache's) on this GPU
    compute_dtype: str
    bandwidth_tb_s: float
    link_gb_s_per_direction: Optional[float]
    expert_matmul_flops_per_token: float  # the routed experts' part of matmul_flops_per_token (this GPU's 1/max(tp, ep) share)
    expert_token_multiplier: float   # busy DP ranks whose tokens a GPU's experts serve, its own included (<= ep / tp)
    alltoall_crosses_nodes: bool     # the EP group spans more GPUs than one node holds: all-to-alls use the scale-out network
    allreduce_crosses_nodes: bool    # the TP group spans more GPUs than one node holds: all-reduces use the scale-out network
    ranks_prefill_together: bool = False  # every busy DP rank prefills in the same step (a disaggregated prefill pool), not only decodes


def compute_dtype_on(gpu: GPUSpec, precision: Precision) -> tuple[str, float]:
    """The matmul dtype the GPU actually runs and its dense TFLOPS.

    The precision's ``compute_dtype`` when the GPU has tensor units for it, else the next wider
    type (weight-only quantization: MXFP4 on Hopper computes in bf16).
    """
    wanted = precision.compute_dtype or "bf16"
    for dtype in _COMPUTE_FALLBACK.get(wanted, (wanted, "bf16", "fp16", "fp32")):
        tflops = gpu.tensor_tflops(dtype)
        if tflops:
            return dtype, float(tflops)
    if gpu.tflops:
        return "fp32", float(gpu.tflops)
    raise EstimationError(
        f"GPU {gpu.name} has no dense TFLOPS figure for {wanted} or any wider dtype; add "
        "bf16_tflops_dense to its catalog entry"
    )


def attention_tflops_on(gpu: GPUSpec, precision: Precision) -> float:
    """Dense TFLOPS of the dtype attention runs in: the KV cache's, not the weights'.

    FlashAttention multiplies queries by cached keys and values, so an fp8-weight model with a
    bf16 KV cache attends in bf16 (vLLM's FlashAttention-3 backend, TensorRT-LLM's FMHA); only an
    fp8 KV cache lets the FMHA run in fp8. Falls back like :func:`compute_dtype_on`.
    """
    wanted = "fp8" if precision.kv_cache_dtype == "fp8" else (precision.unquantized_dtype or "bf16")
    for dtype in _COMPUTE_FALLBACK.get(wanted, (wanted, "bf16", "fp16", "fp32")):
        tflops = gpu.tensor_tflops(dtype)
        if tflops:
            return float(tflops)
    return compute_dtype_on(gpu, precision)[1]


def link_bandwidth_per_direction(gpu: GPUSpec) -> Optional[float]:
    """GPU-to-GPU bandwidth per direction, GB/s: half the vendor's bidirectional figure.

    NVLink 4 on H100 SXM is quoted as 900 GB/s bidirectional = 450 GB/s each way
    (NVIDIA H100 datasheet; aiconfigurator uses the per-direction value).
    """
    if gpu.interconnect_gb_s:
        return gpu.interconnect_gb_s / 2.0
    return None


def build_profile(cfg: ModelConfig, params, precision: Precision, gpu: GPUSpec,
                  parallelism: Parallelism, towers=None) -> DeploymentProfile:
    """Per-GPU coefficients of one pipeline stage for this deployment.

    Weight bytes, KV and state bytes and FLOPs per token are the model facts of
    :func:`gpurec_core.model_facts.deployment_facts` (the same bytes the memory plan holds),
    averaged over the P stages: every weight a GPU holds is read once per step except the
    embedding (a row gather), the multimodal ``towers`` (run only for image / audio inputs) and the
    routed experts (read where tokens are routed).
    """
    tp, pp, ep = parallelism.tensor_parallel_size, parallelism.pipeline_parallel_size, parallelism.expert_parallel_size
    if cfg.num_hidden_layers < pp:
        raise EstimationError(f"pipeline_parallel_size {pp} exceeds the model's {cfg.num_hidden_layers} layers")
    # The model's part (everything but the GPU's figures) is the same on every GPU: once per config.
    padding = moe_kernel_padding(cfg, precision, gpu)
    _, model_part = memo_per_config(cfg, ("layout", id(params), precision, tp, pp, ep, towers, padding),
                                    lambda: (params, _layout_coefficients(cfg, params, precision, tp, pp, ep,
                                                                          towers, padding)))
    dtype, tflops = compute_dtype_on(gpu, precision)
    if not gpu.bandwidth_tb_s:
        raise EstimationError(f"GPU {gpu.name} has no memory bandwidth figure; add bandwidth_tb_s to its catalog entry")
    return DeploymentProfile(
        **model_part,
        peak_tflops=tflops, attention_peak_tflops=attention_tflops_on(gpu, precision),
        compute_dtype=dtype, bandwidth_tb_s=float(gpu.bandwidth_tb_s),
        link_gb_s_per_direction=link_bandwidth_per_direction(gpu),
        alltoall_crosses_nodes=bool(ep > 1 and max(ep, tp) > gpu.gpus_per_node),
        allreduce_crosses_nodes=bool(tp > gpu.gpus_per_node),
    )


def _layout_coefficients(cfg: ModelConfig, params, precision: Precision, tp: int, pp: int, ep: int,
                         towers, padding: tuple[int, int]) -> dict[str, Any]:
    """The fields of :class:`DeploymentProfile` that do not depend on the GPU (see :func:`build_profile`).

    Bytes, FLOPs and caches are the model facts (:func:`gpurec_core.model_facts.deployment_facts`),
    averaged over the pipeline stages; only the activation traffic and the communication pattern
    are this estimator's own model.
    """
    facts = deployment_facts(cfg, params, precision, tp, pp, ep, towers=towers, expert_padding=padding)
    # Wide EP (ep > tp: vLLM --data-parallel-size with --enable-expert-parallel, EP = TP x DP; SGLang
    # --enable-dp-attention; TensorRT-LLM enable_attention_dp): each DP rank runs attention for its
    # own requests on its TP group, while a GPU's 1/ep of the experts serves the routed tokens of
    # every busy DP rank (up to ep / tp of them; the estimator lowers it to the busy ranks). Its
    # expert FLOPs and the experts it touches scale with that multiplier.
    multiplier = ep / tp if ep > tp else 1.0
    expert_flops = sum(st.matmul_flops_by_component.get("routed_experts", 0.0) for st in facts.stages) / pp
    stage = 1.0 / pp
    E, k = cfg.num_experts, cfg.num_experts_per_tok
    n_moe = float(sum(cfg.moe_layers)) if cfg.moe_layers else (float(cfg.num_hidden_layers) if E else 0.0)
    layers = cfg.num_hidden_layers * stage
    moe_per_stage = n_moe * stage
    H = cfg.hidden_size
    mlp_width = (cfg.intermediate_size * (cfg.num_hidden_layers - n_moe)
                 + (k * cfg.moe_intermediate_size + cfg.shared_expert_intermediate_size) * n_moe) / cfg.num_hidden_layers
    # Activations written and read between kernels per token per layer: residual, norm output,
    # q/k/v and attention output (~6 H), the MLP's gate/up/act (~3 I/t). An estimate, not measured.
    activation = (6.0 * H + 3.0 * mlp_width / tp) * ACTIVATION_BYTES * layers

    allreduces = 0.0
    alltoalls = 0.0
    # All-to-all dispatch + combine only where the experts span DP ranks (ep > tp). With EP inside the
    # TP group every rank already holds every token after attention's all-reduce, computes its own
    # experts and the MoE output is all-reduced like a dense MLP's: vLLM's FusedMoEParallelConfig
    # .use_all2all_kernels is `dp_size > 1 and use_ep`; TensorRT-LLM's MoE all-to-all needs
    # enable_attention_dp; SGLang's --moe-a2a-backend defaults to none.
    wide_ep = ep > tp
    if tp > 1:
        # One all-reduce after the token mixer and one after the MLP of each layer (Megatron-LM TP,
        # Shoeybi et al. 2019); a layer with one of them has one (ModelConfig.row_parallel_blocks_of_layer).
        # With wide EP the MoE layer's all-reduce becomes a dispatch + combine (an engine that
        # all-gathers instead keeps it: step.communication_time_s).
        blocks = sum(cfg.row_parallel_blocks_of_layer(i) for i in range(cfg.num_hidden_layers)) * stage
        allreduces = blocks - (moe_per_stage if wide_ep else 0.0)
    if wide_ep:
        alltoalls = 2.0 * moe_per_stage
    return dict(
        layers_per_stage=layers, pipeline_stages=pp, tensor_parallel=tp, expert_parallel=ep,
        weight_bytes_held=facts.mean("weight_bytes"), dense_weight_bytes=facts.mean("streamed_weight_bytes"),
        expert_weight_bytes=facts.mean("expert_weight_bytes"),
        head_weight_bytes=sum(_head_bytes(cfg, st) for st in facts.stages) / pp,
        num_experts=E, experts_per_token=k, moe_layers_per_stage=moe_per_stage,
        matmul_flops_per_token=facts.mean("matmul_flops_per_token"),
        expert_matmul_flops_per_token=expert_flops,
        expert_token_multiplier=multiplier,
        lm_head_flops_per_token=facts.mean("lm_head_flops_per_token"),
        attn_flops_per_pair_full=facts.mean("attn_flops_per_pair_full"),
        attn_flops_per_pair_window=facts.mean("attn_flops_per_pair_sliding"),
        attn_flops_per_pair_sparse=facts.mean("attn_flops_per_pair_sparse"),
        attn_decode_flops_per_pair_full=facts.mean("attn_decode_flops_per_pair_full"),
        attn_decode_flops_per_pair_window=facts.mean("attn_decode_flops_per_pair_sliding"),
        attn_decode_flops_per_pair_sparse=facts.mean("attn_decode_flops_per_pair_sparse"),
        kv_bytes_per_token_full=facts.mean("kv_bytes_per_token_full") - facts.mean("kv_bytes_per_token_sparse"),
        kv_bytes_per_token_window=facts.mean("kv_bytes_per_token_sliding"),
        kv_bytes_per_token_sparse=facts.mean("kv_bytes_per_token_sparse"),
        latent_kv=cfg.attention_kind == "MLA",
        window=facts.window, sparse_topk=facts.topk, state_bytes_per_sequence=facts.mean("state_bytes_per_sequence"),
        activation_bytes_per_token=activation,
        allreduce_bytes_per_token=H * ACTIVATION_BYTES, allreduces_per_step=allreduces,
        alltoalls_per_step=alltoalls,
        # Wide EP: the tp GPUs of a DP rank hold the same hidden states after attention and each
        # dispatches 1/tp of the rank's tokens (DeepEP-style dispatch; vLLM's and SGLang's defaults
        # gather the ranks' hidden states instead: EngineConstants.wide_ep_collectives).
        alltoall_bytes_per_token=max(1, k) * H * ACTIVATION_BYTES / (tp if ep > tp else 1),
    )


def _head_bytes(cfg: ModelConfig, stage) -> float:
    """Bytes of the logits matrix one GPU of ``stage`` reads per step: the lm_head's on the last stage,
    or there the embedding's when the model ties them (model_facts reads it in full then)."""
    if not stage.is_last:
        return 0.0
    held = stage.weight_bytes_by_component
    return held.get("lm_head", 0.0) or (held.get("embedding", 0.0) if cfg.tie_word_embeddings else 0.0)


def is_finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


# ---------------------------------------------------------------------------------------------
# Per-config cache and stacked profiles
# ---------------------------------------------------------------------------------------------

def profile_columns(profiles: list[DeploymentProfile], fallback_link_gb_s_per_direction: float) -> dict[str, object]:
    """The profiles' fields as columns for :func:`stack_profiles`: an array with one entry per
    profile, or the plain value when every profile has the same one (then the step functions
    take their one-profile path for that field: a homogeneous stack costs what one profile does).

    A missing link bandwidth is replaced by the fallback (what :func:`communication_time_s` does
    for one profile); ``compute_dtype`` is an object array.
    """
    columns: dict[str, object] = {}
    for f in fields(DeploymentProfile):
        values = [getattr(p, f.name) for p in profiles]
        if f.name == "link_gb_s_per_direction":
            values = [fallback_link_gb_s_per_direction if v is None else v for v in values]
        columns[f.name] = uniform_column(values)
    return columns


def uniform_column(values: list) -> object:
    """``values`` as an array, or its one value when all are equal (and of one type)."""
    first = values[0] if values else None
    if values and all(type(v) is type(first) and v == first for v in values):
        return first
    return np.asarray(values, dtype=object if isinstance(first, str) else None)


def stack_profiles(columns: dict[str, object], rows: np.ndarray) -> DeploymentProfile:
    """One profile whose fields are arrays: row ``i`` holds the values of profile ``rows[i]`` of
    ``columns`` (:func:`profile_columns`); a field all profiles share stays a plain value.

    The functions of :mod:`gpurec_roofline.step` and :func:`gpurec_roofline.serving.serve` accept
    it wherever they accept a profile and time every row with that row's coefficients, by the
    same arithmetic as for one profile.
    """
    return DeploymentProfile(**{name: values[rows] if isinstance(values, np.ndarray) else values
                                for name, values in columns.items()})
