"""Find a model's config.json: a local path, the bundled catalog, the HF cache, then the Hub.

``resolve_model("meta-llama/Llama-3.1-8B")`` tries, in this order, and stops at the first hit:

1. ``path``: a local directory holding ``config.json``, or the path of a config file. Beside it,
   ``hf_quant_config.json`` and the safetensors headers (``model.safetensors`` or every shard named
   by ``model.safetensors.index.json``) are read, so parameters are counted exactly, per dtype.
2. ``catalog``: the bundled catalog (``catalogs/models/index.toml``), by id or alias, ignoring case.
3. ``hf-cache``: the HuggingFace cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``), read without network.
4. ``hub``: the Hub (``HF_ENDPOINT``, token from ``hf_token`` or ``HF_TOKEN``): ``config.json``,
   ``hf_quant_config.json`` when it exists, and the safetensors headers for exact parameter counts.
   Skipped when ``HF_HUB_OFFLINE`` is set.

Offline, step 4 fails in well under a second: a TCP connect to the endpoint's host (or its proxy)
bounded by ``HUB_PROBE_TIMEOUT_S`` runs first and its answer is kept for the process; only when
it connects does ``huggingface_hub`` run, and then its first request is a single HEAD with
``HUB_REQUEST_TIMEOUT_S`` and no retries, so huggingface_hub's retry back-off (five retries,
1-8 s apart, 60 s timeout, taken when a HEAD fails and the file is not cached) is never entered on
a dead network. The whole of step 4 has one deadline, ``GPUREC_HUB_TIMEOUT`` (default 3 s): a Hub
that accepts connections and never answers costs that long, then a one-line ModelNotFoundError.

No token ever appears in a message, a log record, a repr or an exception: Hub errors are turned
into gpurec errors raised outside the handler, so they do not even chain the original exception
(whose request carries the Authorization header). ``trust_remote_code`` is never used and
transformers is never imported here. ``huggingface_hub`` loads only on steps 3 and 4.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Optional, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpurec_core import catalogs
from gpurec_core.errors import (
    CatalogError,
    GatedModelError,
    GpurecError,
    ModelConfigError,
    ModelNotFoundError,
    did_you_mean,
)
from gpurec_core.env_settings import env_seconds
from gpurec_core.catalog_names import (CatalogVariant, ExportFormat, config_hash, export_base, export_format,
                                       publisher_note, suffix_variants, variant_note, without_prefix)
from gpurec_core.bounded_read import file_kind, open_regular_file, parse_json_bytes, read_json_file

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
QUANT_CONFIG_FILE = "hf_quant_config.json"
SAFETENSORS_SINGLE_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
CATALOG_INDEX_FILE = "index.toml"
CATALOG_VARIANTS_FILE = "aliases.toml"

DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
HUB_PROBE_TIMEOUT_S = 0.5
"""Longest wait for a TCP connect to the Hub's host (or proxy) before calling it unreachable."""
HUB_REQUEST_TIMEOUT_S = 10.0
"""Timeout of each metadata request to a reachable Hub (HEAD of config.json, safetensors ranges)."""
HUB_TIMEOUT_ENV = "GPUREC_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT_S = 3.0
"""Deadline of one whole online resolution (probe, HEAD, downloads, safetensors headers), seconds;
``GPUREC_HUB_TIMEOUT`` overrides it."""
SAFETENSORS_MAX_HEADER_BYTES = 100_000_000
"""Largest safetensors JSON header accepted; the safetensors crate's own MAX_HEADER_SIZE."""

Source = Literal["path", "catalog", "hf-cache", "hub"]


class ResolvedModel(BaseModel):
    """A model's raw HuggingFace configuration and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model_id: str = Field(
        min_length=1,
        description="canonical id: the catalog's spelling, the Hub repo id, or the local path as given",
    )
    source: Source = Field(description="which step found it: 'path', 'catalog', 'hf-cache' or 'hub'")
    config: dict[str, Any] = Field(repr=False, description="config.json, verbatim")
    hf_quant_config: Optional[dict[str, Any]] = Field(
        default=None, repr=False, description="hf_quant_config.json (ModelOpt exports), verbatim; None when absent"
    )
    safetensors_params: Optional[dict[str, int]] = Field(
        default=None,
        description="parameters per safetensors dtype, e.g. {'BF16': 8030261248}; None when no headers were readable",
    )
    location: str = Field(min_length=1, description="directory or URL the config came from (never holds a token)")
    revision: Optional[str] = Field(
        default=None, description="commit hash of the Hub snapshot for 'hf-cache' and 'hub'; None otherwise"
    )
    published_params: Optional[int] = Field(
        default=None, gt=0, description="total parameter count published for a catalog model; None elsewhere"
    )
    published_params_source: Optional[str] = Field(
        default=None, description="where published_params comes from (catalog 'params_source')"
    )
    note: Optional[str] = Field(
        default=None, description="how the name was matched when it was not found as typed (a variant's config)"
    )
    export_format: Optional[ExportFormat] = Field(
        default=None, description="the format an export's name gives when its base model's config stands in for it"
    )


class CatalogModel(BaseModel):
    """One ``[[model]]`` entry of ``catalogs/models/index.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(
        pattern=r"^[^/\s]+/[^/\s]+$",
        description="Hub repo id 'org/name'; config.json lives in catalogs/models/<org>/<name>/",
    )
    aliases: list[str] = Field(default_factory=list, description="other names that find this model, any case")
    source: str = Field(min_length=1, description="where config.json was copied from")
    published_params: Optional[int] = Field(default=None, gt=0, description="published total parameter count")
    params_source: Optional[str] = Field(default=None, min_length=1, description="where published_params comes from")
    params_note: Optional[str] = Field(default=None, min_length=1, description="what the published figure counts")
    checkpoint_bytes: Optional[int] = Field(
        default=None, gt=0, description="published checkpoint size (safetensors index total_size), bytes"
    )
    bytes_source: Optional[str] = Field(default=None, min_length=1, description="where checkpoint_bytes comes from")

    @model_validator(mode="after")
    def _numbers_have_sources(self) -> "CatalogModel":
        if self.published_params is not None and self.params_source is None:
            raise ValueError("published_params needs a params_source saying where the number comes from")
        if self.checkpoint_bytes is not None and self.bytes_source is None:
            raise ValueError("checkpoint_bytes needs a bytes_source saying where the number comes from")
        return self


