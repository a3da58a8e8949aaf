"""Recommendation results: one candidate deployment, and the ranked list with the seed's methods.

Memory is in GiB (the seed's ``*_gb`` names included), latency in ms, throughput in output
tokens/s for the whole deployment, money in USD. ``to_dict()`` keys are stable and documented
in ``docs/recommend.schema.json``.
"""

from __future__ import annotations

import shlex
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from gpurec_core.models import BAND_METRICS, DisaggregatedDeployment, GPUSpec, MemoryPlan, PerformanceEstimate

CostBasis = Literal["usd_per_million_output_tokens", "usd_per_hour", "gpu_memory_proxy"]


def attention_dp_of(parallel: Any) -> int:
    """Attention DP ranks of one wide-EP unit: ``ep / tp`` when the experts span more GPUs than the
    TP group (EP = TP x DP), else 1 (data-parallel ranks are then independent replicas)."""
    tp, ep = parallel.tensor_parallel_size, parallel.expert_parallel_size
    return ep // tp if ep > tp else 1


def layout_args(flags: Any, tensor_parallel: int, pipeline_parallel: int, expert_parallel: int, attention_dp: int,
                replicas: int = 1, *, replicas_what: str = "replicas behind a router",
                tp_spans_dp: Optional[bool] = None, replicas_as_flag: bool = True) -> tuple[list[str], list[str]]:
    """The layout flags of one engine instance, spelled by ``flags`` (:class:`LaunchFlags`), and what
    the engine has no flag for: TP (counting every GPU of the instance where the engine's TP flag
    spans the attention-DP ranks), PP, EP, the attention-DP ranks of a wide-EP instance, and
    ``replicas`` (the DP flag of independent replicas when ``replicas_as_flag``, else a note, as for
    copies of a wide-EP instance)."""
    spans = flags.tensor_parallel_spans_dp if tp_spans_dp is None else tp_spans_dp
    args = [flags.tensor_parallel, str(tensor_parallel * (attention_dp if spans else 1))]
    missing: list[str] = []

    def add(flag: Optional[str], value: Optional[str], what: str) -> None:
        if flag:
            args.extend([flag] if value is None else [flag, value])
        else:
            missing.append(what)
    if pipeline_parallel > 1:
        add(flags.pipeline_parallel, str(pipeline_parallel), f"{pipeline_parallel} pipeline stages")
    if expert_parallel > 1:
        add(flags.expert_parallel, str(expert_parallel) if flags.expert_parallel_takes_size else None,
            f"expert parallel size {expert_parallel}")
    if attention_dp > 1:  # wide EP: one engine instance spans the DP ranks; the experts span them all
        add(flags.data_parallel, str(attention_dp), f"{attention_dp} attention data-parallel ranks")
        if flags.attention_data_parallel != "":
            add(flags.attention_data_parallel, None, "attention data parallelism")
        if replicas > 1:
            missing.append(f"{replicas} such deployments behind a router")
    elif replicas > 1 and replicas_as_flag:
        add(flags.data_parallel, str(replicas), f"{replicas} {replicas_what}")
    elif replicas > 1:
        missing.append(f"{replicas} {replicas_what}")
    return args, missing


