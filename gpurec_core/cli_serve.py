"""`gpurec serve`: the web page (gpurec_core.web)."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (loopback by default; 0.0.0.0 exposes the page to the network)")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="port (0: any free one)")
@click.option("--open", "open_browser", is_flag=True, help="open the page in the default browser")
@click.option("--verbose", is_flag=True, help="log every request to stderr")
def serve_command(host: str, port: int, open_browser: bool, verbose: bool) -> None:
    """Serve the interactive page and its JSON API (/api/recommend, /api/model, /api/gpus) until Ctrl-C."""
    from gpurec_core.web.server import serve

    try:
        serve(host, port, open_browser=open_browser, verbose=verbose)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                   "choose another --port (0 picks a free one)") from None
