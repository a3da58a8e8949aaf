"""`gpurec recommend MODEL`: the main job, with table, JSON, CSV, Markdown, plot and launch output."""

from __future__ import annotations

import csv
import io
from gpurec_core.cli import profile_option
from gpurec_core.formatting import finite_json
from typing import Optional

import click

from gpurec_core.models import FRONTENDS
from gpurec_core.queries import DEFAULT_ENGINE, DEFAULT_ESTIMATOR, DEFAULT_TOP
from gpurec_core.speculative import MAX_DRAFT_TOKENS
from gpurec_core.formatting import columns, explain_text, legend, raw_rows, rows, verdict, why_not, workload_line


LEGEND = """Columns (the default view shows the ones that decide; --wide shows all):

\b
{legend}

Ranking: candidates that fit and meet the SLOs first, then the cheapest per million output tokens
when loaded (saturation, or the most the SLOs allow), then per hour. A GPU without a catalog price
is ranked by a labelled estimate from its bandwidth ('~').
"""


def _recommend_help() -> str:
    from gpurec_core.formatting import legend

    return ("Recommend GPUs, counts and parallel layouts for serving MODEL (a bundled id, a path or a Hub id).\n\n"
            + LEGEND.format(legend=legend()))


@click.command("recommend", help=_recommend_help())
@click.argument("model")
@click.option("--input-length", "--input-len", "input_length", default=1024, show_default=True, type=int,
              help="prompt tokens per request")
@click.option("--output-length", "--output-len", "output_length", default=512, show_default=True, type=int,
              help="generated tokens per request")
@click.option("--max-model-len", "context_length", default=2048, show_default=True, type=int,
              help="context the KV cache must hold per request (raised to input + output)")
@click.option("--batch-size", "--concurrency", "batch_size", default=1, show_default=True, type=int,
              help="concurrent requests (closed loop) the deployment must hold and is estimated at")
@click.option("--precision", "--quantization", "precision", default=None,
              help="weight precision: fp32, fp16, bf16, fp8, int8, int4, nvfp4, mxfp4 (default: the checkpoint's)")
@click.option("--dtype", default=None, help="activation/weight dtype of an unquantized checkpoint: bf16, fp16, fp32")
@click.option("--kv-cache-dtype", default=None, help="auto (the checkpoint's), fp8, or bf16 / fp16 (a 16-bit cache)")
@click.option("--gpu-memory-utilization", default=0.9, show_default=True, type=float)
@click.option("--tensor-parallel-size", "-tp", default=None, type=int, help="only this TP size")
@click.option("--max-tensor-parallel", default=None, type=int, help="largest TP size to consider")
@click.option("--pipeline-parallel-size", "-pp", default=None, type=int, help="fix the pipeline stages (default: auto)")
@click.option("--max-gpus", default=None, type=int, help="largest deployment to consider")
@click.option("--gpus", "--gpu", "gpus", default=None, help="comma-separated GPU names (default: the whole catalog)")
@click.option("--disagg", "disaggregated", is_flag=True,
              help="also search disaggregated prefill/decode pools (xPyD), each GPU type serving both pools, and rank "
                   "them with the aggregated candidates (--prefill-gpus / --decode-gpus mix types)")
@click.option("--prefill-gpus", default=None,
              help="comma-separated GPU types allowed for the prefill pool, each paired with every decode type "
                   "(implies --disagg)")
@click.option("--decode-gpus", default=None,
              help="comma-separated GPU types allowed for the decode pool, each paired with every prefill type "
                   "(implies --disagg)")
@click.option("--engine", default=DEFAULT_ENGINE, show_default=True,
              help="serving engine: vllm, sglang, trtllm, or one a plugin adds (`gpurec engines`)")
@click.option("--estimator", default=DEFAULT_ESTIMATOR, show_default=True, help="performance estimator (`gpurec estimators`)")
@click.option("--frontend", default="engine", show_default=True, type=click.Choice(FRONTENDS),
              help="what takes the requests: the engine's own server, or NVIDIA Dynamo's frontend (adds its time "
                   "to TTFT)")
