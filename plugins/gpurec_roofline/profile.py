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
import threading
import weakref
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional

import numpy as np

from gpurec_core.errors import EstimationError
from gpurec_core.model_config import ModelConfig
from gpurec_core.models import DTYPE_BYTES, GPUSpec, Parallelism, Precision

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

_ATTENTION_PATTERNS = ("self_attn", "attn", "attention")


@dataclass(frozen=True)
class DeploymentProfile:
    """Static per-GPU coefficients of one pipeline stage (see module docstring for notation)."""

    layers_per_stage: float
    pipeline_stages: int
    tensor_parallel: int
    expert_parallel: int
    dense_weight_bytes: float        # weights read in full every step (attention, dense MLP, shared experts, lm_head, norms, router)
    expert_weight_bytes: float       # routed-expert weights held by this GPU (read when touched)
    num_experts: int
    experts_per_token: int
    moe_layers_per_stage: float
    matmul_flops_per_token: float    # 2 x active matmul parameters per GPU per token, lm_head excluded
    lm_head_flops_per_token: float   # 2 x V x H / t, for tokens whose logits are computed
    attn_flops_per_pair_full: float  # attention-score FLOPs per (query, key) pair, summed over full-attention layers
    attn_flops_per_pair_window: float  # same for sliding-window layers
    kv_bytes_per_token_full: float   # KV bytes per cached token on this GPU, full-attention layers
    kv_bytes_per_token_window: float  # same for sliding-window layers
    window: int                      # sliding window in tokens (0: none)
    state_bytes_per_sequence: float  # linear-attention / Mamba recurrent state per sequence on this GPU
    activation_bytes_per_token: float  # activation traffic to and from HBM per token per GPU
    allreduce_bytes_per_token: float  # bytes of one TP all-reduce per token (H x activation bytes)
    allreduces_per_step: float       # TP all-reduces per step on this stage (2 per layer, fewer with EP)
    alltoalls_per_step: float        # EP all-to-alls per step (dispatch + combine per MoE layer)
    alltoall_bytes_per_token: float  # bytes one token sends in one all-to-all (k x H x activation bytes)
    peak_tflops: float               # dense tensor TFLOPS of the compute dtype on this GPU
    attention_peak_tflops: float     # dense tensor TFLOPS of the attention dtype (the KV cache's) on this GPU
    compute_dtype: str
    bandwidth_tb_s: float
    link_gb_s_per_direction: Optional[float]


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


def _attention_quantized(precision: Precision) -> bool:
    """False when the quantizer left the attention projections in the unquantized dtype (gpt-oss MXFP4)."""
    return not any(any(p in pattern for p in _ATTENTION_PATTERNS) for pattern in precision.modules_not_quantized)


def _mla_pair_dims(cfg: ModelConfig) -> tuple[int, int]:
    """(q/k dim, v dim) of one MLA head in the prefill (non-absorbed) form."""
    qk = (cfg.qk_nope_head_dim or 0) + (cfg.qk_rope_head_dim or 0)
    return (qk or cfg.head_dim), cfg.v_head_dim


def _attention_coefficients(cfg: ModelConfig, tp: int, kv_bytes: float, stages: int) -> dict[str, float]:
    """Per-GPU attention FLOPs per (query, key) pair and KV bytes per cached token, by layer kind.

    FLOPs per pair per layer = 2 x (n / t) x (d + d_v) (QK^T and PV). KV bytes per token per layer
    = (g / t, at least 1: KV heads are replicated when t > g) x (d + d_v) x bytes; MLA caches one
    latent of kv_lora_rank + qk_rope_head_dim per layer, replicated on every TP rank (DeepSeek-V2
    paper, sec. 2.1). Sliding-window layers are kept apart because they only attend the window.
    """
    flops_full = flops_window = kv_full = kv_window = state = 0.0
    for i, kind in enumerate(cfg.layer_types):
        if kind in ("mlp_only",):
            continue
        if kind in ("linear_attention", "mamba"):
            state += _recurrent_state_bytes(cfg, kind) / tp
            continue
        if cfg.attention_kind == "MLA":
            qk, dv = _mla_pair_dims(cfg)
            pair = 2.0 * cfg.num_attention_heads / tp * (qk + dv)
            kv = ((cfg.kv_lora_rank or 0) + (cfg.qk_rope_head_dim or 0)) * kv_bytes
        else:
            heads = cfg.num_attention_heads / tp
            d, dv = cfg.head_dim_of_layer(i), cfg.v_head_dim_of_layer(i)
            pair = 2.0 * heads * (d + dv)
            g = max(1.0, cfg.kv_heads_of_layer(i) / tp)
            kv = g * (d + (0 if (cfg.attention_k_eq_v and kind == "full_attention") else dv)) * kv_bytes
        if kind == "sliding_attention" and cfg.sliding_window:
            flops_window += pair
            kv_window += kv
        else:
            flops_full += pair
            kv_full += kv
    scale = 1.0 / stages
    return {"flops_full": flops_full * scale, "flops_window": flops_window * scale,
            "kv_full": kv_full * scale, "kv_window": kv_window * scale, "state": state * scale}


