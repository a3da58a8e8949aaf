"""Per-GPU memory plans in the engines' own accounting (vLLM faithful; SGLang and TensorRT-LLM profiles).

vLLM 0.19 (vllm/v1/worker/gpu_worker.py ``determine_available_memory``)::

    requested   = ceil(total x gpu_memory_utilization)                      (v1/worker/utils.py request_memory)
    available   = requested - weights - torch_peak_increase - non_torch_increase
    num_blocks  = available // page_bytes_of_all_layers (per KV-cache group layout, v1/core/kv_cache_utils.py)
    num_blocks  = min over pipeline stages (get_kv_cache_configs)

The profile run (v1/worker/gpu_model_runner.py ``profile_run``) executes one forward of
``max_num_batched_tokens`` tokens split over ``max_num_seqs`` requests and, on the last pipeline
stage, the sampler on ``max_num_seqs`` rows of logits. CUDA-graph memory is captured afterwards
from the headroom and is reported beside the budget.

The parts of a plan that depend on the model, its precision and the layout but not on the GPU
(weights per stage, layer specs and pool layout, activation peaks, TP divisibility problems) are
computed once per model config and reused for every GPU (:func:`_memo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

from gpurec_core.catalogs import catalog_path
from gpurec_core.config_memo import memo_per_config
from gpurec_core.errors import WorkloadError
from gpurec_core.memory_math import (GIB, iter_layers_of_stage, kv_heads_per_gpu, layer_groups, padded_vocab,
                                     recurrent_state_bytes_per_layer, tensor_parallel_problems)
from gpurec_core.model_facts import NO_DRAFT, DraftModule, LayerCache, draft_module, facts_for, moe_kernel_padding
from gpurec_core.models import GPUSpec, MemoryPlan, Parallelism, Precision, Workload

from gpurec_capacity.engine_constants import engine_constants
from gpurec_capacity.precision import weight_format_support


#: The workload's gpu_memory_utilization when none is given: the planners read it as "the engine's default"
#: (vLLM's own 0.9; SGLang's mem_fraction_static by GPU; TensorRT-LLM's free_gpu_memory_fraction).
DEFAULT_UTILIZATION = Workload.model_fields["gpu_memory_utilization"].default


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _memo(model: Any, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (model config, key): GPU-independent parts of a plan, reused across a
    catalog (:func:`gpurec_core.config_memo.memo_per_config`, the cache the model facts use too)."""
    return memo_per_config(model.config, key, compute)


# ---------------------------------------------------------------------------------------------
# Weights per GPU
# ---------------------------------------------------------------------------------------------


def rope_cache_bytes(cfg: Any, precision: Precision) -> float:
    """vLLM's rotary ``cos_sin_cache``: ``max_position_embeddings x rotary_dim x dtype bytes``, one per
    rank (vllm/model_executor/layers/rotary_embedding/base.py ``_compute_cos_sin_cache``, kept in the
    model dtype). rotary_dim is head_dim (qk_rope_head_dim for MLA)."""
    if not any(k in ("full_attention", "sliding_attention") for k in cfg.layer_types):
        return 0.0
    rotary = cfg.qk_rope_head_dim if cfg.attention_kind == "MLA" and cfg.qk_rope_head_dim else cfg.head_dim
    return float(cfg.max_position_embeddings * rotary * precision.unquantized_bytes_per_param)


def stage_weights_bytes(model: Any, precision: Precision, parallelism: Parallelism, stage: int,
                        gpu: Optional[GPUSpec] = None, text_only: bool = False) -> float:
    """Weight bytes vLLM allocates on one GPU of pipeline stage ``stage`` (rank 0 of its TP group):
    the weights of :func:`gpurec_core.model_facts.facts_for` (sharded as vLLM shards them, scales,
    vocab and kernel padding and multimodal towers included) plus the rotary cos/sin cache
    (:func:`rope_cache_bytes`)."""
    weights = facts_for(model, precision, parallelism, gpu, text_only).stages[stage].weight_bytes
    return weights + rope_cache_bytes(model.config, precision)


# ---------------------------------------------------------------------------------------------
# Activation peak of vLLM's profile run
# ---------------------------------------------------------------------------------------------


def activation_bytes_per_element(precision: Precision) -> float:
    """Activations run in the unquantized dtype (bf16/fp16; fp32 models in fp32)."""
    return precision.unquantized_bytes_per_param