@click.option("--speculative-tokens", default=0, show_default=True, type=click.IntRange(0, MAX_DRAFT_TOKENS),
              help="draft tokens per request per step of MTP / EAGLE speculative decoding (vLLM "
                   "num_speculative_tokens, SGLang --speculative-num-steps); 0: none")
@click.option("--acceptance-length", default=None, type=float,
              help="tokens a request advances per speculative step (accepted drafts + 1); default: the median of "
                   "InferenceX's golden curves for that many drafts")
@click.option("--ttft-slo-ms", default=None, type=float, help="time-to-first-token target, ms")
@click.option("--itl-slo-ms", default=None, type=float, help="inter-token latency target, ms")
@click.option("--target-throughput", "target_tok", default=None, type=float, help="output tokens/s to carry (adds replicas)")
@click.option("--target-rps", default=None, type=float, help="requests/s to carry (adds replicas)")
@click.option("--text-only", "--language-model-only", "text_only", is_flag=True,
              help="serve a multimodal checkpoint without its vision/audio towers (vLLM --language-model-only)")
@click.option("--no-performance", is_flag=True, help="memory only (fast)")
@click.option("--fitting-only", is_flag=True, help="hide candidates that do not fit")
@click.option("--sort", "sort", default="rank", show_default=True, type=click.Choice(["rank", "cost", "performance"]))
@click.option("--top", default=DEFAULT_TOP, show_default=True, type=click.IntRange(min=0), help="rows to show (0: all)")
@click.option("--wide", is_flag=True, help="every column, whatever the terminal's width")
@click.option("--json", "as_json", is_flag=True, help="JSON (schema: docs/recommend.schema.json)")
@click.option("--csv", "as_csv", is_flag=True, help="CSV of every column: raw numbers, units in the header")
@click.option("--markdown", "as_markdown", is_flag=True, help="a Markdown table of every column")
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False),
              help="draw throughput per GPU against ITL to FILE.png or FILE.html (needs matplotlib)")
@click.option("--explain", is_flag=True, help="memory and latency breakdown of the top candidate, and the legend")
@click.option("--launch", is_flag=True, help="print the engine's command line for each shown candidate")
@profile_option
def recommend_command(model: str, input_length: int, output_length: int, context_length: int, batch_size: int,
                      precision: Optional[str], dtype: Optional[str], kv_cache_dtype: Optional[str],
                      gpu_memory_utilization: float, tensor_parallel_size: Optional[int],
                      max_tensor_parallel: Optional[int], pipeline_parallel_size: Optional[int], max_gpus: Optional[int],
                      gpus: Optional[str], disaggregated: bool, prefill_gpus: Optional[str],
                      decode_gpus: Optional[str], engine: str, estimator: str, frontend: str,
                      speculative_tokens: int, acceptance_length: Optional[float], ttft_slo_ms: Optional[float],
                      itl_slo_ms: Optional[float], target_tok: Optional[float], target_rps: Optional[float],
                      text_only: bool, no_performance: bool, fitting_only: bool, sort: str, top: int, wide: bool,
                      as_json: bool, as_csv: bool, as_markdown: bool, plot_path: Optional[str], explain: bool,
                      launch: bool) -> None:
    from gpurec_core.queries import recommend_json, run_recommend

    formats = [name for name, on in (("--json", as_json), ("--csv", as_csv), ("--markdown", as_markdown)) if on]
    if len(formats) > 1:
        raise click.UsageError(f"{' and '.join(formats)} conflict: choose one output format")
    quiet = bool(formats)
    result = _with_progress(quiet, lambda progress: run_recommend(
        model, input_length=input_length, output_length=output_length, context_length=context_length,
        batch_size=batch_size, precision=precision, dtype=dtype, kv_cache_dtype=kv_cache_dtype,
        gpu_memory_utilization=gpu_memory_utilization, tensor_parallel_size=tensor_parallel_size,
        max_tensor_parallel=max_tensor_parallel, pipeline_parallel_size=pipeline_parallel_size, max_gpus=max_gpus,
        gpus=gpus, disaggregated=disaggregated, prefill_gpus=prefill_gpus, decode_gpus=decode_gpus, engine=engine,
        estimator=estimator, ttft_slo_ms=ttft_slo_ms, itl_slo_ms=itl_slo_ms, target_tok=target_tok,
        target_rps=target_rps, text_only=text_only, no_performance=no_performance, fitting_only=fitting_only,
        sort=sort, progress=progress, frontend=frontend, speculative_tokens=speculative_tokens,
        acceptance_length=acceptance_length))
    shown = result.recommendations[:top] if top else result.recommendations
    if plot_path:
        from gpurec_core.plotting import plot_recommendations

        plot_recommendations(result, plot_path, top=top or None)
    if as_json:
        click.echo(finite_json(recommend_json(result, top)))
        return
    if as_csv or as_markdown:
        _print_raw(result, shown, markdown=as_markdown)
        return
    _print_terminal(result, shown, wide=wide)
    if explain and shown:
        click.echo(explain_text(shown[0], result.precision, result.model_id))
        click.echo("\nColumns:\n" + legend(slos=bool(ttft_slo_ms or itl_slo_ms)))
    if launch:
        for i, item in enumerate(shown, 1):
            if item.recommendation.model_fits:
                command = item.launch_command().replace("\n", "\n  ")
                click.echo(f"#{i} {item.recommendation.gpu_spec.name} {item.recommendation.layout}:\n  {command}")
    if plot_path:
        click.echo(f"plot written to {plot_path}")


