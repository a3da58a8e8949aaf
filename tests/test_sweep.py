"""Sweeps and batched estimates give the numbers of the estimate_performance hook, point for point.

The roofline estimator answers many points in a few numpy calls (``gpurec_roofline.estimate_many``);
``gpurec_core.sweep_grid`` and ``recommend_gpus`` use it when the bundled plugin is the one that answers.
Each test here checks that path against the hook called one point at a time.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from gpurec_core import ModelArchitecture, PerformanceEstimate, estimate_performance, hookimpl, recommend_gpus  # noqa: E402
from gpurec_core.errors import GpurecError, WorkloadError  # noqa: E402
from gpurec_core.models import EstimatorInfo  # noqa: E402
from gpurec_core.sweep_grid import SweepResult, sweep  # noqa: E402

# Dense GQA, MoE (EP layouts), MLA + MoE, sliding windows + MXFP4 MoE, sliding windows, linear attention.
MODELS = ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-30B-A3B", "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b",
          "google/gemma-3-27b-it", "Qwen/Qwen3-Next-80B-A3B-Thinking"]
GRID = dict(input_lengths=[128, 3000], output_lengths=[64, 1024], concurrencies=[1, 9, 300])


@pytest.fixture(scope="module")
def models():
    return [ModelArchitecture(name) for name in MODELS]


@pytest.fixture(scope="module")
def whole_catalog_sweep(models):
    from gpurec_core.testing import fresh_plugin_manager, using_plugin_manager

    with using_plugin_manager(fresh_plugin_manager()):
        return sweep(models, **GRID)


def _hook_point(result: SweepResult, i: int, **extra):
    """The same point through gpurec_core.estimate_performance (the hook, one point)."""
    try:
        perf = estimate_performance(
            result.model[i], result.gpu[i], tensor_parallel_size=int(result.tp[i]),
            expert_parallel_size=int(result.ep[i]), input_length=int(result.input[i]),
            output_length=int(result.output[i]), concurrency=int(result.concurrency[i]),
            max_model_len=int(result.max_model_len[i]), **extra)
    except GpurecError:
        return None
    return None if perf.error is not None else perf


def test_sweep_matches_estimate_performance_on_a_sample(whole_catalog_sweep):
    result = whole_catalog_sweep
    rng = random.Random(20261127)
    estimated = np.flatnonzero(result.estimated)
    not_estimated = np.flatnonzero(~result.estimated)
    sample = rng.sample(list(estimated), 150) + rng.sample(list(not_estimated), min(40, len(not_estimated)))
    for i in sample:
        perf = _hook_point(result, i)
        assert (perf is not None) == bool(result.estimated[i]), (i, result.model[i], result.gpu[i])
        if perf is None:
            assert np.isnan(result.ttft_ms[i]) and np.isnan(result.itl_ms[i]) and np.isnan(result.output_tok_s[i])
            continue
        assert result.ttft_ms[i] == pytest.approx(perf.time_to_first_token_ms, rel=1e-6)
        assert result.itl_ms[i] == pytest.approx(perf.inter_token_latency_ms, rel=1e-6)
        assert result.output_tok_s[i] == pytest.approx(perf.throughput_tokens_per_sec, rel=1e-6)


def test_sweep_covers_every_model_gpu_layout_and_workload(whole_catalog_sweep, models):
    from gpurec_core.plugins import gpu_catalog
    from gpurec_core.recommend import candidate_layouts

    result = whole_catalog_sweep
    layouts = sum(len(candidate_layouts(m, g, "vllm", None, None)) for m in models for g in gpu_catalog().specs)
    grid = len(GRID["input_lengths"]) * len(GRID["output_lengths"]) * len(GRID["concurrencies"])
    assert result.num_points == layouts * grid == len(result.to_rows())
    assert 0 < result.num_estimated < result.num_points
    # A point is estimated exactly when its plan fits and one request of input + output fits the KV pool.
    assert np.array_equal(result.estimated, result.fits & (result.kv_cache_tokens >= result.input + result.output))
    assert set(result.model) == {m.model_id for m in models}
    assert (result.ep[result.ep > 1] == result.tp[result.ep > 1]).all()
    assert (result.max_model_len == max(GRID["input_lengths"]) + max(GRID["output_lengths"])).all()
    row = result.to_rows()[int(np.flatnonzero(~result.estimated)[0])]
    assert row["ttft_ms"] is None and row["estimated"] is False


def test_sweep_options_reach_the_plan_and_the_estimate():
    result = sweep("Qwen/Qwen3-32B", ["H100", "L40S"], tensor_parallel_sizes=[2, 4], input_lengths=[512],
                   output_lengths=[128], concurrencies=[4], precision="fp8", kv_cache_dtype="fp8",
                   max_model_len=8192, gpu_memory_utilization=0.8)
    assert sorted(set(result.tp.tolist())) == [2, 4] and (result.max_model_len == 8192).all()
    for i in range(result.num_points):
        perf = _hook_point(result, i, precision="fp8", kv_cache_dtype="fp8", gpu_memory_utilization=0.8)
        assert perf is not None and result.ttft_ms[i] == pytest.approx(perf.time_to_first_token_ms, rel=1e-6)


@pytest.mark.parametrize("bad", [dict(input_lengths=[]), dict(concurrencies=[0]), dict(output_lengths=[1.5]),
                                 dict(engine="tgi"), dict(estimator="no-such-estimator")])
def test_sweep_rejects_bad_options(bad):
    kwargs = {**dict(input_lengths=[128], output_lengths=[64], concurrencies=[1]), **bad}
    with pytest.raises(GpurecError):
        sweep(["Qwen/Qwen3-0.6B"], ["H100"], **kwargs)


class ToyEstimator:
    """A third-party estimator: TTFT = input tokens x 0.01 ms, ITL = 10 ms, one token per ITL per user."""

    @hookimpl
    def list_estimators(self):
        return [EstimatorInfo(name="toy", usable=True, description="test estimator")]

    @hookimpl
    def estimate_performance(self, model, gpu, parallelism, workload, memory, estimator):
        if estimator != "toy":
            return None
        return PerformanceEstimate(time_to_first_token_ms=workload.input_length * 0.01, inter_token_latency_ms=10.0,
                                   throughput_tokens_per_sec=workload.concurrency * 100.0,
                                   concurrency=workload.concurrency, estimator="toy")


def test_sweep_calls_other_estimators_through_the_hook(register_plugin):
    from gpurec_core.plugins import estimator_batches

    register_plugin(ToyEstimator(), "toy")
    assert not estimator_batches("toy") and estimator_batches("roofline")  # toy is asked point by point
    result = sweep(["Qwen/Qwen3-0.6B"], ["H100", "L4"], input_lengths=[100, 1000], output_lengths=[10],
                   concurrencies=[1, 3], estimator="toy")
    assert result.num_estimated == result.num_points > 0
    assert np.allclose(result.ttft_ms, result.input * 0.01) and (result.itl_ms == 10.0).all()
    assert np.allclose(result.output_tok_s, result.concurrency * 100.0)


class RooflineOverride:
    """A third-party plugin that claims the bundled estimator's name and answers for it."""

    @hookimpl
    def list_estimators(self):
        return [EstimatorInfo(name="roofline", usable=True, description="claims the bundled roofline")]

    @hookimpl
    def estimate_performance(self, model, gpu, parallelism, workload, memory, estimator):
        return PerformanceEstimate(time_to_first_token_ms=1.0, inter_token_latency_ms=2.0,
                                   throughput_tokens_per_sec=3.0, concurrency=workload.concurrency, estimator="roofline")


