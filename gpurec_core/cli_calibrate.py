"""``gpurec calibrate``: fit the estimator to the user's own benchmark runs and write a profile."""

from __future__ import annotations

from typing import Optional

import click

from gpurec_core.formatting import finite_json
from gpurec_core.models import FRONTENDS


def _overrides(**flags) -> dict:
    return {k: v for k, v in flags.items() if v is not None}


@click.command("calibrate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "-o", "output", required=True, type=click.Path(dir_okay=False),
              help="where to write the profile (TOML)")
@click.option("--estimator", default="roofline", show_default=True, help="the estimator to fit")
@click.option("--folds", default=3, show_default=True, type=click.IntRange(2, 20),
              help="cross-validation folds over configurations")
@click.option("--gpu", default=None, help="GPU of the runs (wins over the files' metadata)")
@click.option("--model", default=None, help="model of the runs (wins over the files')")
@click.option("--engine", default=None, help="serving engine of the runs: vllm, sglang, trtllm")
@click.option("--engine-version", default=None)
@click.option("--frontend", default=None, type=click.Choice(FRONTENDS),
              help="what took the runs' requests: the engine's own server (the default) or NVIDIA Dynamo; the "
                   "fit starts from that front end's request overhead")
@click.option("--tensor-parallel-size", "-tp", type=int, default=None)
@click.option("--pipeline-parallel-size", "-pp", type=int, default=None)
@click.option("--data-parallel-size", "-dp", type=int, default=None)
@click.option("--expert-parallel-size", "-ep", type=int, default=None)
@click.option("--precision", default=None, help="weight precision of the runs, e.g. bf16, fp8")
@click.option("--kv-cache-dtype", default=None)
@click.option("--concurrency", type=int, default=None,
              help="closed-loop users of a vllm bench run that records none (a --request-rate run)")
@click.option("--json", "as_json", is_flag=True, help="print the profile as JSON too")
def calibrate_command(files: tuple[str, ...], output: str, estimator: str, folds: int, gpu: Optional[str],
                      model: Optional[str], engine: Optional[str], engine_version: Optional[str],
                      frontend: Optional[str],
                      tensor_parallel_size: Optional[int], pipeline_parallel_size: Optional[int],
                      data_parallel_size: Optional[int], expert_parallel_size: Optional[int],
                      precision: Optional[str], kv_cache_dtype: Optional[str], concurrency: Optional[int],
                      as_json: bool) -> None:
    """Fit the estimator to your benchmark runs: `vllm bench serve --save-result` JSON, GuideLLM
    benchmarks.json, or gpurec measurement CSV. Flags fill what the files do not record (or win).

    Per GPU, engine and precision of the runs it fits the factors the runs constrain, cross-validates
    over configurations and writes a profile; use it with --profile, GPUREC_PROFILE or a plugin."""
    from gpurec_core.benchmark_files import read_benchmark_file
    from gpurec_core.calibration import ANY, check_profile_path, write_profile
    from gpurec_core.plugins import fit_calibration

    check_profile_path(output)

    overrides = _overrides(gpu=gpu, model=model, engine=engine, engine_version=engine_version, frontend=frontend,
                           tensor_parallel_size=tensor_parallel_size, pipeline_parallel_size=pipeline_parallel_size,
                           data_parallel_size=data_parallel_size, expert_parallel_size=expert_parallel_size,
                           precision=precision, kv_cache_dtype=kv_cache_dtype, concurrency=concurrency)
    rows: list[dict] = []
    dates: list[str] = []
    for path in files:
        found = read_benchmark_file(path, overrides)
        rows += found
        dates += sorted({str(r["date"]) for r in found if r.get("date")})
    click.echo(f"gpurec: {len(rows)} measured values from {len(files)} file(s); fitting {estimator} "
               f"with {folds}-fold cross-validation", err=True)
    profile = fit_calibration(rows, estimator, files=tuple(files), file_dates=tuple(dates), folds=folds)
    write_profile(profile, output)
    if as_json:
        click.echo(finite_json(profile.model_dump(mode="json")))
        return
    for scope in profile.scopes:
        one_model = scope.model != ANY
        click.echo(f"{scope.label()}: {scope.rows} values, {scope.configurations} configurations, "
                   + (f"{scope.folds}-fold cross-validation" if scope.folds else "too few configurations to cross-validate")
                   + (" (refitted on this model alone; 'before' is the scope of every model)" if one_model else ""))
        for metric in sorted(set(scope.error_before) | set(scope.error_after)):
            b, a = scope.error_before.get(metric), scope.error_after.get(metric)
            if b and a:
                click.echo(f"  {metric}: median error {b.median:.1f}% -> {a.median:.1f}%, p90 {b.p90:.1f}% -> {a.p90:.1f}% "
                           f"({a.n} held-out values)")
        for factor in scope.factors:
            if factor.value is not None:
                click.echo(f"  {factor.name}: {factor.default:g} -> {factor.value:g}")
            else:
                click.echo(f"  {factor.name}: {factor.default:g} (not fitted: {factor.why})")
        if scope.delivery_read:
            click.echo("  front end's delivery ceiling: " + (f"{scope.delivery_tokens_per_s:,.0f} output tok/s per replica"
                       if scope.delivery_tokens_per_s else "none") + f" ({scope.delivery_read})")
    click.echo(f"wrote {output}; use it with --profile {output} or GPUREC_PROFILE={output}")