def _recurrent_state_bytes(cfg: ModelConfig, kind: str) -> float:
    """Recurrent state of one linear-attention or Mamba layer per sequence (fp32 state, bf16 conv).

    Gated DeltaNet: heads_v x d_k x d_v fp32 (Qwen3-Next); Mamba-2: heads x head_dim x state fp32
    (Dao & Gu 2024). The short convolution window adds (kernel - 1) x channels in bf16.
    """
    if kind == "linear_attention":
        hv = cfg.linear_num_value_heads or cfg.num_attention_heads
        dk = cfg.linear_key_head_dim or cfg.head_dim
        dv = cfg.linear_value_head_dim or cfg.head_dim
        hk = cfg.linear_num_key_heads or hv
        conv = ((cfg.linear_conv_kernel_dim or 4) - 1) * (2 * hk * dk + hv * dv) * 2.0
        return hv * dk * dv * 4.0 + conv
    heads = cfg.mamba_num_heads or 1
    hd = cfg.mamba_head_dim or 64
    n = cfg.mamba_state_size or 128
    groups = cfg.mamba_n_groups or 1
    conv = ((cfg.mamba_conv_kernel or 4) - 1) * (heads * hd + 2 * groups * n) * 2.0
    return heads * hd * n * 4.0 + conv


def build_profile(cfg: ModelConfig, params, precision: Precision, gpu: GPUSpec,
                  parallelism: Parallelism) -> DeploymentProfile:
    """Per-GPU coefficients of one pipeline stage for this deployment.

    Weight bytes: quantized linear weights (attention unless the quantizer skipped it, MLPs,
    experts, linear mixers) at ``precision.weight_bytes_per_param`` (scales included), the rest
    (embedding, lm_head, norms, router) at ``unquantized_bytes_per_param``. Every group but the
    norms and router is sharded over the TP group; routed experts over TP x EP as the engine lays
    them out (each GPU holds 1/t of the expert weights either way); layers over the P stages.
    The embedding is a row gather (b rows), so it is not streamed per step.

    Matmul FLOPs per token = 2 x (attention + dense MLP + shared experts + router + linear mixers
    + routed experts x k/E) / t / P, the standard 2-FLOPs-per-MAC count (Kaplan et al. 2020).
    """
    tp, pp, ep = parallelism.tensor_parallel_size, parallelism.pipeline_parallel_size, parallelism.expert_parallel_size
    if cfg.num_hidden_layers < pp:
        raise EstimationError(f"pipeline_parallel_size {pp} exceeds the model's {cfg.num_hidden_layers} layers")
    # The model's part (everything but the GPU's figures) is the same on every GPU: once per config.
    _, model_part = _memo(cfg, ("layout", id(params), precision, tp, pp, ep),
                          lambda: (params, _layout_coefficients(cfg, params, precision, tp, pp, ep)))
    dtype, tflops = compute_dtype_on(gpu, precision)
    if not gpu.bandwidth_tb_s:
        raise EstimationError(f"GPU {gpu.name} has no memory bandwidth figure; add bandwidth_tb_s to its catalog entry")
    return DeploymentProfile(
        **model_part,
        peak_tflops=tflops, attention_peak_tflops=attention_tflops_on(gpu, precision),
        compute_dtype=dtype, bandwidth_tb_s=float(gpu.bandwidth_tb_s),
        link_gb_s_per_direction=link_bandwidth_per_direction(gpu),
    )


