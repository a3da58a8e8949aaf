"""Physical sanity of the roofline estimator, and agreement with measured H100 figures."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from gpurec_core.api import as_gpu, as_model, estimate_performance  # noqa: E402
from gpurec_core.errors import GpurecError  # noqa: E402
from gpurec_roofline.profile import build_profile  # noqa: E402
from gpurec_roofline.step import experts_touched_fraction, mean_prefill_keys  # noqa: E402
from gpurec_roofline.serving import burst_passes, prompt_chunks  # noqa: E402

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def perf(model=LLAMA_8B, gpu="H100", **kw):
    kw.setdefault("input_length", 1024)
    kw.setdefault("output_length", 128)
    return estimate_performance(model, gpu, **kw)


def test_itl_never_below_weight_streaming_time():
    """ITL >= weight bytes per GPU / peak bandwidth: a decode step must read every weight once."""
    for tp in (1, 2, 4, 8):
        est = perf(tensor_parallel_size=tp, precision="bf16", concurrency=1)
        model, gpu = as_model(LLAMA_8B), as_gpu("H100")
        prec = model.resolve_precision("bf16")
        from gpurec_core.api import make_parallelism

        prof = build_profile(model.config, model.parameters, prec, gpu, make_parallelism(tp))
        floor_ms = prof.dense_weight_bytes / (gpu.bandwidth_tb_s * 1e12) * 1e3
        assert est.itl_ms >= floor_ms


def test_ttft_grows_with_input_length():
    values = [perf(input_length=n, concurrency=1).ttft_ms for n in (128, 1024, 4096, 16384)]
    assert values == sorted(values) and values[-1] > 4 * values[1]


def test_more_tp_lowers_itl_until_communication_dominates():
    itl = {tp: perf(model="Qwen/Qwen3-32B", tensor_parallel_size=tp, precision="bf16", concurrency=1).itl_ms
           for tp in (1, 2, 4, 8)}
    assert itl[1] > itl[2] > itl[4] > itl[8]
    # diminishing returns: TP8 is far from 8x faster than TP1 (all-reduce latency, fixed overheads)
    assert itl[1] / itl[8] < 5
    est = perf(model=LLAMA_8B, tensor_parallel_size=8, precision="fp8", concurrency=1)
    assert est.bottleneck in ("communication", "memory")


def test_itl_grows_with_concurrency_and_throughput_saturates():
    low, mid, sat = (perf(concurrency=c, precision="bf16") for c in (1, 32, "max"))
    assert low.itl_ms < mid.itl_ms
    assert low.throughput_tokens_per_sec < mid.throughput_tokens_per_sec <= sat.throughput_tokens_per_sec * 1.001


def test_data_parallel_replicas_multiply_throughput():
    model, gpu = as_model(LLAMA_8B), as_gpu("H100")
    from gpurec_core.api import make_parallelism
    from gpurec_core.models import Workload
    from gpurec_core.plugins import estimate_memory
    from gpurec_roofline.estimator import estimate

    prec = model.resolve_precision("bf16")
    one = make_parallelism(1)
    wl = Workload(input_length=1024, output_length=128, concurrency=16, precision=prec)
    mem = estimate_memory(model, gpu, one, wl, "vllm")
    single = estimate(model, gpu, one, wl, mem)
    double = estimate(model, gpu, make_parallelism(1, data_parallel_size=2),
                      wl.model_copy(update={"concurrency": 32}), mem)
    assert double.throughput_tokens_per_sec == pytest.approx(2 * single.throughput_tokens_per_sec, rel=1e-6)


def test_experts_touched_occupancy_formula():
    # E (1 - (1 - k/E)^b) / E: one token touches k of E experts; many tokens touch all of them.
    assert experts_touched_fraction(1, 128, 8) == pytest.approx(8 / 128)
    assert experts_touched_fraction(1000, 128, 8) == pytest.approx(1.0)
    assert experts_touched_fraction(0, 128, 8) == pytest.approx(0.0)


def test_causal_prefill_keys():
    full, windowed = mean_prefill_keys(1024, 128)
    assert full == pytest.approx(512.5)
    assert windowed < 128


def test_moe_decode_reads_fewer_bytes_than_all_experts():
    est = perf(model="Qwen/Qwen3-235B-A22B", tensor_parallel_size=8, expert_parallel_size=8, precision="fp8",
               concurrency=1)
    dense_like = perf(model="Qwen/Qwen3-32B", tensor_parallel_size=8, precision="fp8", concurrency=1)
    # 235B total but ~22B active: one token's step must be close to a 32B dense model's, not 7x slower
    assert est.itl_ms < 3 * dense_like.itl_ms


def test_impossible_deployment_raises_estimation_error():
    with pytest.raises(GpurecError):
        perf(model="meta-llama/Llama-3.1-405B", tensor_parallel_size=1, precision="bf16")


CATALOG_MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "openai/gpt-oss-120b",
                  "google/gemma-3-27b-it", "deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-Next-80B-A3B-Thinking",
                  "mistralai/Mixtral-8x22B-v0.1", "meta-llama/Llama-4-Scout-17B-16E-Instruct"]


@pytest.mark.parametrize("model", CATALOG_MODELS)
@pytest.mark.parametrize("gpu", ["H100", "H200", "B200", "A100", "L40S", "MI300X"])
def test_every_output_finite_where_the_model_fits(model, gpu):
    for tp in (1, 8):
        try:
            est = perf(model=model, gpu=gpu, tensor_parallel_size=tp, concurrency=8)
        except GpurecError:
            continue  # does not fit / unsupported layout: a typed error, never a NaN
        for value in (est.ttft_ms, est.itl_ms, est.throughput_tokens_per_sec, est.e2e_latency_ms,
                      est.input_tokens_per_sec, est.requests_per_sec):
            assert value is not None and math.isfinite(value) and value > 0
        assert all(math.isfinite(v) for v in est.breakdown.values())
        assert est.estimator == "roofline"


def test_faster_memory_gives_faster_decode():
    h100 = perf(model="meta-llama/Llama-3.1-70B", tensor_parallel_size=2, precision="fp8", concurrency=1)
    h200 = perf(model="meta-llama/Llama-3.1-70B", gpu="H200", tensor_parallel_size=2, precision="fp8", concurrency=1)
    b200 = perf(model="meta-llama/Llama-3.1-70B", gpu="B200", tensor_parallel_size=2, precision="fp8", concurrency=1)
    assert h100.itl_ms > h200.itl_ms > b200.itl_ms


# --- against measurements (aiconfigurator-core 0.12.0 systems/silicon_sample.csv, agg mode, H100) ---
# Every run below was served through NVIDIA Dynamo (its gap-analysis campaign; tests/fixtures/measurements/
# serving_h100_as_served.csv), so it is estimated behind Dynamo's frontend.

MEASURED = [
    # (model, engine, precision, tp, isl, osl, concurrency, metric, measured, tolerance)
    ("meta-llama/Llama-3.1-8B-Instruct", "trtllm", "bf16", 1, 1024, 128, 8, "itl_ms", 7.944, 0.15),
    ("Qwen/Qwen3-32B", "vllm", "bf16", 2, 1024, 128, 8, "itl_ms", 18.0, 0.15),
    ("Qwen/Qwen3-32B", "vllm", "bf16", 4, 4096, 512, 32, "itl_ms", 22.0, 0.15),
    ("Qwen/Qwen3-32B", "sglang", "bf16", 4, 1024, 512, 16, "itl_ms", 10.4, 0.15),
    ("Qwen/Qwen3-32B", "trtllm", "fp8", 1, 1024, 128, 128, "itl_ms", 98.9, 0.15),
    ("Qwen/Qwen3-32B", "sglang", "bf16", 4, 1024, 128, 64, "ttft_ms", 1322.0, 0.30),
    ("Qwen/Qwen3-32B", "vllm", "bf16", 2, 1024, 128, 128, "ttft_ms", 692.0, 0.30),
    ("Qwen/Qwen3-32B", "vllm", "bf16", 4, 1024, 512, 32, "ttft_ms", 199.9, 0.30),
    ("Qwen/Qwen3-32B", "vllm", "bf16", 8, 4096, 512, 64, "ttft_ms", 583.2, 0.30),
    # KV pool full: users queue for a slot (closed-loop Little's law), TTFT in tens of seconds
    ("Qwen/Qwen3-32B", "vllm", "bf16", 2, 4096, 128, 128, "ttft_ms", 18956.7, 0.30),
    ("Qwen/Qwen3-32B", "trtllm", "fp8", 2, 2048, 256, 32, "ttft_ms", 487.1, 0.30),
]


@pytest.mark.parametrize("model,engine,precision,tp,isl,osl,c,metric,measured,tol", MEASURED)
def test_matches_measured_serving(model, engine, precision, tp, isl, osl, c, metric, measured, tol):
    """Source: aiconfigurator-core 0.12.0 systems/silicon_sample.csv (Apache-2.0), agg mode, H100 SXM."""
    est = estimate_performance(model, "H100", tensor_parallel_size=tp, input_length=isl, output_length=osl,
                               concurrency=c, precision=precision, engine=engine, frontend="dynamo")
    value = {"itl_ms": est.itl_ms, "ttft_ms": est.ttft_ms}[metric]
    assert value == pytest.approx(measured, rel=tol)


def test_matches_trtllm_max_throughput_table():
    """TensorRT-LLM docs/source/performance/perf-overview.md @00f37686: Llama-3.1-8B-Instruct FP8 (ModelOpt
    export, fp8 KV cache) on 1x H100, ISL 1000 / OSL 1000: 15,220 output tokens/s at saturation (+/- 25 %)."""
    est = estimate_performance(LLAMA_8B, "H100", input_length=1000, output_length=1000, concurrency="max",
                               precision="fp8", kv_cache_dtype="fp8", engine="trtllm")
    assert est.throughput_tokens_per_sec == pytest.approx(15220, rel=0.25)


def test_nim_saturated_ttft_is_queueing():
    """NVIDIA NIM 1.8.0 benchmarking docs, Llama-3.3-70B FP8 on 2x H100 TP2, ISL 5000 / OSL 500: at 250 users
    TTFT is 88.6 s and throughput 920 tok/s — requests wait for a batch slot. Queueing must appear (> 10 s)."""
    est = estimate_performance("meta-llama/Llama-3.3-70B-Instruct", "H100", tensor_parallel_size=2,
                               input_length=5000, output_length=500, concurrency=250, precision="fp8",
                               engine="trtllm")
    assert est.ttft_ms > 10_000


def test_unknown_engine_in_constants_is_a_catalog_error():
    from gpurec_core.errors import CatalogError
    from gpurec_roofline.constants import load_constants

    with pytest.raises(CatalogError):
        load_constants().engine("no-such-engine")


# --- the closed-loop TTFT of mixed-step (chunked-prefill) engines, serving.py ---

def test_prompt_chunks_follow_the_token_budget():
    """vLLM V1 gives a prompt min(remaining, budget) tokens per step: 8,192 tokens next to 64 decodes
    in an 8,192-token budget take 8,128 + 64, i.e. one full step and a light one, not two full steps."""
    n, last = prompt_chunks(8192, 8192 - 64)
    assert (float(n), float(last)) == (2.0, 64.0)
    n, last = prompt_chunks(1024, 8192 - 64)
    assert (float(n), float(last)) == (1.0, 1024.0)
    n, last = prompt_chunks(20000, 8000)
    assert (float(n), float(last)) == (3.0, 4000.0)


@pytest.mark.parametrize("prompt", [512, 1000, 1024, 3000, 4096, 8192, 12288])
@pytest.mark.parametrize("users", [1, 3, 8, 16, 64])
def test_startup_burst_staircase(prompt, users):
    """All users start at once; FCFS chunked prefill finishes the k-th prompt after ceil(k I / M)
    full steps. The closed form is exact when M / gcd(I, M) divides the users or the burst's
    fractional steps all fit one step, and within 20 % otherwise (17 % worst case over
    I = 100..20,000, c = 1..128)."""
    budget = 8192
    exact = sum(math.ceil(k * prompt / budget) for k in range(1, users + 1)) / users
    q = budget // math.gcd(prompt, budget)
    got = float(burst_passes(users, prompt, budget))
    frac = prompt / budget % 1
    if users % q == 0 or users * frac <= 1:
        assert got == pytest.approx(exact, abs=1e-9)
    else:
        assert got == pytest.approx(exact, rel=0.2)


def test_long_prompt_ttft_is_one_prefill_not_two():
    """aiconfigurator-core 0.12.0 silicon_sample.csv (vLLM, H100): Llama-3.1-70B fp8 TP8, 8,192 in /
    1,024 out, 4 users: 300.8 ms, about one 8,192-token prefill step. Charging the 64-token last chunk
    as a second full step (and a sqrt(c) cluster wait on top) predicted 1,233 ms; the estimate must
    stay within 2x."""
    est = estimate_performance("meta-llama/Llama-3.1-70B", "H100", tensor_parallel_size=8, input_length=8192,
                               output_length=1024, concurrency=4, precision="fp8", engine="vllm")
    assert 300.8 / 1.3 < est.ttft_ms < 2 * 300.8


@pytest.mark.parametrize("engine", ["vllm", "trtllm"])
def test_mixed_engine_ttft_grows_with_users(engine):
    ttft = [perf(concurrency=c, precision="bf16", engine=engine).ttft_ms for c in (1, 2, 4, 8, 16, 32, 64, 128, 256)]
    assert all(b >= a * 0.999 for a, b in zip(ttft, ttft[1:]))


def test_reported_ttft_blends_steady_state_and_startup_burst():
    """The benchmark's mean TTFT = (1 - 1/R) steady + 1/R burst (R requests per user); a client that
    never bursts (R very large) sees the steady state alone."""
    from gpurec_core.api import make_parallelism
    from gpurec_core.models import Workload
    from gpurec_core.plugins import estimate_memory
    from gpurec_roofline.constants import load_constants
    from gpurec_roofline.estimator import estimate

    model, gpu = as_model(LLAMA_8B), as_gpu("H100")
    one = make_parallelism(1)
    wl = Workload(input_length=2048, output_length=256, concurrency=32, precision=model.resolve_precision("bf16"))
    mem = estimate_memory(model, gpu, one, wl, "vllm")
    base = load_constants()
    est = estimate(model, gpu, one, wl, mem, base)
    steady, burst = est.breakdown["ttft_steady"], est.breakdown["ttft_startup_burst"]
    w = 1.0 / base.benchmark.requests_per_user
    assert burst > steady
    assert est.ttft_ms == pytest.approx((1 - w) * steady + w * burst, rel=1e-6)
    no_burst = base.model_copy(update={"benchmark": base.benchmark.model_copy(update={"requests_per_user": 1e9})})
    assert estimate(model, gpu, one, wl, mem, no_burst).ttft_ms == pytest.approx(steady, rel=1e-6)


def _measured_slot_wait_slopes(engine: str, model: str, max_users: int) -> list[float]:
    """(TTFT(O2) - TTFT(O1)) / ((O2 ITL2 - O1 ITL1) / c) over the shared H100 file's pairs of runs that
    differ only in output length: 1 when the client's clock includes one gap between completions."""
    import csv
    from collections import defaultdict

    path = Path(__file__).parent / "fixtures" / "measurements" / "serving_h100.csv"
    runs: dict = defaultdict(dict)
    for row in csv.DictReader(open(path, newline="")):
        if row["engine"] == engine and row["model"] == model and row["concurrency"].isdigit():
            key = (row["precision"], row["tp"], row["ep"], row["isl"], int(row["concurrency"]), int(row["osl"]))
            runs[key][row["metric"]] = float(row["value"])
    series: dict = defaultdict(list)
    for (*cfg, c, osl), m in runs.items():
        if "ttft_ms" in m and "itl_ms" in m and c <= max_users:
            series[(*cfg, c)].append((osl, m["ttft_ms"], m["itl_ms"]))
    slopes = []
    for (*_, c), points in series.items():
        points.sort()
        for (o1, t1, i1), (o2, t2, i2) in zip(points, points[1:]):
            slopes.append((t2 - t1) / ((o2 * i2 - o1 * i1) / c))
    return slopes


