"""Thread safety: concurrent recommend_gpus calls give exactly what serial calls give.

Every process-wide cache is emptied first (the plugin manager, the GPU catalog, the model catalog
index, the engine and roofline constants, the per-model memory facts), so that eight threads build
them at the same moment. The interpreter switches threads every 10 microseconds meanwhile, to make
the interleavings that expose a race likely.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest

from gpurec_core import ModelArchitecture, plan_memory, recommend_gpus
from gpurec_core.plugins import get_plugin_manager, gpu_catalog, set_plugin_manager

THREADS = 8
MODELS = ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-30B-A3B", "deepseek-ai/DeepSeek-V3", "google/gemma-3-27b-it",
          "Qwen/Qwen3-Next-80B-A3B-Thinking", "Qwen/Qwen3-32B-FP8"]
GPUS = ["H100", "L4", "MI300X", "B200"]


def forget_every_cache() -> None:
    """Back to a cold process: the next calls build every cache again."""
    from gpurec_capacity import engine_constants
    from gpurec_roofline import constants as roofline_constants

    from gpurec_core import memory_math, resolve

    set_plugin_manager(None)
    resolve._load_catalog_cached.cache_clear()
    with engine_constants._lock:
        engine_constants._cache.clear()
    roofline_constants.load_constants.cache_clear()
    memory_math._compile_patterns.cache_clear()


@contextmanager
def cold_and_hermetic(monkeypatch) -> Iterator[None]:
    """Bundled plugins only (no entry points from this machine), every cache cold, fast thread switches."""
    monkeypatch.setenv("GPUREC_DISABLE_PLUGIN_AUTOLOAD", "1")
    previous_manager = set_plugin_manager(None)
    previous_interval = sys.getswitchinterval()
    forget_every_cache()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(previous_interval)
        set_plugin_manager(previous_manager)


def run_together(work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Run ``work(i)`` in ``threads`` threads released at once; re-raise the first exception."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below with its traceback
            errors.append(exc)

    workers = [threading.Thread(target=target, args=(i,), name=f"gpurec-test-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers), "a thread hung"
    if errors:
        raise errors[0]
    return results


def recommend_dict(model: Any) -> dict:
    """The whole search on a few GPUs, with the SLO search and replicas for a target load."""
    return recommend_gpus(model, gpus=GPUS, ttft_slo_ms=1000, itl_slo_ms=50,
                          target_throughput_tokens_per_sec=20_000).to_dict()


def test_concurrent_recommendations_equal_serial_ones(monkeypatch):
    """Each thread resolves its own models by id, so resolution, parsing and every cache race."""
    with cold_and_hermetic(monkeypatch):
        serial = {model_id: recommend_dict(model_id) for model_id in MODELS}

    with cold_and_hermetic(monkeypatch):
        def work(i: int) -> dict:
            order = MODELS[i % len(MODELS):] + MODELS[:i % len(MODELS)]  # each thread starts elsewhere
            return {model_id: recommend_dict(model_id) for model_id in order}

        for result in run_together(work):
            for model_id in MODELS:
                assert result[model_id] == serial[model_id], model_id


def test_concurrent_use_of_shared_model_objects(monkeypatch):
    """One ModelArchitecture per model shared by every thread: its lazily computed precision and
    parameter count, and the planner's per-model facts, are filled concurrently."""
    with cold_and_hermetic(monkeypatch):
        serial = {model_id: recommend_dict(ModelArchitecture(model_id)) for model_id in MODELS}

    with cold_and_hermetic(monkeypatch):
        shared = {model_id: ModelArchitecture(model_id) for model_id in MODELS}

        def work(i: int) -> dict:
            order = list(reversed(MODELS)) if i % 2 else MODELS
            return {model_id: recommend_dict(shared[model_id]) for model_id in order}

        for result in run_together(work):
            for model_id in MODELS:
                assert result[model_id] == serial[model_id], model_id


def test_one_plugin_manager_and_one_catalog_are_built(monkeypatch):
    """Eight threads asking at once get the same manager and the same catalog object."""
    with cold_and_hermetic(monkeypatch):
        managers = run_together(lambda i: get_plugin_manager())
        assert all(pm is managers[0] for pm in managers)
        assert sum(1 for record in managers[0].records if record.name == "capacity") == 1
        catalogs = run_together(lambda i: gpu_catalog())
        assert all(catalog is catalogs[0] for catalog in catalogs)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_concurrent_memory_plans_equal_serial_ones(monkeypatch, engine):
    cases = [(model_id, gpu, tp) for model_id in MODELS[:4] for gpu in ("H100", "L4") for tp in (1, 2)]
    with cold_and_hermetic(monkeypatch):
        serial = {case: _plan_or_error(*case, engine) for case in cases}
    with cold_and_hermetic(monkeypatch):
        def work(i: int) -> dict:
            rotated = cases[i:] + cases[:i]  # each thread starts elsewhere
            return {case: _plan_or_error(*case, engine) for case in rotated}

        for result in run_together(work):
            assert result == serial


def _plan_or_error(model_id: str, gpu: str, tp: int, engine: str) -> Any:
    from gpurec_core.errors import GpurecError

    try:
        return plan_memory(model_id, gpu, tensor_parallel_size=tp, max_model_len=8192, engine=engine).model_dump()
    except GpurecError as exc:
        return f"{type(exc).__name__}: {exc}"
