"""Engine constants from ``catalogs/engines/{vllm,sglang,trtllm,atom}.toml``, validated by pydantic.

Each constant is a table ``{value = ..., source = "..."}`` (tables of values use ``values`` or
``rows``). A malformed file raises :class:`gpurec_core.errors.CatalogError` naming the file, the
entry and the field.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpurec_core.catalogs import catalog_path, read_catalog_toml
from gpurec_core.errors import CatalogError
from gpurec_core.models import EngineInfo, LaunchFlags


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Constant(_Strict):
    """One number and where it comes from."""

    value: float = Field(description="the constant")
    source: str = Field(min_length=1, description="where the number comes from")


class TPTable(_Strict):
    """A per-tensor-parallel-size table (keys are TP sizes as strings)."""

    values: dict[str, float] = Field(description="TP size -> GiB")
    source: str = Field(min_length=1, description="where the numbers come from")

    def at(self, tp: int) -> float:
        """Value at ``tp``: exact, else the nearest smaller listed size plus the last doubling step."""
        if tp <= 1:
            return 0.0
        table = sorted((int(k), v) for k, v in self.values.items())
        for size, value in table:
            if size == tp:
                return value
        below = [(s, v) for s, v in table if s < tp]
        if not below:
            return table[0][1]
        if len(table) >= 2:
            (s1, v1), (s2, v2) = table[-2], table[-1]
            import math

            step = (v2 - v1) / max(1e-9, math.log2(s2 / s1))
            s0, v0 = below[-1]
            return v0 + step * math.log2(tp / s0)
        return below[-1][1]


class RowsTable(_Strict):
    rows: list[list[float]] = Field(min_length=1, description="table rows")
    source: str = Field(min_length=1, description="where the numbers come from")


class EngineTraits(_Strict):
    """How the engine budgets memory and which layouts it runs (``[engine_info]``)."""

    memory_profile: str = Field(min_length=1)
    pipeline_parallel: bool
    expert_parallel: bool
    data_parallel: bool
    mlp_tp_fits_blocks: bool = False
    default_gpu_memory_utilization: float = Field(gt=0, le=1)
    aliases: tuple[str, ...] = ()
    manufacturers: tuple[str, ...] = ()
    source: str = Field(min_length=1)


class _EngineFile(_Strict):
    engine: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    engine_info: EngineTraits
    launch: LaunchFlags

    def info(self) -> EngineInfo:
        """This engine as the ``list_engines`` hook describes it."""
        traits = self.engine_info
        return EngineInfo(name=self.engine, aliases=traits.aliases, version=self.version, description=self.description,
                          memory_profile=traits.memory_profile, pipeline_parallel=traits.pipeline_parallel,
                          expert_parallel=traits.expert_parallel, data_parallel=traits.data_parallel,
                          mlp_tp_fits_blocks=traits.mlp_tp_fits_blocks,
                          default_gpu_memory_utilization=traits.default_gpu_memory_utilization,
                          manufacturers=traits.manufacturers, schedules_like=self.engine, launch=self.launch)


class VllmConstants(_EngineFile):
    block_size: Constant
    large_gpu_min_gib: Constant
    max_num_batched_tokens_large_gpu: Constant
    max_num_batched_tokens_small_gpu: Constant
    max_num_seqs_large_gpu: Constant
    max_num_seqs_small_gpu: Constant
    sampler_fp32_copies: Constant
    topk_topp_buffer_rows: Constant
    cublas_workspace_gib: Constant
    forward_hidden_multiple: Constant
    non_torch_base_gib: Constant
    non_torch_sampler_rank_gib: Constant
    non_torch_tp_gib: TPTable
    cuda_graph_base_gib: Constant
    cuda_graph_per_layer_gib: Constant
    cuda_graph_tp_exponent: Constant


class SglangConstants(_EngineFile):
    page_size: Constant
    reserved_base_mb: Constant
    reserved_mb_per_activation_token: Constant
    reserved_mb_per_parallel_gpu: Constant
    reserved_mb_per_cuda_graph_bs: Constant
    reserved_floor_mb_large_gpu: Constant
    large_gpu_floor_min_gib: Constant
    min_activation_tokens: Constant
    gpu_size_defaults: RowsTable
    non_torch_tp1_gib: Constant
    non_torch_tp_gib: TPTable
    swa_full_tokens_ratio: Constant
    mamba_full_memory_ratio: Constant
    mamba_ssm_state_bytes: Constant
    mamba_conv_state_bytes: Constant


class TrtllmConstants(_EngineFile):
    kv_cache_free_gpu_memory_fraction: Constant
    tokens_per_block: Constant
    max_num_tokens: Constant
    max_batch_size: Constant
    non_torch_tp1_gib: Constant
    non_torch_tp_gib: TPTable


class AtomConstants(_EngineFile):
    gpu_memory_utilization: Constant
    safety_margin_fraction: Constant
    block_size: Constant
    max_num_batched_tokens: Constant
    max_num_seqs: Constant


SCHEMAS: dict[str, type[_EngineFile]] = {"vllm": VllmConstants, "sglang": SglangConstants, "trtllm": TrtllmConstants,
                                         "atom": AtomConstants}

_cache: dict[tuple[str, str], _EngineFile] = {}
_lock = threading.Lock()


def parse_engine_file(path: Path, engine: str) -> _EngineFile:
    """Read and validate one engine file; CatalogError names the file, entry and field."""
    schema = SCHEMAS[engine]
    data = read_catalog_toml(path, missing="the engine constants file is missing; reinstall gpurec")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        entry = loc[0] if loc else "<file>"
        field = ".".join(loc[1:]) or "value"
        raise CatalogError(
            f"{path}: entry {entry!r}, field {field!r}: {first['msg']} "
            f"({len(exc.errors())} error(s); every constant is a table {{value = ..., source = \"...\"}})"
        ) from None


def engine_constants(engine: str, path: Optional[Path] = None):
    """Validated constants of ``engine`` ('vllm', 'sglang', 'trtllm', 'atom'), cached per file."""
    if engine not in SCHEMAS:
        raise CatalogError(f"no engine constants for {engine!r}; known: {', '.join(SCHEMAS)}")
    path = path or (catalog_path("engines") / f"{engine}.toml")
    key = (engine, str(path))
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            cached = parse_engine_file(path, engine)
            _cache[key] = cached
    return cached


def engine_infos() -> list[EngineInfo]:
    """The engines planned here, as the ``list_engines`` hook describes them."""
    return [engine_constants(engine).info() for engine in SCHEMAS]
