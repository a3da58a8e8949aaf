"""The value types that flow through gpurec's hooks.

Units are in the field names: memory in GiB (2**30 bytes) — including the seed's ``*_gb``
names, which are kept for compatibility and documented as GiB — latency in ms, throughput in
tokens/s for the whole deployment, bandwidth in TB/s (10**12 bytes/s), compute in dense
TFLOPS (10**12 FLOP/s), prices in USD.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gpurec_core.speculative import MAX_DRAFT_TOKENS, default_acceptance_length

#: Breakdown entries of a PerformanceEstimate that are counts or ratios, not milliseconds: the tokens a request
#: advances per decode step (speculative decoding), a disaggregated decode unit's running requests and the
#: prefill pool's utilisation.
UNITLESS_BREAKDOWN = ("tokens_per_decode_step", "decode_batch_per_unit", "prefill_utilisation")

WeightPrecisionName = Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4", "nvfp4", "mxfp4"]
KVCacheDtypeName = Literal["fp32", "fp16", "bf16", "fp8"]
Bottleneck = Literal["compute", "memory", "communication", "unknown"]

#: Largest prompt, output or context length, in tokens.
MAX_TOKENS = 100_000_000
#: Largest number of concurrent requests.
MAX_CONCURRENCY = 10_000_000
#: Largest tensor-, pipeline- or expert-parallel size.
MAX_PARALLEL_SIZE = 1024
#: Largest number of data-parallel replicas.
MAX_REPLICAS = 100_000
#: Largest number of requests one measured benchmark run sends.
MAX_PROMPTS = 1_000_000_000

#: Largest dense tensor throughput of one accelerator, TFLOPS (10 EFLOPS; a B200 has ~2,250 bf16).
MAX_TFLOPS = 10_000_000
#: Largest price of one GPU-hour, USD.
MAX_PRICE_USD_PER_HOUR = 100_000

#: Bytes per element of each named dtype (storage only, no scales).
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "nvfp4": 0.5,
    "mxfp4": 0.5,
}


def _is_number_field(annotation) -> bool:
    """``int``, ``float`` or an Optional of one (a field a bool or a text must not fill)."""
    kinds = set(get_args(annotation)) - {type(None)} if get_origin(annotation) is Union else {annotation}
    return bool(kinds) and kinds <= {int, float}


_NUMBER_KEYS: dict[type, frozenset] = {}


def _number_keys(cls) -> frozenset:
    """The names and aliases of ``cls``'s number fields (computed once per class)."""
    keys = _NUMBER_KEYS.get(cls)
    if keys is None:
        keys = _NUMBER_KEYS[cls] = frozenset(k for name, field in cls.model_fields.items()
                                             if _is_number_field(field.annotation) for k in (name, field.alias) if k)
    return keys


