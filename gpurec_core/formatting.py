"""Plain-text rendering of a RecommendationResult (the seed's ``summary()`` table)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    from gpurec_core.result import Recommendation, RecommendationResult

SUMMARY_COLUMNS = ["#", "GPU", "TP", "Layout", "GPUs", "Model Memory", "Available KV", "Max Requests", "Fits",
                   "TTFT", "ITL", "Throughput", "Max tok/s", "$/hour", "$/M out"]


def _num(value: Optional[float], fmt: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def summary_row(index: int, item: "Recommendation") -> list[str]:
    """One row of the summary: memory in GiB, latency in ms, throughput in output tok/s."""
    rec, perf, cost = item.recommendation, item.performance, item.cost
    ok = perf is not None and perf.error is None
    fits = "YES" if rec.model_fits else "NO"
    if rec.model_fits and not item.meets_slo:
        fits = "YES (SLO miss)"
    return [
        str(index), rec.gpu_spec.name, str(rec.tensor_parallel_size), rec.layout, str(rec.total_gpus),
        f"{rec.memory_per_gpu_gb:.2f}", f"{rec.available_memory_for_kv_gb:.2f}", str(rec.max_concurrent_requests), fits,
        _num(perf.time_to_first_token_ms if ok else None, ".1f", "ms"),
        _num(perf.inter_token_latency_ms if ok else None, ".1f", "ms"),
        _num(perf.throughput_tokens_per_sec if ok else None, ",.1f", " tok/s"),
        _num(_loaded_throughput(item), ",.0f"),
        _num(cost.usd_per_hour, ",.2f"),
        _num(cost.usd_per_million_output_tokens, ",.2f"),
    ]


def why_not(item: "Recommendation") -> str:
    """Why a candidate does not fit or has no speed estimate (the estimator's own words), or ''."""
    reasons = list(item.recommendation.reasons)
    for label, perf in (("no estimate", item.performance), ("no saturation estimate", item.saturation)):
        if perf is not None and perf.error and not any(perf.error in r for r in reasons):
            reasons.append(f"{label}: {perf.error}")
    return "; ".join(reasons)


def _loaded_throughput(item: "Recommendation") -> Optional[float]:
    """Output tok/s when loaded: the SLO goodput when SLOs are set, else saturation."""
    if item.slo is not None:
        return item.slo.goodput_tokens_per_sec if item.slo.max_concurrency > 0 else None
    sat = item.saturation
    return sat.throughput_tokens_per_sec if sat is not None and sat.error is None else None


def render_table(columns: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(col), *(len(r[i]) for r in rows)) if rows else len(col) for i, col in enumerate(columns)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    parts = [line(columns), "-+-".join("-" * w for w in widths)]
    parts += [line(r) for r in rows]
    return "\n".join(parts)


def summary_table(result: "RecommendationResult", top: Optional[int] = None) -> str:
    items = result.recommendations[:top] if top else result.recommendations
    header = (f"GPU recommendations for {result.model_id} ({result.precision} weights, KV cache "
              f"{result.kv_cache_dtype}; input {result.workload.get('input_length')} / output "
              f"{result.workload.get('output_length')} tokens, context {result.workload.get('context_length')}, "
              f"batch {result.workload.get('batch_size')}). Memory in GiB per GPU.")
    if not items:
        return header + "\nNo candidates." + "".join(f"\nnote: {n}" for n in result.notes)
    body = render_table(SUMMARY_COLUMNS, [summary_row(i, item) for i, item in enumerate(items, 1)])
    notes = "".join(f"\nnote: {n}" for n in result.notes)
    return f"{header}\n{body}{notes}"
