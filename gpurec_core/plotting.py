"""Throughput per GPU against inter-token latency for every candidate (``gpurec recommend --plot``).

Each fitting candidate is drawn as a curve over concurrency 1, 2, 4, ... up to saturation, so
the SLO lines show which layouts keep their throughput within the latency targets. Needs
matplotlib (``pip install 'gpurec[plot]'``); ``.html`` output embeds the PNG.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Optional

from gpurec_core.errors import GpurecError


def concurrency_ladder(saturation: int) -> list[int]:
    """1, 2, 4, ... and the saturation concurrency itself."""
    ladder, c = [], 1
    while c < saturation:
        ladder.append(c)
        c *= 2
    return ladder + [max(1, saturation)]


def _disaggregated_point(item, result, model, workload, users: int):
    """The estimate of a disaggregated candidate at ``users`` (both pools' memory planned again)."""
    from gpurec_core.plugins import estimate_disaggregated, estimate_memory

    pools = item.recommendation.disaggregated
    memories = [estimate_memory(model, pool.gpu, pool.parallelism, workload, pools.engine)
                for pool in (pools.prefill, pools.decode)]
    return estimate_disaggregated(model, pools, workload.model_copy(update={"concurrency": users}), memories[0],
                                  memories[1], result.workload["estimator"])


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both ITL (lower) and throughput per GPU (higher)."""
    front, best = [], -1.0
    for itl, tput in sorted(points):
        if tput > best:
            front.append((itl, tput))
            best = tput
    return front


def candidate_curve(item, result) -> list[tuple[float, float, int]]:
    """(ITL ms, output tok/s per GPU, concurrency) along the ladder for one candidate."""
    from gpurec_core.plugins import estimate_performance
    from gpurec_core.recommend import saturation_concurrency

    rec = item.recommendation
    model = _model(result)
    workload = _workload(result, model)
    if rec.disaggregated is not None:
        points = []
        for c in concurrency_ladder(rec.max_concurrent_requests):
            perf = _disaggregated_point(item, result, model, workload, c)
            if perf.error is None and perf.inter_token_latency_ms and perf.throughput_tokens_per_sec:
                points.append((perf.inter_token_latency_ms, perf.throughput_tokens_per_sec / rec.total_gpus, c))
        return points
    from gpurec_core.models import Parallelism

    layout = Parallelism(tensor_parallel_size=rec.tensor_parallel_size, pipeline_parallel_size=rec.pipeline_parallel_size,
                         expert_parallel_size=rec.expert_parallel_size, data_parallel_size=rec.attention_data_parallel_size)
    points = []
    for c in concurrency_ladder(saturation_concurrency(rec.memory, workload, layout.data_parallel_size)):
        perf = estimate_performance(model, rec.gpu_spec, layout, workload.model_copy(update={"concurrency": c}),
                                    rec.memory, result.workload["estimator"])
        if perf.error is None and perf.inter_token_latency_ms and perf.throughput_tokens_per_sec:
            points.append((perf.inter_token_latency_ms, perf.throughput_tokens_per_sec / layout.total_gpus, c))
    return points


def _model(result):
    from gpurec_core.api import as_model

    return as_model(result.model_id)


def _workload(result, model):
    from gpurec_core.models import Workload

    w = result.workload
    return Workload(input_length=w["input_length"], output_length=w["output_length"], max_model_len=w["context_length"],
                    gpu_memory_utilization=w["gpu_memory_utilization"], frontend=w.get("frontend", "engine"),
                    precision=model.resolve_precision(result.precision, result.kv_cache_dtype if result.kv_cache_dtype == "fp8" else None))


def _chosen_point(item, result) -> tuple[float, float]:
    """(ITL ms, output tok/s per GPU) of one replica at the highest concurrency meeting the SLOs."""
    from gpurec_core.models import Parallelism
    from gpurec_core.plugins import estimate_performance

    rec = item.recommendation
    model = _model(result)
    if rec.disaggregated is not None:
        perf = _disaggregated_point(item, result, model, _workload(result, model), item.slo.max_concurrency)
        return perf.inter_token_latency_ms or 0.0, (perf.throughput_tokens_per_sec or 0.0) / rec.total_gpus
    layout = Parallelism(tensor_parallel_size=rec.tensor_parallel_size, pipeline_parallel_size=rec.pipeline_parallel_size,
                         expert_parallel_size=rec.expert_parallel_size)
    workload = _workload(result, model).model_copy(update={"concurrency": item.slo.max_concurrency})
    perf = estimate_performance(model, rec.gpu_spec, layout, workload, rec.memory, result.workload["estimator"])
    return perf.inter_token_latency_ms or 0.0, (perf.throughput_tokens_per_sec or 0.0) / layout.total_gpus


def plot_recommendations(result, path: str, top: Optional[int] = None) -> None:
    """Draw the candidates' throughput-per-GPU vs ITL curves, SLO lines and the chosen point."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GpurecError("--plot needs matplotlib: pip install 'gpurec[plot]'") from None
    target = Path(path)
    if target.suffix.lower() not in (".png", ".html"):
        raise GpurecError(f"--plot writes .png or .html files, not {target.suffix or 'no extension'!r}")
    fitting = [r for r in result.recommendations if r.recommendation.model_fits and r.performance is not None][: top or None]
    fig, ax = plt.subplots(figsize=(10, 6.5))
    by_mode: dict[str, list[tuple[float, float]]] = {}
    for index, item in enumerate(fitting):
        points = candidate_curve(item, result)
        if not points:
            continue
        xs, ys, _ = zip(*points)
        rec = item.recommendation
        by_mode.setdefault(rec.mode, []).extend(zip(xs, ys))
        label = rec.layout if rec.disaggregated is not None else f"{rec.gpu_spec.name} {rec.layout}"
        style = dict(linewidth=3, zorder=3) if index == 0 else dict(linewidth=1.2, alpha=0.8)
        ax.plot(xs, ys, marker="o", markersize=3, label=label, linestyle=":" if rec.disaggregated else "-", **style)
    if len(by_mode) > 1:  # both modes: draw each one's Pareto front
        for mode, colour in (("aggregated", "black"), ("disaggregated", "purple")):
            front = pareto_front(by_mode.get(mode, []))
            if front:
                fx, fy = zip(*front)
                ax.plot(fx, fy, color=colour, linewidth=2.5, alpha=0.5, linestyle="--", label=f"{mode} Pareto front")
    itl_slo, ttft_slo = result.workload.get("itl_slo_ms"), result.workload.get("ttft_slo_ms")
    if itl_slo:
        ax.axvline(itl_slo, color="red", linestyle="--", label=f"ITL SLO {itl_slo:g} ms")
    if fitting and fitting[0].slo is not None and fitting[0].slo.max_concurrency > 0:
        best = fitting[0]
        chosen = _chosen_point(best, result)
        ax.scatter([chosen[0]], [chosen[1]], s=160, marker="*", color="black", zorder=5,
                   label=f"chosen: {best.recommendation.gpu_spec.name} {best.recommendation.layout} "
                         f"@ {best.slo.max_concurrency} users")
    title = f"{result.model_id}: output tok/s per GPU vs ITL (concurrency 1 .. saturation)"
    if ttft_slo:
        title += f"\nTTFT SLO {ttft_slo:g} ms applies to the chosen point and the ranking"
    ax.set_title(title)
    ax.set_xlabel("inter-token latency, ms")
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    data = buffer.getvalue()
    if target.suffix.lower() == ".png":
        target.write_bytes(data)
    else:
        encoded = base64.b64encode(data).decode()
        target.write_text(f"<!doctype html><meta charset='utf-8'><title>{result.model_id}</title>"
                          f"<h1>{result.model_id}</h1><img alt='throughput vs ITL' src='data:image/png;base64,{encoded}'>")