class _Value(BaseModel):
    """Frozen, strict, self-describing value object: unknown fields are refused. Where ``_REFUSED_AS_NUMBERS``
    is set (the values users fill: a workload, a GPU), a number field does not take those types (pydantic would
    read True as 1 and "80" as 80)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)  # no NaN or inf
    _REFUSED_AS_NUMBERS: ClassVar[tuple[type, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data):
        refused = cls._REFUSED_AS_NUMBERS
        if refused and isinstance(data, dict):
            keys = None
            for key, value in data.items():
                if isinstance(value, refused):
                    keys = keys if keys is not None else _number_keys(cls)
                    if key in keys:
                        raise ValueError(f"{key} must be a number, got {value!r:.40}")
        return data


class GPUSpec(_Value):
    """One accelerator model, as a serving engine sees it.

    ``memory_gb`` (the seed's name) is the engine-visible memory in GiB, e.g. 79.19 for an
    H100 80GB; the vendor's marketing figure is ``memory_marketing_gb``. Every figure in the
    bundled catalog has an entry in ``sources`` naming where it came from.
    """

    _REFUSED_AS_NUMBERS: ClassVar[tuple[type, ...]] = (bool, str)  # a quoted figure in a catalog is a mistake

    name: str = Field(description="canonical name, e.g. 'H100'", min_length=1)
    memory_gib: float = Field(
        alias="memory_gb",
        gt=0,
        le=100_000,
        description="memory a serving engine can allocate, GiB (the seed calls it memory_gb)",
    )
    memory_free_at_start_gib: Optional[float] = Field(
        default=None, gt=0, le=100_000,
        description="memory an engine finds free when it starts, GiB, where the CPU and operating system share the "
                    "GPU's memory (GB10 of DGX Spark); None: all of memory_gib but the engine's own CUDA context")
    tflops: Optional[float] = Field(
        default=None, gt=0, le=MAX_TFLOPS, description="the seed's 'peak FP32 TFLOPS' figure (non-tensor FP32)"
    )
    compute_capability: str = Field(default="", description="CUDA compute capability or vendor ISA, e.g. '9.0', 'gfx942'")
    release_year: Optional[int] = Field(default=None, ge=1990, le=2100, description="year of first release")
    manufacturer: str = Field(default="NVIDIA", description="vendor")

    aliases: tuple[str, ...] = Field(default=(), description="other names accepted in lookups (case-insensitive)")
    architecture: Optional[str] = Field(default=None, description="micro-architecture, e.g. 'Hopper'; picks the roofline's "
                                        "efficiency entry (derived from compute_capability when missing)")
    form_factor: Optional[str] = Field(default=None, description="SXM5, PCIe, OAM, superchip ...")
    memory_marketing_gb: Optional[float] = Field(default=None, gt=0, le=1_000_000, description="vendor memory figure, GB as marketed")
    memory_type: Optional[str] = Field(default=None, description="HBM3, GDDR6 ...")
    bandwidth_tb_s: Optional[float] = Field(default=None, gt=0, le=1000, description="peak memory bandwidth, TB/s")
    tf32_tflops_dense: Optional[float] = Field(default=None, gt=0, le=MAX_TFLOPS, description="dense TF32 tensor TFLOPS")
    bf16_tflops_dense: Optional[float] = Field(default=None, gt=0, le=MAX_TFLOPS, description="dense BF16/FP16 tensor TFLOPS")
    fp16_tflops_dense: Optional[float] = Field(default=None, gt=0, le=MAX_TFLOPS, description="dense FP16 tensor TFLOPS where it differs from BF16 (e.g. V100, T4 have no BF16)")
    fp8_tflops_dense: Optional[float] = Field(default=None, gt=0, le=MAX_TFLOPS, description="dense FP8 tensor TFLOPS; absent when the chip has no FP8 unit")
    fp4_tflops_dense: Optional[float] = Field(default=None, gt=0, le=MAX_TFLOPS, description="dense FP4 tensor TFLOPS; absent when the chip has no FP4 unit")
    int8_tops_dense: Optional[float] = Field(default=None, gt=0, le=MAX_TFLOPS, description="dense INT8 tensor TOPS")
    interconnect: Optional[str] = Field(default=None, description="GPU-to-GPU link, e.g. 'NVLink 4', 'PCIe Gen4'")
    interconnect_gb_s: Optional[float] = Field(default=None, gt=0, le=10_000_000, description="GPU-to-GPU bandwidth per GPU, GB/s, bidirectional total as vendors quote it")
    gpus_per_node: int = Field(default=8, ge=1, le=576, description="GPUs in one server / NVLink domain used for TP")
    tdp_w: Optional[float] = Field(default=None, gt=0, le=1_000_000, description="board power, W")
    price_usd_per_hour: Optional[float] = Field(default=None, gt=0, le=MAX_PRICE_USD_PER_HOUR, description="dated indicative price per GPU-hour, USD")
    price_date: Optional[str] = Field(default=None, description="date the price was read, YYYY-MM-DD")
    confidence: Literal["high", "medium", "low"] = Field(default="medium", description="how well the figures are sourced")
    notes: str = Field(default="", description="caveats")
    sources: dict[str, str] = Field(default_factory=dict, description="field name -> source of that figure")
    provided_by: str = Field(default="", description="plugin that provided this spec (filled by the manager)")

    @model_validator(mode="after")
    def _free_within_total(self) -> "GPUSpec":
        if self.memory_free_at_start_gib is not None and self.memory_free_at_start_gib > self.memory_gib:
            raise ValueError(f"memory_free_at_start_gib {self.memory_free_at_start_gib:g} exceeds memory_gib "
                             f"{self.memory_gib:g}: an engine cannot find more memory free than there is")
        return self

    @property
    def memory_gb(self) -> float:
        """The seed's name for the engine-visible memory, in GiB."""
        return self.memory_gib

    @property
    def free_at_start_gib(self) -> float:
        """Memory an engine finds free when it starts, before its own CUDA context: ``memory_free_at_start_gib``
        where the operating system shares the GPU's memory, else all of ``memory_gib``."""
        return self.memory_free_at_start_gib or self.memory_gib

    @property
    def bf16_tflops(self) -> Optional[float]:
        """Half-precision dense tensor TFLOPS (BF16, or FP16 on chips without BF16)."""
        return self.bf16_tflops_dense or self.fp16_tflops_dense

    def tensor_tflops(self, compute_dtype: str) -> Optional[float]:
        """Dense tensor throughput for a compute dtype, or None when the chip lacks that unit."""
        table = {
            "fp32": self.tf32_tflops_dense or self.tflops,
            "fp16": self.fp16_tflops_dense or self.bf16_tflops_dense,
            "bf16": self.bf16_tflops_dense,
            "fp8": self.fp8_tflops_dense,
            "int8": self.int8_tops_dense,
            "fp4": self.fp4_tflops_dense,
            "nvfp4": self.fp4_tflops_dense,
            "mxfp4": self.fp4_tflops_dense,
        }
        return table.get(compute_dtype)

    @property
    def supports_fp8(self) -> bool:
        """True when the chip has FP8 tensor units (needed for an FP8 KV cache and W8A8-FP8)."""
        return self.fp8_tflops_dense is not None

    def matches(self, name: str) -> bool:
        """True when ``name`` is this GPU's name or an alias, ignoring case, '-', '_' and spaces."""
        key = normalize_gpu_name(name)
        return key == normalize_gpu_name(self.name) or any(key == normalize_gpu_name(a) for a in self.aliases)


def normalize_gpu_name(name: str) -> str:
    """Lookup key for a GPU name: lower case, without '-', '_', ' ' and a leading 'nvidia'/'amd'."""
    key = "".join(ch for ch in name.lower() if ch.isalnum() or ch == ".")
    for prefix in ("nvidia", "amd", "intel"):
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix):]
    return key


