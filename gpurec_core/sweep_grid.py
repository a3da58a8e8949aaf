"""Sweeps: the performance of many (model x GPU x layout x workload) points, as numpy arrays.

>>> result = sweep(["Qwen/Qwen3-32B"], ["H100", "H200"], input_lengths=[1024, 4096],   # doctest: +SKIP
...                output_lengths=[256], concurrencies=[1, 8, 64])
>>> result.num_points, result.ttft_ms[:3]                                             # doctest: +SKIP

A point is one (model, GPU, layout, input length, output length, concurrency) with its own
TTFT, inter-token latency and throughput. Each (model, GPU, layout) gets its memory plan once,
through the ``estimate_memory`` hook, for an engine configured with ``max_model_len`` (the
longest request of the grid unless given); the workload grid is then estimated in one
``estimate_performance_batch`` call, which the roofline answers in a few numpy calls (an
estimator without a batch form is asked point by point by the core).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from gpurec_core.errors import WorkloadError
from gpurec_core.models import MAX_CONCURRENCY, MAX_TOKENS, GPUSpec, Parallelism

@dataclass(frozen=True)
class SweepResult:
    """One entry per point in every array; NaN latencies and throughput where a point has no estimate.

    ``fits`` is the memory plan of the point's (model, GPU, layout); ``estimated`` says the
    point has its own estimate (the plan fits and one request of input + output tokens fits the
    KV pool). ``output_tok_s`` is output tokens/s of the deployment at that concurrency.
    """

    model: np.ndarray
    gpu: np.ndarray
    tp: np.ndarray
    ep: np.ndarray
    input: np.ndarray
    output: np.ndarray
    concurrency: np.ndarray
    fits: np.ndarray
    kv_cache_tokens: np.ndarray
    estimated: np.ndarray
    ttft_ms: np.ndarray
    itl_ms: np.ndarray
    output_tok_s: np.ndarray
    max_model_len: np.ndarray
    engine: str
    estimator: str

    _COLUMNS = ("model", "gpu", "tp", "ep", "input", "output", "concurrency", "fits", "kv_cache_tokens", "estimated",
                "ttft_ms", "itl_ms", "output_tok_s", "max_model_len")

    @property
    def num_points(self) -> int:
        """Points in the sweep, estimated or not."""
        return len(self.tp)

    @property
    def num_estimated(self) -> int:
        """Points with their own TTFT, ITL and throughput."""
        return int(np.count_nonzero(self.estimated))

    def __len__(self) -> int:
        return self.num_points

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per point with plain Python values (None where a point has no estimate)."""
        columns = [(name, getattr(self, name).tolist()) for name in self._COLUMNS]
        rows = []
        for i in range(self.num_points):
            row = {name: values[i] for name, values in columns}
            if not row["estimated"]:
                row.update(ttft_ms=None, itl_ms=None, output_tok_s=None)
            rows.append(row)
        return rows


def _lengths(name: str, values: Sequence[int], maximum: int) -> np.ndarray:
    from gpurec_core.api import check_positive

    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        values = [int(values)]
    try:
        values = list(values) if values is not None and not isinstance(values, str) else None
    except TypeError:
        values = None
    if values is None:
        raise WorkloadError(f"{name} must be a list of positive integers, e.g. {name}=[1024]")
    if not values:
        raise WorkloadError(f"{name} must list at least one value, e.g. {name}=[1024]")
    for value in values:
        check_positive(name, int(value) if isinstance(value, np.integer) else value, maximum=maximum)
    return np.asarray(values, dtype=np.int64)


def _layouts(arch, gpu: GPUSpec, engine: str, tensor_parallel_sizes: Optional[set[int]]) -> list[Parallelism]:
    from gpurec_core.recommend import candidate_layouts

    layouts = candidate_layouts(arch, gpu, engine, None, None)
    if tensor_parallel_sizes is None:
        return layouts
    return [layout for layout in layouts if layout.tensor_parallel_size in tensor_parallel_sizes]