def _layout_coefficients(cfg: ModelConfig, params, precision: Precision, tp: int, pp: int, ep: int) -> dict[str, Any]:
    """The fields of :class:`DeploymentProfile` that do not depend on the GPU (see :func:`build_profile`)."""
    qb = precision.weight_bytes_per_param
    ub = precision.unquantized_bytes_per_param
    attn_b = qb if _attention_quantized(precision) else ub
    stage = 1.0 / pp

    dense_bytes = (params.attention * attn_b + params.dense_mlp * qb + params.shared_experts * qb
                   + params.linear_attention_and_mamba * qb + params.other * qb + params.lm_head * ub) / tp * stage
    dense_bytes += (params.norms + params.router) * ub * stage
    if params.lm_head == 0:  # tied embeddings: the lm_head matmul still streams V x H once
        dense_bytes += params.embedding * ub / tp * stage
    expert_bytes = params.routed_experts * qb / tp * stage

    E, k = cfg.num_experts, cfg.num_experts_per_tok
    routed_active = params.routed_experts * (k / E) if E else 0.0
    matmul_params = (params.attention + params.dense_mlp + params.shared_experts + params.router
                     + params.linear_attention_and_mamba + params.other + routed_active)
    matmul_flops = 2.0 * matmul_params / tp * stage
    lm_head_flops = 2.0 * cfg.vocab_size * cfg.hidden_size / tp * stage

    kv_bytes = precision.kv_cache_bytes
    att = _attention_coefficients(cfg, tp, kv_bytes, pp)

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
    if tp > 1:
        # One all-reduce after attention and one after the MLP of each layer (Megatron-LM TP,
        # Shoeybi et al. 2019). With EP the MoE layer's all-reduce becomes a dispatch + combine.
        allreduces = 2.0 * layers - (moe_per_stage if ep > 1 else 0.0)
    if ep > 1:
        alltoalls = 2.0 * moe_per_stage
    return dict(
        layers_per_stage=layers, pipeline_stages=pp, tensor_parallel=tp, expert_parallel=ep,
        dense_weight_bytes=dense_bytes, expert_weight_bytes=expert_bytes,
        num_experts=E, experts_per_token=k, moe_layers_per_stage=moe_per_stage,
        matmul_flops_per_token=matmul_flops, lm_head_flops_per_token=lm_head_flops,
        attn_flops_per_pair_full=att["flops_full"], attn_flops_per_pair_window=att["flops_window"],
        kv_bytes_per_token_full=att["kv_full"], kv_bytes_per_token_window=att["kv_window"],
        window=int(cfg.sliding_window or 0), state_bytes_per_sequence=att["state"],
        activation_bytes_per_token=activation,
        allreduce_bytes_per_token=H * ACTIVATION_BYTES, allreduces_per_step=allreduces,
        alltoalls_per_step=alltoalls, alltoall_bytes_per_token=max(1, k) * H * ACTIVATION_BYTES,
    )


def weight_bytes_per_gpu(profile: DeploymentProfile) -> float:
    """Every weight byte this GPU holds and may stream in one step (dense + all its experts)."""
    return profile.dense_weight_bytes + profile.expert_weight_bytes


def is_finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


# ---------------------------------------------------------------------------------------------
# Per-config cache and stacked profiles
# ---------------------------------------------------------------------------------------------

#: id(config) -> (weak reference to the config, {key: value}); an entry goes with its config.
_CONFIG_FACTS: dict[int, tuple[weakref.ref, dict]] = {}
_CONFIG_FACTS_LOCK = threading.Lock()
#: Keys kept per config before its table is cleared (precisions x layouts stay far below).
MAX_FACTS_PER_CONFIG = 4096


def _memo(cfg: Any, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (config object, key), for facts that do not depend on the GPU.

    Keyed by the config's identity (configs are frozen); thread-safe and idempotent: two threads
    may both compute a missing value, the first stored wins. Values are shared: never mutate them.
    Keys holding an ``id()`` must keep that object alive in the value, so the id cannot be reused.
    """
    ident = id(cfg)
    entry = _CONFIG_FACTS.get(ident)
    if entry is None or entry[0]() is not cfg or len(entry[1]) > MAX_FACTS_PER_CONFIG:
        with _CONFIG_FACTS_LOCK:
            entry = _CONFIG_FACTS.get(ident)
            if entry is None or entry[0]() is not cfg or len(entry[1]) > MAX_FACTS_PER_CONFIG:
                try:
                    ref = weakref.ref(cfg, lambda _, ident=ident: _CONFIG_FACTS.pop(ident, None))
                except TypeError:  # not weakly referenceable: no caching
                    return compute()
                entry = (ref, {})
                _CONFIG_FACTS[ident] = entry
    table = entry[1]
    try:
        return table[key]
    except KeyError:
        pass
    return table.setdefault(key, compute())


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