class Precision(_Value):
    """How a model's weights and KV cache are stored and computed.

    ``weight_bytes_per_param`` is the storage cost of a *quantized* linear weight including its
    scales and zero points; modules left unquantized (embeddings, lm_head, norms, routers,
    ``modules_to_not_convert``) cost ``unquantized_bytes_per_param``.
    """

    weight: WeightPrecisionName = Field(description="precision of the quantized linear weights")
    weight_bytes_per_param: float = Field(gt=0, le=8, description="bytes per quantized weight, scales included")
    routed_expert_weight: Optional[WeightPrecisionName] = Field(
        default=None, description="format of the routed experts when the checkpoint stores them unlike its other "
        "quantized weights (DeepSeek-V4: MXFP4 experts beside FP8 blocks); None = ``weight``")
    bytes_per_param_by_kind: tuple[tuple[str, float], ...] = Field(
        default=(), description="(weight component kind, bytes per quantized parameter) where a mixed-precision "
        "checkpoint stores kinds in different formats (routed experts NVFP4, attention FP8 ...); kinds not "
        "listed take ``weight_bytes_per_param``")
    unquantized_dtype: WeightPrecisionName = Field(default="bf16", description="dtype of modules left unquantized")
    unquantized_bytes_per_param: float = Field(default=2.0, gt=0, le=8, description="bytes per unquantized parameter")
    compute_dtype: str = Field(default="bf16", description="dtype the matmuls run in (bf16, fp16, fp8, fp4, int8)")
    quant_method: Optional[str] = Field(default=None, description="awq, gptq, fp8, compressed-tensors, modelopt, mxfp4 ... or None")
    modules_not_quantized: tuple[str, ...] = Field(default=(), description="name patterns kept unquantized")
    kv_cache_dtype: KVCacheDtypeName = Field(default="bf16", description="dtype of the KV cache")
    kv_cache_bytes: float = Field(default=2.0, gt=0, le=4, description="bytes per KV-cache element")
    source: str = Field(default="", description="which config field decided this")
    assumed: Optional[str] = Field(
        default=None, description="set when the checkpoint's format is not one gpurec knows: what was guessed, "
        "said as a note of every plan and estimate")
    what_if_note: Optional[str] = Field(
        default=None, description="set when the precision asked for is not the checkpoint's own: what was planned "
        "instead (the typical export in that format) and what the deployment needs (another checkpoint, or the "
        "engine's online quantization)")

    @property
    def is_quantized(self) -> bool:
        return self.quant_method is not None or self.weight in ("fp8", "int8", "int4", "nvfp4", "mxfp4")

    def quantized_bytes_per_param(self, kind: str) -> float:
        """Bytes per quantized parameter of a weight component of ``kind`` (``routed_experts``, ``attention`` ...)."""
        for listed, nbytes in self.bytes_per_param_by_kind:
            if listed == kind:
                return nbytes
        return self.weight_bytes_per_param


class Parallelism(_Value):
    """A parallel layout of one model replica (and how many replicas)."""

    tensor_parallel_size: int = Field(default=1, ge=1, le=MAX_PARALLEL_SIZE, description="GPUs sharing each layer")
    pipeline_parallel_size: int = Field(default=1, ge=1, le=MAX_PARALLEL_SIZE, description="pipeline stages")
    expert_parallel_size: int = Field(default=1, ge=1, le=MAX_PARALLEL_SIZE, description="GPUs the MoE experts are spread over (1: experts are TP-sharded)")
    data_parallel_size: int = Field(default=1, ge=1, le=MAX_REPLICAS, description="data-parallel ranks: replicas "
                                    "of a dense model; attention DP ranks of a MoE model, whose experts span every rank")

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_replica * self.data_parallel_size