class GPURecommendation(BaseModel):
    """One GPU type in one parallel layout (the seed's fields first)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    gpu_spec: GPUSpec = Field(description="the accelerator")
    tensor_parallel_size: int = Field(ge=1, description="TP degree")
    total_gpus: int = Field(ge=1, description="GPUs for the whole deployment (TP x PP x replicas)")
    model_fits: bool = Field(description="weights, activations and batch_size requests of context_length fit")
    memory_per_gpu_gb: float = Field(description="weights per GPU, GiB")
    available_memory_for_kv_gb: float = Field(description="KV-cache pool per GPU, GiB")
    max_concurrent_requests: int = Field(ge=0, description="requests of context_length tokens the KV pool holds")

    pipeline_parallel_size: int = Field(default=1, ge=1, description="pipeline stages (across nodes when > 1)")
    expert_parallel_size: int = Field(default=1, ge=1, description="GPUs the experts are spread over (1: TP-sharded)")
    data_parallel_size: int = Field(default=1, ge=1, description="replicas needed for the target load")
    nodes: int = Field(default=1, ge=1, description="servers needed")
    memory: MemoryPlan = Field(description="the full per-GPU memory plan (the decode pool's when disaggregated)")
    reasons: tuple[str, ...] = Field(default=(), description="why it does not fit or misses an SLO")
    disaggregated: Optional[DisaggregatedDeployment] = Field(
        default=None, description="prefill and decode pools when the deployment is disaggregated (xPyD); the "
        "fields above then describe the decode pool's GPU and worker, total_gpus both pools")

    @property
    def layout(self) -> str:
        """'TP4', 'TP8xPP2', 'TP8 EP8', with 'x3 replicas' when data-parallel, 'DP4 TP4 EP16' for wide EP,
        '1P H200 TP8 + 2D H100 DP8 TP1 EP8' when disaggregated."""
        if self.disaggregated is not None:
            p, d = self.disaggregated.prefill, self.disaggregated.decode
            return (f"{p.workers}P {p.gpu.name} {self.layout_of(p.parallelism)} + "
                    f"{d.workers}D {d.gpu.name} {self.layout_of(d.parallelism)}")
        return self.layout_of(self)

    @property
    def mode(self) -> str:
        return "disaggregated" if self.disaggregated is not None else "aggregated"

    @property
    def attention_data_parallel_size(self) -> int:
        """DP ranks of one wide-EP unit (EP = TP x DP: the experts span the ranks), else 1."""
        return attention_dp_of(self)

    @staticmethod
    def layout_of(parallel: Any) -> str:
        """The layout name of anything with tensor/pipeline/expert/data-parallel sizes (a Parallelism too)."""
        attention_dp = attention_dp_of(parallel)
        text = f"DP{attention_dp} TP{parallel.tensor_parallel_size}" if attention_dp > 1 else f"TP{parallel.tensor_parallel_size}"
        if parallel.pipeline_parallel_size > 1:
            text += f"xPP{parallel.pipeline_parallel_size}"
        if parallel.expert_parallel_size > 1:
            text += f" EP{parallel.expert_parallel_size}"
        replicas = parallel.data_parallel_size // attention_dp
        if replicas > 1:
            text += f" x{replicas} replicas"
        return text


class Cost(BaseModel):
    """What a deployment costs, from the catalog's dated price per GPU-hour."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    usd_per_hour: Optional[float] = Field(default=None, ge=0, description="all GPUs, per hour")
    usd_per_million_output_tokens: Optional[float] = Field(default=None, ge=0, description="at the loaded throughput")
    usd_per_million_input_tokens: Optional[float] = Field(default=None, ge=0, description="at the loaded throughput")
    price_date: Optional[str] = Field(default=None, description="date of the GPU price")
    price_estimated: bool = Field(default=False, description="the GPU has no catalog price: the $ figures use a "
                                  "labelled estimate (gpurec_core.pricing)")
    price_basis: str = Field(default="", description="where the price per GPU-hour comes from")
    proxy_gpu_memory_gib: float = Field(ge=0, description="GPUs x memory, the ranking proxy when no price is known")

    @property
    def basis(self) -> CostBasis:
        if self.usd_per_million_output_tokens is not None:
            return "usd_per_million_output_tokens"
        if self.usd_per_hour is not None:
            return "usd_per_hour"
        return "gpu_memory_proxy"

    def sort_key(self) -> tuple[int, float]:
        order = {"usd_per_million_output_tokens": 0, "usd_per_hour": 1, "gpu_memory_proxy": 2}[self.basis]
        value = {"usd_per_million_output_tokens": self.usd_per_million_output_tokens,
                 "usd_per_hour": self.usd_per_hour, "gpu_memory_proxy": self.proxy_gpu_memory_gib}[self.basis]
        return order, float(value or 0.0)


