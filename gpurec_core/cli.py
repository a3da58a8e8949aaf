"""`gpurec ...`: the command-line interface.

Every command takes ``--json``. A :class:`GpurecError` prints one line on stderr and exits 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import shutil
from typing import Any, Optional

import click

from gpurec_core.errors import GpurecError

EXIT_USER_ERROR = 2


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def _console():
    from rich.console import Console

    return Console(soft_wrap=False, width=max(100, shutil.get_terminal_size((160, 40)).columns))


def _table(title: str, columns: list[str], rows: list[list[Any]]):
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


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
            click.echo(f"gpurec: error: {exc}", err=True)
            ctx.exit(EXIT_USER_ERROR)


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


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

    specs = gpu_catalog().specs
    if as_json:
        _echo_json([spec.model_dump(by_alias=False) for spec in specs])
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
    """Show one GPU with the source of every figure."""
    from gpurec_core.gpus import get_gpu_spec

    spec = get_gpu_spec(name)
    data = spec.model_dump(by_alias=False)
    if as_json:
        _echo_json(data)
        return
    rows = []
    for field, value in data.items():
        if field in ("sources",) or value in (None, "", ()):
            continue
        rows.append([field, value if not isinstance(value, (list, tuple)) else ", ".join(value), spec.sources.get(field, "")])
    _console().print(_table(f"{spec.name} ({spec.manufacturer})", ["field", "value", "source"], rows))


# -- plugins and estimators ---------------------------------------------------------------------
@cli.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List installed plugins: version, hooks, built-in or not, and load failures."""
    from gpurec_core.plugins import plugin_records

    records = plugin_records()
    if as_json:
        _echo_json([r.to_dict() for r in records])
        return
    rows = [[r.name, r.version, "yes" if r.builtin else "no", ", ".join(r.hooks), r.module,
             "loaded" if r.error is None else f"FAILED: {r.error}"] for r in records]
    _console().print(_table("gpurec plugins", ["name", "version", "built-in", "hooks", "module", "status"], rows))


@cli.command("estimators")
@json_option
def estimators_command(as_json: bool) -> None:
    """List performance estimators and whether each can run here."""
    from gpurec_core.plugins import list_estimators

    infos = list_estimators()
    if as_json:
        _echo_json([i.model_dump() for i in infos])
        return
    rows = [[i.name, "yes" if i.usable else "no", i.provided_by, i.description if i.usable else i.reason] for i in infos]
    _console().print(_table("estimators", ["name", "usable", "plugin", "description / why not"], rows))


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    _silence_library_noise()
    cli.main(args=argv, prog_name="gpurec")


def _silence_library_noise() -> None:
    import os

    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

