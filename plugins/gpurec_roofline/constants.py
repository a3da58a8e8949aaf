"""The roofline estimator's constants, read from ``catalogs/engines/roofline.toml``.

Nothing numeric about hardware efficiency, communication or engine overheads lives in code:
every value below comes from that file, with its ``source`` string beside it. The file is
validated on load; a bad entry raises :class:`gpurec_core.errors.CatalogError` naming the file,
the entry and the field.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpurec_core.catalogs import catalog_path, read_catalog_toml
from gpurec_core.errors import CatalogError
from gpurec_core.models import GPUSpec

ROOFLINE_FILE = "roofline.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationEfficiency(_Strict):
    """Achievable fractions of a GPU generation's datasheet peaks."""

    match: tuple[str, ...] = Field(default=(), description="substrings of GPUSpec.architecture that select this entry")
    compute_efficiency: dict[str, float] = Field(description="compute dtype -> fraction of dense tensor TFLOPS reached by GEMMs")
    attention_efficiency: float = Field(gt=0, le=1, description="fraction of dense tensor TFLOPS reached by fused attention")
    bandwidth_efficiency: float = Field(gt=0, le=1, description="fraction of peak memory bandwidth reached by weight/KV streaming")
    source: str = Field(min_length=1, description="where these fractions come from")

    def compute_fraction(self, dtype: str) -> float:
        """GEMM efficiency for ``dtype``, falling back to bf16 then the smallest listed value."""
        if dtype in self.compute_efficiency:
            return self.compute_efficiency[dtype]
        return self.compute_efficiency.get("bf16", min(self.compute_efficiency.values()))


class KernelConstants(_Strict):
    """GPU-side costs that no roofline term covers."""

    per_layer_overhead_us: float = Field(ge=0, le=1000, description="launch/tail gaps of one decoder layer's kernels per step, us")
    per_layer_overhead_source: str = Field(min_length=1)


class CommunicationConstants(_Strict):
    """Collective-communication constants (per replica, inside one NVLink/PCIe domain)."""

    link_efficiency: float = Field(gt=0, le=1)
    link_efficiency_source: str = Field(min_length=1)
    allreduce_latency_us: float = Field(ge=0, le=10_000)
    allreduce_latency_source: str = Field(min_length=1)
    alltoall_latency_us: float = Field(ge=0, le=10_000)
    alltoall_latency_source: str = Field(min_length=1)
    p2p_latency_us: float = Field(ge=0, le=10_000)
    p2p_latency_source: str = Field(min_length=1)
    fallback_link_gb_s_per_direction: float = Field(gt=0)
    fallback_link_source: str = Field(min_length=1)
    scale_out_gb_s_per_direction: float = Field(gt=0, description="per-GPU network bandwidth between nodes, GB/s each way")
    scale_out_source: str = Field(min_length=1)
    scale_out_allreduce_latency_us: float = Field(ge=0, le=10_000, description="fixed cost of one all-reduce of a "
                                                  "tensor-parallel group that crosses nodes, us")
    scale_out_allreduce_latency_source: str = Field(min_length=1)
    kv_transfer_latency_us: float = Field(default=0.0, ge=0, le=1_000_000, description="fixed cost of shipping one "
                                          "request's KV cache from a prefill to a decode worker (handshake, "
                                          "block lookup, completion notice), us")
    kv_transfer_latency_source: str = Field(default="not set")

    @property
    def scale_out_alltoall_latency_us(self) -> float:
        """Fixed cost of one MoE exchange phase (all-gather, reduce-scatter, dispatch or combine) of an
        expert-parallel group that crosses nodes, us: half of ``scale_out_allreduce_latency_us``, since an
        all-reduce is a reduce-scatter followed by an all-gather over the same NICs. Derived, not fitted:
        the project data hold no aggregated cross-node MoE exchange (serving_attn_dp_h100.csv records
        4-GPU runs, docs/accuracy.md "Attention data parallelism"). For scale: DeepEP's low-latency
        internode kernels take 77-118 us (dispatch) and 114-195 us (combine) at EP8-EP16 for 128 tokens
        per rank of 7168 hidden, top-8, mostly bandwidth (deepseek-ai/DeepEP README)."""
        return self.scale_out_allreduce_latency_us / 2.0