class RooflinePointByPoint:
    """A third-party estimator with no batch form that answers with the roofline's numbers."""

    @hookimpl
    def list_estimators(self):
        return [EstimatorInfo(name="roofline-points", usable=True, description="the roofline, one point per call")]

    @hookimpl
    def estimate_performance(self, model, gpu, parallelism, workload, memory, estimator):
        from gpurec_roofline import estimate

        return estimate(model, gpu, parallelism, workload, memory)


def test_a_plugin_claiming_the_roofline_name_does_not_get_it(register_plugin):
    from gpurec_core.errors import PluginWarning

    before = recommend_gpus("Qwen/Qwen3-0.6B", gpus=["H100"], ttft_slo_ms=5, itl_slo_ms=5).to_dict()
    register_plugin(RooflineOverride(), "override")
    with pytest.warns(PluginWarning, match="'override' lists estimator 'roofline'.*'roofline' provides"):
        after = recommend_gpus("Qwen/Qwen3-0.6B", gpus=["H100"], ttft_slo_ms=5, itl_slo_ms=5).to_dict()
    assert after == before
    assert sweep(["Qwen/Qwen3-0.6B"], ["H100"], input_lengths=[64], output_lengths=[8], concurrencies=[2]).ttft_ms[0] != 1.0


#: GPUs of every generation and vendor in the catalog, with and without NVLink, FP8 and FP4.
SOME_GPUS = ["H100", "H200", "A100", "L4", "T4", "V100", "L40S", "MI300X", "B200", "GAUDI3"]