#: What takes a deployment's HTTP requests and hands them to the engine: ``"engine"``, the engine's own
#: OpenAI-compatible server (``vllm serve``, ``python -m sglang.launch_server``, ``trtllm-serve``: what gpurec's
#: launch lines start), or ``"dynamo"``, NVIDIA Dynamo's frontend with the engine's Dynamo worker.
Frontend = Literal["engine", "dynamo"]
FRONTENDS: tuple[str, ...] = get_args(Frontend)


class Workload(_Value):
    """What is served and how the engine is configured for it.

    ``concurrency`` is the number of users in a closed loop (each sends its next request when
    the last one ends). ``precision`` is the resolved precision the deployment uses.
    """

    _REFUSED_AS_NUMBERS: ClassVar[tuple[type, ...]] = (bool,)  # True is not a length

    input_length: int = Field(default=1024, ge=1, le=MAX_TOKENS, description="prompt tokens per request")
    output_length: int = Field(default=512, ge=1, le=MAX_TOKENS, description="generated tokens per request")
    concurrency: int = Field(default=1, ge=1, le=MAX_CONCURRENCY, description="concurrent requests (closed loop)")
    max_model_len: Optional[int] = Field(default=None, ge=1, le=MAX_TOKENS, description="engine --max-model-len; None = input + output")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1, description="fraction of GPU memory the engine may use")
    max_num_batched_tokens: Optional[int] = Field(default=None, ge=1, le=MAX_TOKENS, description="engine token budget per step; None = engine default")
    max_num_seqs: Optional[int] = Field(default=None, ge=1, le=MAX_CONCURRENCY, description="engine max sequences per step; None = engine default")
    precision: Precision = Field(description="resolved weight/KV precision for this deployment")
    text_only: bool = Field(default=False, description="serve text only: the engine does not load a multimodal "
                            "checkpoint's vision/audio towers (vLLM --language-model-only)")
    frontend: Frontend = Field(default="engine", description="what takes the requests: the engine's own server "
                               "('engine') or NVIDIA Dynamo's frontend ('dynamo'); it sets the time a request spends "
                               "outside the engine's steps")
    speculative_tokens: int = Field(default=0, ge=0, le=MAX_DRAFT_TOKENS, description="draft tokens per request "
                                    "per step (MTP / EAGLE speculative decoding); 0 = none")
    acceptance_length: Optional[float] = Field(default=None, ge=1, le=MAX_DRAFT_TOKENS + 1, description=(
        "tokens a request advances per speculative step on average (accepted drafts + 1); None = "
        "the median of InferenceX's golden curves for that many drafts (gpurec_core.speculative)"))
    num_prompts: Optional[int] = Field(default=None, ge=1, le=MAX_PROMPTS, description=(
        "requests a measured benchmark run sends in all (vllm bench serve --num-prompts, aiperf --request-count): "
        "the first `concurrency` of them arrive at once, so it sets the start-up burst's share of the mean TTFT; "
        "None = a run of many requests per user (the estimator's assumption)"))

    @model_validator(mode="after")
    def _prompts_fill_the_users(self):
        n, c = self.num_prompts, self.concurrency
        if n is not None and n < c:
            raise ValueError(f"num_prompts {n:,} is fewer than concurrency {c:,}: a run of {n:,} requests never has "
                             f"more than {n:,} in flight, so pass concurrency={n:,}")
        return self

    @model_validator(mode="after")
    def _acceptance_fits_drafts(self):
        k, a = self.speculative_tokens, self.acceptance_length
        if a is not None and k == 0:
            raise ValueError(f"acceptance_length {a:g} needs speculative_tokens of 1 or more (the draft tokens "
                             "per step it accepts from)")
        if a is not None and a > k + 1:
            raise ValueError(f"acceptance_length {a:g} exceeds 1 + speculative_tokens = {k + 1}: a step accepts "
                             "at most its drafts and the verifier's own token")
        return self

    @property
    def tokens_per_step(self) -> float:
        """Tokens a decoding request advances per engine step: 1, or the acceptance length (given, or
        the default for its drafts) with speculative decoding."""
        if self.speculative_tokens == 0:
            return 1.0
        return self.acceptance_length or default_acceptance_length(self.speculative_tokens)

    @property
    def context_length(self) -> int:
        """The longest sequence the engine must hold: max_model_len, or input + output."""
        return self.max_model_len or (self.input_length + self.output_length)


