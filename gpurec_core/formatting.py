"""How a recommendation reads: the verdict line, the columns (with units), and the legend.

One column table serves every output: the terminal (the columns that decide by default, all of
them with ``--wide``), CSV and Markdown (raw numbers, units in the header) and the seed's
``summary()``. Numbers are right-aligned; a dollar figure from an estimated price is marked
``~``.
"""

from __future__ import annotations

import json
import math

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from gpurec_core.result import Recommendation, RecommendationResult


def _ok(perf) -> bool:
    return perf is not None and perf.error is None and perf.time_to_first_token_ms is not None


def loaded_throughput(item: "Recommendation") -> Optional[float]:
    """Output tok/s when loaded: the SLO goodput when SLOs are set, else at saturation."""
    if item.slo is not None:
        return item.slo.goodput_tokens_per_sec if item.slo.max_concurrency > 0 else None
    sat = item.saturation
    return sat.throughput_tokens_per_sec if _ok(sat) else None


def fit_text(item: "Recommendation") -> str:
    if not item.recommendation.model_fits:
        return "no"
    return "yes" if item.meets_slo else "SLO miss"


def why_not(item: "Recommendation") -> str:
    """Why a candidate does not fit or has no speed estimate (the estimator's own words), or ''."""
    reasons = list(item.recommendation.reasons)
    for label, perf in (("no estimate", item.performance), ("no saturation estimate", item.saturation)):
        if perf is not None and perf.error and not any(perf.error in r for r in reasons):
            reasons.append(f"{label}: {perf.error}")
    return "; ".join(reasons)


@dataclass(frozen=True)
class Column:
    """One column: its header (with the unit), its CSV name, its raw value and how it is shown."""

    header: str
    key: str
    value: Callable[[int, "Recommendation"], Any]
    fmt: str = ""                # format spec of a number; '' for text
    default: bool = False        # in the terminal's default (80-column) view
    numeric: bool = True
    legend: str = ""
    band: Optional[Callable[[int, "Recommendation"], Optional[tuple[float, float]]]] = None  # p10-p90 of the value
    raw_only: bool = False       # CSV and Markdown only (the terminal shows it inside another column)

    def text(self, index: int, item: "Recommendation", *, bands: bool = False) -> str:
        """The shown cell; ``bands``: followed by its p10-p90 band, ``value (p10–p90)``, when it has one."""
        value = self.value(index, item)
        if value is None:
            return "-"
        if not self.fmt:
            return str(value)
        text = f"{value:{self.fmt}}"
        band = self.band(index, item) if bands and self.band is not None else None
        if band is not None:
            text += f" ({band[0]:{self.fmt}}–{band[1]:{self.fmt}})"
        return "~" + text if self.key.startswith("usd") and item.cost.price_estimated else text


def _perf(name: str) -> Callable[[int, "Recommendation"], Any]:
    return lambda i, item: getattr(item.performance, name) if _ok(item.performance) else None


def _band(name: str) -> Callable[[int, "Recommendation"], Optional[tuple[float, float]]]:
    """(p10, p90) of a performance figure, from the estimator's uncertainty bands (None without)."""
    return lambda i, item: item.performance.band(name) if _ok(item.performance) else None


def _band_end(name: str, end: int) -> Callable[[int, "Recommendation"], Any]:
    """p10 (``end`` 0) or p90 (1) of a performance figure, for CSV and Markdown."""
    band = _band(name)
    return lambda i, item: None if (found := band(i, item)) is None else found[end]


_BAND_LEGEND = "; --wide shows it as value (p10–p90), the band from validation residuals (docs/accuracy.md)"