class EngineConstants(_Strict):
    """Per-engine step overheads and scheduler defaults."""

    step_overhead_ms: float = Field(ge=0, le=1000, description="fixed CPU/launch cost of one engine step, ms")
    per_sequence_overhead_us: float = Field(ge=0, le=10_000, description="step cost per running request, us")
    request_overhead_ms: float = Field(ge=0, le=10_000, description="fixed cost of a request outside the engine steps (HTTP, tokenisation, streaming the first token), ms")
    max_num_batched_tokens: int = Field(ge=1, description="token budget per step where neither the workload nor the "
                                        "memory plan gives one (serving.scheduler_limits)")
    max_num_seqs: int = Field(ge=1, description="cap on running requests where neither the workload nor the memory "
                              "plan gives one (serving.scheduler_limits)")
    prefill_first: bool = Field(description="new prompts are prefilled in batches of their own before decode resumes")
    admission: Literal["current_tokens", "reserve_ratio", "full_reservation"] = Field(
        description="when a waiting request is admitted: 'current_tokens' (its prompt's KV blocks fit now; running "
        "requests that later run out of blocks are preempted, newest first, and recomputed), 'reserve_ratio' (its "
        "prompt plus an adaptive share of its remaining output fit; retraction only when that estimate fails) or "
        "'full_reservation' (blocks for input + output are reserved up front; nothing is ever evicted)")
    admission_source: str = Field(min_length=1, description="the scheduler code or documentation the admission rule comes from")
    reserve_ratio: float = Field(default=0.0, ge=0, le=1, description="'reserve_ratio' engines: share of a running "
                                 "request's remaining output the admission check still reserves once the ratio has "
                                 "decayed (SGLang's new_token_ratio floor)")
    reserve_clip_tokens: int = Field(default=4096, ge=1, description="'reserve_ratio' engines: most output tokens the "
                                     "admission check counts for one request (SGLang's CLIP_MAX_NEW_TOKENS)")
    arrival_wait_steps: float = Field(default=1.0, ge=0, le=50, description="mixed-step engines: how much of the length-biased step in flight (E[T^2]/E[T]) a new request waits before its first chunk, in steps")
    prefill_clustering: float = Field(default=0.0, ge=0, le=100, description="prefill-first engines: coefficient of the wait behind prompts arriving in the same cluster")
    prefill_in_decode_fraction: float = Field(default=1.0, ge=0, le=1, description="prefill-first engines: share of other users' prefill time that falls inside a request's decode phase")
    prefill_clustering_exponent: float = Field(default=1.0, ge=0, le=1, description="prefill-first engines: cluster size grows like users**exponent (1: lockstep)")
    moe_compute_efficiency: float = Field(default=1.0, gt=0, le=1, description="the engine's routed-expert (grouped MoE GEMM) FLOP rate as a fraction of its dense GEMM rate")
    moe_compute_source: str = Field(default="not measured: dense rate assumed", min_length=1, description="where moe_compute_efficiency comes from")
    wide_ep_collectives: Literal["all_to_all", "allgather_reducescatter"] = Field(
        default="all_to_all", description="how an MoE layer whose experts span DP ranks moves tokens: 'all_to_all' (each "
        "token to its k experts' ranks and back) or 'allgather_reducescatter' (every DP rank's hidden states gathered "
        "to every rank, the outputs reduce-scattered back, the TP all-reduce of the MoE output kept)")
    wide_ep_collectives_source: str = Field(default="not set", min_length=1)
    timed_like: Optional[str] = Field(default=None, description="an unmeasured engine's entry names the measured engine "
                                      "whose fitted constants it takes (every field it does not set itself)")
    source: str = Field(min_length=1)


