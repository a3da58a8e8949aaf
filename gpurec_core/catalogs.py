"""Where the bundled catalogs (GPUs, models, engines) live.

An installed wheel carries them as ``gpurec_core/_catalogs``; a source tree or an editable
install reads the repository's top-level ``catalogs/`` directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_PACKAGE_DIR = Path(__file__).resolve().parent


def catalog_path(kind: str) -> Path:
    """Directory of one catalog kind: ``"gpus"``, ``"models"`` or ``"engines"``."""
    installed = _PACKAGE_DIR / "_catalogs" / kind
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "catalogs" / kind


def load_toml(path: Path) -> dict:
    """Parse a TOML file; the caller turns ``tomllib.TOMLDecodeError`` into a CatalogError.

    A file that is not UTF-8 text (TOML must be) raises ``TOMLDecodeError`` too, not
    ``UnicodeDecodeError``, so every caller reports it as a malformed catalog naming the file. A
    path that is not a regular file (a FIFO, a device, a directory) is a CatalogError at once:
    it is opened non-blocking and checked before it is read.
    """
    from gpurec_core.bounded_read import open_regular_file
    from gpurec_core.errors import CatalogError

    with open_regular_file(path, CatalogError) as (handle, _):
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise tomllib.TOMLDecodeError(f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    return tomllib.loads(text)


TOMLDecodeError = tomllib.TOMLDecodeError


def read_catalog_toml(path: Path, *, missing: str) -> dict:
    """Parse a catalog TOML file, raising CatalogError that names the file when it is missing
    (``missing`` says what to do), not a regular file, unreadable, not UTF-8 or not valid TOML."""
    from gpurec_core.errors import CatalogError

    if not os.path.lexists(path):
        raise CatalogError(f"{path} does not exist: {missing}")
    try:
        return load_toml(path)
    except TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None