class MemoryPlan(_Value):
    """Per-GPU memory accounting in the engine's own terms (GiB, rank 0)."""

    engine: str = Field(description="engine profile used (vllm, sglang, trtllm)")
    total_gib: float = Field(ge=0, description="engine-visible GPU memory")
    budget_gib: float = Field(ge=0, description="memory the engine may use (total x utilization)")
    weights_gib: float = Field(ge=0, description="weights on this GPU")
    activation_gib: float = Field(ge=0, description="peak activation memory of the profiling step")
    non_torch_gib: float = Field(ge=0, description="CUDA context, NCCL buffers and other non-torch memory")
    cuda_graph_gib: float = Field(ge=0, description="CUDA-graph memory, taken from the headroom after the budget")
    kv_cache_gib: float = Field(description="KV-cache pool; negative means the model does not fit")
    kv_cache_tokens: int = Field(ge=0, description="tokens the KV pool holds (whole blocks)")
    kv_bytes_per_token: float = Field(ge=0, description="KV bytes per token on this GPU, all layers")
    block_size: int = Field(default=16, ge=1, description="KV block size in tokens")
    max_model_len: int = Field(ge=1, description="the context length the plan is for")
    max_concurrency: float = Field(ge=0, description="requests of max_model_len tokens the pool holds at once")
    max_num_batched_tokens: Optional[int] = Field(default=None, ge=1, description="tokens the engine schedules per "
                                                  "step with this plan: its default on this GPU, or the workload's")
    max_num_seqs: Optional[int] = Field(default=None, ge=1, description="requests the engine runs at once with this "
                                        "plan (default or the workload's); None: only the KV pool limits them")
    fits: bool = Field(description="weights, activations and one full-length request fit")
    reason: str = Field(default="", description="why it does not fit, or ''")
    notes: tuple[str, ...] = Field(default=(), description="assumptions made")
    memory_fraction: Optional[float] = Field(
        default=None, gt=0, le=1,
        description="what the engine's memory-fraction flag takes in this plan (vLLM --gpu-memory-utilization, "
                    "SGLang --mem-fraction-static, TensorRT-LLM --kv_cache_free_gpu_memory_fraction), for its "
                    "launch line; None: the workload's gpu_memory_utilization")


#: PerformanceEstimate field -> the measurement-file metric its band comes from.
BAND_METRICS: dict[str, str] = {"time_to_first_token_ms": "ttft_ms", "inter_token_latency_ms": "itl_ms",
                                "throughput_tokens_per_sec": "output_tok_s"}


class PerformanceBands(_Value):
    """Where the measured value is expected to fall around an estimate: the 10th and 90th percentiles
    of measured / predicted on the estimator's validation data, for the estimate's engine and regime.

    The bands are factors of the point estimate (p10 = estimate x low factor), so they stay right
    when a deployment is scaled (replicas multiply throughput): ``PerformanceEstimate.band`` gives
    the absolute p10 and p90. A factor pair need not contain 1: a cell whose measurements are all
    above (or below) the estimate has a band that excludes the estimate itself.
    """

    ttft_factors: tuple[float, float] = Field(description="(p10, p90) of measured / predicted TTFT")
    itl_factors: tuple[float, float] = Field(description="(p10, p90) of measured / predicted ITL")
    throughput_factors: tuple[float, float] = Field(description="(p10, p90) of measured / predicted output tokens/s")
    regimes: dict[str, str] = Field(description="metric (ttft_ms, itl_ms, output_tok_s) -> the estimate's regime")
    fitted_on: dict[str, str] = Field(description="metric -> the table cell (engine.metric.regime) and rows the band "
                                      "was fitted on")
    source: str = Field(min_length=1, description="the band table, how and when it was generated")

    @field_validator("ttft_factors", "itl_factors", "throughput_factors")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not (0 < low < high and math.isfinite(high)):
            raise ValueError(f"needs 0 < p10 factor < p90 factor, both finite; got {value}")
        return value

    def factors(self, field: str) -> tuple[float, float]:
        """The (p10, p90) factors of a PerformanceEstimate field named in :data:`BAND_METRICS`."""
        return {"time_to_first_token_ms": self.ttft_factors, "inter_token_latency_ms": self.itl_factors,
                "throughput_tokens_per_sec": self.throughput_factors}[field]


