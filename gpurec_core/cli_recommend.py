"""`gpurec recommend MODEL`: the main job, with table, JSON, CSV, Markdown, plot and launch output."""

from __future__ import annotations

import csv
import io
from gpurec_core.cli import finite_json
from typing import Optional

import click

from gpurec_core.formatting import SUMMARY_COLUMNS, summary_row, why_not


@click.command("recommend")
@click.argument("model")
@click.option("--input-length", default=1024, show_default=True, type=int, help="prompt tokens per request")
@click.option("--output-length", default=512, show_default=True, type=int, help="generated tokens per request")
@click.option("--max-model-len", "context_length", default=2048, show_default=True, type=int,
              help="context the KV cache must hold per request (raised to input + output)")
@click.option("--batch-size", "--concurrency", "batch_size", default=1, show_default=True, type=int,
              help="concurrent requests (closed loop) the deployment must hold and is estimated at")
@click.option("--precision", "--quantization", "precision", default=None,
              help="weight precision override: fp32, fp16, bf16, fp8, int8, int4 (default: inferred)")
@click.option("--kv-cache-dtype", default=None, help="auto or fp8")
@click.option("--gpu-memory-utilization", default=0.9, show_default=True, type=float)
@click.option("--tensor-parallel-size", "-tp", default=None, type=int, help="only this TP size")
@click.option("--max-tensor-parallel", default=None, type=int, help="largest TP size to consider")
@click.option("--pipeline-parallel-size", "-pp", default=None, type=int, help="fix the pipeline stages (default: auto)")
@click.option("--max-gpus", default=None, type=int, help="largest deployment to consider")
@click.option("--gpus", default=None, help="comma-separated GPU names (default: the whole catalog)")
@click.option("--engine", default="vllm", show_default=True,
              help="serving engine: vllm, sglang, trtllm, or one a plugin adds (`gpurec engines`)")
@click.option("--estimator", default="roofline", show_default=True, help="performance estimator (`gpurec estimators`)")
@click.option("--ttft-slo-ms", default=None, type=float, help="time-to-first-token target, ms")
@click.option("--itl-slo-ms", default=None, type=float, help="inter-token latency target, ms")
@click.option("--target-throughput", "target_tok", default=None, type=float, help="output tokens/s to carry (adds replicas)")
@click.option("--target-rps", default=None, type=float, help="requests/s to carry (adds replicas)")
@click.option("--text-only", "--language-model-only", "text_only", is_flag=True,
              help="serve a multimodal checkpoint without its vision/audio towers (vLLM --language-model-only)")
@click.option("--no-performance", is_flag=True, help="memory only (fast)")
@click.option("--fitting-only", is_flag=True, help="hide candidates that do not fit")
@click.option("--sort", "sort", default="rank", show_default=True, type=click.Choice(["rank", "cost", "performance"]))
@click.option("--top", default=15, show_default=True, type=int, help="rows to show (0: all)")
@click.option("--json", "as_json", is_flag=True, help="JSON (schema: docs/recommend.schema.json)")
@click.option("--csv", "as_csv", is_flag=True, help="CSV of the summary columns")
@click.option("--markdown", "as_markdown", is_flag=True, help="a Markdown table")
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False),
              help="draw throughput per GPU against ITL to FILE.png or FILE.html (needs matplotlib)")