# --------------------------------------------------------------------------------------------
# Public API


def resolve_model(model: str, hf_token: Optional[str] = None, revision: Optional[str] = None) -> ResolvedModel:
    """Find ``model``'s config.json offline first: local path, bundled catalog, HF cache, then the Hub.

    ``model`` is a directory holding config.json, a config file's path, a catalog id or alias (any
    case), or a Hub repo id. ``hf_token`` overrides ``HF_TOKEN`` for gated models; ``revision`` (a
    branch, tag or commit) applies to the HF cache and the Hub and skips the catalog, whose copies
    carry no revision.

    Raises ModelNotFoundError (nothing found; the message lists the ways to succeed),
    GatedModelError (the Hub refused a gated or private model) or ModelConfigError (a config
    file is not a JSON object).
    """
    if not isinstance(model, str):
        raise ModelNotFoundError(
            f"A model must be named by a string (a Hub id such as meta-llama/Llama-3.1-8B, or a directory), "
            f"got {type(model).__name__} {model!r:.80}."
        )
    model = model.strip()
    if not model:
        raise ModelNotFoundError("No model given: pass a Hub id such as meta-llama/Llama-3.1-8B or a directory.")
    token = hf_token or None

    repo_id = _repo_id_from_url(model)
    if repo_id is None and without_prefix(model) != model and not Path(model).exists():
        repo_id = "/".join(without_prefix(model).split("/")[:2])  # 'hf.co/org/name' as people paste it
    if repo_id is None:
        local = _resolve_local_path(model)
        if local is not None:
            return local
        repo_id = model

    if revision is None:
        found = _resolve_from_catalog(repo_id)
        if found is not None:
            return found

    cached = _resolve_from_hf_cache(repo_id, revision)
    if cached is not None:
        return cached

    if _env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE"):
        guessed = _resolve_catalog_variant_by_suffix(repo_id) if revision is None else None
        if guessed is not None:
            return guessed
        raise _not_found_offline(repo_id, "HF_HUB_OFFLINE is set, so the Hub was not asked")
    try:
        return _resolve_from_hub(repo_id, revision, token)
    except GatedModelError:
        raise
    except ModelNotFoundError:
        guessed = _resolve_catalog_variant_by_suffix(repo_id) if revision is None else None
        if guessed is None:
            raise
        return guessed


def list_catalog_models() -> list[dict[str, Any]]:
    """Every bundled model as a dict: ``id``, ``aliases``, ``source``, ``published_params`` and the
    other ``CatalogModel`` fields (None where the catalog is silent)."""
    return [entry.model_dump() for entry in _load_catalog(_catalog_dir()).entries]


def find_catalog_model(name: str) -> Optional[CatalogModel]:
    """The catalog entry whose id or alias equals ``name`` ignoring case, or None."""
    return _load_catalog(_catalog_dir()).by_name.get(without_prefix(name).lower())


def list_catalog_variants() -> list[dict[str, Any]]:
    """Every variant of ``aliases.toml``: ``id``, ``same_as`` and ``evidence``."""
    return [variant.model_dump() for variant in _load_catalog(_catalog_dir()).variants.values()]


def _resolve_from_catalog(name: str) -> Optional[ResolvedModel]:
    """The catalog entry named ``name`` (id or alias, any case, without an ``hf.co/`` prefix), or a
    variant of ``aliases.toml`` under its own id with its entry's config; None otherwise."""
    catalog = _load_catalog(_catalog_dir())
    name = without_prefix(name)
    entry = catalog.by_name.get(name.lower())
    if entry is not None:
        return _resolve_catalog_entry(entry)
    variant = catalog.variants.get(name.lower())
    if variant is not None:
        return _resolve_catalog_entry(catalog.by_name[variant.same_as.lower()], as_id=variant.id)
    return None


def _resolve_catalog_variant_by_suffix(name: str) -> Optional[ResolvedModel]:
    """The first catalog entry or variant named by ``name`` with a chat/instruct suffix or dated
    revision dropped or added, then the one entry of that name under another publisher or of the
    export's base name (catalog_names rules 3 and 4), with a note saying whose config it is; None
    when none matches."""
    name = without_prefix(name)
    for spelling in suffix_variants(name):
        found = _resolve_from_catalog(spelling)
        if found is not None:
            return found.model_copy(update={"model_id": name, "note": variant_note(name, found.model_id)})
    return _resolve_other_publisher(name)