def moe_workspace_bytes(cfg: Any, precision: Precision, parallelism: Parallelism, tokens: int) -> float:
    """The fused-MoE workspace vLLM keeps allocated after the first MoE forward.

    ``FusedMoEModularKernel._allocate_buffers`` takes both buffers from the persistent
    ``WorkspaceManager`` (vllm/v1/worker/workspace.py), sized by ``TritonExperts.workspace_shapes``
    (vllm/model_executor/layers/fused_moe/fused_moe.py) for M = all tokens of the step, no chunking:
    ``ws13 = max(M k max(N/2, K), M K)``, ``ws2 = M k max(N, K)`` with N = 2 x moe_intermediate / t
    (w13 width on this rank), K = hidden size, k experts per token, in the activation dtype.
    """
    if not cfg.is_moe or not cfg.moe_intermediate_size:
        return 0.0
    t, ep = parallelism.tensor_parallel_size, parallelism.expert_parallel_size
    width = cfg.moe_intermediate_size // max(1, t // ep)  # each expert TP-sharded over t / ep ranks
    n = (2 if cfg.gated_mlp else 1) * max(1, width)
    k_dim = cfg.moe_latent_size or cfg.hidden_size
    topk = max(1, cfg.num_experts_per_tok)
    m = tokens
    ws13 = max(m * topk * max(n // 2, k_dim), m * k_dim)
    ws2 = m * topk * max(n, k_dim)
    return float((ws13 + ws2) * activation_bytes_per_element(precision))


def forward_elements_per_token(cfg: Any, parallelism: Parallelism, layers: range, hidden_multiple: float) -> float:
    """Transient activation elements per token at the widest layer of a stage's forward.

    ``3 I/t`` (gate_up output 2I/t plus the SiluAndMul output I/t) for dense MLPs, ``3 I_shared/t``
    plus fp32 router logits (2E in half-precision units) for MoE layers, ``3 x`` the projection width
    for linear-attention/Mamba mixers, plus ``(q + 2 kv)/t`` of the QKV projection and
    ``hidden_multiple x H`` live residual/normed/attention/output buffers (engine constant).
    """
    t = parallelism.tensor_parallel_size
    h = cfg.hidden_size
    g = kv_heads_per_gpu(cfg.num_key_value_heads, t)
    qkv = cfg.num_attention_heads * cfg.head_dim / t + 2 * g * cfg.head_dim
    widest = 0.0
    for group in layer_groups(cfg):
        if not group.count_in(layers):
            continue
        i = group.first
        kind = cfg.layer_types[i]
        width = 3.0 * cfg.dense_intermediate_size_of_layer(i) / t
        if cfg.moe_layers and cfg.moe_layers[i]:
            width = max(width, 3.0 * cfg.shared_expert_intermediate_size / t + 2.0 * cfg.num_experts)
        if kind == "linear_attention":
            proj = 2 * (cfg.linear_num_key_heads or 0) * (cfg.linear_key_head_dim or 0) \
                + 2 * (cfg.linear_num_value_heads or 0) * (cfg.linear_value_head_dim or 0)
            width = max(width, 3.0 * proj / t)
        elif kind == "mamba":
            inner = (cfg.mamba_num_heads or 0) * (cfg.mamba_head_dim or 0)
            width = max(width, 3.0 * 2 * inner / t)
        widest = max(widest, width)
    return widest + qkv + hidden_multiple * h


def sampler_peak_bytes(cfg: Any, precision: Precision, tokens: int, seqs: int, consts: Any) -> float:
    """Peak of ``_dummy_sampler_run`` on the last stage (vllm/v1/worker/gpu_model_runner.py).

    ``R V_pad b`` logits from ``compute_logits`` (all-gathered over TP) + ``c R V 4`` fp32 copies
    (``logits.to(float32)``, softmax ``probs``, ``q`` of ``random_sample``; c = 3, or 2 for an fp32
    model) + the cached top-k/top-p buffer ``num_SMs V 4`` + the forward's hidden states still held
    by ``profile_run``: ``M H b`` and two ``R H b`` (``last_hidden_states``, ``torch.rand_like``),
    with R = min(max_num_batched_tokens, max_num_seqs).
    """
    b = activation_bytes_per_element(precision)
    r = min(tokens, seqs)
    v, vp, h = cfg.vocab_size, padded_vocab(cfg.vocab_size), cfg.hidden_size
    copies = consts.sampler_fp32_copies.value - (1 if b >= 4 else 0)
    return (r * vp * b + copies * r * v * 4 + consts.topk_topp_buffer_rows.value * v * 4
            + tokens * h * b + 2 * r * h * b)


def vllm_activation_bytes(model: Any, precision: Precision, parallelism: Parallelism, stage: int,
                          tokens: int, seqs: int, consts: Any) -> float:
    """Torch peak increase of the profile run on one GPU of ``stage``:
    ``cuBLAS workspace + MoE workspace + max(forward transient, sampler peak on the last stage)``."""
    cfg = model.config
    layers = iter_layers_of_stage(cfg.num_hidden_layers, parallelism.pipeline_parallel_size, stage)
    b = activation_bytes_per_element(precision)
    forward = tokens * forward_elements_per_token(cfg, parallelism, layers, consts.forward_hidden_multiple.value) * b
    has_moe = (any(cfg.moe_layers[g.first] and g.count_in(layers) for g in layer_groups(cfg)) if cfg.moe_layers
               else cfg.is_moe)
    workspace = moe_workspace_bytes(cfg, precision, parallelism, tokens) if has_moe else 0.0
    peak = forward
    if stage == parallelism.pipeline_parallel_size - 1:
        peak = max(peak, sampler_peak_bytes(cfg, precision, tokens, seqs, consts))
    return consts.cublas_workspace_gib.value * GIB + workspace + peak


def vllm_non_torch_gib(parallelism: Parallelism, stage: int, consts: Any) -> float:
    """Non-torch memory of one rank: base + (sampler rank extra on the last stage) + NCCL at TP > 1."""
    value = consts.non_torch_base_gib.value
    if stage == parallelism.pipeline_parallel_size - 1:
        value += consts.non_torch_sampler_rank_gib.value
    return value + consts.non_torch_tp_gib.at(parallelism.tensor_parallel_size)


def vllm_cuda_graph_gib(num_layers_on_stage: int, parallelism: Parallelism, consts: Any) -> float:
    """CUDA-graph pool (empirical fit, reported beside the budget)."""
    scale = parallelism.tensor_parallel_size ** (-consts.cuda_graph_tp_exponent.value)
    return consts.cuda_graph_base_gib.value + consts.cuda_graph_per_layer_gib.value * num_layers_on_stage * scale


# ---------------------------------------------------------------------------------------------
# KV pool layout (vLLM's KV-cache groups)
# ---------------------------------------------------------------------------------------------


@dataclass
class PoolLayout:
    """How vLLM lays out the KV pool of one rank."""

    page_bytes: float  # bytes of one block of one group-slot (all layers for uniform models)
    block_size: int
    slots: int  # tensors sharing the pool (group_size); 1 for uniform models
    groups: list[tuple[str, Optional[int]]] = field(default_factory=list)  # (kind, window) per group
    uniform: bool = True

    def num_blocks(self, available: float) -> int:
        if available <= 0 or self.page_bytes <= 0:
            return 0
        return int(available // self.page_bytes // self.slots)

    def tokens(self, blocks: int) -> int:
        """'GPU KV cache size: N tokens' (kv_cache_utils._report_kv_cache_config)."""
        n_groups = max(1, len(self.groups)) if not self.uniform else 1
        return blocks // n_groups * self.block_size

    def blocks_per_request(self, max_model_len: int, max_num_batched_tokens: int) -> int:
        """Blocks one max_model_len request needs (``max_memory_usage_bytes`` / page)."""
        total = 0
        kinds = self.groups or [("full", None)]
        for kind, window in kinds:
            if kind == "full":
                total += cdiv(max_model_len, self.block_size)
            elif kind == "sliding":
                tokens = min((window or max_model_len) - 1 + max_num_batched_tokens, max_model_len)
                total += cdiv(tokens, self.block_size) + 1
            else:  # recurrent state: one block per request (mamba_cache_mode 'none')
                total += 1
        return total


def pool_layout(all_counts: tuple[tuple[LayerCache, int], ...], stage_counts: tuple[tuple[LayerCache, int], ...],
                block_size: int) -> PoolLayout:
    """vLLM's KV-cache grouping (v1/core/kv_cache_utils.py ``get_kv_cache_groups``); the layers' caches
    come as (cache, number of layers) pairs, of the model and of the stage (``StageFacts.cache_counts``).

    One attention type (all full, or all sliding with one window): one group, page = sum of the
    layers' pages (``UniformTypeKVCacheSpecs``). Otherwise (full + sliding, attention + Mamba):
    layers are grouped by type into groups of ``group_size`` layers (the smallest type count, or the
    largest when it is < 1.5x the smallest); all groups share one page size — sliding/full pages are
    unified by raising block_size, Mamba state pages by raising the attention block size to the
    next multiple of 16 tokens that holds the state (model_executor/models/config.py
    ``HybridAttentionMambaModelConfig``) — and the pool is cut into ``group_size`` tensors.
    """
    kinds = {(s.kind, s.window) for s, _ in all_counts}
    if not stage_counts:
        return PoolLayout(page_bytes=0.0, block_size=block_size, slots=1)
    if len(kinds) == 1 and next(iter(kinds))[0] != "state":
        kind, window = next(iter(kinds))
        page = sum(s.bytes * n for s, n in stage_counts) * block_size
        return PoolLayout(page_bytes=page, block_size=block_size, slots=1, groups=[(kind, window)], uniform=True)
    counts: dict[tuple[str, Optional[int]], int] = {}
    for s, n in all_counts:
        counts[(s.kind, s.window)] = counts.get((s.kind, s.window), 0) + n
    smallest, largest = min(counts.values()), max(counts.values())
    group_size = largest if largest < 1.5 * smallest else smallest
    groups: list[tuple[str, Optional[int]]] = []
    for key, n in counts.items():
        groups += [key] * cdiv(n, group_size)
    attn = [s.bytes for s, _ in all_counts if s.kind != "state"]
    states = [s.bytes for s, _ in all_counts if s.kind == "state"]
    attn_token = max(attn) if attn else 0.0
    bs = block_size
    if states and attn_token:
        state_page = max(states)
        bs = max(block_size, 16 * cdiv(int(math.ceil(state_page)), int(16 * attn_token)))
    page = max(attn_token * bs, max(states) if states else 0.0)
    stage_share = sum(n for _, n in stage_counts) / sum(n for _, n in all_counts)
    slots = max(1, math.ceil(group_size * stage_share))
    return PoolLayout(page_bytes=page, block_size=bs, slots=slots, groups=groups, uniform=False)


# ---------------------------------------------------------------------------------------------
# The plans
# ---------------------------------------------------------------------------------------------


def default_batch_limits(gpu: GPUSpec, consts: Any) -> tuple[int, int]:
    """vLLM 0.19 ``vllm serve`` defaults of (max_num_batched_tokens, max_num_seqs) for this GPU."""
    large = gpu.memory_gib >= consts.large_gpu_min_gib.value and "a100" not in gpu.name.lower()
    if large:
        return int(consts.max_num_batched_tokens_large_gpu.value), int(consts.max_num_seqs_large_gpu.value)
    return int(consts.max_num_batched_tokens_small_gpu.value), int(consts.max_num_seqs_small_gpu.value)


def _precheck(model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, engine: str) -> list[str]:
    """Why this layout cannot run (TP divisibility, stages, experts, an fp8 KV cache without FP8).
    A weight format nothing runs on ``gpu`` is a WorkloadError (:func:`weight_format_support`)."""
    support = weight_format_support(workload.precision, gpu, engine)
    if support.mode == "refused":
        raise WorkloadError(support.note)
    cfg = model.config
    t, e = parallelism.tensor_parallel_size, parallelism.expert_parallel_size
    own = workload.precision.what_if_note is None  # the checkpoint's weights, with its quantization groups
    problems = _memo(model, ("tp_problems", t, engine, e, own),
                     lambda: tuple(tensor_parallel_problems(cfg, t, engine, e, own)))
    reasons = [f"tensor_parallel_size={t}: {p}" for p in problems]
    if parallelism.pipeline_parallel_size > cfg.num_hidden_layers:
        reasons.append(f"pipeline_parallel_size={parallelism.pipeline_parallel_size} exceeds the "
                       f"{cfg.num_hidden_layers} decoder layers")
    if cfg.num_experts and parallelism.expert_parallel_size > cfg.num_experts:
        # fewer experts than EP ranks leaves ranks without any (an EP size that does not divide the experts
        # is served unevenly: model_facts.experts_on_fullest_rank)
        reasons.append(f"expert_parallel_size={parallelism.expert_parallel_size} exceeds the {cfg.num_experts} "
                       f"experts: some ranks would hold none; use at most {cfg.num_experts}")
    if workload.precision.kv_cache_dtype == "fp8" and not gpu.supports_fp8:
        # 'auto' would keep a checkpoint's own fp8 cache (memory_math.apply_precision_overrides): name a
        # 16-bit cache instead, fp16 on a chip without bf16 units (V100, T4).
        half = "bf16" if gpu.tensor_tflops("bf16") else "fp16"
        reasons.append(f"an fp8 KV cache needs FP8 support, which {gpu.name} lacks; plan a 16-bit cache "
                       f"(kv_cache_dtype='{half}', CLI --kv-cache-dtype {half}) or a GPU with FP8")
    return reasons


def precision_notes(precision: Optional[Precision], gpu: GPUSpec, engine: str) -> list[str]:
    """What a plan says of its precision: the what-if (a precision other than the checkpoint's) and
    how the engine runs the weight format on this GPU when it lacks the format's unit."""
    if precision is None:
        return []
    support = weight_format_support(precision, gpu, engine)
    return [n for n in (precision.what_if_note, support.note if support.mode != "native" else "") if n]


def _finish(engine: str, gpu: GPUSpec, budget: float, weights: float, activation: float, non_torch: float,
            cuda_graph: float, available: float, tokens: int, kv_per_token: float, block_size: int,
            max_model_len: int, concurrency: float, need_one_request: float, reasons: list[str],
            notes: list[str], precision: Optional[Precision] = None, remedy: str = "",
            scheduler: tuple[Optional[int], Optional[int]] = (None, None),
            memory_fraction: Optional[float] = None) -> MemoryPlan:
    """The plan; ``remedy`` (how the engine would start after all) follows the reasons it does not fit;
    ``scheduler``: the (max_num_batched_tokens, max_num_seqs) the engine runs with; ``memory_fraction``:
    the value of the engine's memory-fraction flag the plan assumes (its launch line prints it)."""
    reasons = list(reasons)
    notes = list(notes) + precision_notes(precision, gpu, engine)
    if available <= 0:
        reasons.append(f"weights {weights / GIB:.2f} GiB + activations {activation / GIB:.2f} GiB + non-torch "
                       f"{non_torch / GIB:.2f} GiB exceed the {budget / GIB:.2f} GiB budget; use more GPUs "
                       "(tensor/pipeline parallel) or a lower precision")
    elif need_one_request > available:
        reasons.append(f"one {max_model_len}-token request needs {need_one_request / GIB:.2f} GiB of KV cache but "
                       f"only {available / GIB:.2f} GiB is left; lower max_model_len or add GPUs")
    if reasons and remedy:
        reasons.append(remedy)
    return MemoryPlan(
        engine=engine, total_gib=gpu.memory_gib, budget_gib=budget / GIB, weights_gib=weights / GIB,
        activation_gib=activation / GIB, non_torch_gib=non_torch / GIB, cuda_graph_gib=cuda_graph,
        kv_cache_gib=available / GIB, kv_cache_tokens=max(0, int(tokens)), kv_bytes_per_token=kv_per_token,
        block_size=block_size, max_model_len=max_model_len, max_concurrency=max(0.0, concurrency),
        max_num_batched_tokens=scheduler[0], max_num_seqs=scheduler[1],
        fits=not reasons, reason="; ".join(reasons), notes=tuple(notes), memory_fraction=memory_fraction,
    )


def _vllm_stage_facts(model: Any, workload: Workload, parallelism: Parallelism, gpu: GPUSpec, tokens: int, seqs: int,
                      consts: Any, block_size: int) -> tuple[Any, tuple[tuple[LayerCache, int], ...], list[tuple]]:
    """What a vLLM plan needs of each pipeline stage that does not depend on the GPU: (layers,
    weights, activation peak, non-torch bytes, layer caches with their counts, pool layout, KV bytes
    per token), and the model's layer caches with their counts; ``consts`` first, so a cache entry
    keyed by its id keeps it alive."""
    cfg = model.config
    pp = parallelism.pipeline_parallel_size
    precision = workload.precision
    facts = facts_for(model, precision, parallelism, gpu, workload.text_only)
    draft = drafting(facts, workload)
    all_specs = with_draft_cache(facts.all_cache_counts, draft)
    stages = []
    for stage in range(pp):
        here = draft if stage == pp - 1 else NO_DRAFT  # the drafter runs on the last stage
        layers = iter_layers_of_stage(cfg.num_hidden_layers, pp, stage)
        weights = facts.stages[stage].weight_bytes + rope_cache_bytes(cfg, precision) + here.weight_bytes
        activation = vllm_activation_bytes(model, precision, parallelism, stage, tokens, seqs, consts)
        non_torch = vllm_non_torch_gib(parallelism, stage, consts) * GIB
        specs = with_draft_cache(facts.stages[stage].cache_counts, here)
        layout = pool_layout(all_specs, specs, block_size)
        kv_per_token = facts.stages[stage].kv_bytes_per_token + here.kv_bytes_per_token
        stages.append((layers, weights, activation, non_torch, specs, layout, kv_per_token))
    return consts, all_specs, stages


def drafting(facts, workload: Workload) -> DraftModule:
    """What speculative decoding loads on the last stage (:func:`draft_module`; NO_DRAFT without it)."""
    return draft_module(facts) if workload.speculative_tokens else NO_DRAFT


def with_draft_cache(counts: tuple[tuple[LayerCache, int], ...], draft: DraftModule):
    """Layer caches with their counts, the draft module's attention layer added (vLLM allocates the
    drafter's KV cache in the same pool, one more layer of its kind)."""
    if draft.kv_cache is None:
        return counts
    return (*counts, (draft.kv_cache, 1))


@lru_cache(maxsize=None)
def _engine_file(engine: str) -> Path:
    """The bundled constants file of ``engine`` (the catalog directory does not move while running)."""
    return catalog_path("engines") / f"{engine}.toml"


def plan_vllm(model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload) -> MemoryPlan:
    """vLLM 0.19 memory plan of rank 0 (first pipeline stage, first TP rank); KV tokens and max
    concurrency are the minimum over stages, as vLLM unifies num_blocks across workers."""
    consts = engine_constants("vllm", _engine_file("vllm"))
    precision = workload.precision
    pp = parallelism.pipeline_parallel_size
    mnbt_default, mns_default = default_batch_limits(gpu, consts)
    max_model_len = workload.context_length
    seqs = workload.max_num_seqs or mns_default
    tokens = workload.max_num_batched_tokens or min(mnbt_default, seqs * max_model_len)
    block_size = int(consts.block_size.value)
    reasons = _precheck(model, gpu, parallelism, workload, "vllm")
    notes = [f"vLLM {consts.version}: max_num_batched_tokens={tokens}, max_num_seqs={seqs}, block_size={block_size}"]
    utilization = vllm_startable_utilization(gpu, workload.gpu_memory_utilization, reasons, notes)
    requested = math.ceil(gpu.memory_gib * GIB * utilization)

    # The GPU-independent part once per model, precision, layout and batch limits (keyed by
    # id(consts), which the entry holds, so the id cannot be reused while the entry lives).
    t, ep = parallelism.tensor_parallel_size, parallelism.expert_parallel_size
    key = ("vllm_stages", precision, t, pp, ep, tokens, seqs, block_size, id(consts), workload.text_only,
           workload.speculative_tokens > 0,
           moe_kernel_padding(model.config, precision, gpu))
    _, all_specs, facts = _memo(model, key, lambda: _vllm_stage_facts(model, workload, parallelism, gpu, tokens, seqs,
                                                                      consts, block_size))
    stages = [(layers, weights, activation, non_torch, requested - weights - activation - non_torch, specs, layout)
              for layers, weights, activation, non_torch, specs, layout, _ in facts]

    blocks = min(st[6].num_blocks(st[4]) for st in stages) if all(st[5] for st in stages) else 0
    layers0, weights0, act0, nt0, avail0, specs0, layout0 = stages[0]
    tokens_pool = layout0.tokens(blocks)
    per_request_blocks = layout0.blocks_per_request(max_model_len, tokens)
    concurrency = blocks / per_request_blocks if per_request_blocks else 0.0
    need_one = max((st[6].page_bytes * st[6].slots * per_request_blocks for st in stages), default=0.0)
    for index, st in enumerate(stages[1:], start=1):
        if st[4] <= 0:
            reasons.append(f"pipeline stage {index}: weights {st[1] / GIB:.2f} GiB + activations {st[2] / GIB:.2f} GiB "
                           f"+ non-torch {st[3] / GIB:.2f} GiB exceed the {requested / GIB:.2f} GiB budget")
    if not all_specs:
        notes.append("attention-free model: no KV cache")
    if pp > 1:
        notes.append("weights/activation/non-torch are rank 0's; KV tokens use the smallest pool over stages")
    if parallelism.tensor_parallel_size > 1:
        notes.append("NCCL/all-reduce memory at TP > 1 is the H100 SXM (NVSwitch) measurement; "
                     "GPUs without NVLink SHARP likely need less")
    kv_per_token = facts[0][6]
    cuda_graph = vllm_cuda_graph_gib(len(layers0), parallelism, consts)
    remedy = ""
    if workload.gpu_memory_utilization == DEFAULT_UTILIZATION and need_one > 0:
        # vLLM refuses to start when the budget cannot hold one request; the fraction that would (and leaves
        # the CUDA-graph pool its headroom) is the fix its own error message points to.
        total = gpu.memory_gib * GIB
        needed = math.ceil(max((st[1] + st[2] + st[3] + need_one) / total for st in stages) * 100) / 100
        if DEFAULT_UTILIZATION < needed and needed + cuda_graph * GIB / total <= 1:
            remedy = (f"--gpu-memory-utilization {needed:.2f} would hold the weights and one {max_model_len}-token "
                      f"request, leaving {(1 - needed) * gpu.memory_gib:.2f} GiB for the {cuda_graph:.2f} GiB CUDA-graph pool")
    return _finish("vllm", gpu, requested, weights0, act0, nt0, cuda_graph, avail0, tokens_pool, kv_per_token,
                   layout0.block_size, max_model_len, concurrency, need_one, reasons, notes, precision, remedy,
                   (tokens, seqs), utilization)


def vllm_startable_utilization(gpu: GPUSpec, utilization: float, reasons: list[str], notes: list[str]) -> float:
    """The gpu_memory_utilization vLLM starts with on ``gpu``: it refuses to start when utilization x total
    exceeds the memory free at start (v1/worker/utils.py ``request_memory``: 'Free memory on device ... on
    startup is less than desired GPU memory utilization'). That binds where the operating system shares the
    GPU's memory (``GPUSpec.memory_free_at_start_gib``): the default is lowered to the largest fraction
    that starts, said in ``notes``; a fraction the user set is kept and the refusal added to ``reasons``."""
    startable = math.floor(gpu.free_at_start_gib / gpu.memory_gib * 100) / 100
    if utilization <= startable:
        return utilization
    needs = f"{utilization:g} x {gpu.memory_gib:g} GiB = {utilization * gpu.memory_gib:.2f} GiB"
    free = f"the {gpu.free_at_start_gib:g} GiB {gpu.name} has free at start (its memory is shared with the CPU)"
    if utilization == DEFAULT_UTILIZATION:  # vLLM's default: plan the fraction that starts, as its error asks
        notes.append(f"vLLM needs {needs} free at start, more than {free}: planned at --gpu-memory-utilization "
                     f"{startable:.2f}")
        return startable
    reasons.append(f"vLLM refuses to start: gpu_memory_utilization {needs} exceeds {free}; "
                   f"use {startable:.2f} or less")
    return utilization


def _sglang_defaults(gpu: GPUSpec, tp: int, consts: Any) -> tuple[int, int]:
    for row in consts.gpu_size_defaults.rows:
        limit, chunk, bs_small, bs_large = row
        if gpu.memory_gib < limit:
            return int(chunk), int(bs_small if tp < 4 else bs_large)
    return 16384, 512


def sglang_mem_fraction_static(gpu: GPUSpec, parallelism: Parallelism, chunked_prefill: int, max_bs: int, consts: Any) -> float:
    """SGLang's default mem_fraction_static (sglang/srt/arg_groups/memory_hook.py):
    ``reserved = 512 + 1.5 max(chunk, 2048) + 128 tp pp + 2 max_bs`` MB, floored at 10 GiB on
    GPUs above 60 GiB; ``(gpu_mem - reserved) / gpu_mem`` rounded to 3 places."""
    gpu_mb = gpu.memory_gib * 1024
    reserved = consts.reserved_base_mb.value
    reserved += max(chunked_prefill, consts.min_activation_tokens.value) * consts.reserved_mb_per_activation_token.value
    reserved += parallelism.tensor_parallel_size * parallelism.pipeline_parallel_size * consts.reserved_mb_per_parallel_gpu.value
    reserved += max_bs * consts.reserved_mb_per_cuda_graph_bs.value
    if gpu.memory_gib > consts.large_gpu_floor_min_gib.value:
        reserved = max(reserved, consts.reserved_floor_mb_large_gpu.value)
    return round((gpu_mb - reserved) / gpu_mb, 3)


def plan_sglang(model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload) -> MemoryPlan:
    """SGLang plan of rank 0: ``pool = pre_load_free x mem_fraction_static - weights`` where
    pre_load_free = the memory free at start (the total, less what the operating system holds on a GPU
    whose memory it shares: ``GPUSpec.free_at_start_gib``) - non-torch (NCCL, CUDA context)
    (sglang/srt/mem_cache/kv_cache_configurator.py ``_profile_available_bytes``); page size 1; the pool is
    cut into tokens (and Mamba state slots) as SGLang does (:func:`sglang_kv_pool`)."""
    consts = engine_constants("sglang", _engine_file("sglang"))
    precision = workload.precision
    t = parallelism.tensor_parallel_size
    chunk, max_bs = _sglang_defaults(gpu, t, consts)
    chunk = workload.max_num_batched_tokens or chunk
    if workload.gpu_memory_utilization != DEFAULT_UTILIZATION:  # an explicit value is mem_fraction_static
        mfs = workload.gpu_memory_utilization
        notes = [f"SGLang: mem_fraction_static={mfs} (from gpu_memory_utilization)"]
    else:
        mfs = sglang_mem_fraction_static(gpu, parallelism, chunk, max_bs, consts)
        notes = [f"SGLang {consts.version}: default mem_fraction_static={mfs}, chunked_prefill_size={chunk}"]
    reserved_too_much = []
    if mfs <= 0:  # SGLang's reserve alone exceeds the GPU: the server would not start
        reserved_too_much = [f"SGLang reserves all of {gpu.name}'s {gpu.memory_gib:g} GiB (mem_fraction_static {mfs}) "
                             f"at chunked_prefill_size={chunk}, TP{t} x PP{parallelism.pipeline_parallel_size}; "
                             "lower max_num_batched_tokens or the parallel sizes"]
        mfs = 0.0
    non_torch = (consts.non_torch_tp1_gib.value if t == 1 else consts.non_torch_tp_gib.at(t)) * GIB
    pre = gpu.free_at_start_gib * GIB - non_torch  # SGLang measures what is free, not the total
    if pre <= 0:  # a GPU smaller than the CUDA context and NCCL buffers: nothing is left to plan
        reserved_too_much.append(f"non-torch memory {non_torch / GIB:.2f} GiB (CUDA context, NCCL buffers at TP{t}) "
                                 f"exceeds {gpu.name}'s {gpu.memory_gib:g} GiB")
        pre = 0.0
    facts = facts_for(model, precision, parallelism, gpu, workload.text_only)
    stage0, draft = facts.stages[0], drafting(facts, workload)
    weights = stage0.weight_bytes + draft.weight_bytes
    reserve = pre * (1 - mfs)
    available = pre * mfs - weights
    per_token = stage0.kv_bytes_per_token + draft.kv_bytes_per_token
    page = int(consts.page_size.value)
    max_model_len = workload.context_length
    tokens, concurrency, state, pool_note = sglang_kv_pool(model, stage0, t, available, max_model_len, consts, draft)
    if pool_note:
        notes.append(pool_note)
    need_one = per_token * max_model_len + state
    remedy = ""
    if workload.gpu_memory_utilization == DEFAULT_UTILIZATION and available < need_one and pre > 0:
        # SGLang refuses to start ("Not enough memory. Please try to increase --mem-fraction-static"): say the
        # fraction that would hold the weights and one request, and how much of its activation reserve is left.
        needed = math.ceil((weights + need_one) / pre * 100) / 100
        if needed < 1:
            remedy = (f"SGLang's default mem_fraction_static on {gpu.name} is {mfs}; --mem-fraction-static {needed:.2f} "
                      f"(gpu_memory_utilization={needed:.2f}) would hold the weights and one {max_model_len}-token "
                      f"request, leaving {pre * (1 - needed) / GIB:.2f} GiB of the {reserve / GIB:.2f} GiB SGLang "
                      "reserves for activations and CUDA graphs")
    return _finish("sglang", gpu, pre * mfs, weights, reserve, non_torch, 0.0, available, tokens, per_token, page,
                   max_model_len, concurrency, need_one,
                   _precheck(model, gpu, parallelism, workload, "sglang") + reserved_too_much, notes, precision, remedy,
                   (chunk, workload.max_num_seqs), mfs or None)


#: Architectures SGLang gives a separate sliding-window pool (configs/model_config.py
#: ``is_hybrid_swa_model``); every other model, Gemma 2/3 included (server_args.py forces
#: ``disable_hybrid_swa_memory``), caches sliding layers at full length.
SGLANG_HYBRID_SWA_ARCHITECTURES = frozenset({"Llama4ForConditionalGeneration", "GptOssForCausalLM",
                                             "MiMoV2FlashForCausalLM", "Step3p5ForCausalLM"})


def sglang_kv_pool(model: Any, stage: Any, tensor_parallel_size: int, available: float, max_model_len: int,
                   consts: Any, draft: DraftModule = NO_DRAFT) -> tuple[int, float, float, str]:
    """SGLang's token pool of one rank: (tokens, max concurrency, state bytes per request, note).

    - Plain models: ``tokens = available // cell`` with the cell the KV bytes per token of every
      attention layer, sliding ones at full length (``profile_max_num_token``).
    - Hybrid-SWA models (:data:`SGLANG_HYBRID_SWA_ARCHITECTURES`): the same bytes split so that the
      sliding pool holds ``r`` x the full pool's tokens, ``full = cap (F + S) / (F + r S)``
      (``_resolve_hybrid_swa_tokens``, r = ``swa_full_tokens_ratio``); the full pool's tokens are
      reported and bound concurrency.
    - Mamba / linear-attention hybrids: ``ratio / (1 + ratio)`` of the memory goes to per-request
      state slots (``handle_max_mamba_cache``, ratio = ``mamba_full_memory_ratio``), the SSM state
      in fp32; the rest to the attention layers' tokens; concurrency is the smaller of the two.

    A speculative ``draft`` module's attention layer holds every token too, one more layer of its kind.
    """
    cfg = model.config
    page = int(consts.page_size.value)
    full, sliding = stage.kv_bytes_per_token_full, stage.kv_bytes_per_token_sliding
    if draft.kv_cache is not None:
        full += draft.kv_bytes_per_token if draft.kv_cache.kind == "full" else 0.0
        sliding += draft.kv_bytes_per_token if draft.kv_cache.kind == "sliding" else 0.0
    if available <= 0 or full + sliding <= 0:
        return 0, 0.0, 0.0, ""
    recurrent = [(g.first, n) for g in layer_groups(cfg)
                 if cfg.layer_types[g.first] in ("linear_attention", "mamba") and (n := g.count_in(stage.layers))]
    if recurrent:
        state = sum(recurrent_state_bytes_per_layer(cfg, i, consts.mamba_conv_state_bytes.value, tensor_parallel_size,
                                                    consts.mamba_ssm_state_bytes.value) * n
                    for i, n in recurrent)
        ratio = consts.mamba_full_memory_ratio.value
        slots = int(available * ratio / (1 + ratio) // state) if state else 0
        tokens = int((available - slots * state) // (full + sliding)) // page * page
        concurrency = min(tokens / max_model_len, float(slots))
        return tokens, concurrency, state, f"SGLang: {slots} Mamba state slots (fp32 SSM state), {tokens} attention tokens"
    if sliding and full and set(model.config.architectures) & SGLANG_HYBRID_SWA_ARCHITECTURES:
        r = consts.swa_full_tokens_ratio.value
        cap = available // (full + sliding)
        tokens = int(cap * (full + sliding) / (full + r * sliding)) // page * page
        return tokens, tokens / max_model_len, 0.0, f"SGLang sliding-window pool: {int(tokens * r)} tokens (ratio {r:g})"
    tokens = int(available // (full + sliding)) // page * page
    return tokens, tokens / max_model_len, 0.0, ""


def plan_trtllm(model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload) -> MemoryPlan:
    """TensorRT-LLM (PyTorch backend) plan of rank 0: ``pool = 0.9 x (free at start - weights - non-torch -
    profiling forward)`` (``KvCacheConfig.free_gpu_memory_fraction``: a fraction of the memory free after
    loading), in blocks of 32 tokens. The forward peak uses the same per-token activation model as vLLM at
    ``max_num_tokens``."""
    consts = engine_constants("trtllm", _engine_file("trtllm"))
    vconsts = engine_constants("vllm", _engine_file("vllm"))
    cfg, precision = model.config, workload.precision
    t = parallelism.tensor_parallel_size
    tokens = workload.max_num_batched_tokens or int(consts.max_num_tokens.value)
    layers = iter_layers_of_stage(cfg.num_hidden_layers, parallelism.pipeline_parallel_size, 0)
    facts = facts_for(model, precision, parallelism, gpu, workload.text_only)
    draft = drafting(facts, workload)
    weights = facts.stages[0].weight_bytes + draft.weight_bytes
    b = activation_bytes_per_element(precision)
    multiple = vconsts.forward_hidden_multiple.value
    elements = _memo(model, ("forward_elements", t, parallelism.pipeline_parallel_size, multiple),
                     lambda: forward_elements_per_token(cfg, parallelism, layers, multiple))
    activation = tokens * elements * b
    activation += moe_workspace_bytes(cfg, precision, parallelism, tokens)
    non_torch = (consts.non_torch_tp1_gib.value if t == 1 else consts.non_torch_tp_gib.at(t)) * GIB
    total = gpu.free_at_start_gib * GIB  # the pool is a fraction of what is free after loading
    free = total - weights - activation - non_torch
    fraction = workload.gpu_memory_utilization
    if fraction == DEFAULT_UTILIZATION:
        fraction = consts.kv_cache_free_gpu_memory_fraction.value
    available = free * fraction
    per_token = facts.stages[0].kv_bytes_per_token + draft.kv_bytes_per_token
    block = int(consts.tokens_per_block.value)
    blocks = int(available // (per_token * block)) if per_token and available > 0 else 0
    max_model_len = workload.context_length
    tokens_pool = blocks * block
    concurrency = blocks / cdiv(max_model_len, block) if max_model_len else 0.0
    notes = [f"TensorRT-LLM: kv_cache_free_gpu_memory_fraction={fraction}, max_num_tokens={tokens}, tokens_per_block={block}"]
    return _finish("trtllm", gpu, total, weights, activation, non_torch, 0.0, available, tokens_pool, per_token, block,
                   max_model_len, concurrency, per_token * max_model_len,
                   _precheck(model, gpu, parallelism, workload, "trtllm"), notes, precision,
                   scheduler=(tokens, workload.max_num_seqs or int(consts.max_batch_size.value)),
                   memory_fraction=fraction)


def plan_atom(model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload) -> MemoryPlan:
    """ATOM plan of rank 0 (atom/model_engine/model_runner.py, KV sizing)::

        budget = total x gpu_memory_utilization
        kv     = budget - (torch peak + non-torch + CUDA-graph estimate + 0.02 x total)

    vLLM's form with the CUDA graphs and a 2% safety margin inside the budget, so it is planned as
    vLLM's plan at ``gpu_memory_utilization - 0.02 - CUDA graphs / total`` with ATOM's own batch
    defaults (16,384 tokens, 512 sequences) and 16-token blocks; the activation peak, non-torch
    memory and CUDA-graph pool are vLLM's estimates (assumed: ATOM is not measured here)."""
    consts = engine_constants("atom", _engine_file("atom"))
    vconsts = engine_constants("vllm", _engine_file("vllm"))
    tokens = workload.max_num_batched_tokens or int(consts.max_num_batched_tokens.value)
    seqs = workload.max_num_seqs or int(consts.max_num_seqs.value)
    util = workload.gpu_memory_utilization
    stage0 = iter_layers_of_stage(model.config.num_hidden_layers, parallelism.pipeline_parallel_size, 0)
    graphs = vllm_cuda_graph_gib(len(stage0), parallelism, vconsts)
    effective = util - consts.safety_margin_fraction.value - graphs / gpu.memory_gib
    if effective <= 0:
        raise WorkloadError(f"ATOM's safety margin and CUDA graphs ({graphs:.2f} GiB) leave nothing of "
                            f"{gpu.name}'s {gpu.memory_gib:g} GiB at gpu_memory_utilization {util:g}; raise it")
    plan = plan_vllm(model, gpu, parallelism, workload.model_copy(update={
        "max_num_batched_tokens": min(tokens, seqs * workload.context_length) if not workload.max_num_batched_tokens
        else tokens, "max_num_seqs": seqs, "gpu_memory_utilization": effective}))
    note = (f"ATOM: max_num_batched_tokens={tokens}, max_num_seqs={seqs}, block_size={int(consts.block_size.value)}; "
            f"budget = {util:g} x total less a {consts.safety_margin_fraction.value:g} x total safety margin and the "
            f"{graphs:.2f} GiB CUDA-graph pool (atom/model_engine/model_runner.py); activation, non-torch and "
            "CUDA-graph sizes are vLLM's estimates (assumed)")
    notes = (note,) + tuple(n for n in plan.notes if not n.startswith("vLLM "))
    return plan.model_copy(update={"engine": "atom", "notes": notes, "cuda_graph_gib": graphs, "memory_fraction": util})


PLANNERS = {"vllm": plan_vllm, "sglang": plan_sglang, "trtllm": plan_trtllm, "atom": plan_atom}