class BenchmarkConstants(_Strict):
    """How the closed-loop benchmark that TTFT is compared with runs (the client, not the engine)."""

    requests_per_user: float = Field(ge=1, description="requests each user sends in one measured run; the first of them arrive all at once")
    client_slot_wait: float = Field(0.0, ge=0, le=2, description="inter-completion gaps a request waits on the client's TTFT clock before it is sent (0: the clock starts when the request is sent)")
    source: str = Field(min_length=1)


class RooflineConstants(_Strict):
    """Everything the roofline estimator reads from ``roofline.toml``."""

    schema_version: int = Field(ge=1)
    efficiency: dict[str, GenerationEfficiency]
    kernels: KernelConstants
    communication: CommunicationConstants
    engines: dict[str, EngineConstants]
    benchmark: BenchmarkConstants

    def generation_of(self, gpu: GPUSpec) -> str:
        """Name of the efficiency entry for ``gpu`` (by its ``architecture``), or ``"default"``."""
        text = f"{gpu.architecture or ''} {gpu.name}".lower()
        for name, entry in self.efficiency.items():
            if any(token.lower() in text for token in entry.match):
                return name
        return "default"

    def efficiency_for(self, gpu: GPUSpec) -> GenerationEfficiency:
        return self.efficiency[self.generation_of(gpu)]

    def engine(self, name: str) -> EngineConstants:
        entry = self.engines.get(name)
        if entry is None:
            raise CatalogError(
                f"{ROOFLINE_FILE} has no [engines.{name}] entry; the roofline estimator knows "
                f"{', '.join(sorted(self.engines))}"
            )
        return entry


def _inherit_timing(engines: object, where: str) -> object:
    """``[engines.X]`` entries with ``timed_like = "Y"`` take every field of ``[engines.Y]`` they do not
    set (an engine without measurements of its own runs on a measured engine's fitted constants, which
    are stored once, in Y's entry)."""
    if not isinstance(engines, dict):
        return engines
    resolved = dict(engines)
    for name, entry in engines.items():
        base = entry.get("timed_like") if isinstance(entry, dict) else None
        if base is None:
            continue
        parent = engines.get(base)
        if not isinstance(parent, dict) or "timed_like" in parent:
            raise CatalogError(f"{where}: entry engines.{name}.timed_like: {base!r} is not a measured engine's "
                               f"entry; name one of {', '.join(sorted(n for n, e in engines.items() if isinstance(e, dict) and 'timed_like' not in e))}")
        resolved[name] = {**parent, **entry}
    return resolved


def parse_constants(data: dict, where: str) -> RooflineConstants:
    """Validate a parsed roofline.toml; errors name the file, the entry and the field."""
    if isinstance(data, dict) and "engines" in data:
        data = {**data, "engines": _inherit_timing(data["engines"], where)}
    try:
        constants = RooflineConstants.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CatalogError(f"{where}: entry {field}: {first['msg']} (fix the value or restore the file)") from None
    if "default" not in constants.efficiency:
        raise CatalogError(f"{where}: needs an [efficiency.default] entry for GPUs of unlisted generations")
    return constants


#: A roofline.toml of the user's to use instead of the bundled one (e.g. to start a calibration from
#: other defaults); read when no path is given.
CONSTANTS_ENV = "GPUREC_ROOFLINE_CONSTANTS"


def load_constants(path: Optional[str] = None) -> RooflineConstants:
    """The bundled roofline constants (or those in ``path``, or in ``$GPUREC_ROOFLINE_CONSTANTS``),
    validated and cached."""
    return _load(path or os.environ.get(CONSTANTS_ENV) or None)


@lru_cache(maxsize=4)
def _load(path: Optional[str]) -> RooflineConstants:
    file = Path(path) if path else catalog_path("engines") / ROOFLINE_FILE
    where = f"{CONSTANTS_ENV}={path}" if path and path == os.environ.get(CONSTANTS_ENV) else "the roofline constants"
    data = read_catalog_toml(file, missing=f"{where} is missing; point it at a roofline.toml or reinstall gpurec")
    return parse_constants(data, str(file))


load_constants.cache_clear = _load.cache_clear  # type: ignore[attr-defined]