def _print_raw(result, shown, *, markdown: bool) -> None:
    """CSV or Markdown of every column: raw numbers, units in the header."""
    cols = columns(wide=True, slos=True, raw=True)
    body = raw_rows(shown, cols)
    headers = [c.key if not markdown else c.header for c in cols]
    if not markdown:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        writer.writerows(body)
        click.echo(buffer.getvalue().rstrip("\n"))
        return
    click.echo(verdict(result) + "\n")
    click.echo("| " + " | ".join(headers) + " |")
    click.echo("|" + "|".join("---:" if c.numeric else "---" for c in cols) + "|")
    for row in body:
        click.echo("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")


def _with_progress(quiet: bool, run):
    """Run the search with a progress bar on stderr when it is interactive and long."""
    import sys

    if quiet or not sys.stderr.isatty():
        return run(None)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("searching GPUs and layouts", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run(progress)


def _print_terminal(result, shown, *, wide: bool) -> None:
    """The verdict, the workload, the table at the terminal's width, why-not footnotes and the notes."""
    import shutil
    import textwrap

    from rich import box
    from rich.console import Console
    from rich.table import Table

    width = shutil.get_terminal_size((100, 40)).columns
    console = Console(soft_wrap=False, width=max(200, width) if wide else max(40, width), highlight=False)
    wrap = (lambda text: text) if wide else (lambda text: "\n".join(textwrap.wrap(text, width - 1)))
    click.echo(wrap(verdict(result)))
    click.echo(wrap(workload_line(result)))
    slos = result.workload.get("ttft_slo_ms") is not None or result.workload.get("itl_slo_ms") is not None
    cols = columns(wide=wide, slos=slos)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False, show_edge=False, header_style="bold")
    for c in cols:
        table.add_column(c.header, justify="right" if c.numeric else "left", no_wrap=c.numeric,
                         overflow="fold", max_width=60 if c.key == "why_not" else None)
    for row in rows(shown, cols, bands=wide):
        table.add_row(*row)
    if shown:
        console.print(table)
    if not wide:
        for i, item in enumerate(shown, 1):
            reason = why_not(item)
            if reason:
                click.echo(wrap(f"#{i} {item.recommendation.gpu_spec.name} {item.recommendation.layout}: {reason}"))
    for note in result.notes:
        click.echo(wrap(f"note: {note}"))
    if any(r.cost.price_estimated and r.cost.usd_per_hour is not None for r in shown):
        click.echo(wrap("note: '~$': the GPU has no catalog price; its $ figures use an estimate from its "
                        "bandwidth (gpurec_core.pricing), ranked with the others"))