def _resolve_other_publisher(name: str) -> Optional[ResolvedModel]:
    """Rule 4 of :mod:`gpurec_core.catalog_names`: the one catalog name (entry or variant) whose part
    after the org is ``name``'s (or ``name`` itself when it names no org), as typed or as its export's
    base name (each also with a suffix or dated revision dropped or added); None when no name or more
    than one entry matches."""
    catalog = _load_catalog(_catalog_dir())
    by_repo_name: dict[str, set[str]] = {}
    for key in (*catalog.by_name, *catalog.variants):
        if "/" in key:
            by_repo_name.setdefault(key.split("/", 1)[1], set()).add(key)
    repo_name = name.split("/", 1)[-1]
    base, fmt = export_base(repo_name), export_format(name)
    for candidate, export in ((repo_name, False), *(((base, True),) if base else ())):
        for spelling in (candidate, *suffix_variants(candidate)):
            found = [f for f in map(_resolve_from_catalog, sorted(by_repo_name.get(spelling.lower(), ()))) if f]
            configs = {config_hash(f.config) for f in found}
            if len(configs) > 1:
                return None  # two publishers' models of this name differ: no guess
            if found:
                named = found[0].model_id if "/" not in name and not export else name  # no org typed: the entry's
                return found[0].model_copy(update={"model_id": named, "export_format": fmt,
                                                   "note": publisher_note(name, found[0].model_id, export, fmt)})
    return None


# --------------------------------------------------------------------------------------------
# 1. Local path


def _looks_like_path(model: str) -> bool:
    """True for strings that cannot be a Hub repo id and must mean a file or directory."""
    return (
        model.startswith((".", "/", "~", "\\"))
        or model.endswith(".json")
        or model.count("/") >= 2
        or "\\" in model
        or Path(model).is_absolute()
    )


def _resolve_local_path(model: str) -> Optional[ResolvedModel]:
    try:
        path = Path(model).expanduser()
        mode: Optional[int] = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except (OSError, RuntimeError, ValueError) as err:  # no permission; too long; '~user' without a home; a NUL byte
        raise ModelNotFoundError(
            f"{model!r:.80} is neither a usable path ({getattr(err, 'strerror', None) or err}) nor a Hub id: pass a "
            "directory holding config.json, a bundled model id (`gpurec models` lists them) or a Hub id."
        ) from None
    if mode is not None and stat.S_ISDIR(mode):
        config_file = path / CONFIG_FILE
        if _present(config_file):  # whatever it is: reading it refuses all but a regular file
            return _resolved_from_directory(model, "path", path.resolve(), config_file)
        if _looks_like_path(model):
            raise ModelNotFoundError(
                f"Directory {path} holds no {CONFIG_FILE}: pass the checkpoint directory that has one, "
                "or a Hub id such as meta-llama/Llama-3.1-8B."
            )
        return None  # a directory named like a repo id without a config: try the other steps
    if mode is not None and stat.S_ISREG(mode):
        config_file = path.resolve()
        return _resolved_from_directory(model, "path", config_file.parent, config_file, location=str(config_file))
    if not _looks_like_path(model):
        return None
    if mode is not None:
        raise ModelNotFoundError(
            f"{path} is {file_kind(mode)}, neither a directory nor a config file: pass a directory holding "
            f"{CONFIG_FILE}, a config file, a bundled model id (`gpurec models` lists them) or a Hub id."
        )
    raise ModelNotFoundError(
        f"No such file or directory: {path}. Pass a directory holding {CONFIG_FILE}, a config file, "
        "a bundled model id (`gpurec models` lists them) or a Hub id."
    )