COLUMNS: tuple[Column, ...] = (
    Column("#", "rank", lambda i, item: i, numeric=True, default=True),
    Column("GPU", "gpu", lambda i, item: item.recommendation.gpu_spec.name, numeric=False, default=True),
    Column("Layout", "layout", lambda i, item: item.recommendation.layout, numeric=False, default=True,
           legend="TP tensor-parallel GPUs, xPP pipeline stages, EP expert-parallel GPUs, xN replicas"),
    Column("GPUs", "total_gpus", lambda i, item: item.recommendation.total_gpus, "d", default=True),
    Column("Fits", "fits", lambda i, item: fit_text(item), numeric=False,
           legend="yes; no (the model does not fit: see why not); SLO miss (fits, misses the SLOs at 1 user)"),
    Column("Weights GiB/GPU", "weights_gib_per_gpu", lambda i, item: item.recommendation.memory_per_gpu_gb, ".2f"),
    Column("KV GiB/GPU", "kv_cache_gib_per_gpu", lambda i, item: item.recommendation.available_memory_for_kv_gb, ".2f"),
    Column("Max requests", "max_requests", lambda i, item: item.recommendation.max_concurrent_requests, "d",
           legend="requests of the full context the KV pool holds at once"),
    Column("TTFT ms", "ttft_ms", _perf("time_to_first_token_ms"), ",.1f", default=True,
           legend="time to first token at the workload's concurrency (--batch-size)" + _BAND_LEGEND,
           band=_band("time_to_first_token_ms")),
    Column("TTFT p10 ms", "ttft_ms_p10", _band_end("time_to_first_token_ms", 0), ".2f", raw_only=True),
    Column("TTFT p90 ms", "ttft_ms_p90", _band_end("time_to_first_token_ms", 1), ".2f", raw_only=True),
    Column("ITL ms", "itl_ms", _perf("inter_token_latency_ms"), ",.1f", default=True,
           legend="time between output tokens at that concurrency (--wide: with its p10–p90 band)",
           band=_band("inter_token_latency_ms")),
    Column("ITL p10 ms", "itl_ms_p10", _band_end("inter_token_latency_ms", 0), ".3f", raw_only=True),
    Column("ITL p90 ms", "itl_ms_p90", _band_end("inter_token_latency_ms", 1), ".3f", raw_only=True),
    Column("tok/s", "output_tok_s", _perf("throughput_tokens_per_sec"), ",.0f",
           legend="output tokens/s of the deployment at that concurrency (with its p10–p90 band)",
           band=_band("throughput_tokens_per_sec")),
    Column("tok/s p10", "output_tok_s_p10", _band_end("throughput_tokens_per_sec", 0), ".1f", raw_only=True),
    Column("tok/s p90", "output_tok_s_p90", _band_end("throughput_tokens_per_sec", 1), ".1f", raw_only=True),
    Column("Max tok/s", "max_output_tok_s", lambda i, item: loaded_throughput(item), ",.0f", default=True,
           legend="output tokens/s when loaded: at saturation, or the most that meets the SLOs"),
    Column("SLO users", "slo_max_concurrency", lambda i, item: item.slo.max_concurrency if item.slo else None, "d",
           legend="most concurrent users that meet the SLOs"),
    Column("$/h", "usd_per_hour", lambda i, item: item.cost.usd_per_hour, ",.2f", default=True,
           legend="all GPUs, per hour, from the dated catalog price ('~': estimated from bandwidth, no price listed)"),
    Column("$/M out", "usd_per_million_output_tokens", lambda i, item: item.cost.usd_per_million_output_tokens,
           ",.2f", default=True, legend="dollars per million output tokens at Max tok/s"),
    Column("why not", "why_not", lambda i, item: why_not(item) or None, numeric=False),
)
_SLO_KEY = "slo_max_concurrency"


def columns(*, wide: bool, slos: bool, raw: bool = False) -> list[Column]:
    """The columns shown: the deciding ones (with SLO users when SLOs are set), or all of them;
    ``raw`` (CSV, Markdown) adds the p10 and p90 the terminal shows inside their column."""
    shown = [c for c in COLUMNS if (wide or c.default or (slos and c.key == _SLO_KEY)) and (raw or not c.raw_only)]
    return [c for c in shown if slos or c.key != _SLO_KEY]


def legend(slos: bool = True) -> str:
    """One line per column that needs explaining."""
    return "\n".join(f"  {c.header}: {c.legend}" for c in columns(wide=True, slos=slos) if c.legend)


def rows(items: list["Recommendation"], cols: list[Column], *, bands: bool = False) -> list[list[str]]:
    """The shown text of each column, numbered from 1; ``bands``: figures with their p10-p90 band."""
    return [[c.text(i, item, bands=bands) for c in cols] for i, item in enumerate(items, 1)]


def raw_rows(items: list["Recommendation"], cols: list[Column]) -> list[list[Any]]:
    """Raw values (numbers unformatted, None empty) for CSV and JSON-like outputs."""
    return [["" if (v := c.value(i, item)) is None else v for c in cols] for i, item in enumerate(items, 1)]


def _slos(result: "RecommendationResult") -> str:
    parts = [f"TTFT <= {result.workload[k]:g} ms" if k.startswith("ttft") else f"ITL <= {result.workload[k]:g} ms"
             for k in ("ttft_slo_ms", "itl_slo_ms") if result.workload.get(k) is not None]
    return " and ".join(parts)


