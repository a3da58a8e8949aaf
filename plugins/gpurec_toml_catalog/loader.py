"""Read and validate GPU catalog TOML files.

A file holds ``[[gpu]]`` tables whose keys are :class:`gpurec_core.GPUSpec` field names and a
``[gpu.sources]`` table naming the source of each figure. Bundled files must source every
numeric figure; user files may omit sources (their figures are then labelled "user catalog").
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from gpurec_core.catalogs import read_catalog_toml
from gpurec_core.errors import CatalogError
from gpurec_core.models import GPUSpec, normalize_gpu_name

_NUMERIC_FIELDS = tuple(
    name for name, info in GPUSpec.model_fields.items()
    if name not in ("release_year", "gpus_per_node") and "float" in str(info.annotation)
)


def _entry_label(entry: object, index: int) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"gpu #{index + 1}" + (f" ({name!r})" if isinstance(name, str) else "")


def load_catalog_file(path: Path, *, require_sources: bool) -> list[GPUSpec]:
    """Parse one catalog file into GPUSpecs; errors name the file, the entry and the field."""
    data = read_catalog_toml(path, missing="check the path named by GPUREC_GPU_CATALOG")
    entries = data.get("gpu", [])
    unknown = sorted(set(data) - {"gpu"})
    if unknown:
        raise CatalogError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; GPUs go in [[gpu]] tables")
    if not isinstance(entries, list):
        raise CatalogError(f"{path}: 'gpu' must be an array of tables ([[gpu]])")
    specs = []
    for index, entry in enumerate(entries):
        label = _entry_label(entry, index)
        if not isinstance(entry, dict):
            raise CatalogError(f"{path}: {label} must be a table")
        fields = dict(entry)
        fields.pop("override", None)
        try:
            spec = GPUSpec(**fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            if not error["loc"]:  # a check of the whole entry: its message names the field
                raise CatalogError(f"{path}: {label}: {error['msg'].removeprefix('Value error, ')}") from None
            field = ".".join(str(p) for p in error["loc"])
            raise CatalogError(
                f"{path}: {label}, field {field!r}: {error['msg']} (got {error.get('input')!r})"
            ) from None
        except TypeError as exc:
            raise CatalogError(f"{path}: {label}: {exc}") from None
        if require_sources:
            missing = [f for f in _NUMERIC_FIELDS if getattr(spec, f) is not None and f not in spec.sources]
            if missing:
                raise CatalogError(f"{path}: {label}: no source for {', '.join(missing)}; add them under [gpu.sources]")
        else:
            sources = {f: f"user catalog {path}" for f in _NUMERIC_FIELDS if getattr(spec, f) is not None}
            sources.update(spec.sources)
            spec = spec.model_copy(update={"sources": sources})
        specs.append(spec)
    _reject_duplicate_names(path, entries, specs)
    return specs


def _reject_duplicate_names(path: Path, entries: list, specs: list[GPUSpec]) -> None:
    """Two entries of one file sharing a name or alias is a typo, not an override: CatalogError naming both."""
    owner: dict[str, int] = {}
    for index, spec in enumerate(specs):
        for key in _keys(spec):
            if key in owner and owner[key] != index:
                first = owner[key]
                raise CatalogError(
                    f"{path}: {_entry_label(entries[index], index)} and {_entry_label(entries[first], first)} both use "
                    f"the name or alias {key!r}; rename or remove one (to replace a bundled GPU, use a separate "
                    "GPUREC_GPU_CATALOG file)"
                )
            owner[key] = index


def _keys(spec: GPUSpec) -> set[str]:
    return {normalize_gpu_name(spec.name), *(normalize_gpu_name(a) for a in spec.aliases)}


def merge_user_entries(specs: list[GPUSpec], user_specs: list[GPUSpec], path: Path) -> tuple[list[GPUSpec], list[str]]:
    """Add user GPUs; one that shares a name or alias with an earlier GPU replaces it (reported).

    Linear in the number of GPUs: each GPU has a numbered slot in catalog order, and each name or
    alias maps to the slots holding it, so a clash is a lookup, not a scan of the catalog."""
    slots: dict[int, GPUSpec] = {}
    holders: dict[str, set[int]] = {}
    notices = []
    for number, spec in enumerate(specs):
        _hold(slots, holders, number, spec)
    for number, user in enumerate(user_specs, start=len(specs)):
        clashing = sorted({slot for key in _keys(user) for slot in holders.get(key, ())})
        replaced = [_release(slots, holders, slot) for slot in clashing]
        for old in replaced:
            notices.append(f"GPU {old.name!r} overridden by {user.name!r} from {path}")
        if replaced:
            note = f"overrides {', '.join(o.name for o in replaced)} from {path}"
            user = user.model_copy(update={"notes": (user.notes + "; " if user.notes else "") + note})
        _hold(slots, holders, number, user)
    return list(slots.values()), notices


def _hold(slots: dict[int, GPUSpec], holders: dict[str, set[int]], slot: int, spec: GPUSpec) -> None:
    """Put ``spec`` in ``slot`` and index it under its names and aliases."""
    slots[slot] = spec
    for key in _keys(spec):
        holders.setdefault(key, set()).add(slot)


def _release(slots: dict[int, GPUSpec], holders: dict[str, set[int]], slot: int) -> GPUSpec:
    """Empty ``slot`` and unindex its GPU; returns that GPU."""
    spec = slots.pop(slot)
    for key in _keys(spec):
        holders[key].discard(slot)
    return spec