def _present(path: Path) -> bool:
    """Whether ``path`` names anything (a broken link names nothing); ModelNotFoundError when its
    directory cannot be searched (no permission)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as err:
        raise ModelNotFoundError(
            f"Cannot look into {path.parent}: {err.strerror or err}. Give yourself read access to it, or pass "
            "another directory holding config.json, a bundled model id or a Hub id."
        ) from None
    return True


def _resolved_from_directory(
    model_id: str,
    source: Source,
    directory: Path,
    config_file: Path,
    *,
    location: Optional[str] = None,
    revision: Optional[str] = None,
    published_params: Optional[int] = None,
    published_params_source: Optional[str] = None,
) -> ResolvedModel:
    quant_file = directory / QUANT_CONFIG_FILE
    return ResolvedModel(
        model_id=model_id,
        source=source,
        config=_read_json_object(config_file),
        hf_quant_config=_read_json_object(quant_file) if _present(quant_file) else None,
        safetensors_params=safetensors_params_in_directory(directory),
        location=location or str(directory),
        revision=revision,
        published_params=published_params,
        published_params_source=published_params_source,
    )


def _read_json_object(path: Path) -> dict[str, Any]:
    """Parse a JSON file that must hold an object (:func:`gpurec_core.bounded_read.read_json_file`:
    bounded size and depth); ModelConfigError names the file otherwise."""
    value = read_json_file(Path(path))
    if not isinstance(value, dict):
        raise ModelConfigError(f"{path} holds a JSON {type(value).__name__}, not an object; expected a model config.")
    return value


def safetensors_params_in_directory(directory: Path) -> Optional[dict[str, int]]:
    """Parameters per dtype from the safetensors headers in ``directory``, or None.

    Reads every shard named by ``model.safetensors.index.json`` (the index only maps tensor names
    to files), else ``model.safetensors``. None when there are no weights, a shard is missing, or a
    header is unreadable (logged as a warning): a partial count would be a wrong count.
    """
    directory = Path(directory)
    index_file = directory / SAFETENSORS_INDEX_FILE
    single_file = directory / SAFETENSORS_SINGLE_FILE
    if index_file.is_file():
        try:
            weight_map = read_json_file(index_file, SAFETENSORS_MAX_HEADER_BYTES).get("weight_map")
            shard_names = sorted(set(weight_map.values()))
        except ModelConfigError as err:
            logger.warning("%s Parameter counts unknown.", err)
            return None
        except (AttributeError, TypeError):
            logger.warning("%s is not a safetensors index; parameter counts unknown", index_file)
            return None
        shards = []
        for name in shard_names:
            if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
                logger.warning("%s names an invalid shard %r; parameter counts unknown", index_file, name)
                return None
            shard = directory / name
            if not shard.is_file():
                logger.debug("shard %s is not present; parameter counts unknown", shard)
                return None
            shards.append(shard)
    elif single_file.is_file():
        shards = [single_file]
    else:
        return None

    counts: dict[str, int] = {}
    for shard in shards:
        try:
            shard_counts = safetensors_header_params(read_safetensors_header(shard))
        except ModelConfigError as err:  # names the file
            logger.warning("%s Parameter counts unknown.", err)
            return None
        except ValueError as err:
            logger.warning("cannot read the safetensors header of %s (%s); parameter counts unknown", shard, err)
            return None
        for dtype, count in shard_counts.items():
            counts[dtype] = counts.get(dtype, 0) + count
    return counts


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file: an 8-byte little-endian length, then that much JSON.

    The length is checked against the file's size and ``SAFETENSORS_MAX_HEADER_BYTES`` before
    anything is allocated; ModelConfigError names the file when the header is unreadable."""
    with open_regular_file(path) as (handle, size):
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ModelConfigError(f"{path} is shorter than the 8-byte header length of a safetensors file.")
        length = int.from_bytes(prefix, "little")
        if length > min(SAFETENSORS_MAX_HEADER_BYTES, size - 8):
            raise ModelConfigError(f"{path} claims a {length:,}-byte header, more than its {size - 8:,} remaining "
                                   f"bytes or the {SAFETENSORS_MAX_HEADER_BYTES:,} accepted: the file is truncated "
                                   "or not a safetensors file.")
        raw = handle.read(length)
    if len(raw) < length:
        raise ModelConfigError(f"{path} is truncated: its header needs {length:,} bytes, {len(raw):,} are present.")
    header = parse_json_bytes(raw, path)
    if not isinstance(header, dict):
        raise ModelConfigError(f"{path}: the safetensors header is not a JSON object.")
    return header


def safetensors_header_params(header: dict[str, Any]) -> dict[str, int]:
    """Parameters per dtype in one safetensors header: the product of each tensor's shape."""
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = str(tensor["dtype"])
            count = 1
            for dim in tensor["shape"]:
                count *= int(dim)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"tensor {name!r} has no valid dtype and shape") from None
        counts[dtype] = counts.get(dtype, 0) + count
    return counts


# --------------------------------------------------------------------------------------------
# 2. Bundled catalog


class _Catalog:
    def __init__(self, directory: Path, index_file: Path, entries: tuple[CatalogModel, ...],
                 variants: tuple[CatalogVariant, ...] = ()) -> None:
        self.directory = directory
        self.index_file = index_file
        self.entries = entries
        self.by_name: dict[str, CatalogModel] = {}
        self.variants: dict[str, CatalogVariant] = {}
        owner: dict[str, str] = {}
        for entry in entries:
            for name in (entry.id, *entry.aliases):
                key = name.lower()
                if key in owner and owner[key] != entry.id:
                    raise CatalogError(
                        f"{index_file}: name {name!r} of model {entry.id!r} is already used by {owner[key]!r}; "
                        "ids and aliases must be unique ignoring case."
                    )
                owner[key] = entry.id
                self.by_name[key] = entry
        for variant in variants:
            key = variant.id.lower()
            if key in owner or key in self.variants:
                raise CatalogError(f"{directory / CATALOG_VARIANTS_FILE}: variant {variant.id!r} is already a catalog "
                                   "id, alias or variant; list each name once")
            if variant.same_as.lower() not in self.by_name:
                raise CatalogError(f"{directory / CATALOG_VARIANTS_FILE}: variant {variant.id!r} is the same as "
                                   f"{variant.same_as!r}, which is not in {index_file.name}")
            self.variants[key] = variant


def _catalog_dir() -> Path:
    return catalogs.catalog_path("models")


def _load_catalog(directory: Path) -> _Catalog:
    index_file = Path(directory) / CATALOG_INDEX_FILE
    try:
        stamp = index_file.stat().st_mtime_ns
    except OSError:
        stamp = None
    try:
        variants_stamp = (Path(directory) / CATALOG_VARIANTS_FILE).stat().st_mtime_ns
    except OSError:
        variants_stamp = None
    return _load_catalog_cached(str(directory), stamp, variants_stamp)