class PerformanceEstimate(_Value):
    """Estimated serving performance of one deployment (the seed's fields first)."""

    time_to_first_token_ms: Optional[float] = Field(default=None, ge=0, description="mean TTFT, ms")
    inter_token_latency_ms: Optional[float] = Field(default=None, ge=0, description="mean time between output tokens, ms")
    throughput_tokens_per_sec: Optional[float] = Field(default=None, ge=0, description="output tokens/s of the whole deployment")
    max_batch_size: Optional[int] = Field(default=None, ge=0, description="largest decode batch the engine runs")
    max_concurrent_requests: Optional[int] = Field(default=None, ge=0, description="requests the KV pool holds at the workload's context length")
    error: Optional[str] = Field(default=None, description="why the estimate could not be made")

    e2e_latency_ms: Optional[float] = Field(default=None, ge=0, description="TTFT + (output_length - 1) x ITL, ms")
    input_tokens_per_sec: Optional[float] = Field(default=None, ge=0, description="prompt tokens/s processed by the deployment")
    requests_per_sec: Optional[float] = Field(default=None, ge=0, description="completed requests/s")
    concurrency: Optional[int] = Field(default=None, ge=1, description="concurrency the estimate is for")
    bottleneck: Bottleneck = Field(default="unknown", description="what limits the decode step")
    estimator: str = Field(default="", description="estimator that produced this")
    breakdown: dict[str, float] = Field(default_factory=dict, description="named components, ms (those named in "
                                        "UNITLESS_BREAKDOWN are counts or ratios)")
    notes: tuple[str, ...] = Field(default=(), description="what the estimate assumes beyond the request, e.g. a "
                                   "precision the checkpoint is not in (the export it needs)")
    bands: Optional[PerformanceBands] = Field(default=None, description="p10-p90 uncertainty of TTFT, ITL and "
                                              "throughput, as factors of the estimate (None: the estimator has none)")

    def band(self, field: str) -> Optional[tuple[float, float]]:
        """(p10, p90) of ``time_to_first_token_ms``, ``inter_token_latency_ms`` or
        ``throughput_tokens_per_sec`` in its unit, or None without a band or a value."""
        value = getattr(self, field)
        if self.bands is None or value is None:
            return None
        low, high = self.bands.factors(field)
        return value * low, value * high

    @property
    def ttft_band(self) -> Optional[tuple[float, float]]:
        """(p10, p90) TTFT, ms."""
        return self.band("time_to_first_token_ms")

    @property
    def itl_band(self) -> Optional[tuple[float, float]]:
        """(p10, p90) inter-token latency, ms."""
        return self.band("inter_token_latency_ms")

    @property
    def throughput_band(self) -> Optional[tuple[float, float]]:
        """(p10, p90) output tokens/s of the deployment."""
        return self.band("throughput_tokens_per_sec")

    @property
    def ttft_ms(self) -> Optional[float]:
        return self.time_to_first_token_ms

    @property
    def itl_ms(self) -> Optional[float]:
        return self.inter_token_latency_ms

    @property
    def output_tokens_per_sec(self) -> Optional[float]:
        return self.throughput_tokens_per_sec

    @property
    def max_concurrency(self) -> Optional[int]:
        return self.max_concurrent_requests


class Pool(_Value):
    """One pool of a disaggregated deployment: ``workers`` engine instances of one layout on one GPU type."""

    role: Literal["prefill", "decode"] = Field(description="what the pool's workers run")
    gpu: GPUSpec
    parallelism: Parallelism = Field(description="one worker's layout (data_parallel_size: its attention-DP ranks)")
    workers: int = Field(ge=1, le=MAX_REPLICAS, description="engine instances in the pool")
    max_batch: Optional[int] = Field(default=None, ge=1, description="largest batch one worker (DP rank) runs; None: its KV pool and engine default")
    memory_fraction: Optional[float] = Field(
        default=None, gt=0, le=1,
        description="what the engine's memory-fraction flag takes on this pool's workers, as its memory plan "
                    "assumed (MemoryPlan.memory_fraction); None: the deployment's gpu_memory_utilization")

    @property
    def gpus(self) -> int:
        return self.parallelism.total_gpus * self.workers


class DisaggregatedDeployment(_Value):
    """Prefill and decode in separate pools (xPyD), the KV cache of each request shipped between them."""

    prefill: Pool
    decode: Pool
    engine: str = Field(default="vllm", description="serving engine of both pools")
    kv_link: str = Field(default="auto", description="how the KV cache travels: 'nvlink' (same NVLink domain), "
                         "'network' (per-GPU RDMA NIC between nodes), or 'auto' (NVLink when both pools fit one domain "
                         "of the same GPU type)")

    @property
    def total_gpus(self) -> int:
        return self.prefill.gpus + self.decode.gpus

    @property
    def link(self) -> str:
        """'nvlink' or 'network': ``kv_link``, with 'auto' resolved to NVLink when both pools are of one
        GPU type and fit one NVLink domain (``gpus_per_node``: an HGX node, an NVL72 rack)."""
        if self.kv_link != "auto":
            return self.kv_link
        same = self.prefill.gpu.name == self.decode.gpu.name
        return "nvlink" if same and self.total_gpus <= self.prefill.gpu.gpus_per_node else "network"


