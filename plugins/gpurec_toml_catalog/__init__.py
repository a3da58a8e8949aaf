"""Bundled plugin: GPUs from TOML catalogs.

Reads ``catalogs/gpus/*.toml`` (one file per vendor) and the user's own TOML files named by
``GPUREC_GPU_CATALOG`` (one path or several, separated by the OS path separator or commas; a
directory means every ``*.toml`` in it). A user entry whose name or alias matches a bundled GPU
replaces it, and the replacement is reported. Every figure must carry a source.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from gpurec_core.errors import CatalogError
from gpurec_core.plugins import hookimpl
from gpurec_toml_catalog.loader import load_catalog_file, merge_user_entries

ENV_VAR = "GPUREC_GPU_CATALOG"


def user_catalog_paths() -> list[Path]:
    """Files named by GPUREC_GPU_CATALOG, in order (directories expand to their *.toml files)."""
    raw = os.environ.get(ENV_VAR, "")
    paths: list[Path] = []
    for part in raw.replace(",", os.pathsep).split(os.pathsep):
        part = part.strip()
        if not part:
            continue
        try:
            path = Path(part).expanduser()
            paths.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
        except (OSError, RuntimeError, ValueError) as exc:  # too long; '~user' without a home; a NUL byte
            reason = getattr(exc, "strerror", None) or str(exc)
            raise CatalogError(f"{ENV_VAR} names {part!r:.120}, which cannot be used as a path ({reason}); "
                               "name TOML files or directories holding them") from None
    return paths


def bundled_catalog_paths() -> list[Path]:
    from gpurec_core.catalogs import catalog_path

    return sorted(catalog_path("gpus").glob("*.toml"))


@hookimpl(trylast=True)
def provide_gpu_specs():
    specs = []
    for path in bundled_catalog_paths():
        specs.extend(load_catalog_file(path, require_sources=True))
    for path in user_catalog_paths():
        user_specs = load_catalog_file(path, require_sources=False)
        specs, notices = merge_user_entries(specs, user_specs, path)
        for notice in notices:
            warnings.warn(notice, stacklevel=2)
    return specs