@lru_cache(maxsize=8)
def _load_catalog_cached(directory: str, stamp: Optional[int], variants_stamp: Optional[int] = None) -> _Catalog:
    index_file = Path(directory) / CATALOG_INDEX_FILE
    if stamp is None:
        logger.debug("no model catalog index at %s", index_file)
        return _Catalog(Path(directory), index_file, ())
    data = catalogs.read_catalog_toml(index_file, missing="the model catalog index is missing; reinstall gpurec")
    unknown = sorted(set(data) - {"model"})
    if unknown:
        raise CatalogError(f"{index_file}: unknown top-level key(s) {', '.join(unknown)}; only [[model]] entries.")
    raw_entries = data.get("model", [])
    if not isinstance(raw_entries, list):
        raise CatalogError(f"{index_file}: 'model' must be an array of tables ([[model]]).")
    entries = []
    for number, raw in enumerate(raw_entries, start=1):
        label = raw.get("id", "?") if isinstance(raw, dict) else "?"
        try:
            entries.append(CatalogModel.model_validate(raw))
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(entry)"
            raise CatalogError(
                f"{index_file}: model entry {number} ({label!r}), field {field!r}: {first['msg']}"
                f" ({len(err.errors())} error(s) in this entry)."
            ) from None
    return _Catalog(Path(directory), index_file, tuple(entries), _load_variants(Path(directory) / CATALOG_VARIANTS_FILE))


def _load_variants(path: Path) -> tuple[CatalogVariant, ...]:
    """The ``[[alias]]`` entries of ``aliases.toml`` (none when the file is absent)."""
    if not path.exists():
        return ()
    data = catalogs.read_catalog_toml(path, missing="the model variants file is missing; reinstall gpurec")
    unknown = sorted(set(data) - {"alias"})
    if unknown or not isinstance(data.get("alias", []), list):
        raise CatalogError(f"{path}: only [[alias]] entries (id, same_as, evidence) are allowed")
    variants = []
    for number, raw in enumerate(data.get("alias", []), start=1):
        try:
            variants.append(CatalogVariant.model_validate(raw))
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(entry)"
            raise CatalogError(f"{path}: alias entry {number}, field {field!r}: {first['msg']}") from None
    return tuple(variants)


def _resolve_catalog_entry(entry: CatalogModel, as_id: Optional[str] = None) -> ResolvedModel:
    catalog = _load_catalog(_catalog_dir())
    directory = catalog.directory.joinpath(*entry.id.split("/"))
    config_file = directory / CONFIG_FILE
    if not config_file.is_file():
        raise CatalogError(f"{catalog.index_file}: model {entry.id!r} has no {config_file}.")
    return _resolved_from_directory(
        as_id or entry.id,
        "catalog",
        directory,
        config_file,
        published_params=entry.published_params,
        published_params_source=entry.params_source,
    )


def _catalog_suggestion(name: str) -> str:
    try:
        catalog = _load_catalog(_catalog_dir())
        ids = [entry.id for entry in catalog.entries] + [variant.id for variant in catalog.variants.values()]
    except CatalogError:
        return ""
    return did_you_mean(name, ids)


# --------------------------------------------------------------------------------------------
# 3. HuggingFace cache


def hf_hub_cache_dir() -> Path:
    """The HF cache directory as huggingface_hub derives it, but read from the environment now."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        home = os.path.join(xdg, "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def _resolve_from_hf_cache(repo_id: str, revision: Optional[str]) -> Optional[ResolvedModel]:
    cache_dir = hf_hub_cache_dir()
    try:
        if not cache_dir.is_dir():
            return None
    except OSError as err:
        raise _unreadable_cache(cache_dir, err) from None
    from huggingface_hub import try_to_load_from_cache

    for candidate in _cached_repo_spellings(cache_dir, repo_id):
        try:
            found = try_to_load_from_cache(candidate, CONFIG_FILE, cache_dir=str(cache_dir), revision=revision)
        except ValueError:  # HFValidationError: not a valid repo id, so not in the cache
            return None
        except OSError as err:
            raise _unreadable_cache(cache_dir, err) from None
        if isinstance(found, str):
            config_file = Path(found)
            snapshot = config_file.parent
            return _resolved_from_directory(candidate, "hf-cache", snapshot, config_file, revision=snapshot.name)
    return None


def _unreadable_cache(cache_dir: Path, err: OSError) -> ModelNotFoundError:
    """The one-line error for a Hugging Face cache that cannot be looked into (no permission, ...)."""
    return ModelNotFoundError(
        f"Cannot read the Hugging Face cache {cache_dir}: {err.strerror or err}. Give yourself read access to "
        "it or set HF_HUB_CACHE to another directory; or pass a local directory holding config.json."
    )


def _cached_repo_spellings(cache_dir: Path, repo_id: str) -> list[str]:
    """``repo_id`` first, then any cached repo whose id equals it ignoring case."""
    spellings = [repo_id]
    wanted = "models--" + repo_id.replace("/", "--").lower()
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return spellings
    for name in names:
        if name.lower() == wanted and name.startswith("models--"):
            spelled = name[len("models--") :].replace("--", "/")
            if spelled not in spellings:
                spellings.append(spelled)
    return spellings


# --------------------------------------------------------------------------------------------
# 4. The Hub


def hub_endpoint() -> str:
    """``HF_ENDPOINT`` read now (huggingface_hub reads it once, at import), without a trailing '/'."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_HUB_ENDPOINT).rstrip("/")