@pytest.mark.parametrize("model, kwargs", [
    ("meta-llama/Llama-3.1-70B", dict(ttft_slo_ms=500, itl_slo_ms=30, target_throughput_tokens_per_sec=20000)),
    ("Qwen/Qwen3-30B-A3B", dict(ttft_slo_ms=800, itl_slo_ms=25, input_length=4000, output_length=300,
                                context_length=8192, batch_size=4, target_requests_per_sec=3, gpus=SOME_GPUS)),
    ("openai/gpt-oss-120b", dict(engine="sglang", itl_slo_ms=15, kv_cache_dtype="fp8", gpus=SOME_GPUS)),
    ("meta-llama/Llama-3.1-8B", dict(pipeline_parallel=2, precision="fp8", ttft_slo_ms=200, gpus=SOME_GPUS)),
    ("deepseek-ai/DeepSeek-V3", dict(engine="trtllm", ttft_slo_ms=2000, itl_slo_ms=60)),
])
def test_batched_recommendation_equals_the_point_by_point_one(register_plugin, model, kwargs):
    """Same to_dict() whether the roofline answers the points in batches or the core asks an
    estimator without a batch form (the same numbers) point by point."""
    model = ModelArchitecture(model)
    batched = recommend_gpus(model, **kwargs).to_dict()
    register_plugin(RooflinePointByPoint(), "points")
    by_point = recommend_gpus(model, estimator="roofline-points", **kwargs).to_dict()
    by_point["workload"]["estimator"] = "roofline"
    assert by_point == batched


def test_estimate_many_equals_estimate_for_mixed_deployments():
    """Rows of different models, GPUs and layouts (PP > 1 among PP = 1, EP, replicas) in one batch."""
    from gpurec_core.api import as_gpu, make_parallelism
    from gpurec_core.models import Workload
    from gpurec_core.plugins import estimate_memory
    from gpurec_roofline.estimator import Deployments, estimate, estimate_many

    items = []
    for name, gpu, layout in [("meta-llama/Llama-3.1-8B", "H100", make_parallelism(1)),
                              ("meta-llama/Llama-3.1-70B", "A100", make_parallelism(4, 2)),
                              ("Qwen/Qwen3-30B-A3B", "MI300X", make_parallelism(2, expert_parallel_size=2)),
                              ("google/gemma-3-27b-it", "L40S", make_parallelism(2, data_parallel_size=3)),
                              ("Qwen/Qwen3-0.6B", "T4", make_parallelism(1))]:
        model = ModelArchitecture(name)
        workload = Workload(input_length=1, output_length=1, max_model_len=4096, precision=model.resolve_precision())
        spec = as_gpu(gpu)
        items.append((model, spec, layout, workload, estimate_memory(model, spec, layout, workload, "vllm")))
    rows = [0, 1, 2, 3, 4, 1, 0, 3, 2, 4, 1]
    inputs = [100, 2000, 3000, 64, 1, 7, 3500, 1000, 10, 4000, 1024]
    outputs = [50, 100, 1000, 8, 1, 3, 500, 9, 2000, 95, 512]
    users = [1, 2, 64, 7, 1, 1000, 3, 12, 5, 2, 1]
    batch = estimate_many(Deployments(items), rows, inputs, outputs, users)
    for i, d in enumerate(rows):
        model, spec, layout, workload, memory = items[d]
        point = workload.model_copy(update={"input_length": inputs[i], "output_length": outputs[i],
                                            "concurrency": users[i]})
        try:
            expected = estimate(model, spec, layout, point, memory)
        except GpurecError as exc:
            assert not batch.ok[i] and str(batch.error(i)) == str(exc)
            continue
        assert batch.ok[i] and batch.estimate(i) == expected