def verdict(result: "RecommendationResult") -> str:
    """``Recommended: <layout> on <GPU> — <why>``, or what stands in the way."""
    if not result.recommendations:
        return "Recommended: nothing — " + (result.notes[-1] if result.notes else "no candidate")
    best = result.recommendations[0]
    rec = best.recommendation
    slos = _slos(result)
    if not rec.model_fits:
        return f"Recommended: nothing — the model fits on none of these GPUs; closest: {rec.layout} on " \
               f"{rec.gpu_spec.name} ({why_not(best)})"
    cost, tok = best.cost, loaded_throughput(best)
    gpus = f"{rec.total_gpus} GPU{'s' if rec.total_gpus > 1 else ''}"
    est = " (estimated price)" if cost.price_estimated else ""
    ordered_by = getattr(result, "ordered_by", "rank")
    if ordered_by != "rank":  # the caller re-sorted: say what comes first, not what is recommended
        perf = best.performance
        price = (f"${cost.usd_per_million_output_tokens:,.2f}/M output tokens" if cost.usd_per_million_output_tokens
                 is not None else "no price known")
        if ordered_by == "performance" and perf is not None and perf.time_to_first_token_ms is not None:
            return (f"Sorted by TTFT: {rec.layout} on {rec.gpu_spec.name} first — {perf.time_to_first_token_ms:,.1f} ms "
                    f"on {gpus} ({price}{est})")
        return f"Sorted by cost: {rec.layout} on {rec.gpu_spec.name} first — {price} on {gpus}{est}"
    if not best.meets_slo:
        return f"Recommended: nothing meets {slos} — even one user misses them; fastest first below"
    if not best.meets_target:
        return f"Recommended: nothing carries the target load — {why_not(best)}"
    if cost.usd_per_million_output_tokens is not None:
        why = f"cheapest per output token{' meeting ' + slos if slos else ''}: " \
              f"${cost.usd_per_million_output_tokens:,.2f}/M at {tok:,.0f} tok/s on {gpus}{est}"
    elif cost.usd_per_hour is not None:
        why = f"cheapest per hour{' meeting ' + slos if slos else ''}: ${cost.usd_per_hour:,.2f}/h on {gpus}{est}"
    else:
        why = f"fits with the least GPU memory ({cost.proxy_gpu_memory_gib:,.0f} GiB on {gpus}); no price known"
    return f"Recommended: {rec.layout} on {rec.gpu_spec.name} — {why}"


def workload_line(result: "RecommendationResult") -> str:
    w = result.workload
    experts = f" (routed experts {result.routed_expert_precision})" if result.routed_expert_precision else ""
    return (f"{result.model_id}: {result.precision} weights{experts}, KV {result.kv_cache_dtype}; "
            f"{w.get('input_length')} in / {w.get('output_length')} out tokens, context {w.get('context_length')}, "
            f"{w.get('batch_size')} concurrent; "
            f"{w.get('engine')}{_behind(w.get('frontend'))}, {w.get('estimator')} estimator. Memory per GPU in GiB.")


def _behind(frontend: Optional[str]) -> str:
    """' behind NVIDIA Dynamo' for a workload served through Dynamo's frontend; '' for the engine's own server."""
    return " behind NVIDIA Dynamo" if frontend == "dynamo" else ""


def render_table(headers: list[str], body: list[list[str]], numeric: Optional[list[bool]] = None) -> str:
    """Plain text, numbers right-aligned."""
    numeric = numeric or [False] * len(headers)
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)).rstrip()
    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in body])


def summary_table(result: "RecommendationResult", top: Optional[int] = None, *, wide: bool = True) -> str:
    """The seed's ``summary()``: verdict, workload, the table and the notes, as plain text."""
    items = result.recommendations[:top] if top else result.recommendations
    cols = columns(wide=wide, slos=bool(_slos(result)))
    parts = [verdict(result), workload_line(result)]
    if items:
        parts.append(render_table([c.header for c in cols], rows(items, cols, bands=wide), [c.numeric for c in cols]))
    else:
        parts.append("No candidates.")
    parts += [f"note: {n}" for n in result.notes]
    return "\n".join(parts)


def _figure(value, unit: str) -> str:
    return "(not given)" if value is None else f"{value:g} {unit}".rstrip()