def _redact_url(url: str) -> str:
    """``url`` without any user:password part (also when it is not a valid URL)."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
    except ValueError:  # an invalid IPv6 host or port: cut whatever precedes the last '@' of the authority
        scheme, separator, rest = url.partition("://")
        authority, slash, path = rest.partition("/")
        return scheme + separator + authority.rpartition("@")[2] + slash + path if separator else url
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _repo_id_from_url(model: str) -> Optional[str]:
    """``org/name`` from a pasted model page URL (huggingface.co, hf.co or HF_ENDPOINT), else None."""
    if not model.startswith(("http://", "https://")):
        return None
    try:
        parts = urlsplit(model)
        hostname = parts.hostname
    except ValueError as err:
        raise ModelNotFoundError(
            f"{_redact_url(model)} is not a valid URL ({err}): pass the repo id (org/name), a bundled model id "
            "or a local directory holding config.json."
        ) from None
    hosts = {"huggingface.co", "www.huggingface.co", "hf.co", urlsplit(hub_endpoint()).hostname}
    segments = [segment for segment in parts.path.split("/") if segment]
    if hostname in hosts and len(segments) >= 2:
        return "/".join(segments[:2])
    raise ModelNotFoundError(
        f"{_redact_url(model)} is not a model page of the Hugging Face Hub or of HF_ENDPOINT: pass the "
        "repo id (org/name), a bundled model id or a local directory holding config.json."
    )


PROBE_FAILURE_TTL_S = 30.0
"""How long an 'unreachable' answer is reused before the next resolve probes again."""

_PROBE_RESULTS: dict[tuple[str, int], tuple[Optional[str], float]] = {}
_PROBE_LOCK = threading.Lock()


def _clear_probe_cache() -> None:
    """Forget earlier reachability answers (for tests and long-lived processes)."""
    with _PROBE_LOCK:
        _PROBE_RESULTS.clear()


def _probe_target(endpoint: str) -> tuple[str, int, str]:
    """(host, port, description) that a request to ``endpoint`` connects to first: the endpoint or its proxy."""
    parts = urlsplit(endpoint)
    scheme = parts.scheme or "https"
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    import urllib.request

    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if proxy_parts.hostname:
            proxy_port = proxy_parts.port or (443 if proxy_parts.scheme == "https" else 80)
            return proxy_parts.hostname, proxy_port, f"the proxy {proxy_parts.hostname}:{proxy_port}"
    return host, port, f"{host}:{port}"


def _hub_unreachable_reason(endpoint: str) -> Optional[str]:
    """None when a TCP connection to the endpoint (or its proxy) opens in time, else why not.

    DNS and connect both run in a daemon thread waited on for at most about
    ``HUB_PROBE_TIMEOUT_S``: ``socket.create_connection``'s timeout does not cover name lookup,
    which can stall for seconds on a machine without network. A success is kept for the process,
    a failure for ``PROBE_FAILURE_TTL_S``.
    """
    host, port, described = _probe_target(endpoint)
    key = (host, port)
    with _PROBE_LOCK:
        if key in _PROBE_RESULTS:
            reason, when = _PROBE_RESULTS[key]
            if reason is None or time.monotonic() - when < PROBE_FAILURE_TTL_S:
                return reason
    outcome: list[Optional[str]] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
                outcome.append(None)
        except socket.gaierror:
            outcome.append(f"{host} cannot be resolved (no network or no DNS?)")
        except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
            outcome.append(f"{described} did not accept a connection within {HUB_PROBE_TIMEOUT_S:g} s")
        except OSError as err:
            outcome.append(f"{described} cannot be reached ({err.strerror or type(err).__name__})")

    worker = threading.Thread(target=connect, name="gpurec-hub-probe", daemon=True)
    worker.start()
    worker.join(HUB_PROBE_TIMEOUT_S + 0.1)
    reason = outcome[0] if outcome else f"{described} did not answer within {HUB_PROBE_TIMEOUT_S:g} s"
    with _PROBE_LOCK:
        _PROBE_RESULTS[key] = (reason, time.monotonic())
    logger.debug("Hub reachability of %s: %s", described, reason or "reachable")
    return reason


T = TypeVar("T")


class _HubContext:
    """What a Hub error message may name: never the token, only whether one was sent."""

    def __init__(self, repo_id: str, revision: Optional[str], endpoint: str, token_sent: bool) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.endpoint = _redact_url(endpoint)
        self.token_sent = token_sent


def _resolve_from_hub(repo_id: str, revision: Optional[str], token: Optional[str]) -> ResolvedModel:
    """The Hub step within one deadline (:func:`hub_timeout_s`).

    The work runs in a daemon thread that the caller stops waiting for at the deadline (a stalled
    socket cannot be interrupted; the thread ends with its own request timeouts, or with the
    process). Past the deadline, a model whose config arrived is returned without the optional
    safetensors parameter counts; one whose config did not is a ModelNotFoundError.
    """
    seconds = hub_timeout_s()
    progress: dict[str, Any] = {}

    def work() -> None:
        try:
            progress["model"] = _resolve_from_hub_now(repo_id, revision, token, progress)
        except BaseException as err:  # handed to the waiting thread, which raises it
            progress["error"] = err

    worker = threading.Thread(target=work, name="gpurec-hub", daemon=True)
    worker.start()
    worker.join(seconds)
    if "error" in progress:
        raise progress["error"]
    if "model" in progress:
        return progress["model"]
    if "without_params" in progress:
        logger.warning("the safetensors headers of %s did not arrive within %g s (%s); parameter counts unknown",
                       repo_id, seconds, HUB_TIMEOUT_ENV)
        return progress["without_params"]
    raise _not_found_offline(
        repo_id, f"the Hub at {_redact_url(hub_endpoint())} did not answer within {seconds:g} s ({HUB_TIMEOUT_ENV}; "
        "set HF_HUB_OFFLINE=1 to skip the Hub)")


def hub_timeout_s() -> float:
    """Deadline of one online resolution in seconds: ``GPUREC_HUB_TIMEOUT``, else :data:`DEFAULT_HUB_TIMEOUT_S`."""
    seconds, raw = env_seconds(HUB_TIMEOUT_ENV, DEFAULT_HUB_TIMEOUT_S, zero_allowed=False)
    if seconds is None:
        raise ModelNotFoundError(f"{HUB_TIMEOUT_ENV} must be a number of seconds above 0, such as 3, got {raw!r:.40}; "
                                 "fix or unset it.")
    return seconds


def _resolve_from_hub_now(repo_id: str, revision: Optional[str], token: Optional[str],
                          progress: dict[str, Any]) -> ResolvedModel:
    """The Hub step without a deadline; ``progress["without_params"]`` holds the model as soon as its
    config files are in, before the safetensors headers are read."""
    endpoint = hub_endpoint()
    reason = _hub_unreachable_reason(endpoint)
    if reason is not None:
        raise _not_found_offline(repo_id, f"the Hub at {_redact_url(endpoint)} is unreachable: {reason}")

    from huggingface_hub import HfApi, get_hf_file_metadata, get_token, hf_hub_download, hf_hub_url

    from gpurec_core import __version__

    context = _HubContext(repo_id, revision, endpoint, token_sent=bool(token or get_token()))
    cache_dir = str(hf_hub_cache_dir())
    agent = {"library_name": "gpurec", "library_version": __version__}

    # One HEAD, no retries, bounded timeout: classifies 401/403/404/5xx before huggingface_hub's
    # download path (which retries with back-off when a HEAD fails) is entered.
    url = _hub_call(context, hf_hub_url, repo_id, CONFIG_FILE, revision=revision, endpoint=endpoint)
    metadata = _hub_call(context, get_hf_file_metadata, url, token=token, timeout=HUB_REQUEST_TIMEOUT_S, **agent)
    commit = metadata.commit_hash
    if not commit:
        raise ModelNotFoundError(
            f"{context.endpoint} answered for {repo_id} without an X-Repo-Commit header, so it is not a "
            "Hugging Face Hub endpoint: check HF_ENDPOINT, or pass a local directory holding config.json."
        )

    # config.json by the revision asked for, so the cache records refs/<revision> and an offline
    # call finds it later; the other files pinned to the commit it resolved to.
    download = dict(cache_dir=cache_dir, token=token, endpoint=endpoint, etag_timeout=HUB_REQUEST_TIMEOUT_S, **agent)
    config_file = Path(_hub_call(context, hf_hub_download, repo_id, CONFIG_FILE, revision=revision, **download))
    commit = config_file.parent.name if config_file.parent.parent.name == "snapshots" else commit
    pinned = dict(download, revision=commit)
    quant_file = _hub_call(context, _hub_download_optional, hf_hub_download, repo_id, QUANT_CONFIG_FILE, pinned)
    location = f"{context.endpoint}/{repo_id}" + (f"/tree/{revision}" if revision else "")
    progress["without_params"] = ResolvedModel(
        model_id=repo_id,
        source="hub",
        config=_read_json_object(config_file),
        hf_quant_config=_read_json_object(Path(quant_file)) if quant_file else None,
        safetensors_params=None,
        location=location,
        revision=commit,
    )
    params = _hub_safetensors_params(context, HfApi(endpoint=endpoint, **agent), commit, token)
    return progress["without_params"].model_copy(update={"safetensors_params": params})


def _hub_download_optional(download: Callable[..., str], repo_id: str, filename: str, kwargs: dict) -> Optional[str]:
    """Download ``filename`` or return None when the repo has no such file (404 EntryNotFound)."""
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return download(repo_id, filename, **kwargs)
    except EntryNotFoundError:
        return None


def _hub_safetensors_params(
    context: _HubContext, api: Any, commit: str, token: Optional[str]
) -> Optional[dict[str, int]]:
    """Exact parameters per dtype from the repo's safetensors headers (HTTP range reads), or None."""
    from huggingface_hub.errors import NotASafetensorsRepoError, SafetensorsParsingError

    failure: Optional[str] = None
    try:
        metadata = api.get_safetensors_metadata(
            context.repo_id, revision=commit, token=token, timeout=HUB_REQUEST_TIMEOUT_S
        )
        return {str(dtype): int(count) for dtype, count in metadata.parameter_count.items()}
    except NotASafetensorsRepoError:
        logger.info("%s has no safetensors weights on the Hub; parameter counts unknown", context.repo_id)
        return None
    except SafetensorsParsingError:
        failure = "a safetensors header is unreadable"
    except Exception as err:  # counts are optional: the config was found
        if _classify_hub_error(err, context) is None:
            raise
        failure = type(err).__name__
    logger.warning(
        "could not read the safetensors headers of %s from %s (%s); parameter counts unknown",
        context.repo_id,
        context.endpoint,
        failure,
    )
    return None