def test_some_clients_time_the_wait_for_a_free_slot():
    """aiconfigurator's TensorRT-LLM Llama-3.1-8B runs (1.0.0rc3, up to 32 users) report a TTFT that
    grows with the output length by one gap between completions, (O x ITL) / c, while its Qwen3 runs
    on the same engine version do not: the client's clock, not the engine. ``client_slot_wait`` (0
    by default, as vllm bench serve times a request only once it holds a slot) adds that many gaps;
    ``gpurec calibrate`` fits it to a user's own client."""
    import statistics

    import numpy as np

    from gpurec_core.api import make_parallelism
    from gpurec_core.models import Workload
    from gpurec_core.plugins import estimate_memory
    from gpurec_roofline.constants import load_constants
    from gpurec_roofline.estimator import estimate

    llama = _measured_slot_wait_slopes("trtllm", LLAMA_8B, 32)
    qwen = _measured_slot_wait_slopes("trtllm", "Qwen/Qwen3-32B", 32)
    assert len(llama) >= 30 and 0.8 < statistics.median(llama) < 1.2
    assert len(qwen) >= 30 and abs(statistics.median(qwen)) < 0.2

    model, gpu, one = as_model(LLAMA_8B), as_gpu("H100"), make_parallelism(1)
    base = load_constants()
    timed = base.model_copy(update={"benchmark": base.benchmark.model_copy(update={"client_slot_wait": 1.0})})
    for osl in (256, 512):
        wl = Workload(input_length=1024, output_length=osl, concurrency=8, precision=model.resolve_precision("bf16"))
        mem = estimate_memory(model, gpu, one, wl, "trtllm")
        plain, with_wait = estimate(model, gpu, one, wl, mem, base), estimate(model, gpu, one, wl, mem, timed)
        assert with_wait.inter_token_latency_ms == plain.inter_token_latency_ms
        assert with_wait.throughput_tokens_per_sec == plain.throughput_tokens_per_sec
        # one gap between completions: 1 / requests per second
        assert with_wait.time_to_first_token_ms - plain.time_to_first_token_ms == pytest.approx(
            1e3 / plain.requests_per_sec, rel=1e-6)
    assert np.isfinite(with_wait.time_to_first_token_ms)