class SLOResult(BaseModel):
    """The highest concurrency meeting the TTFT/ITL targets, and the throughput there (goodput)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ttft_slo_ms: Optional[float] = None
    itl_slo_ms: Optional[float] = None
    meets_at_concurrency_1: bool = Field(description="the SLOs hold for a single user")
    max_concurrency: int = Field(ge=0, description="highest concurrency meeting both (0: none)")
    goodput_tokens_per_sec: float = Field(ge=0, description="output tok/s of the deployment at that concurrency")


class Deployment(BaseModel):
    """What the launch command needs to reproduce the plan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    model_id: str
    max_model_len: int
    gpu_memory_utilization: float
    quantization: Optional[str] = None
    dtype: Optional[str] = None
    kv_cache_dtype: Optional[str] = None
    engine: str = "vllm"
    has_towers: bool = False  # the checkpoint carries vision / audio towers
    text_only: bool = False   # and the deployment does not load them
    moe: bool = False  # a mixture-of-experts model (its replicas may need separate engines: launch_command)
    checkpoint_note: Optional[str] = None  # the precision planned needs a checkpoint other than model_id
    speculative_tokens: int = 0  # draft tokens per request per step (speculative decoding; 0: none)
    mtp_layers: bool = False  # the checkpoint has its own MTP layers to draft with (else an EAGLE head is needed)

    def speculative_args(self, flags) -> tuple[list[str], Optional[str]]:
        """The launcher words that turn on this plan's speculative decoding (``flags``: the engine's
        LaunchFlags), and a comment line when the user must fill something in; ([], None) without it."""
        k = self.speculative_tokens
        if not k:
            return [], None
        words = flags.speculative_mtp if self.mtp_layers else flags.speculative_eagle
        args = [w.replace("{drafts}", str(k)).replace("{verified}", str(k + 1)).replace("{draft_model}", "DRAFT_MODEL")
                for w in words]
        comment = None if self.mtp_layers or not args else (
            f"DRAFT_MODEL: an EAGLE-3 draft head trained for {self.model_id} ({self.model_id} has no MTP layers "
            "of its own)")
        return args, comment


_TORCH_DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}