class EstimatorInfo(_Value):
    """An estimator a plugin offers, and whether it can run on this machine."""

    name: str = Field(min_length=1, description="name users pass as estimator=...")
    usable: bool = Field(description="True when it can run here")
    description: str = Field(default="", description="one line on what it is")
    reason: str = Field(default="", description="why it is not usable, and how to fix it")
    provided_by: str = Field(default="", description="plugin that provides it (filled by the manager)")


class LaunchFlags(_Value):
    """How an engine's launcher spells each setting of a plan (None: the engine has no such flag).

    ``command`` comes first, then the model id; flags that take a value are followed by it.
    """

    command: tuple[str, ...] = Field(min_length=1, description="launcher words before the model id, e.g. ('vllm', 'serve')")
    tensor_parallel: str = Field(min_length=1, description="flag taking the tensor-parallel size")
    pipeline_parallel: Optional[str] = Field(default=None, description="flag taking the pipeline-parallel size")
    expert_parallel: Optional[str] = Field(default=None, description="flag enabling expert parallelism")
    expert_parallel_takes_size: bool = Field(default=False, description="the expert flag takes the EP size as its value")
    data_parallel: Optional[str] = Field(default=None, description="flag taking the number of replicas")
    data_parallel_spans_moe: bool = Field(
        default=False, description="the data-parallel flag makes one engine whose MoE layers span every rank "
        "(vLLM), so replicas of a MoE deployment are separate engines behind a router, not this flag")
    attention_data_parallel: Optional[str] = Field(
        default=None, description="flag that makes the data-parallel ranks share the experts (SGLang "
        "--enable-dp-attention); '' when the data-parallel flag with expert parallelism already does (vLLM); "
        "None when the launcher has no flag for it")
    tensor_parallel_spans_dp: bool = Field(default=False, description="with attention data parallelism the "
                                           "tensor-parallel flag takes every GPU of the instance, TP x DP (SGLang)")
    data_parallel_local: Optional[str] = Field(default=None, description="flag taking the DP ranks on this node (vLLM multi-node DP)")
    data_parallel_start_rank: Optional[str] = Field(default=None, description="flag taking this node's first DP rank")
    data_parallel_address: Optional[str] = Field(default=None, description="flag taking the head node's address for DP")
    headless: Optional[str] = Field(default=None, description="flag that starts a node without an API server (its DP ranks join the head's)")
    max_model_len: str = Field(min_length=1, description="flag taking the context length")
    memory_fraction: str = Field(min_length=1, description="flag taking the fraction of GPU memory the engine may use")
    dtype: Optional[str] = Field(default=None, description="flag taking the activation dtype (bfloat16, float16)")
    quantization: Optional[str] = Field(default=None, description="flag taking an online quantization method")
    kv_cache_dtype: Optional[str] = Field(default=None, description="flag taking the KV-cache dtype")
    fp8_kv_cache_value: str = Field(default="fp8", description="the value the KV-cache flag takes for an fp8 cache")
    text_only: Optional[str] = Field(default=None, description="flag that skips a multimodal checkpoint's towers")
    multimodal: Optional[str] = Field(default=None, description="flag needed to load a multimodal checkpoint's towers")
    multi_node: Optional[Literal["ray", "per_node"]] = Field(
        default=None, description="how one replica spans nodes: 'ray' (start a Ray cluster, launch once on the head "
        "node with ray_executor), 'per_node' (launch on every node with nnodes / node_rank / dist_init_addr)")
    ray_executor: Optional[str] = Field(default=None, description="flag selecting the Ray executor ('ray' style)")
    nnodes: Optional[str] = Field(default=None, description="flag taking the number of nodes ('per_node' style)")
    node_rank: Optional[str] = Field(default=None, description="flag taking this node's rank ('per_node' style)")
    dist_init_addr: Optional[str] = Field(default=None, description="flag taking the head node's address:port")
    speculative_mtp: tuple[str, ...] = Field(default=(), description="words that turn on speculative decoding "
                                             "with the checkpoint's own MTP layers; {drafts} is replaced by the "
                                             "draft tokens per step and {verified} by one more; (): no flag")
    speculative_eagle: tuple[str, ...] = Field(default=(), description="the same with a separate EAGLE draft head "
                                               "({draft_model}: its checkpoint, which the user fills in)")
    speculative_source: Optional[str] = Field(default=None, description="where the speculative flags come from")
    source: str = Field(min_length=1, description="where the flag names come from (the engine's argument parser)")

    class Disaggregated(_Value):
        """``[launch.disaggregated]``: how the launcher starts the prefill and decode workers of a
        disaggregated deployment and the router between them. Strings may hold placeholders:
        {host} {port} {bootstrap_port} {side_channel_port} (per worker); in ``router`` and ``files``
        also {prefill_hosts} {prefill_ports} {decode_hosts} {decode_ports} {prefill_workers}
        {decode_workers} (whole words, one or more words per worker), {prefill_urls} {decode_urls}
        {prefill_count} {decode_count} {prefill_attention_dp} {decode_attention_dp} {max_model_len}."""

        env: dict[str, str] = Field(default_factory=dict, description="environment of every worker")
        nvlink_env: dict[str, str] = Field(default_factory=dict, description="added to env when the KV cache travels over NVLink")
        worker_args: tuple[str, ...] = Field(default=(), description="flags every worker takes")
        prefill_args: tuple[str, ...] = Field(default=(), description="flags only prefill workers take")
        decode_args: tuple[str, ...] = Field(default=(), description="flags only decode workers take")
        prefill_port: int = Field(ge=1, le=65535, description="{port} of the first prefill worker on a node (the next one there: +1)")
        decode_port: int = Field(ge=1, le=65535, description="{port} of the first decode worker on a node (the next one there: +1)")
        bootstrap_port: Optional[int] = Field(default=None, ge=1, le=65535, description="{bootstrap_port} of the first worker on a node (+1 each next one)")
        side_channel_port: Optional[int] = Field(default=None, ge=1, le=65535, description="{side_channel_port} of the first worker on a node; a worker takes one port per GPU")
        base_gpu: Optional[str] = Field(default=None, description="flag taking a worker's first GPU when workers share a node; None: CUDA_VISIBLE_DEVICES")
        max_batch: Optional[str] = Field(default=None, description="flag taking a worker's largest batch per data-parallel rank")
        max_batch_spans_attention_dp: bool = Field(default=False, description="the max_batch flag counts all attention-DP ranks of a worker")
        attention_dp_in_files: bool = Field(default=False, description="attention DP is switched on in files ({*_attention_dp}), not by a "
                                            "flag; the tensor-parallel flag then takes TP x DP (TensorRT-LLM enable_attention_dp)")
        files: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="config files to write first: name -> lines")
        router: tuple[str, ...] = Field(min_length=1, description="the router / proxy command")
        router_prefill: tuple[str, ...] = Field(default=(), description="the words {prefill_workers} stands for, once per prefill worker")
        router_decode: tuple[str, ...] = Field(default=(), description="the words {decode_workers} stands for, once per decode worker")
        notes: tuple[str, ...] = Field(default=(), description="comment lines shown above the commands")
        source: str = Field(min_length=1, description="where the flags, ports and files come from")

    disaggregated: Optional[Disaggregated] = Field(default=None, description="prefill/decode-disaggregated launch; None: not listed")