def test_steady_state_solver_converges():
    """The bounded fixed-point iteration lands within 2 % of its converged value on a random sweep."""
    import numpy as np

    import gpurec_roofline.serving as serving
    from gpurec_core.api import make_parallelism
    from gpurec_roofline.constants import load_constants

    c = load_constants()
    model, gpu = as_model(LLAMA_8B), as_gpu("H100")
    prof = build_profile(model.config, model.parameters, model.resolve_precision("bf16"), gpu, make_parallelism(1))
    rng = np.random.default_rng(7)
    n = 4000
    I = rng.choice([64, 512, 1024, 4096, 8192, 16384], n).astype(float)
    O = rng.choice([16, 128, 512, 2048], n).astype(float)
    users = rng.choice([1, 4, 16, 64, 256, 1024], n).astype(float)
    cap = rng.choice([50, 500, 5000], n).astype(float)
    for name in ("vllm", "trtllm", "sglang"):
        e = c.engine(name)
        args = (prof, c.efficiency_for(gpu), c.communication, e, c.kernels, I, O, users, cap,
                e.max_num_batched_tokens, e.max_num_seqs, c.benchmark)
        fast = serving.serve(*args)
        saved = serving.SOLVER_ITERATIONS
        try:
            serving.SOLVER_ITERATIONS = 60
            ref = serving.serve(*args)
        finally:
            serving.SOLVER_ITERATIONS = saved
        for a, b in ((fast.ttft_s, ref.ttft_s), (fast.itl_s, ref.itl_s), (fast.requests_per_s, ref.requests_per_s)):
            assert np.all(np.isfinite(a)) and np.max(np.abs(a / b - 1)) < 0.02