def _hub_call(context: _HubContext, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function``; turn a Hub or network error into a gpurec error raised *outside* the handler.

    Raising outside the ``except`` block leaves the gpurec error without ``__context__``, so it
    holds no reference to huggingface_hub's exception and its request's Authorization header.
    """
    failure: Optional[GpurecError] = None
    try:
        return function(*args, **kwargs)
    except Exception as err:  # classified; anything unknown re-raised as a bug
        failure = _classify_hub_error(err, context)
        if failure is None:
            raise
    raise failure


def _network_errors() -> tuple[type[BaseException], ...]:
    """Transport-level errors of whichever HTTP library this huggingface_hub uses (httpx2, httpx, requests)."""
    errors: list[type[BaseException]] = [OSError]
    for module_name, attribute in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException")):
        module = sys.modules.get(module_name)
        error = getattr(module, attribute, None) if module is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


def _classify_hub_error(err: BaseException, context: _HubContext) -> Optional[GpurecError]:
    """The gpurec error for a Hub failure, or None when ``err`` is not a Hub or network failure."""
    from huggingface_hub import errors as hub_errors

    repo = context.repo_id
    page = f"{context.endpoint}/{repo}"
    if isinstance(err, hub_errors.OfflineModeIsEnabled):
        return _not_found_offline(repo, "HF_HUB_OFFLINE was set when huggingface_hub was imported")
    if isinstance(err, hub_errors.HFValidationError):
        return _not_found_offline(repo, f"{repo!r} is not a valid Hub repo id")
    if isinstance(err, hub_errors.HfHubHTTPError) and getattr(err, "response", None) is not None:
        status = err.response.status_code
        code = err.response.headers.get("X-Error-Code")
        server_says = err.response.headers.get("X-Error-Message") or ""
        if code == "GatedRepo" or (status in (401, 403) and code not in ("RepoNotFound", "EntryNotFound")):
            if context.token_sent:
                why = f"refused the Hugging Face token that was sent (HTTP {status})"
                fix = (
                    f"Accept the model's licence on {page} with the account that owns the token and check "
                    "the token has read access, then set HF_TOKEN or pass hf_token"
                )
            else:
                why = f"is gated or private and no Hugging Face token was sent (HTTP {status})"
                fix = f"Accept the model's licence on {page}, then set HF_TOKEN or pass hf_token"
            if server_says == "Invalid credentials in Authorization header":
                why = f"rejected the Hugging Face token as invalid (HTTP {status})"
            return GatedModelError(f"Model '{repo}' {why}. {fix}.")
        if code == "RevisionNotFound":
            return ModelNotFoundError(
                f"Model '{repo}' has no revision '{context.revision}' on {context.endpoint} (HTTP {status}). "
                "Pass an existing branch, tag or commit."
            )
        if code == "EntryNotFound":
            return ModelNotFoundError(
                f"Model '{repo}' on {context.endpoint} has no {CONFIG_FILE} (HTTP {status}), so it is not a "
                "transformers checkpoint gpurec can read. Pass a local directory holding config.json instead."
            )
        if code == "RepoNotFound" or status == 404:
            hint = "" if context.token_sent else " If it is private or gated, set HF_TOKEN or pass hf_token."
            return ModelNotFoundError(
                f"Model '{repo}' was not found on {context.endpoint} (HTTP {status}).{_catalog_suggestion(repo)}"
                f" Check the id (`gpurec models` lists bundled models) or pass a local directory holding "
                f"config.json.{hint}"
            )
        return _not_found_offline(repo, f"the Hub at {context.endpoint} answered HTTP {status}")
    if isinstance(err, hub_errors.FileMetadataError):
        return ModelNotFoundError(
            f"{context.endpoint} did not answer like a Hugging Face Hub for '{repo}' (missing file metadata): "
            "check HF_ENDPOINT and any proxy, or pass a local directory holding config.json."
        )
    if isinstance(err, OSError) and err.filename is not None:  # the cache, not the network
        return ModelNotFoundError(
            f"Cannot store '{repo}' in the Hugging Face cache: {err.strerror or type(err).__name__} "
            f"({err.filename}). Set HF_HUB_CACHE to a writable directory, or pass a local directory "
            "holding config.json."
        )
    if isinstance(err, _network_errors()):
        return _not_found_offline(
            repo, f"the Hub at {context.endpoint} failed to answer ({type(err).__name__}, no retry attempted)"
        )
    return None


def _not_found_offline(model: str, reason: str) -> ModelNotFoundError:
    """The one-line 'found nowhere' error naming the three ways to succeed."""
    return ModelNotFoundError(
        f"Model '{model}' is not a local directory, not in the bundled catalog and not in the Hugging Face "
        f"cache ({hf_hub_cache_dir()}), and {reason}.{_catalog_suggestion(model)} To resolve it: pass a local "
        f"directory holding config.json; or use a bundled model id (`gpurec models` lists them); or connect to "
        f"the Hugging Face Hub (set HF_ENDPOINT for a mirror, HF_TOKEN for gated models) or pre-populate the "
        f"cache with `hf download {model} config.json`."
    )


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