class EngineInfo(_Value):
    """A serving engine a plugin can plan memory for: its profile, the layouts it runs, its launcher."""

    name: str = Field(min_length=1, description="name users pass as engine=...")
    aliases: tuple[str, ...] = Field(default=(), description="other names benchmark files and users give it "
                                     "(matched ignoring case, spaces, '-', '_' and '.', as the name is)")
    version: str = Field(default="", description="the engine version the memory profile follows")
    description: str = Field(default="", description="one line on the engine")
    memory_profile: str = Field(default="", description="how the engine budgets GPU memory, in one line")
    pipeline_parallel: bool = Field(default=True, description="runs pipeline-parallel stages")
    expert_parallel: bool = Field(default=True, description="runs MoE experts expert-parallel")
    data_parallel: bool = Field(default=True, description="runs data-parallel replicas")
    mlp_tp_fits_blocks: bool = Field(default=False, description="runs a dense MLP and the shared experts at fewer "
                                     "tensor-parallel ranks when their width per rank would not fit the "
                                     "checkpoint's quantization blocks, instead of refusing the layout")
    default_gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1,
                                                  description="fraction of GPU memory it takes when not told")
    manufacturers: tuple[str, ...] = Field(default=(), description="the GPU makers it runs on, as GPUSpec.manufacturer "
                                           "names them (NVIDIA, AMD, Intel); empty: any")
    schedules_like: Optional[str] = Field(default=None, description="a built-in engine (vllm, sglang, trtllm) whose "
                                          "step scheduling estimators may assume for this one; None: its own name")
    launch: Optional[LaunchFlags] = Field(default=None, description="its launcher's flags; None: no launch line")
    provided_by: str = Field(default="", description="plugin that provides it (filled by the manager)")