def test_attention_runs_in_the_kv_cache_dtype():
    """FlashAttention multiplies queries by the cached K/V: fp8 weights with a bf16 KV cache attend at
    the bf16 peak (989.4 dense TFLOPS on H100 SXM, datasheet), an fp8 KV cache at the fp8 peak."""
    from gpurec_core.api import make_parallelism

    model, gpu = as_model("meta-llama/Llama-3.1-70B"), as_gpu("H100")
    bf16_kv = build_profile(model.config, model.parameters, model.resolve_precision("fp8"), gpu, make_parallelism(2))
    fp8_kv = build_profile(model.config, model.parameters, model.resolve_precision("fp8", "fp8"), gpu, make_parallelism(2))
    assert bf16_kv.compute_dtype == "fp8"
    assert bf16_kv.attention_peak_tflops == pytest.approx(gpu.tensor_tflops("bf16"))
    assert fp8_kv.attention_peak_tflops == pytest.approx(gpu.tensor_tflops("fp8"))


def test_mxfp4_on_hopper_computes_in_bf16():
    """Hopper has no FP4 tensor cores: vLLM runs gpt-oss's MXFP4 experts as W4A16 (Marlin /
    triton matmul_ogs), so the matmuls run at the bf16 peak, not the fp8 one; Blackwell runs fp4."""
    from gpurec_core.api import make_parallelism

    model = as_model("openai/gpt-oss-120b")
    prec = model.resolve_precision(None)
    hopper = build_profile(model.config, model.parameters, prec, as_gpu("H100"), make_parallelism(2))
    blackwell = build_profile(model.config, model.parameters, prec, as_gpu("B200"), make_parallelism(2))
    assert hopper.compute_dtype == "bf16"
    assert blackwell.compute_dtype == "fp4"