def sweep(
    models: Sequence[Union[str, Any]],
    gpus: Optional[Sequence[Union[str, GPUSpec]]] = None,
    *,
    tensor_parallel_sizes: Optional[Sequence[int]] = None,
    input_lengths: Sequence[int],
    output_lengths: Sequence[int],
    concurrencies: Sequence[int],
    engine: str = "vllm",
    estimator: str = "roofline",
    precision: Optional[str] = None,
    kv_cache_dtype: Optional[str] = None,
    max_model_len: Optional[int] = None,
    gpu_memory_utilization: float = 0.9,
    hf_token: Optional[str] = None,
    frontend: str = "engine",
) -> SweepResult:
    """Estimate every (model, GPU, layout, input, output, concurrency) point of a grid.

    ``models``: ids, paths or :class:`ModelArchitecture` objects (or one of them). ``gpus``: names
    or specs (or one); None for the whole catalog. Layouts: each tensor-parallel size the engine
    accepts within one node (``tensor_parallel_sizes`` keeps only those listed), plus expert
    parallelism over the same GPUs for MoE models, as ``recommend_gpus`` tries them.
    ``precision`` / ``kv_cache_dtype`` override every model's inferred precision. The engine is
    configured for ``max_model_len`` tokens (default: the longest input + the longest output).
    ``frontend``: what takes the requests, the engine's own server or NVIDIA Dynamo's frontend
    (gpurec_core.models.Frontend).
    """
    from gpurec_core.api import _build, as_gpu, as_model, check_engine, check_estimator
    from gpurec_core.models import Workload
    from gpurec_core.batch import DeploymentSet, PerformanceBatch
    from gpurec_core.plugins import estimate_performance_batch, gpu_catalog
    from gpurec_core.recommend import _plan, gpu_list

    engine = check_engine(engine)
    check_estimator(estimator)
    if isinstance(models, str) or not isinstance(models, Sequence):
        models = [models]
    if not models:
        raise WorkloadError("models must name at least one model")
    I = _lengths("input_lengths", input_lengths, MAX_TOKENS)
    O = _lengths("output_lengths", output_lengths, MAX_TOKENS)
    C = _lengths("concurrencies", concurrencies, MAX_CONCURRENCY)
    tp_filter = None if tensor_parallel_sizes is None else \
        {int(t) for t in _lengths("tensor_parallel_sizes", tensor_parallel_sizes, 1024)}
    context = int(I.max() + O.max()) if max_model_len is None else max_model_len
    if max_model_len is not None:
        from gpurec_core.api import check_positive

        check_positive("max_model_len", max_model_len, maximum=MAX_TOKENS)
    gpus = gpu_list("gpus", gpus)
    specs = [as_gpu(g) for g in gpus] if gpus is not None else gpu_catalog().specs
    archs = [as_model(m, hf_token) for m in models]

    # The memory plan once per (model, GPU, layout), through the hook facade.
    deployments: list[tuple] = []
    for arch in archs:
        workload = _build(Workload, "workload", input_length=int(I.max()), output_length=int(O.max()),
                          max_model_len=context, gpu_memory_utilization=gpu_memory_utilization,
                          precision=arch.resolve_precision(precision, kv_cache_dtype), frontend=frontend)
        for gpu in specs:
            for layout in _layouts(arch, gpu, engine, tp_filter):
                deployments.append((arch, gpu, layout, workload, _plan(arch, gpu, layout, workload, engine)))

    # The workload grid of every deployment: deployment-major, then input, output, concurrency.
    grid_i, grid_o, grid_c = (a.reshape(-1) for a in np.meshgrid(I, O, C, indexing="ij"))
    per = len(grid_i)
    count = len(deployments)
    rows = np.repeat(np.arange(count, dtype=np.intp), per)
    inputs, outputs, users = np.tile(grid_i, count), np.tile(grid_o, count), np.tile(grid_c, count)
    fits = np.array([d[4].fits for d in deployments], dtype=bool)
    kv_tokens = np.array([d[4].kv_cache_tokens for d in deployments], dtype=np.int64)
    n = len(rows)
    ttft, itl, tok_s = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    wanted = np.flatnonzero(fits[rows] & (kv_tokens[rows] >= inputs + outputs))
    estimated = np.zeros(n, dtype=bool)

    batch = PerformanceBatch.of(DeploymentSet.of(deployments), rows[wanted], inputs[wanted], outputs[wanted],
                                users[wanted], keep_breakdown=False)
    result = estimate_performance_batch(batch, estimator)
    ttft[wanted], itl[wanted] = result.time_to_first_token_ms, result.inter_token_latency_ms
    tok_s[wanted], estimated[wanted] = result.throughput_tokens_per_sec, result.ok
    ttft[~estimated] = itl[~estimated] = tok_s[~estimated] = np.nan

    names = np.array([d[0].model_id for d in deployments] or [""], dtype=object)[:count]
    gpu_names = np.array([d[1].name for d in deployments] or [""], dtype=object)[:count]
    return SweepResult(
        model=names[rows], gpu=gpu_names[rows],
        tp=np.array([d[2].tensor_parallel_size for d in deployments], dtype=np.int64)[rows],
        ep=np.array([d[2].expert_parallel_size for d in deployments], dtype=np.int64)[rows],
        input=inputs, output=outputs, concurrency=users, fits=fits[rows], kv_cache_tokens=kv_tokens[rows],
        estimated=estimated, ttft_ms=ttft, itl_ms=itl, output_tok_s=tok_s,
        max_model_len=np.full(n, context, dtype=np.int64), engine=engine, estimator=estimator,
    )
