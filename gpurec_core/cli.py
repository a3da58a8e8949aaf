"""`gpurec ...`: the command-line interface.

Every command takes ``--json``. A :class:`GpurecError` prints one line on stderr and exits 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import shutil
import warnings
from typing import Any, Optional

import click

from gpurec_core.formatting import finite_json
from gpurec_core.errors import GpurecError, one_line
from gpurec_core.speculative import MAX_DRAFT_TOKENS

EXIT_USER_ERROR = 2


def _echo_json(data: Any) -> None:
    click.echo(finite_json(data))


def _console():
    from rich.console import Console

    return Console(soft_wrap=False, width=max(100, shutil.get_terminal_size((160, 40)).columns))


def _table(title: str, columns: list[str], rows: list[list[Any]]):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else escape(str(v)) for v in row])  # '[...]' in a source is text, not markup
    return table


def _plain(value: Any) -> Any:
    """A float as a person reads it: 71.27, 0.0312, 1,234,567 (never 71.2710000006482)."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return value


def _fmt(value: Optional[float], digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


class GpurecGroup(click.Group):
    """Turns GpurecError into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GpurecError as exc:
            message = one_line(str(exc))
            click.echo(f"gpurec: error: {message}", err=True)
            ctx.exit(EXIT_USER_ERROR)


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


def profile_option(command):
    """``--profile PATH`` (repeatable): estimate with these calibration profiles first (then
    GPUREC_PROFILE, then profiles plugins ship); see docs/calibrate.md."""
    import functools

    @click.option("--profile", "profiles", multiple=True, type=click.Path(dir_okay=False),
                  help="calibration profile from `gpurec calibrate` (repeatable; also GPUREC_PROFILE)")
    @functools.wraps(command)
    def wrapper(*args, profiles: tuple[str, ...] = (), **kwargs):
        from gpurec_core.calibration import using_profiles

        with using_profiles(list(profiles)):
            return command(*args, **kwargs)
    return wrapper


@click.group(cls=GpurecGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gpurec", prog_name="gpurec")
def cli() -> None:
    """Which GPUs, how many, in what parallel layout: memory, speed and cost of serving an LLM."""


# -- GPUs -------------------------------------------------------------------------------------
@cli.command("gpus")
@json_option
def gpus_command(as_json: bool) -> None:
    """List every GPU in the catalog (bundled, user TOML files and plugins)."""
    from gpurec_core.plugins import gpu_catalog
    from gpurec_core.queries import gpus_json

    specs = gpu_catalog().specs
    if as_json:
        _echo_json(gpus_json())
        return
    rows = [
        [s.name, s.manufacturer, s.architecture or "", _fmt(s.memory_gib, 1), _fmt(s.bandwidth_tb_s, 2),
         _fmt(s.bf16_tflops, 0), _fmt(s.fp8_tflops_dense, 0), _fmt(s.fp4_tflops_dense, 0),
         s.interconnect or "", _fmt(s.price_usd_per_hour, 2), s.confidence, s.provided_by]
        for s in specs
    ]
    _console().print(_table(
        f"{len(specs)} accelerators (memory GiB as engines see it; dense TFLOPS; `gpurec gpu NAME` shows sources)",
        ["GPU", "vendor", "arch", "GiB", "TB/s", "bf16", "fp8", "fp4", "interconnect", "$/GPU-h", "conf.", "plugin"],
        rows))


@cli.command("gpu")
@click.argument("name")
@json_option
def gpu_command(name: str, as_json: bool) -> None:
    """Show one GPU with the source of every figure, the figures gpurec assumed and those missing."""
    from gpurec_core.gpu_assumptions import assumed_figures, missing_figures
    from gpurec_core.gpus import get_gpu_spec

    spec = get_gpu_spec(name)
    data = spec.model_dump(by_alias=False)
    assumed = assumed_figures(spec)
    missing = missing_figures(spec)
    if as_json:
        data["assumed"] = [{"field": field, "value": value, "assumption": why} for field, value, why in assumed]
        data["missing"] = [{"field": field, "consequence": consequence} for field, consequence in missing]
        _echo_json(data)
        return
    rows = []
    for field, value in data.items():
        if field in ("sources",) or value in (None, "", ()):
            continue
        source = spec.sources.get(field, "")
        rows.append([field, value if not isinstance(value, (list, tuple)) else ", ".join(value),
                     "assumed by gpurec (below)" if field in {row[0] for row in assumed} else source])
    console = _console()
    console.print(_table(f"{spec.name} ({spec.manufacturer})", ["field", "value", "source"], rows))
    if assumed:
        console.print(_table(f"assumed by gpurec (not in the catalog entry; confidence {spec.confidence})",
                             ["field", "value", "assumption"], [list(row) for row in assumed]))
    if missing:
        console.print(_table("missing: what gpurec does without them", ["field", "consequence"],
                             [list(row) for row in missing]))


# -- plugins and estimators ---------------------------------------------------------------------
@cli.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List installed plugins: version, hooks, built-in or not, and which are broken, timed out or disabled.

    The hooks that list things (GPUs, estimators, engines) are called first, so a plugin that
    fails or hangs in them shows here with its reason."""
    from gpurec_core.plugins import gpu_catalog, list_engines, list_estimators, plugin_records

    for listing in (gpu_catalog, list_estimators, list_engines):
        try:
            listing()
        except GpurecError:  # a bundled plugin's or a user catalog's error: the records still show
            pass
    records = plugin_records()
    if as_json:
        _echo_json([r.to_dict() for r in records])
        return
    rows = [[r.name, r.version, "yes" if r.builtin else "no", ", ".join(r.hooks), r.module,
             r.status if r.reason is None else f"{r.status}: {r.reason}"] for r in records]
    _console().print(_table("gpurec plugins", ["name", "version", "built-in", "hooks", "module", "status"], rows))


@cli.command("engines")
@json_option
def engines_command(as_json: bool) -> None:
    """List serving engines: memory profile, the layouts each runs, its launcher, and its plugin."""
    from gpurec_core.plugins import list_engines

    infos = list_engines()
    if as_json:
        _echo_json([i.model_dump(mode="json") for i in infos])
        return
    def layouts(i) -> str:
        kinds = ["TP"] + [k for k, runs in (("PP", i.pipeline_parallel), ("EP", i.expert_parallel),
                                             ("DP", i.data_parallel)) if runs]
        return " ".join(kinds)
    rows = [[i.name, ", ".join(i.aliases) or "-", i.version, i.provided_by, layouts(i),
             ", ".join(i.manufacturers) or "any", " ".join(i.launch.command) if i.launch else "-", i.memory_profile]
            for i in infos]
    _console().print(_table("engines", ["name", "also", "version", "plugin", "layouts", "GPUs", "launcher",
                                        "memory profile"], rows))


@cli.command("estimators")
@json_option
@profile_option
def estimators_command(as_json: bool) -> None:
    """List performance estimators, whether each can run here, and the calibration profile in use."""
    from gpurec_core.calibration import describe_active
    from gpurec_core.plugins import list_estimators

    infos = list_estimators()
    if as_json:
        _echo_json([{**i.model_dump(), "calibration_profile": describe_active(i.name) or None} for i in infos])
        return
    rows = [[i.name, "yes" if i.usable else "no", i.provided_by, i.description if i.usable else i.reason] for i in infos]
    _console().print(_table("estimators", ["name", "usable", "plugin", "description / why not"], rows))
    from gpurec_core.calibration import describe_active

    for info in infos:
        used = describe_active(info.name)
        click.echo(f"{info.name}: calibration profile in use: {used}" if used else
                   f"{info.name}: no calibration profile in use (bundled constants)")


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    _silence_library_noise()
    warnings.showwarning = _show_warning
    cli.main(args=argv, prog_name="gpurec")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``gpurec: warning: ...`` (no file, line or class name)."""
    click.echo(f"gpurec: warning: {one_line(str(message))}", err=True)


def _silence_library_noise() -> None:
    import os

    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")



# -- models -------------------------------------------------------------------------------------
@cli.command("models")
@click.argument("query", required=False)
@click.option("--family", default=None, help="llama, qwen, deepseek, gemma, mistral, phi, glm ... or an organisation")
@json_option
def models_command(query: Optional[str], family: Optional[str], as_json: bool) -> None:
    """List the bundled offline model catalog (ids containing QUERY): family, parameters, kind, context."""
    from gpurec_core.model_catalog import catalog_rows

    models = catalog_rows(query, family)
    if as_json:
        _echo_json(models)
        return
    if not models:
        raise click.UsageError(f"no bundled model matches{' ' + repr(query) if query else ''}"
                               f"{' in family ' + repr(family) if family else ''}; `gpurec models` lists them all, "
                               "and any directory holding a config.json works too")
    rows = [[m["id"], m["family"], _fmt(m["parameters"] / 1e9, 2),
             _fmt(m["active_parameters"] / 1e9, 2) if m["active_parameters"] != m["parameters"] else "",
             m["kind"], m["attention"], f"{m['context_length']:,}", m["config_of"] or ""] for m in models]
    _console().print(_table(f"{len(models)} bundled models (offline)",
                            ["model", "family", "B params", "B active", "kind", "attention", "context", "config of"],
                            rows))


@cli.command("model")
@click.argument("model")
@click.option("--gpu", "--gpus", "gpu", default="H100", show_default=True, help="GPU name or alias")
@click.option("--tensor-parallel-size", "-tp", default=1, show_default=True, type=int)
@click.option("--pipeline-parallel-size", "-pp", default=1, show_default=True, type=int)
@click.option("--max-model-len", type=int, default=None, help="context the KV pool must hold (default: the model's maximum)")
@click.option("--gpu-memory-utilization", type=float, default=0.9, show_default=True)
@click.option("--dtype", default=None, help="runtime dtype override: bf16, fp16, fp32")
@click.option("--quantization", "--precision", "quantization", default=None,
              help="weight precision / runtime quantization, e.g. fp8, int4 (default: the checkpoint's)")
@click.option("--kv-cache-dtype", default=None, help="auto (the checkpoint's), fp8, or bf16 / fp16 (a 16-bit cache)")
@click.option("--max-num-batched-tokens", type=int, default=None)
@click.option("--max-num-seqs", type=int, default=None)
@click.option("--engine", default="vllm", show_default=True,
              help="serving engine: vllm, sglang, trtllm, or one a plugin adds (`gpurec engines`)")
@click.option("--text-only", "--language-model-only", "text_only", is_flag=True,
              help="serve a multimodal checkpoint without its vision/audio towers (vLLM --language-model-only)")
@click.option("--speculative-tokens", default=0, show_default=True, type=click.IntRange(0, MAX_DRAFT_TOKENS),
              help="plan the draft module of MTP / EAGLE speculative decoding too (weights and KV cache)")
@json_option
@profile_option
def model_command(model: str, gpu: str, tensor_parallel_size: int, pipeline_parallel_size: int,
                  max_model_len: Optional[int], gpu_memory_utilization: float, dtype: Optional[str],
                  quantization: Optional[str], kv_cache_dtype: Optional[str], max_num_batched_tokens: Optional[int],
                  max_num_seqs: Optional[int], engine: str, text_only: bool, speculative_tokens: int,
                  as_json: bool) -> None:
    """Analyse a model: parameters, precision, and the per-GPU memory plan of one layout."""
    from gpurec_core.queries import model_report

    arch, facts, plan, payload = model_report(
        model, gpu=gpu, tensor_parallel_size=tensor_parallel_size, pipeline_parallel_size=pipeline_parallel_size,
        max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization, dtype=dtype,
        quantization=quantization, kv_cache_dtype=kv_cache_dtype, max_num_batched_tokens=max_num_batched_tokens,
        max_num_seqs=max_num_seqs, engine=engine, text_only=text_only, speculative_tokens=speculative_tokens)
    if as_json:
        _echo_json(payload)
        return
    console = _console()
    rows = [[k, v if not isinstance(v, dict) else ", ".join(f"{a}={b}" for a, b in v.items())]
            for k, v in facts.items() if k not in ("precision", "parameter_breakdown")]
    precision = arch.precision
    experts = ""
    if precision.routed_expert_weight:
        experts = (f", routed experts {precision.routed_expert_weight} "
                   f"({precision.quantized_bytes_per_param('routed_experts'):g} B/param)")
    rows.append(["precision", f"{precision.weight} weights ({precision.weight_bytes_per_param:g} B/param){experts}, "
                              f"KV {precision.kv_cache_dtype}, {precision.source}"])
    console.print(_table(arch.model_id, ["fact", "value"], rows))
    plan_rows = [[k, _plain(v)] for k, v in plan.model_dump().items() if k not in ("notes",)]
    plan_rows += [["note", n] for n in plan.notes]
    console.print(_table(f"memory plan per GPU ({engine}, {gpu}, TP{tensor_parallel_size} PP{pipeline_parallel_size}; GiB)",
                         ["field", "value"], plan_rows))


# -- validate -----------------------------------------------------------------------------------
@cli.command("validate")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--estimator", "estimators", multiple=True, default=("roofline",), show_default=True,
              help="estimator for serving files; repeat to compare")
@click.option("--worst", default=10, show_default=True, help="worst rows to show")
@json_option
@profile_option
def validate_command(csv_file: str, estimators: tuple[str, ...], worst: int, as_json: bool) -> None:
    """Predict every row of a measurement CSV and report the error per metric.

    Memory, serving and disaggregated files are told apart by their columns; docs/validate.md
    lists them and says how each row is read."""
    from gpurec_core.validate import validate_file

    reports = {name: validate_file(csv_file, estimator=name) for name in estimators}
    if as_json:
        data = {name: r.model_dump(mode="json") for name, r in reports.items()}
        _echo_json(next(iter(data.values())) if len(data) == 1 else data)
        return
    console = _console()
    for name, report in reports.items():
        _print_report(console, f"{csv_file} — estimator {name}" if len(reports) > 1 else csv_file, report, worst)


def _print_report(console, title: str, report, worst: int) -> None:
    def metric_rows(metrics: dict) -> list[list[str]]:
        return [[m, str(s.get("n")), _fmt(s.get("median_ape"), 2, "%"), _fmt(s.get("p90_ape"), 2, "%"),
                 _fmt(s.get("max_ape"), 2, "%") if s.get("max_ape") is not None else "-"] for m, s in metrics.items()]

    data = report.model_dump(mode="json")
    console.print(_table(f"{title}: absolute percentage error per metric", ["metric", "n", "median", "p90", "max"],
                         metric_rows(data["metrics"])))
    for group in ("by_engine", "by_model"):
        rows = []
        for key, metrics in (data.get(group) or {}).items():
            rows += [[key] + r for r in metric_rows(metrics)]
        if rows:
            console.print(_table(group.replace("_", " "), ["group", "metric", "n", "median", "p90", "max"], rows))
    worst_rows = (data.get("worst") or [])[:worst]
    if worst_rows:
        console.print(_table("worst rows", ["model", "config", "metric", "measured", "predicted", "APE"],
                             [[r.get("model"), r.get("config"), r.get("metric"), _fmt(r.get("measured"), 2),
                               _fmt(r.get("predicted"), 2), _fmt(r.get("ape"), 1, "%")] for r in worst_rows]))
    if data.get("max_ratio") is not None:
        console.print(f"{data['n_over_5x']} row(s) more than 5x off; the farthest is {data['max_ratio']:.1f}x off.")
    flagged = [r for r in data.get("rows", []) if r.get("flag")]
    if flagged:
        console.print(f"{len(flagged)} row(s) flagged as measurements that contradict their own configuration "
                      f"(predicted and counted above; without them the farthest is {data['max_ratio_unflagged']:.1f}x off), "
                      f"e.g. {flagged[0].get('model')} {flagged[0].get('config')}: {flagged[0].get('flag')}")
    noted: dict[str, list[dict]] = {}
    for r in data.get("rows", []):
        if r.get("note") and not r.get("error"):
            noted.setdefault(re.sub(r"\d+", "N", r["note"]), []).append(r)
    for same in noted.values():
        console.print(f"{len(same)} row(s) noted, e.g. {same[0].get('model')} {same[0].get('config')}: {same[0]['note']}.")
    served = [r.get("frontend") for r in data.get("rows", []) if r.get("frontend")]
    if served:
        via = served.count("dynamo")
        console.print(f"Front ends: {via} row(s) read as served through NVIDIA Dynamo, {len(served) - via} through the "
                      "engine's own server (a frontend column, a dynamo-* engine name or a Dynamo image in the source "
                      "says Dynamo; docs/validate.md).")
    drawn = [r for r in data.get("rows", []) if r.get("random_range_ratio") is not None]
    if drawn:
        console.print(f"{len(drawn)} row(s) read as runs whose benchmark drew each request's lengths at random (a "
                      "random_range_ratio column, or a source naming InferenceX or one of its configurations): "
                      "predicted at their mean lengths (docs/validate.md).")
    speculative = [r for r in data.get("rows", []) if r.get("speculative_tokens")]
    if speculative:
        console.print(f"{len(speculative)} row(s) read as speculative decoding (a speculative_tokens column): "
                      "timed with their draft and verify steps, at their acceptance_length or the default "
                      "(docs/estimators.md).")
    counted = [r for r in data.get("rows", []) if r.get("num_prompts")]
    if counted:
        console.print(f"{len(counted)} row(s) read with the number of requests their run sent (a num_prompts column): "
                      "the start-up burst is concurrency / num_prompts of their mean TTFT (docs/validate.md).")
    errors = [r for r in data.get("rows", []) if r.get("error")]
    if errors:
        console.print(f"{len(errors)} row(s) could not be predicted, e.g. {errors[0].get('model')}: {errors[0].get('error')}")
    with_dp = [r for r in data.get("rows", []) if data.get("kind") == "serving"
               and re.search(r"\bdp([2-9]|\d{2,})\b", r.get("config") or "")]
    if with_dp:
        console.print(f"{len(with_dp)} row(s) with attention data parallelism: `concurrency` is read as the users of the "
                      "whole deployment, split over the dp ranks, on tp x dp x pp GPUs, except where the source is "
                      "aiconfigurator, which records one rank's batch (users = concurrency x dp x pp); its rows of "
                      "InferenceX runs may record the GPU count as tp and tp x dp as ep (docs/accuracy.md, "
                      "'Attention data parallelism').")


from gpurec_core.cli_recommend import recommend_command  # noqa: E402
from gpurec_core.cli_calibrate import calibrate_command  # noqa: E402
from gpurec_core.cli_fleet import fleet_command  # noqa: E402
from gpurec_core.cli_serve import serve_command  # noqa: E402

cli.add_command(recommend_command)
cli.add_command(calibrate_command)
cli.add_command(fleet_command)
cli.add_command(serve_command)
