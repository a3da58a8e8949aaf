"""What one GPU-hour costs: the catalog's dated price, or an explicit, labelled estimate.

A GPU without a price would otherwise sink below every priced one in a ranking by cost. Instead
it gets an estimate from its memory bandwidth — the figure that sets decode speed, and the one
rental prices follow most closely across generations — at the median price per TB/s of the
priced GPUs in the catalog::

    estimate = bandwidth_tb_s x median over priced GPUs (price_usd_per_hour / bandwidth_tb_s)

The estimate is always labelled (``Cost.price_estimated``, ``est.`` in tables) and its basis
stated; it is a guess, not a quote. A GPU without a bandwidth figure gets no estimate.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterable, Optional

from gpurec_core.models import GPUSpec


@dataclass(frozen=True)
class GPUPrice:
    """A price per GPU-hour, whether it is the catalog's or an estimate, and on what basis."""

    usd_per_hour: Optional[float]
    estimated: bool
    basis: str
    date: Optional[str] = None


def usd_per_tb_s_hour(specs: Iterable[GPUSpec]) -> Optional[tuple[float, int]]:
    """The median price per TB/s of bandwidth per hour over priced GPUs, and how many there are."""
    ratios = [s.price_usd_per_hour / s.bandwidth_tb_s for s in specs if s.price_usd_per_hour and s.bandwidth_tb_s]
    return (statistics.median(ratios), len(ratios)) if ratios else None


def gpu_price(gpu: GPUSpec, catalog: Iterable[GPUSpec]) -> GPUPrice:
    """``gpu``'s catalog price, else the bandwidth estimate over the priced GPUs of ``catalog``."""
    if gpu.price_usd_per_hour is not None:
        source = gpu.sources.get("price_usd_per_hour") or "catalog price"
        return GPUPrice(gpu.price_usd_per_hour, False, source, gpu.price_date)
    ratio = usd_per_tb_s_hour(catalog)
    if ratio is None or not gpu.bandwidth_tb_s:
        return GPUPrice(None, True, "no price in the catalog, and no bandwidth figure to estimate one from")
    per_tb_s, count = ratio
    return GPUPrice(gpu.bandwidth_tb_s * per_tb_s, True,
                    f"estimated: {gpu.bandwidth_tb_s:g} TB/s x ${per_tb_s:.2f} per TB/s-hour, the median of the "
                    f"{count} priced GPUs in the catalog (no price listed for {gpu.name})")