def _band_lines(perf) -> list[str]:
    """The p10-p90 bands of an estimate, their regimes and the table they come from (none: [])."""
    bands = perf.bands
    if bands is None:
        return []
    (t10, t90), (i10, i90), (p10, p90) = perf.ttft_band, perf.itl_band, perf.throughput_band
    regimes = bands.regimes
    return [f"    p10–p90: TTFT {t10:,.1f}–{t90:,.1f} ms, ITL {i10:.2f}–{i90:.2f} ms, "
            f"{p10:,.0f}–{p90:,.0f} output tok/s",
            f"      regimes: TTFT {regimes.get('ttft_ms')}, ITL {regimes.get('itl_ms')}, throughput "
            f"{regimes.get('output_tok_s')}; fitted on {', '.join(bands.fitted_on.values())}",
            f"      from {bands.source}"]


def explain_text(item, precision: str = "", model_id: Optional[str] = None) -> str:
    """Memory and latency breakdown of one candidate, with the inputs of the formulas (``precision``
    and ``model_id``: the weight precision and model planned, for the calibration profile's scope)."""
    rec, mem, perf = item.recommendation, item.recommendation.memory, item.performance
    gpu = rec.gpu_spec
    lines = [f"\nWhy {gpu.name} {rec.layout}:",
             f"  GPU: {gpu.memory_gib:g} GiB visible, {_figure(gpu.bandwidth_tb_s, 'TB/s')}, bf16 "
             f"{_figure(gpu.bf16_tflops, '')} / fp8 {_figure(gpu.fp8_tflops_dense, '')} dense TFLOPS, "
             f"{gpu.interconnect or 'no interconnect given'} {_figure(gpu.interconnect_gb_s, 'GB/s')}",
             f"  memory per GPU ({mem.engine}): budget {mem.budget_gib:.2f} GiB = {mem.total_gib:g} x "
             f"{mem.budget_gib / mem.total_gib if mem.total_gib else 0:.3g}",
             f"    - weights {mem.weights_gib:.2f} - activation peak {mem.activation_gib:.2f} - non-torch "
             f"{mem.non_torch_gib:.2f} = KV pool {mem.kv_cache_gib:.2f} GiB",
             f"    KV {mem.kv_bytes_per_token:,.0f} bytes/token -> {mem.kv_cache_tokens:,} tokens in blocks of "
             f"{mem.block_size}; {mem.max_concurrency:.2f} requests of {mem.max_model_len} tokens; CUDA graphs "
             f"{mem.cuda_graph_gib:.2f} GiB from the headroom"]
    lines += [f"    note: {n}" for n in mem.notes]
    if perf is not None and perf.error is None:
        lines.append(f"  latency at concurrency {perf.concurrency}: TTFT {perf.time_to_first_token_ms:.1f} ms, ITL "
                     f"{perf.inter_token_latency_ms:.2f} ms ({perf.bottleneck}-bound), "
                     f"{perf.throughput_tokens_per_sec:,.0f} output tok/s")
        lines += _band_lines(perf)
        from gpurec_core.calibration import scope_for

        calibrated = scope_for(perf.estimator, gpu.name, mem.engine, precision, model_id)
        lines.append(f"  calibration: {calibrated[0].describe()} (scope {calibrated[1].label()}: "
                     f"{', '.join(f'{k} {v:g}' for k, v in calibrated[1].fitted().items())})"
                     if calibrated else "  calibration: none (bundled constants; `gpurec calibrate` fits your runs)")
        from gpurec_core.models import UNITLESS_BREAKDOWN

        lines += [f"    {name}: {value:.3f}" + ("" if name in UNITLESS_BREAKDOWN else " ms")
                  for name, value in perf.breakdown.items()]
    if item.saturation is not None and item.saturation.error is None:
        sat = item.saturation
        lines.append(f"  saturation: {sat.concurrency} users -> {sat.throughput_tokens_per_sec:,.0f} output tok/s, "
                     f"ITL {sat.inter_token_latency_ms:.1f} ms, TTFT {sat.time_to_first_token_ms:.0f} ms")
        lines += _band_lines(sat)
    if item.slo is not None:
        lines.append(f"  SLO: up to {item.slo.max_concurrency} users, goodput {item.slo.goodput_tokens_per_sec:,.0f} tok/s")
    return "\n".join(lines)


def finite_json(data: Any) -> str:
    """``data`` as JSON with every NaN or infinity written as null (JSON has neither)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return json.dumps(clean(data), indent=2, sort_keys=False, default=str, allow_nan=False)
