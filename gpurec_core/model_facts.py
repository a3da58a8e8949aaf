"""What each GPU of a deployment holds and computes: one model-facts layer for every plugin.

A :class:`DeploymentFacts` is computed once per (model config, parameter count, precision,
TP, PP, EP) and cached with the config. The memory planners (``gpurec_capacity``) and the
speed estimators (``gpurec_roofline``) both read it, so the memory plan and the speed estimate
always describe the same deployment; no plugin re-derives a byte or a FLOP.

Per pipeline stage and per GPU (rank 0 of the stage's TP group) it gives:

- weight bytes by component (:data:`gpurec_core.memory_math.COMPONENT_KINDS`), as vLLM shards
  them (:func:`rank_share`), quantization scales included (``Precision.weight_bytes_per_param``);
- the KV cache of every layer (bytes per token; sliding layers with their window, sparse-attention
  layers with the keys a query attends) and the recurrent state of linear-attention / Mamba layers
  (bytes per sequence);
- matmul FLOPs per token by component, lm_head FLOPs per logit, attention FLOPs per
  (query, key) pair in prefill and in decode (MLA decodes in its absorbed form).

Notation: H hidden size, V vocabulary (V_pad padded to 64), n query heads, g KV heads,
d q/k head dim, d_v v head dim, E routed experts, k experts per token, t TP, P PP, e EP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

from gpurec_core.config_memo import memo_per_config
from gpurec_core.errors import WorkloadError
from gpurec_core.memory_math import (
    ComponentGroup,
    LayerGroup,
    WeightComponent,
    component_bytes,
    indexer_key_bytes_per_token,
    iter_layers_of_stage,
    kv_heads_per_gpu,
    layer_groups,
    layer_kv_bytes_per_token,
    padded_vocab,
    recurrent_state_bytes_per_layer,
    ssm_state_bytes,
    weight_component_groups,
)
from gpurec_core.models import Precision

if TYPE_CHECKING:  # pragma: no cover
    from gpurec_core.model_config import ModelConfig
    from gpurec_core.models import GPUSpec, Parallelism
    from gpurec_core.param_count import ParameterCount
    from gpurec_core.towers import TowerParameters

#: Components that are matrix multiplications on every token (the embedding is a row gather,
#: the lm_head runs only for tokens that produce logits, norms are elementwise).
MATMUL_COMPONENTS = ("attention", "dense_mlp", "routed_experts", "latent_projections", "shared_experts", "router",
                     "linear_mixer", "other")

#: The parts of a multimodal checkpoint outside the language model (:mod:`gpurec_core.towers`).
#: They run only for image / audio inputs, so a text step does not read them.
TOWER_COMPONENTS = ("vision_tower", "audio_tower", "projector")


@dataclass(frozen=True)
class LayerCache:
    """The cache one decoder layer keeps on one GPU.

    ``kind`` "full" / "sliding": ``bytes`` per cached token (a sliding layer keeps only the last
    ``window`` tokens); "state": ``bytes`` per sequence (linear attention, Mamba).

    A sparse-attention layer (:func:`sparse_attention_topk`) keeps every token but each query reads
    ``topk_bytes`` of at most ``topk`` of them (the ones its indexer selects); the rest of ``bytes``,
    the indexer's keys, is read for every cached token.
    """

    kind: Literal["full", "sliding", "state"]
    bytes: float
    window: Optional[int] = None
    topk: Optional[int] = None
    topk_bytes: float = 0.0


@dataclass(frozen=True)
class StageFacts:
    """Facts of one GPU (TP rank 0) of one pipeline stage."""

    stage: int
    layers: range
    is_first: bool
    is_last: bool
    weight_bytes_by_component: dict[str, float]
    weight_bytes: float                 # everything this GPU holds (scales included)
    expert_weight_bytes: float          # routed experts held (read only where tokens are routed)
    streamed_weight_bytes: float        # the rest that one text step reads in full (embedding gather and towers excluded)
    layer_caches: tuple[LayerCache, ...]  # this stage's attention / recurrent layers, in order
    cache_counts: tuple[tuple[LayerCache, int], ...]  # the distinct ones, each with its number of layers
    kv_bytes_per_token_full: float      # full-attention layers of the stage
    kv_bytes_per_token_sliding: float   # sliding-window layers of the stage (while inside the window)
    kv_bytes_per_token_sparse: float    # the part of the full layers' bytes a query reads only for its top-k keys
    state_bytes_per_sequence: float     # recurrent layers of the stage
    matmul_flops_by_component: dict[str, float]  # per token, routed experts at k of E
    matmul_flops_per_token: float
    lm_head_flops_per_token: float      # per token whose logits are computed (last stage only)
    attn_flops_per_pair_full: float     # per (query, key) pair in prefill, over every key (full layers, indexers)
    attn_flops_per_pair_sliding: float  # same, sliding-window layers (keys inside the window)
    attn_flops_per_pair_sparse: float   # same, sparse-attention layers (a query's top-k keys)
    attn_decode_flops_per_pair_full: float     # the same three in decode (MLA absorbed)
    attn_decode_flops_per_pair_sliding: float
    attn_decode_flops_per_pair_sparse: float

    @property
    def kv_bytes_per_token(self) -> float:
        """KV bytes per token of every attention layer of the stage (sliding ones inside their window)."""
        return self.kv_bytes_per_token_full + self.kv_bytes_per_token_sliding


@dataclass(frozen=True)
class DeploymentFacts:
    """Facts of every pipeline stage of one (model, precision, TP, PP, EP) deployment."""

    tensor_parallel_size: int
    pipeline_parallel_size: int
    expert_parallel_size: int
    window: int                          # the sliding window, tokens (0: none)
    topk: int                            # keys a sparse-attention query attends (0: no such layer)
    all_layer_caches: tuple[LayerCache, ...]  # every layer of the model on one GPU of its stage
    all_cache_counts: tuple[tuple[LayerCache, int], ...]  # the distinct ones, each with its number of layers
    stages: tuple[StageFacts, ...]

    def mean(self, name: str) -> float:
        """Mean of a :class:`StageFacts` field over the stages (what one stage costs on average)."""
        return sum(getattr(s, name) for s in self.stages) / len(self.stages)


# ---------------------------------------------------------------------------------------------
# The formulas
# ---------------------------------------------------------------------------------------------


def moe_kernel_padding(cfg: "ModelConfig", precision: Precision, gpu: Optional["GPUSpec"]) -> tuple[int, int]:
    """(multiple of the per-rank expert width, multiple of the hidden size) that vLLM 0.19's fused-MoE
    kernel pads the experts to before allocating them; (1, 1) = no padding.

    Only MXFP4 experts are padded (vllm/model_executor/layers/fused_moe/oracle/mxfp4.py
    ``mxfp4_round_up_hidden_size_and_intermediate_size``, by the backend ``select_mxfp4_moe_backend``
    picks): FlashInfer-TRTLLM on Blackwell and the ROCm kernels round both to 256; the Triton
    kernel on Hopper and older rounds the width to 64 and keeps the hidden size. DeepSeek-V4's MXFP4
    routed experts (``Precision.routed_expert_weight``) go through vLLM's deep_gemm MoE backend instead
    (the canada-quant/DeepSeek-V4-Pro-NVFP4-FP8-MTP model card benchmarks "upstream MXFP4 + deep_gemm"),
    so they are not padded.
    """
    if not cfg.is_moe or precision.weight != "mxfp4":
        return (1, 1)
    if gpu is not None and ((gpu.architecture or "").startswith("Blackwell") or gpu.manufacturer == "AMD"):
        return (256, 256)
    return (64, 1)


def expert_padding_factor(cfg: "ModelConfig", tensor_parallel_size: int, expert_parallel_size: int,
                          padding: tuple[int, int]) -> float:
    """Allocated / real size of one GPU's routed experts: ``ceil_a(I_r) ceil_b(H) / (I_r H)`` with the
    per-rank expert width ``I_r = I / max(1, t / e)`` (experts TP-sharded over t / e ranks)."""
    width_multiple, hidden_multiple = padding
    if (width_multiple, hidden_multiple) == (1, 1) or not cfg.moe_intermediate_size:
        return 1.0
    width = max(1, cfg.moe_intermediate_size // max(1, tensor_parallel_size // expert_parallel_size))
    hidden = cfg.hidden_size
    padded_width = -(-width // width_multiple) * width_multiple
    padded_hidden = -(-hidden // hidden_multiple) * hidden_multiple
    return padded_width * padded_hidden / (width * hidden)


def experts_on_fullest_rank(num_experts: int, expert_parallel_size: int) -> int:
    """Routed experts on the fullest of ``expert_parallel_size`` EP ranks: ``ceil(E / e)``.

    vLLM spreads a remainder over the first ranks (vllm/model_executor/layers/fused_moe/layer.py
    ``determine_expert_map``: ``E // e`` experts each, one more on the first ``E % e`` ranks), so 256
    experts over 36 ranks put 8 on four ranks and 7 on the rest; TensorRT-LLM's MoE load balancer
    (``num_slots``, a multiple of the EP size) and SGLang's ``--ep-num-redundant-experts`` fill the
    same slots with redundant copies. Rank 0, the one planned, is a fullest rank.
    """
    e = max(1, int(expert_parallel_size))
    return -(-int(num_experts) // e)


def rank_share(cfg: "ModelConfig", comp: WeightComponent, tensor_parallel_size: int, expert_parallel_size: int) -> float:
    """Fraction of a component's parameters that one GPU holds, as vLLM shards it.

    - embedding / lm_head: rows padded to a multiple of 64, split over TP:
      ``V_pad / V / t`` (vllm/model_executor/layers/vocab_parallel_embedding.py ``pad_vocab_size``,
      ``VocabParallelEmbedding``);
    - attention: split over TP (``ColumnParallelLinear`` / ``RowParallelLinear``), except MLA's
      ``q_a_proj`` / ``kv_a_proj_with_mqa`` (``ReplicatedLinear``) and K/V projections whose heads
      are replicated when t > g (``QKVParallelLinear``: each rank keeps ``max(1, g/t)`` heads);
    - routed experts: ``ceil(E / e) / E / max(1, t / e)`` (``FusedMoE``: split over EP ranks, each
      expert TP-sharded over t / e ranks when e < t; :func:`experts_on_fullest_rank`), which is
      ``1 / max(t, e)`` when e divides the E experts;
    - latent-MoE projections (hidden -> latent -> hidden around the routed experts): replicated,
      the experts taking the full latent on every rank (vllm/model_executor/models/nemotron_h.py
      ``NemotronHMoE``: ``fc1_latent_proj`` / ``fc2_latent_proj`` are ``ReplicatedLinear``; Kimi K3's
      ``routed_expert_down_proj`` / ``routed_expert_up_proj`` likewise in SGLang's
      python/sglang/srt/models/kimi_k3.py ``KimiK3MoE``);
    - router and norms: replicated; everything else: ``1 / t``, the vision / audio towers
      included (vLLM's encoders are built from ``QKVParallelLinear`` / ``ColumnParallelLinear`` /
      ``RowParallelLinear``, e.g. model_executor/models/siglip.py, qwen3_vl.py, mllama4.py, under
      the default ``mm_encoder_tp_mode="weights"``).
    """
    t, e = tensor_parallel_size, expert_parallel_size
    if comp.kind in ("embedding", "lm_head"):
        return padded_vocab(cfg.vocab_size) / cfg.vocab_size / t
    if comp.kind == "attention":
        g = (cfg.kv_heads_of_layer(comp.layer) if comp.layer is not None else 0) or cfg.num_key_value_heads
        kv_share = kv_heads_per_gpu(g, t) / g if g else 1.0 / t
        rest = 1.0 - comp.replicated_fraction - comp.kv_fraction
        return rest / t + comp.replicated_fraction + comp.kv_fraction * kv_share
    if comp.kind == "routed_experts":
        if not cfg.num_experts:
            return 1.0 / max(t, e)
        return experts_on_fullest_rank(cfg.num_experts, e) / cfg.num_experts / max(1, t // max(1, e))
    if comp.kind in ("router", "norms", "latent_projections"):
        return 1.0
    return 1.0 / t


def component_on_stage(cfg: "ModelConfig", comp: WeightComponent, stage_layers: range, is_first: bool,
                       is_last: bool, pipeline_parallel_size: int) -> bool:
    """Whether a stage holds the component: the embedding on the first stage (and on the last too
    when the lm_head is tied to it and P > 1: vLLM's last rank builds its own ``ParallelLMHead``
    and loads the embedding into it), the vision / audio towers and projector on the first (they
    feed the embeddings), the lm_head and final norm on the last, layer ``i`` on the stage
    ``get_pp_indices`` gives it (vllm/distributed/utils.py)."""
    if comp.kind == "embedding":
        return is_first or (is_last and cfg.tie_word_embeddings and pipeline_parallel_size > 1)
    if comp.kind in TOWER_COMPONENTS:
        return is_first
    if comp.kind == "lm_head" or comp.layer is None:
        return is_last
    return comp.layer in stage_layers


def layer_cache(cfg: "ModelConfig", precision: Precision, i: int, tensor_parallel_size: int) -> Optional[LayerCache]:
    """The cache of layer ``i`` on one GPU: attention KV per token (:func:`layer_kv_bytes_per_token`),
    recurrent state per sequence (:func:`recurrent_state_bytes_per_layer`: conv state in the model
    dtype, SSM state in :func:`ssm_state_bytes`), or None for a layer without a token mixer."""
    kind = cfg.layer_types[i]
    if kind in ("full_attention", "sliding_attention"):
        per = layer_kv_bytes_per_token(cfg, i, precision.kv_cache_bytes, tensor_parallel_size)
        if kind == "sliding_attention" and cfg.sliding_window:
            return LayerCache("sliding", per, cfg.sliding_window)
        topk = sparse_attention_topk(cfg, i)
        if topk:
            return LayerCache("full", per, topk=topk, topk_bytes=per - indexer_key_bytes_per_token(cfg, i))
        return LayerCache("full", per)
    if kind in ("linear_attention", "mamba"):
        return LayerCache("state", recurrent_state_bytes_per_layer(cfg, i, precision.unquantized_bytes_per_param,
                                                                   tensor_parallel_size, ssm_state_bytes(cfg, precision)))
    return None


def sparse_attention_topk(cfg: "ModelConfig", i: int) -> Optional[int]:
    """Tokens a query of layer ``i`` can attend when the layer's indexer selects what it reads, or None
    for a layer that attends every cached token. DeepSeek Sparse Attention (DeepSeek-V3.2, GLM-5;
    MiniMax-M3's indexed layers): the indexer scores every cached key, the attention reads the
    ``index_topk`` it selects (vLLM ``Indexer.topk_tokens`` feeding the sparse FlashMLA kernels).
    DeepSeek-V4's compressed sparse layers pick ``index_topk`` compressed entries of
    ``compression_ratio_of_layer`` tokens each (HF modeling_deepseek_v4.py), so they reach
    ``index_topk x ratio`` tokens."""
    if cfg.index_topk and cfg.has_indexer_on_layer(i):
        return int(cfg.index_topk) * cfg.compression_ratio_of_layer(i)
    return None


def indexer_flops_per_pair(cfg: "ModelConfig", i: int) -> float:
    """The sparse-attention indexer's FLOPs per (query, cached token) pair on one GPU:
    ``2 x n_idx x d_idx`` per scored entry, every index head on every TP rank (vLLM ``Indexer``: its
    projections are ``ReplicatedLinear``, "no tensor parallel, just replicated"), an entry per
    ``compression_ratio_of_layer`` tokens; 0 for a layer without one (:func:`sparse_attention_topk`). It
    runs in fp8 (DeepGEMM's fp8 MQA logits); the roofline times it at the attention kernels' rate."""
    if not sparse_attention_topk(cfg, i):
        return 0.0
    return 2.0 * (cfg.index_n_heads or 0) * (cfg.index_head_dim or 0) / cfg.compression_ratio_of_layer(i)


def attention_flops_per_pair(cfg: "ModelConfig", i: int, tensor_parallel_size: int, decode: bool = False) -> float:
    """Attention-score FLOPs of layer ``i`` per (query, key) pair on one GPU:
    ``2 x n/t x (d + d_v)`` (QK^T and PV, 2 FLOPs per multiply-add).

    MLA has two forms (vLLM vllm/v1/attention/backends/mla/common.py, after the DeepSeek-V2 paper;
    SGLang's ``forward_absorb`` and TensorRT-LLM's generation kernels do the same). Prefill uses the
    compute-friendly one, keys and values up-projected per head: d = qk_nope + qk_rope,
    d_v = v_head_dim. Decode (``decode=True``) uses the data-movement-friendly absorbed one: each
    head's query is multiplied into the latent space and attends the cached latent directly, so
    d = kv_lora_rank + qk_rope and d_v = kv_lora_rank (DeepSeek-R1: 576 and 512 against 192 and
    128, 3.4x the FLOPs per pair, over the same 576 cached values per key).

    A compressed layer (DeepSeek-V4) attends one entry per ``compression_ratio_of_layer`` tokens, so its
    FLOPs per cached token are those of a pair divided by the ratio, as its KV bytes per token are
    (:func:`gpurec_core.memory_math.layer_kv_bytes_per_token`). The last ``sliding_window``
    uncompressed tokens that such a layer also attends are left out (at most 128 keys)."""
    if cfg.layer_types[i] not in ("full_attention", "sliding_attention"):
        return 0.0
    if cfg.attention_kind == "MLA" and decode and cfg.kv_lora_rank:
        qk, dv = cfg.kv_lora_rank + (cfg.qk_rope_head_dim or 0), cfg.kv_lora_rank
    elif cfg.attention_kind == "MLA":
        qk = ((cfg.qk_nope_head_dim or 0) + (cfg.qk_rope_head_dim or 0)) or cfg.head_dim
        dv = cfg.v_head_dim
    else:
        qk, dv = cfg.head_dim_of_layer(i), cfg.v_head_dim_of_layer(i)
    return 2.0 * cfg.num_attention_heads / tensor_parallel_size * (qk + dv) / cfg.compression_ratio_of_layer(i)


def matmul_flops_per_token(cfg: "ModelConfig", comp: WeightComponent, share: float) -> float:
    """Matmul FLOPs per token of one component on one GPU: ``2 x params held`` (2 FLOPs per
    multiply-add, Kaplan et al. 2020), routed experts at ``k / E`` of them (each token runs k)."""
    if comp.kind not in MATMUL_COMPONENTS:
        return 0.0
    active = cfg.num_experts_per_tok / cfg.num_experts if comp.kind == "routed_experts" and cfg.num_experts else 1.0
    return 2.0 * comp.params * share * active


def lm_head_flops_per_token(cfg: "ModelConfig", tensor_parallel_size: int) -> float:
    """``2 x V_pad x H / t`` per token whose logits are computed (``ParallelLMHead`` is padded too)."""
    return 2.0 * padded_vocab(cfg.vocab_size) * cfg.hidden_size / tensor_parallel_size


# ---------------------------------------------------------------------------------------------
# Assembly, cached per config
# ---------------------------------------------------------------------------------------------


def copies_on_stage(cfg: "ModelConfig", group: ComponentGroup, stage_layers: range, is_first: bool, is_last: bool,
                    pipeline_parallel_size: int) -> int:
    """How many copies of a component group a stage holds: its layers inside the stage, or for a
    component of no layer 1 or 0 by :func:`component_on_stage`."""
    if group.layers:
        return group.count_in(stage_layers)
    return int(component_on_stage(cfg, group.component, stage_layers, is_first, is_last, pipeline_parallel_size))


def _stage_facts(cfg: "ModelConfig", components: tuple[ComponentGroup, ...], precision: Precision,
                 caches: tuple[tuple[LayerGroup, Optional[LayerCache]], ...],
                 per_layer: tuple[Optional[LayerCache], ...], t: int, pp: int, ep: int, stage: int,
                 expert_padding: float) -> StageFacts:
    layers = iter_layers_of_stage(cfg.num_hidden_layers, pp, stage)
    first, last = stage == 0, stage == pp - 1
    by_kind: dict[str, float] = {}
    flops: dict[str, float] = {}
    for group in components:
        copies = copies_on_stage(cfg, group, layers, first, last, pp)
        if not copies:
            continue
        comp = group.component
        share = rank_share(cfg, comp, t, ep) * (expert_padding if comp.kind == "routed_experts" else 1.0)
        by_kind[comp.kind] = by_kind.get(comp.kind, 0.0) + component_bytes(comp, precision) * share * copies
        f = matmul_flops_per_token(cfg, comp, share)
        if f:
            flops[comp.kind] = flops.get(comp.kind, 0.0) + f * copies
    total = sum(by_kind.values())
    experts = by_kind.get("routed_experts", 0.0)
    # The embedding is gathered row by row, except on the last stage of a tied model, where the
    # same matrix is the lm_head and is read in full for the logits.
    gathered = 0.0 if (last and cfg.tie_word_embeddings) else by_kind.get("embedding", 0.0)
    gathered += sum(by_kind.get(kind, 0.0) for kind in TOWER_COMPONENTS)
    counts = tuple((cache, n) for group, cache in caches if cache is not None and (n := group.count_in(layers)))
    kv_full = sum(c.bytes * n for c, n in counts if c.kind == "full")
    kv_sliding = sum(c.bytes * n for c, n in counts if c.kind == "sliding")
    kv_sparse = sum(c.topk_bytes * n for c, n in counts if c.topk)
    state = sum(c.bytes * n for c, n in counts if c.kind == "state")
    pairs = {(span, decode): 0.0 for span in ("full", "sliding", "sparse") for decode in (False, True)}
    for group, cache in caches:
        n = group.count_in(layers)
        if cache is None or cache.kind == "state" or not n:
            continue
        span = "sliding" if cache.kind == "sliding" else ("sparse" if cache.topk else "full")
        for decode in (False, True):
            pairs[span, decode] += attention_flops_per_pair(cfg, group.first, t, decode) * n
            pairs["full", decode] += indexer_flops_per_pair(cfg, group.first) * n
    return StageFacts(
        stage=stage, layers=layers, is_first=first, is_last=last,
        weight_bytes_by_component=by_kind, weight_bytes=total, expert_weight_bytes=experts,
        streamed_weight_bytes=total - experts - gathered,
        layer_caches=tuple(c for c in per_layer[layers.start:layers.stop] if c is not None), cache_counts=counts,
        kv_bytes_per_token_full=kv_full, kv_bytes_per_token_sliding=kv_sliding, kv_bytes_per_token_sparse=kv_sparse,
        state_bytes_per_sequence=state,
        matmul_flops_by_component=flops, matmul_flops_per_token=sum(flops.values()),
        lm_head_flops_per_token=lm_head_flops_per_token(cfg, t) if last else 0.0,
        attn_flops_per_pair_full=pairs["full", False], attn_flops_per_pair_sliding=pairs["sliding", False],
        attn_flops_per_pair_sparse=pairs["sparse", False], attn_decode_flops_per_pair_full=pairs["full", True],
        attn_decode_flops_per_pair_sliding=pairs["sliding", True],
        attn_decode_flops_per_pair_sparse=pairs["sparse", True],
    )


def tower_components(towers: Optional["TowerParameters"]) -> list[WeightComponent]:
    """The towers and projector of a multimodal checkpoint as weight components, kept in the
    unquantized dtype: quantized exports leave them out (compressed-tensors ``ignore`` lists
    ``model.visual.*``, ModelOpt ``exclude_modules`` the vision model), and vLLM's runtime
    ``--quantization fp8`` is an assumption here as well (stated in docs/models.md)."""
    if towers is None:
        return []
    parts = (("vision_tower", towers.vision), ("audio_tower", towers.audio), ("projector", towers.projector))
    return [WeightComponent(kind, None, float(count), 1.0) for kind, count in parts if count > 0]


def _compute(cfg: "ModelConfig", params: "ParameterCount", precision: Precision, t: int, pp: int, ep: int,
             towers: Optional["TowerParameters"], padding: tuple[int, int]) -> DeploymentFacts:
    components = weight_component_groups(cfg, params, precision) + tuple(
        ComponentGroup(comp, ()) for comp in tower_components(towers))
    caches = tuple((group, layer_cache(cfg, precision, group.first, t)) for group in layer_groups(cfg))
    per_layer: list[Optional[LayerCache]] = [None] * cfg.num_hidden_layers
    for group, cache in caches:
        for i in group.layers:
            per_layer[i] = cache
    factor = expert_padding_factor(cfg, t, ep, padding)
    layer_caches = tuple(per_layer)
    stages = tuple(_stage_facts(cfg, components, precision, caches, layer_caches, t, pp, ep, s, factor)
                   for s in range(pp))
    return DeploymentFacts(
        tensor_parallel_size=t, pipeline_parallel_size=pp, expert_parallel_size=ep,
        window=int(cfg.sliding_window or 0), topk=max((c.topk or 0 for c in layer_caches if c is not None), default=0),
        all_layer_caches=tuple(c for c in layer_caches if c is not None),
        all_cache_counts=tuple((c, len(g.layers)) for g, c in caches if c is not None), stages=stages,
    )


def deployment_facts(cfg: "ModelConfig", params: "ParameterCount", precision: Precision, tensor_parallel_size: int = 1,
                     pipeline_parallel_size: int = 1, expert_parallel_size: int = 1,
                     towers: Optional["TowerParameters"] = None,
                     expert_padding: tuple[int, int] = (1, 1)) -> DeploymentFacts:
    """The facts of this deployment, computed once per (config, params, precision, layout, towers).

    ``towers``: the multimodal parts the engine loads (:func:`gpurec_core.towers.tower_parameters`),
    or None when it loads none (a text-only checkpoint, or a text-only deployment);
    ``expert_padding``: :func:`moe_kernel_padding` of the GPU's kernels."""
    t, pp, ep = int(tensor_parallel_size), int(pipeline_parallel_size), int(expert_parallel_size)
    if t < 1 or pp < 1 or ep < 1:
        raise WorkloadError(f"parallel sizes must be >= 1, got TP={t}, PP={pp}, EP={ep}")
    key = ("deployment_facts", id(params), precision, t, pp, ep, towers, tuple(expert_padding))
    return memo_per_config(cfg, key, lambda: _keep(params, _compute(cfg, params, precision, t, pp, ep, towers,
                                                                    tuple(expert_padding))))[1]


def facts_for(model: object, precision: Precision, parallelism: "Parallelism", gpu: Optional["GPUSpec"] = None,
              text_only: bool = False) -> DeploymentFacts:
    """:func:`deployment_facts` of a resolved model (``.config``, ``.parameters``, ``.towers``) on
    ``gpu``'s kernels; the one entry point the memory planners and the estimators call."""
    cfg = model.config  # type: ignore[attr-defined]
    return deployment_facts(cfg, model.parameters, precision,  # type: ignore[attr-defined]
                            parallelism.tensor_parallel_size, parallelism.pipeline_parallel_size,
                            parallelism.expert_parallel_size, towers=towers_loaded(model, text_only),
                            expert_padding=moe_kernel_padding(cfg, precision, gpu))


#: Weight components outside the decoder layers (a draft module's mean layer leaves them out).
OUTSIDE_LAYERS = ("embedding", "lm_head", *TOWER_COMPONENTS)


@dataclass(frozen=True)
class DraftModule:
    """What the draft module of MTP / EAGLE speculative decoding adds on one GPU of the last stage."""

    weight_bytes: float                # one mean decoder layer's weights, as this layout shards them
    kv_cache: Optional[LayerCache]     # the cache its attention layer keeps (None: none, or no draft module)

    @property
    def kv_bytes_per_token(self) -> float:
        return self.kv_cache.bytes if self.kv_cache is not None else 0.0


#: What a deployment without speculative decoding loads for it: nothing.
NO_DRAFT = DraftModule(weight_bytes=0.0, kv_cache=None)


def draft_module(facts: DeploymentFacts) -> DraftModule:
    """The draft module of speculative decoding: one mean decoder layer of the model, sharded like the
    model's layers, whose attention keeps a cache of the model's last attention layer's kind; it shares
    the embedding and the logits matrix with the model.

    DeepSeek-V3's MTP module is one Transformer block of the model's own shape sharing the embedding
    and output head (DeepSeek-V3 technical report, section 2.2; vLLM loads its layer and, in its
    EAGLE/MTP proposer, points its embedding and lm_head at the target's); an EAGLE-3 head is one
    decoder layer of the target's width (its own small lm_head is left out). Its attention is full
    attention where the model has any. The roofline times its
    passes with the same mean layer (gpurec_roofline.step.draft_profile)."""
    layers = sum(len(st.layers) for st in facts.stages)
    held = sum(st.weight_bytes - sum(st.weight_bytes_by_component.get(kind, 0.0) for kind in OUTSIDE_LAYERS)
               for st in facts.stages)
    attention = [c for c in facts.all_layer_caches if c.kind != "state"]
    cache = next((c for c in reversed(attention) if c.kind == "full"), attention[-1] if attention else None)
    return DraftModule(weight_bytes=held / max(1, layers), kv_cache=cache)


def towers_loaded(model: object, text_only: bool) -> Optional["TowerParameters"]:
    """The towers an engine loads for ``model``: none when the deployment is text-only."""
    if text_only:
        return None
    towers = getattr(model, "towers", None)
    return towers if towers is not None and towers.total else None


def _keep(params: object, facts: DeploymentFacts) -> tuple[object, DeploymentFacts]:
    """The cache entry holds ``params`` so that its id, part of the key, is not reused."""
    return params, facts
