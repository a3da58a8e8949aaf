"""Fleet mode: for a target load and SLOs, the cheapest mix of GPU types and pool sizes.

``plan_fleet`` runs the search of ``recommend_gpus(..., disaggregated=True)`` with every GPU type
allowed in either pool (so prefill and decode may sit on different types) and the target load (each
candidate takes the copies of its unit that carry it). It returns the cheapest deployment overall and
the cheapest on a single GPU type, and says why the first beats the second when it does: what each
pool's GPU gives per dollar (dense TFLOPS for prefill, which is compute-bound; HBM bandwidth and
capacity for decode, which streams weights and KV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gpurec_core.result import Recommendation, RecommendationResult


@dataclass
class FleetPlan:
    best: Optional[Recommendation]
    best_single_type: Optional[Recommendation]
    why: str
    result: RecommendationResult

    def to_dict(self) -> dict:
        rows = {r.recommendation.layout: r for r in self.result}
        data = self.result.to_dict()
        by_layout = {row["layout"]: row for row in data["recommendations"]}
        return {"model_id": data["model_id"], "workload": data["workload"],
                "best": by_layout.get(self.best.recommendation.layout) if self.best else None,
                "best_single_gpu_type": (by_layout.get(self.best_single_type.recommendation.layout)
                                         if self.best_single_type else None),
                "why": self.why, "candidates": len(rows), "notes": list(data.get("notes", []))}


def gpu_types(item: Recommendation) -> set[str]:
    pools = item.recommendation.disaggregated
    if pools is None:
        return {item.recommendation.gpu_spec.name}
    return {pools.prefill.gpu.name, pools.decode.gpu.name}


def _per_dollar(gpu, figure: float, unit: str) -> str:
    price = gpu.price_usd_per_hour
    return f"{figure / price:,.0f} {unit} per $/h" if price else "unpriced"


def name_of(item: Recommendation) -> str:
    """The deployment in words: its layout, with the GPU type when it is aggregated."""
    rec = item.recommendation
    return rec.layout if rec.disaggregated is not None else f"{rec.gpu_spec.name} {rec.layout}"


def explain(best: Recommendation, single: Optional[Recommendation]) -> str:
    """Why ``best`` is cheaper than the best single-type deployment (or that it is one)."""
    if single is None:
        return "no single-GPU-type deployment meets the target within the SLOs"
    if best is single or gpu_types(best) == gpu_types(single):
        return "the cheapest deployment uses one GPU type; mixing types does not pay here"
    saving = 1.0 - (best.cost.usd_per_hour or 0.0) / max(single.cost.usd_per_hour or 1e-9, 1e-9)
    pools = best.recommendation.disaggregated
    p, d = pools.prefill.gpu, pools.decode.gpu
    return (f"{saving:.0%} less per hour than the best single-type deployment ({name_of(single)}, "
            f"${single.cost.usd_per_hour:,.2f}/h): prefill is compute-bound, so it goes to {p.name} "
            f"({p.bf16_tflops_dense or 0:g} dense bf16 TFLOPS, {_per_dollar(p, p.bf16_tflops_dense or 0, 'TFLOPS')}); decode "
            f"streams weights and KV, so it goes to {d.name} ({d.bandwidth_tb_s:g} TB/s, {d.memory_gib:g} GiB, "
            f"{_per_dollar(d, d.bandwidth_tb_s * 1000, 'GB/s')})")


def plan_fleet(model, *, gpus: list[str], target_requests_per_sec: Optional[float] = None,
               target_throughput_tokens_per_sec: Optional[float] = None, ttft_slo_ms: Optional[float] = None,
               itl_slo_ms: Optional[float] = None, **kwargs) -> FleetPlan:
    """The cheapest aggregated or disaggregated (possibly mixed-type) deployment carrying the target."""
    from gpurec_core.errors import WorkloadError
    from gpurec_core.recommend import recommend_gpus

    if target_requests_per_sec is None and target_throughput_tokens_per_sec is None:
        raise WorkloadError("fleet mode sizes the fleet for a target load: give target_requests_per_sec "
                            "(--target-rps) or target_throughput_tokens_per_sec (--target-tok-s)")
    result = recommend_gpus(model, gpus=gpus, disaggregated=True, prefill_gpus=gpus, decode_gpus=gpus,
                            target_requests_per_sec=target_requests_per_sec,
                            target_throughput_tokens_per_sec=target_throughput_tokens_per_sec,
                            ttft_slo_ms=ttft_slo_ms, itl_slo_ms=itl_slo_ms, include_non_fitting=False, **kwargs)
    usable = [r for r in result if r.recommendation.model_fits and r.meets_slo and not r.recommendation.reasons
              and r.cost.usd_per_hour is not None]
    usable.sort(key=lambda r: r.cost.usd_per_hour)
    best = usable[0] if usable else None
    single = next((r for r in usable if len(gpu_types(r)) == 1), None)
    if best is not None:
        why = explain(best, single)
    else:
        within = " within the SLOs" if ttft_slo_ms is not None or itl_slo_ms is not None else ""
        blockers = list(dict.fromkeys(reason for r in result for reason in r.recommendation.reasons))[:2] \
            or list(result.notes[-1:])
        why = f"no deployment carries the target{within}" + (f": {'; '.join(blockers)}" if blockers else "")
    return FleetPlan(best=best, best_single_type=single, why=why, result=result)
