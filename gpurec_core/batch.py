"""Many performance points in one hook call: what ``estimate_performance_batch`` takes and returns.

A search (``recommend_gpus``) or a sweep asks for thousands of points over a few hundred
deployments. :class:`PerformanceBatch` carries them as arrays: point ``i`` is deployment
``rows[i]`` of :class:`DeploymentSet` serving ``concurrency[i]`` users with requests of
``input_length[i]`` + ``output_length[i]`` tokens. An estimator answers with
:class:`BatchEstimates`: arrays of the same length, and each point's full
:class:`~gpurec_core.models.PerformanceEstimate` on demand.

The same :class:`DeploymentSet` is passed to every batch of one search, so an estimator can
prepare each deployment once (:meth:`DeploymentSet.prepared`) and reuse it round after round.
An estimator without a batch implementation is called point by point by the core.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from gpurec_core.models import GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate, Workload


class DeploymentItem(NamedTuple):
    """One deployment: a model on a GPU in a layout, its workload (precision, engine limits) and memory plan."""

    model: Any
    gpu: GPUSpec
    parallelism: Parallelism
    workload: Workload
    memory: MemoryPlan


@dataclass(eq=False)
class DeploymentSet:
    """The deployments of one search or sweep, with a per-estimator cache of what it prepared for them."""

    items: tuple[DeploymentItem, ...]
    _prepared: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, items: Sequence[tuple]) -> "DeploymentSet":
        return cls(tuple(DeploymentItem(*item) for item in items))

    def __len__(self) -> int:
        return len(self.items)

    def prepared(self, key: str, build: Callable[["DeploymentSet"], Any]) -> Any:
        """``build(self)`` once per ``key`` (an estimator's name), then the same object every call."""
        with self._lock:
            if key not in self._prepared:
                self._prepared[key] = build(self)
            return self._prepared[key]


@dataclass(frozen=True, eq=False)
class PerformanceBatch:
    """Points to estimate: ``rows`` index :attr:`deployments`; lengths and concurrency per point.

    ``keep_breakdown`` False: only the arrays of :class:`BatchEstimates` are read (a sweep), so an
    estimator may skip the per-point breakdown.
    """

    deployments: DeploymentSet
    rows: np.ndarray
    input_length: np.ndarray
    output_length: np.ndarray
    concurrency: np.ndarray
    keep_breakdown: bool = True

    @classmethod
    def of(cls, deployments: DeploymentSet, rows, input_length, output_length, concurrency,
           keep_breakdown: bool = True) -> "PerformanceBatch":
        """Arrays made from sequences or scalars (lengths and concurrency broadcast against ``rows``)."""
        rows = np.asarray(rows, dtype=np.intp).reshape(-1)
        n = len(rows)

        def column(values) -> np.ndarray:
            return np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype=np.int64), (n,)))
        return cls(deployments, rows, column(input_length), column(output_length), column(concurrency), keep_breakdown)

    def __len__(self) -> int:
        return len(self.rows)

    def point(self, i: int) -> tuple[Any, GPUSpec, Parallelism, Workload, MemoryPlan]:
        """Point ``i`` as the arguments of ``estimate_performance`` (its workload at its lengths and concurrency)."""
        model, gpu, parallelism, workload, memory = self.deployments.items[int(self.rows[i])]
        workload = workload.model_copy(update={"input_length": int(self.input_length[i]),
                                               "output_length": int(self.output_length[i]),
                                               "concurrency": int(self.concurrency[i])})
        return model, gpu, parallelism, workload, memory


class BatchEstimates:
    """An estimator's answer to a :class:`PerformanceBatch`.

    ``ok[i]``: point ``i`` has an estimate; then ``time_to_first_token_ms[i]``,
    ``inter_token_latency_ms[i]`` and ``throughput_tokens_per_sec[i]`` (whole deployment) are its
    figures. :meth:`performance` gives the full estimate of a point, or one whose ``error`` says
    why it has none. Estimators return this class or a subclass of it.
    """

    def __init__(self, ok, time_to_first_token_ms, inter_token_latency_ms, throughput_tokens_per_sec,
                 performance: Callable[[int], PerformanceEstimate]) -> None:
        self.ok = np.asarray(ok, dtype=bool)
        self.time_to_first_token_ms = np.asarray(time_to_first_token_ms, dtype=float)
        self.inter_token_latency_ms = np.asarray(inter_token_latency_ms, dtype=float)
        self.throughput_tokens_per_sec = np.asarray(throughput_tokens_per_sec, dtype=float)
        self._performance = performance

    @classmethod
    def of(cls, estimates: Sequence[PerformanceEstimate]) -> "BatchEstimates":
        """From one :class:`PerformanceEstimate` per point (what the point-by-point default makes)."""
        estimates = list(estimates)

        def figure(name: str) -> list[float]:
            return [getattr(p, name) if p.error is None and getattr(p, name) is not None else np.nan for p in estimates]
        ok = [p.error is None and p.time_to_first_token_ms is not None for p in estimates]
        return cls(ok, figure("time_to_first_token_ms"), figure("inter_token_latency_ms"),
                   figure("throughput_tokens_per_sec"), estimates.__getitem__)

    def __len__(self) -> int:
        return len(self.ok)

    def performance(self, i: int) -> PerformanceEstimate:
        """Point ``i``'s full estimate (its ``error`` set when it has none)."""
        return self._performance(i)

    def problems(self, n: int) -> list[str]:
        """Why these arrays cannot be the answer to ``n`` points ([] when they can)."""
        problems = []
        for name in ("ok", "time_to_first_token_ms", "inter_token_latency_ms", "throughput_tokens_per_sec"):
            value = getattr(self, name)
            if value.shape != (n,):
                problems.append(f"{name} has shape {value.shape}, expected ({n},)")
        if not problems:
            with np.errstate(invalid="ignore"):
                for name in ("time_to_first_token_ms", "inter_token_latency_ms", "throughput_tokens_per_sec"):
                    value = getattr(self, name)[self.ok]
                    if not np.all(np.isfinite(value) & (value >= 0)):
                        problems.append(f"{name} holds a negative or non-finite figure for a point marked ok")
        return problems