def _search_alone(meets, ceiling):
    """The reference binary search, one evaluation at a time (what slo_search does)."""
    if not meets(1):
        return 0
    low, high = 1, ceiling
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if meets(mid) else (low, mid - 1)
    return low


@pytest.mark.parametrize("levels", [1, 2, 4, 6])
def test_slo_searches_take_the_steps_of_the_sequential_search(levels):
    """Even when the SLOs are not monotone in concurrency, the batched rounds land where slo_search does."""
    from gpurec_core.recommend import _Points, slo_searches

    rng = random.Random(levels)
    ceilings = [rng.choice([1, 2, 3, 17, 1000, 123_457]) for _ in range(60)]
    thresholds = [rng.randint(0, c) for c in ceilings]
    noise = [rng.random() < 0.3 for _ in ceilings]
    calls = []

    def meets(k, c):
        flip = noise[k] and (c * 7919 + k) % 5 == 0  # non-monotone for some searches
        return (c <= thresholds[k]) != flip

    def evaluate(points):
        calls.append(len(points))
        ok = [meets(k, c) for k, c in points]
        return _Points(ok, [0.0] * len(points), [0.0] * len(points), [float(c) for _, c in points], None)

    results = slo_searches(ceilings, evaluate, ttft_slo=1.0, itl_slo=None, levels=levels)
    for k, result in enumerate(results):
        expected = _search_alone(lambda c: meets(k, c), ceilings[k])
        assert result.max_concurrency == expected
        assert result.meets_at_concurrency_1 == (expected > 0)
        assert result.goodput_tokens_per_sec == float(expected)
    depth = max(c - 1 for c in ceilings).bit_length()
    assert len(calls) <= (depth + 1 if levels == 1 else -(-depth // levels) + 1)


def test_model_caches_follow_a_replaced_config():
    """Per-model caches are keyed by the model object and its config: a new config, new facts."""
    from gpurec_core.api import plan_memory

    small = ModelArchitecture("Qwen/Qwen3-0.6B")
    other = ModelArchitecture("Qwen/Qwen3-8B")
    before = plan_memory(small, "H100", tensor_parallel_size=2)
    assert small.possible_tensor_parallel_sizes() == ModelArchitecture("Qwen/Qwen3-0.6B").possible_tensor_parallel_sizes()
    small.config = other.config
    small.__dict__.pop("parameters", None)  # the cached parameter count belongs to the old config
    after = plan_memory(small, "H100", tensor_parallel_size=2)
    assert after != before and after == plan_memory(other, "H100", tensor_parallel_size=2)
    assert small.possible_tensor_parallel_sizes() == other.possible_tensor_parallel_sizes()


def test_sweep_of_nothing_that_fits_is_empty_of_estimates():
    result = sweep(["deepseek-ai/DeepSeek-V3"], ["T4"], input_lengths=[128], output_lengths=[128], concurrencies=[1])
    assert result.num_points > 0 and result.num_estimated == 0 and not result.fits.any()


def test_sweep_needs_a_model():
    with pytest.raises(WorkloadError):
        sweep([], ["H100"], input_lengths=[1], output_lengths=[1], concurrencies=[1])


def test_the_public_sweep_is_the_function_even_after_its_module_is_imported():
    import gpurec_core
    import gpurec_core.sweep_grid  # noqa: F401

    assert gpurec_core.sweep is sweep and callable(gpurec_core.sweep)