@click.option("--explain", is_flag=True, help="memory and latency breakdown of the top candidate")
@click.option("--launch", is_flag=True, help="print the engine's command line for each shown candidate")
def recommend_command(model: str, input_length: int, output_length: int, context_length: int, batch_size: int,
                      precision: Optional[str], kv_cache_dtype: Optional[str], gpu_memory_utilization: float,
                      tensor_parallel_size: Optional[int], max_tensor_parallel: Optional[int],
                      pipeline_parallel_size: Optional[int], max_gpus: Optional[int], gpus: Optional[str], engine: str,
                      estimator: str, ttft_slo_ms: Optional[float], itl_slo_ms: Optional[float],
                      target_tok: Optional[float], target_rps: Optional[float], text_only: bool, no_performance: bool,
                      fitting_only: bool, sort: str, top: int, as_json: bool, as_csv: bool, as_markdown: bool,
                      plot_path: Optional[str], explain: bool, launch: bool) -> None:
    """Recommend GPUs, counts and parallel layouts for serving MODEL (a bundled id, a path or a Hub id)."""
    from gpurec_core.recommend import recommend_gpus

    gpu_list = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
    quiet = as_json or as_csv or as_markdown
    result = _with_progress(quiet, lambda progress: recommend_gpus(
        model, input_length=input_length, output_length=output_length, precision=precision,
        context_length=context_length, batch_size=batch_size, gpu_memory_utilization=gpu_memory_utilization,
        max_tensor_parallel=tensor_parallel_size or max_tensor_parallel,
        estimate_performance_flag=not no_performance, max_gpus=max_gpus, gpus=gpu_list, kv_cache_dtype=kv_cache_dtype,
        engine=engine, estimator=estimator, ttft_slo_ms=ttft_slo_ms, itl_slo_ms=itl_slo_ms,
        target_throughput_tokens_per_sec=target_tok, target_requests_per_sec=target_rps,
        pipeline_parallel=pipeline_parallel_size, include_non_fitting=not fitting_only, progress=progress,
        text_only=text_only))
    if tensor_parallel_size:
        result = result._derive([r for r in result if r.recommendation.tensor_parallel_size == tensor_parallel_size])
    {"cost": result.sort_by_cost, "performance": result.sort_by_performance, "rank": result.rank}[sort]()
    shown = result.recommendations[:top] if top else result.recommendations
    if plot_path:
        from gpurec_core.plotting import plot_recommendations

        plot_recommendations(result, plot_path, top=top or None)
    if as_json:
        data = result.to_dict()
        data["recommendations"] = data["recommendations"][: top or None]
        click.echo(finite_json(data))
        return
    rows = [summary_row(i, item) for i, item in enumerate(shown, 1)]
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(SUMMARY_COLUMNS)
        writer.writerows(rows)
        click.echo(buffer.getvalue().rstrip("\n"))
        return
    if as_markdown:
        click.echo("| " + " | ".join(SUMMARY_COLUMNS) + " |")
        click.echo("|" + "---|" * len(SUMMARY_COLUMNS))
        for row in rows:
            click.echo("| " + " | ".join(row) + " |")
        return
    _print_rich(result, shown, rows)
    if explain and shown:
        click.echo(explain_text(shown[0]))
    if launch:
        for i, item in enumerate(shown, 1):
            if item.recommendation.model_fits:
                click.echo(f"#{i} {item.recommendation.gpu_spec.name} {item.recommendation.layout}:\n"
                           f"  {item.launch_command()}")
    if plot_path:
        click.echo(f"plot written to {plot_path}")


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


def _print_rich(result, shown, rows) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False, width=200)
    table = Table(title=f"{result.model_id}: {result.precision} weights, KV {result.kv_cache_dtype}, "
                        f"in {result.workload['input_length']} / out {result.workload['output_length']} tokens, "
                        f"context {result.workload['context_length']}, batch {result.workload['batch_size']} "
                        f"(memory GiB per GPU; $ from dated catalog prices)", header_style="bold")
    for column in SUMMARY_COLUMNS + ["why not"]:
        table.add_column(column, overflow="fold", max_width=60 if column == "why not" else None)
    for item, row in zip(shown, rows):
        table.add_row(*row, why_not(item))
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    if any(r.cost.basis == "gpu_memory_proxy" for r in shown):
        console.print("note: '-' in $ columns: no dated price in the catalog; --sort cost then uses GPUs x memory as a proxy")


def explain_text(item) -> str:
    """Memory and latency breakdown of one candidate, with the inputs of the formulas."""
    rec, mem, perf = item.recommendation, item.recommendation.memory, item.performance
    gpu = rec.gpu_spec
    lines = [f"\nWhy {gpu.name} {rec.layout}:",
             f"  GPU: {gpu.memory_gib:g} GiB visible, {gpu.bandwidth_tb_s} TB/s, bf16 {gpu.bf16_tflops} / fp8 "
             f"{gpu.fp8_tflops_dense} dense TFLOPS, {gpu.interconnect} {gpu.interconnect_gb_s} GB/s",
             f"  memory per GPU ({mem.engine}): budget {mem.budget_gib:.2f} GiB = {mem.total_gib:g} x "
             f"{item.deployment.gpu_memory_utilization:g}",
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
        lines += [f"    {name}: {value:.3f} ms" for name, value in perf.breakdown.items()]
    if item.saturation is not None and item.saturation.error is None:
        sat = item.saturation
        lines.append(f"  saturation: {sat.concurrency} users -> {sat.throughput_tokens_per_sec:,.0f} output tok/s, "
                     f"ITL {sat.inter_token_latency_ms:.1f} ms, TTFT {sat.time_to_first_token_ms:.0f} ms")
    if item.slo is not None:
        lines.append(f"  SLO: up to {item.slo.max_concurrency} users, goodput {item.slo.goodput_tokens_per_sec:,.0f} tok/s")
    return "\n".join(lines)

