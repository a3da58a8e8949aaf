"""``gpurec fleet``: the cheapest mix of GPU types and pool sizes for a target load and SLOs."""

from __future__ import annotations

from typing import Optional

import click

from gpurec_core.cli import profile_option
from gpurec_core.formatting import finite_json
from gpurec_core.models import FRONTENDS


@click.command("fleet")
@click.argument("model")
@click.option("--gpus", "--gpu", "gpus", required=True, help="comma-separated GPU types the fleet may use")
@click.option("--target-rps", type=float, default=None, help="requests per second the fleet must carry")
@click.option("--target-tok-s", type=float, default=None, help="output tokens per second the fleet must carry")
@click.option("--ttft-slo-ms", type=float, default=None)
@click.option("--itl-slo-ms", type=float, default=None)
@click.option("--input-length", "--input-len", "input_length", default=1024, show_default=True, type=int)
@click.option("--output-length", "--output-len", "output_length", default=512, show_default=True, type=int)
@click.option("--engine", default="vllm", show_default=True)
@click.option("--frontend", default="engine", show_default=True, type=click.Choice(FRONTENDS),
              help="what takes the requests: the engine's own server, or NVIDIA Dynamo's frontend")
@click.option("--precision", default=None, help="weight precision (default: the checkpoint's)")
@click.option("--json", "as_json", is_flag=True, help="JSON: the best deployment, the best single-type one, why")
@profile_option
def fleet_command(model: str, gpus: str, target_rps: Optional[float], target_tok_s: Optional[float],
                  ttft_slo_ms: Optional[float], itl_slo_ms: Optional[float], input_length: int, output_length: int,
                  engine: str, frontend: str, precision: Optional[str], as_json: bool) -> None:
    """The cheapest fleet for a target load within the SLOs: aggregated or disaggregated, GPU types mixed
    across the prefill and decode pools where that is cheaper (and why)."""
    from gpurec_core.fleet import name_of, plan_fleet

    from gpurec_core.queries import names as gpu_names

    names = gpu_names(gpus)
    plan = plan_fleet(model, gpus=names, target_requests_per_sec=target_rps,
                      target_throughput_tokens_per_sec=target_tok_s, ttft_slo_ms=ttft_slo_ms, itl_slo_ms=itl_slo_ms,
                      input_length=input_length, output_length=output_length, engine=engine, frontend=frontend,
                      precision=precision)
    if as_json:
        click.echo(finite_json(plan.to_dict()))
        return
    if plan.best is None:
        click.echo(f"No fleet: {plan.why}")
        return
    for label, item in (("cheapest fleet", plan.best), ("cheapest on one GPU type", plan.best_single_type)):
        if item is None:
            continue
        cost, rec = item.cost, item.recommendation
        per_m = f", ${cost.usd_per_million_output_tokens:,.2f}/M output tokens" if cost.usd_per_million_output_tokens else ""
        gpus = f"{rec.total_gpus} GPU{'s' if rec.total_gpus != 1 else ''}"
        click.echo(f"{label}: {name_of(item)} ({gpus}, {rec.mode}) — ${cost.usd_per_hour:,.2f}/h{per_m}")
    click.echo(f"why: {plan.why}")