class Recommendation(BaseModel):
    """One candidate: its layout and memory (``recommendation``) and its speed (``performance``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    recommendation: GPURecommendation
    performance: Optional[PerformanceEstimate] = Field(default=None, description="at the workload's batch_size")
    saturation: Optional[PerformanceEstimate] = Field(default=None, description="at the largest concurrency the KV pool holds")
    slo: Optional[SLOResult] = None
    cost: Cost
    deployment: Deployment
    meets_target: bool = Field(default=True, description="enough replicas of it carry the target load (target "
                               "tokens/s or requests/s); False when none can, the reasons say why")

    @property
    def meets_slo(self) -> bool:
        return self.slo is None or self.slo.max_concurrency > 0

    def memory_fraction(self, engine: str) -> float:
        """The value of ``engine``'s memory-fraction flag: the one the memory plan assumed when it planned that
        engine (SGLang's own default mem_fraction_static, or a vLLM fraction lowered to what starts on the
        GPU), else the workload's gpu_memory_utilization."""
        plan = self.recommendation.memory
        if plan.memory_fraction is not None and plan.engine == engine:
            return plan.memory_fraction
        return self.deployment.gpu_memory_utilization

    def launch_command(self, engine: Optional[str] = None) -> str:
        """The command line that reproduces this plan on ``engine`` (default: the engine planned for),
        spelled with the flags the engine's plugin lists; settings the launcher has no flag for
        follow as a shell comment. A replica across nodes gives several lines: the Ray cluster and
        the head node's command (vLLM), or one command per node (SGLang); a precision that needs
        another checkpoint is said on a comment line first."""
        from gpurec_core.errors import WorkloadError
        from gpurec_core.plugins import engine_info

        if self.recommendation.disaggregated is not None:
            from gpurec_core.disagg_launch import launch_disaggregated

            pools = self.recommendation.disaggregated
            if engine and engine != pools.engine:  # the pools' memory fractions are the planned engine's
                pools = pools.model_copy(update={"engine": engine, **{
                    role: getattr(pools, role).model_copy(update={"memory_fraction": None})
                    for role in ("prefill", "decode")}})
            text = launch_disaggregated(pools, self.deployment.model_id, self.deployment.max_model_len,
                                        self.deployment.gpu_memory_utilization)
            if not self.deployment.speculative_tokens:
                return text
            flags = engine_info(pools.engine).launch
            speculative, draft_comment = self.deployment.speculative_args(flags) if flags else ([], None)
            words = shlex.join(speculative) if speculative else "the engine's speculative-decoding flags"
            head = [f"# speculative decoding, {self.deployment.speculative_tokens} draft token(s) per step: add "
                    f"{words} to every decode worker", *([f"# {draft_comment}"] if draft_comment else [])]
            return "\n".join([*head, text])
        info = engine_info(engine or self.deployment.engine)
        flags = info.launch
        if flags is None:
            raise WorkloadError(f"engine {info.name!r} (plugin {info.provided_by!r}) lists no launch command")
        rec, dep = self.recommendation, self.deployment
        attention_dp = rec.attention_data_parallel_size
        replicas = rec.data_parallel_size // attention_dp
        # the DP flag runs replicas inside one node's engine; a MoE model's replicas under vLLM's flag would be one
        # engine with the experts over every rank (LaunchFlags.data_parallel_spans_moe)
        unit_gpus = rec.tensor_parallel_size * rec.pipeline_parallel_size * attention_dp
        replicas_as_flag = (replicas * unit_gpus <= rec.gpu_spec.gpus_per_node
                            and not (dep.moe and flags.data_parallel_spans_moe))
        layout, missing = layout_args(flags, rec.tensor_parallel_size, rec.pipeline_parallel_size,
                                      rec.expert_parallel_size, attention_dp, replicas,
                                      replicas_as_flag=replicas_as_flag)
        args = [*flags.command, dep.model_id, *layout]

        def add(flag: Optional[str], value: Optional[str], what: str) -> None:
            if flag:
                args.extend([flag] if value is None else [flag, value])
            else:
                missing.append(what)
        args += [flags.max_model_len, str(dep.max_model_len),
                 flags.memory_fraction, f"{self.memory_fraction(info.name):g}"]
        if dep.dtype:
            add(flags.dtype, _TORCH_DTYPE_NAMES.get(dep.dtype, dep.dtype), f"dtype {dep.dtype}")
        if dep.quantization:
            add(flags.quantization, dep.quantization, f"{dep.quantization} quantization")
        if dep.kv_cache_dtype:
            add(flags.kv_cache_dtype, flags.fp8_kv_cache_value if dep.kv_cache_dtype == "fp8" else dep.kv_cache_dtype,
                f"{dep.kv_cache_dtype} KV cache")
        if dep.has_towers:  # vLLM skips the towers with --language-model-only; SGLang builds Llama 4's only with --enable-multimodal
            flag = flags.text_only if dep.text_only else flags.multimodal
            args += [flag] if flag else []
        speculative, draft_comment = dep.speculative_args(flags)
        args += speculative
        if dep.speculative_tokens and not speculative:
            missing.append(f"speculative decoding with {dep.speculative_tokens} draft token(s) per step")
        nodes = -(-(rec.tensor_parallel_size * rec.pipeline_parallel_size * attention_dp) // rec.gpu_spec.gpus_per_node)
        lines = [f"# {note}" for note in (dep.checkpoint_note, draft_comment) if note]
        if nodes > 1 and attention_dp > 1 and flags.data_parallel_local and flags.data_parallel_address:
            per_node = attention_dp // nodes
            lines.append(f"# {attention_dp} DP ranks over {nodes} nodes, {per_node} per node: run on every node, "
                         "HEAD_IP the first one's address")
            for node in range(nodes):
                extra = [flags.data_parallel_local, str(per_node), flags.data_parallel_address, "HEAD_IP"]
                if node:
                    extra = ([flags.headless] if flags.headless else []) + extra + [
                        flags.data_parallel_start_rank or "--data-parallel-start-rank", str(node * per_node)]
                lines.append(shlex.join(args + extra))
        elif nodes > 1 and flags.multi_node == "ray":
            lines += [f"# one replica spans {nodes} nodes: start a Ray cluster, then launch on the head node",
                      "ray start --head --port=6379  # on the head node",
                      "ray start --address=HEAD_IP:6379  # on each of the other nodes",
                      shlex.join(args + [flags.ray_executor or "--distributed-executor-backend", "ray"])]
        elif nodes > 1 and flags.multi_node == "per_node":
            lines.append(f"# one replica spans {nodes} nodes: run on every node, HEAD_IP the first one's address")
            lines += [shlex.join(args + [flags.nnodes, str(nodes), flags.node_rank, str(rank), flags.dist_init_addr,
                                         "HEAD_IP:20000"]) for rank in range(nodes)]
        else:
            if nodes > 1:
                missing.append(f"{nodes} nodes per replica")
            lines.append(shlex.join(args))
        if missing:
            lines[-1] += f"  # also: {'; '.join(missing)} (no {info.name} flag)"
        return "\n".join(lines)

    def launch_commands(self) -> dict[str, str]:
        """The command line of every engine with a launcher: the planned engine first."""
        from gpurec_core.plugins import list_engines

        engines = sorted(list_engines(), key=lambda e: e.name != self.deployment.engine)
        split = self.recommendation.disaggregated is not None  # only engines that list a disaggregated launch
        return {e.name: self.launch_command(e.name) for e in engines
                if e.launch is not None and (not split or e.launch.disaggregated is not None)}

    def __str__(self) -> str:
        rec, perf = self.recommendation, self.performance
        text = f"{rec.gpu_spec.name} {rec.layout} ({rec.total_gpus} GPU{'s' if rec.total_gpus > 1 else ''})"
        text += ", fits" if rec.model_fits else ", does not fit: " + "; ".join(rec.reasons)
        if perf is not None and perf.error is None and perf.time_to_first_token_ms is not None:
            text += f", TTFT {perf.time_to_first_token_ms:.1f} ms, ITL {perf.inter_token_latency_ms:.1f} ms"
        if self.cost.usd_per_hour is not None:
            text += f", ${self.cost.usd_per_hour:.2f}/h"
        if self.cost.usd_per_million_output_tokens is not None:
            text += f", ${self.cost.usd_per_million_output_tokens:.2f}/M output tokens"
        return text

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommendation
        return {
            "gpu": rec.gpu_spec.name,
            "gpu_spec": rec.gpu_spec.model_dump(mode="json"),
            "tensor_parallel_size": rec.tensor_parallel_size,
            "pipeline_parallel_size": rec.pipeline_parallel_size,
            "expert_parallel_size": rec.expert_parallel_size,
            "data_parallel_size": rec.data_parallel_size,
            "attention_data_parallel_size": rec.attention_data_parallel_size,
            "total_gpus": rec.total_gpus,
            "nodes": rec.nodes,
            "layout": rec.layout,
            "mode": rec.mode,
            "pools": None if rec.disaggregated is None else {
                pool.role: {"gpu": pool.gpu.name, "workers": pool.workers, "gpus": pool.gpus,
                            "layout": GPURecommendation.layout_of(pool.parallelism),
                            "tensor_parallel_size": pool.parallelism.tensor_parallel_size,
                            "data_parallel_size": pool.parallelism.data_parallel_size,
                            "expert_parallel_size": pool.parallelism.expert_parallel_size, "max_batch": pool.max_batch}
                for pool in (rec.disaggregated.prefill, rec.disaggregated.decode)},
            "model_fits": rec.model_fits,
            "memory_per_gpu_gb": rec.memory_per_gpu_gb,
            "available_memory_for_kv_gb": rec.available_memory_for_kv_gb,
            "max_concurrent_requests": rec.max_concurrent_requests,
            "reasons": list(rec.reasons),
            "memory": rec.memory.model_dump(mode="json"),
            "performance": performance_json(self.performance),
            "saturation": performance_json(self.saturation),
            "slo": None if self.slo is None else self.slo.model_dump(mode="json"),
            "cost": {**self.cost.model_dump(mode="json"), "basis": self.cost.basis},
            "meets_slo": self.meets_slo,
            "meets_target": self.meets_target,
            "launch": self.launch_commands(),
        }


def performance_json(perf: Optional[PerformanceEstimate]) -> Optional[dict[str, Any]]:
    """An estimate as JSON; its ``bands`` also carry the absolute (p10, p90) of each banded figure
    (``time_to_first_token_ms`` ...), computed from the estimate as shown (replicas included)."""
    if perf is None:
        return None
    data = perf.model_dump(mode="json")
    if perf.bands is not None:
        for field in BAND_METRICS:
            band = perf.band(field)
            data["bands"][field] = None if band is None else list(band)
    return data


def _rank_key(item: Recommendation) -> tuple:
    """Default ranking: fits, meets the SLOs and carries the target load first, then cheapest, then fastest."""
    perf = item.performance
    ttft = perf.time_to_first_token_ms if perf is not None and perf.time_to_first_token_ms is not None else float("inf")
    return (not item.recommendation.model_fits, not item.meets_slo, not item.meets_target, item.cost.sort_key(), ttft)


class RecommendationResult:
    """Ranked candidates with the seed's filters, sorts, summary and to_dict."""

    def __init__(self, recommendations: list[Recommendation], *, model_id: str, workload: dict[str, Any],
                 precision: str, kv_cache_dtype: str, notes: tuple[str, ...] = (),
                 routed_expert_precision: Optional[str] = None) -> None:
        self.recommendations = list(recommendations)
        self.model_id = model_id
        self.workload = dict(workload)
        self.precision = precision
        #: the routed experts' format where the checkpoint stores them unlike its other weights (DeepSeek-V4's mxfp4)
        self.routed_expert_precision = routed_expert_precision
        self.kv_cache_dtype = kv_cache_dtype
        self.notes = tuple(notes)
        #: the order of ``recommendations``: "rank" (cheapest meeting the SLOs first), "cost" or "performance"
        self.ordered_by = "rank"

    def _derive(self, items: list[Recommendation]) -> "RecommendationResult":
        derived = RecommendationResult(items, model_id=self.model_id, workload=self.workload,
                                       precision=self.precision, kv_cache_dtype=self.kv_cache_dtype, notes=self.notes,
                                       routed_expert_precision=self.routed_expert_precision)
        derived.ordered_by = self.ordered_by
        return derived

    def __len__(self) -> int:
        return len(self.recommendations)

    def __iter__(self):
        return iter(self.recommendations)

    def __getitem__(self, index: int) -> Recommendation:
        return self.recommendations[index]

    def filter_fitting_only(self) -> "RecommendationResult":
        """Only the candidates where the model fits."""
        return self._derive([r for r in self.recommendations if r.recommendation.model_fits])

    def filter_by_gpu_name(self, name: str) -> "RecommendationResult":
        """Only candidates on this GPU (name or alias, case-insensitive)."""
        if not isinstance(name, str):
            from gpurec_core.errors import WorkloadError

            raise WorkloadError(f"filter_by_gpu_name takes a GPU name such as 'H100', got {name!r:.80}")
        return self._derive([r for r in self.recommendations if r.recommendation.gpu_spec.matches(name)])

    def filter_meeting_slo(self) -> "RecommendationResult":
        """Only candidates that fit and meet the SLOs at concurrency 1 or more."""
        return self._derive([r for r in self.recommendations if r.recommendation.model_fits and r.meets_slo])

    def rank(self) -> "RecommendationResult":
        """Sort in place by the default ranking: cheapest that fits and meets the SLOs first."""
        self.recommendations.sort(key=_rank_key)
        self.ordered_by = "rank"
        return self

    def sort_by_cost(self) -> "RecommendationResult":
        """Sort in place by money: $/M output tokens, else $/hour, else the seed's GPUs x memory proxy.

        Candidates priced in dollars come before those ranked only by the proxy.
        """
        self.recommendations.sort(key=lambda r: (not r.recommendation.model_fits, r.cost.sort_key()))
        self.ordered_by = "cost"
        return self

    def sort_by_performance(self) -> "RecommendationResult":
        """Sort in place by TTFT (lowest first); candidates without an estimate go last."""
        def key(r: Recommendation) -> tuple:
            perf = r.performance
            ttft = perf.time_to_first_token_ms if perf is not None and perf.time_to_first_token_ms is not None else None
            return (not r.recommendation.model_fits, ttft is None, ttft or 0.0)

        self.recommendations.sort(key=key)
        self.ordered_by = "performance"
        return self

    def summary(self, top: Optional[int] = None) -> str:
        """A plain-text table: the seed's columns plus layout and cost."""
        from gpurec_core.formatting import summary_table

        return summary_table(self, top=top)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable, stable keys (schema: docs/recommend.schema.json)."""
        from gpurec_core.formatting import verdict

        return {
            "model_id": self.model_id,
            "verdict": verdict(self),
            "precision": self.precision,
            "kv_cache_dtype": self.kv_cache_dtype,
            "workload": self.workload,
            "notes": list(self.notes),
            "recommendations": [r.to_dict() for r in self.recommendations],
        }
