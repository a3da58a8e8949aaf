"""Defaults of transformers' config classes, for the keys a config.json leaves out.

transformers writes a config.json with ``to_diff_dict``: a nested sub-config (a multimodal model's
``text_config``) keeps only the keys that differ from its class's defaults, and a config may omit
keys that its class defaults (``tie_word_embeddings`` in Gemma, ``num_key_value_heads`` in Mistral,
``head_dim`` in Qwen3). Reading such a file right needs those class defaults.

They come from a table shipped as the ``config_defaults`` catalog
(``transformers_config_defaults.json``), generated from transformers' ``configuration_*.py`` classes
by ``scripts/generate_config_defaults.py``. A model_type the table does not know is looked up in the
installed transformers' config classes, lazily (:mod:`gpurec_core.transformers_config_classes`:
configuration classes only, never model code); if transformers does not know it either, it has no
class defaults ({}) and its config.json must spell out every field gpurec reads. Regenerate the
table with a newer transformers to ship newer model_types.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any, Optional

from gpurec_core.catalogs import catalog_path
from gpurec_core.errors import CatalogError

TABLE_FILE = "transformers_config_defaults.json"

_lock = threading.Lock()
_table: Optional[dict[str, Any]] = None


def _load() -> dict[str, Any]:
    """The shipped table, loaded once (CatalogError naming the file if it is missing or malformed)."""
    global _table
    table = _table
    if table is not None:
        return table
    with _lock:
        if _table is None:
            path = table_path()
            try:
                with open(path, "rb") as handle:
                    loaded = json.loads(handle.read().decode("utf-8"))
            except FileNotFoundError:
                raise CatalogError(f"{path} does not exist: reinstall gpurec, or regenerate it with "
                                   "python scripts/generate_config_defaults.py") from None
            except OSError as exc:
                raise CatalogError(f"{path}: cannot be read: {exc.strerror}") from None
            except ValueError as exc:  # not UTF-8, or not JSON
                raise CatalogError(f"{path}: not valid JSON: {exc}") from None
            if not isinstance(loaded, dict) or not isinstance(loaded.get("model_types"), dict):
                raise CatalogError(f"{path}: has no 'model_types' object; regenerate it with "
                                   "python scripts/generate_config_defaults.py")
            _table = loaded
        return _table


def table_path() -> Path:
    """Where the shipped table lives (the ``config_defaults`` catalog)."""
    return catalog_path("config_defaults") / TABLE_FILE


_from_transformers: dict[str, Optional[dict[str, Any]]] = {}


def _entry(model_type: str) -> Optional[dict[str, Any]]:
    if not isinstance(model_type, str) or not model_type:
        return None
    entry = _load()["model_types"].get(model_type)
    if entry is not None:
        return entry
    if model_type not in _from_transformers:
        if _installed_transformers_version() == table_version():
            return None  # the table lists every type this transformers knows: importing it cannot help
        from gpurec_core.transformers_config_classes import transformers_entry

        _from_transformers[model_type] = transformers_entry(model_type)
    return _from_transformers[model_type]


def _installed_transformers_version() -> Optional[str]:
    """The installed transformers' version from its metadata (no import), or None."""
    from importlib import metadata

    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return None


def class_defaults(model_type: str) -> dict[str, Any]:
    """The declared defaults of ``model_type``'s transformers config class (a fresh dict; {} if unknown)."""
    entry = _entry(model_type)
    if not entry:
        return {}
    # Copy lists too: callers may change what they get without touching the cached table.
    return {k: (copy.deepcopy(v) if isinstance(v, list) else v) for k, v in entry.get("defaults", {}).items()}


def config_class(model_type: str) -> Optional[str]:
    """The name of ``model_type``'s transformers config class, e.g. ``"Gemma2Config"``, or None."""
    entry = _entry(model_type)
    return entry.get("class") if entry else None


def attribute_map(model_type: str) -> dict[str, str]:
    """``model_type``'s config-class ``attribute_map`` ({alias: name config.json stores it under})."""
    entry = _entry(model_type)
    return dict(entry.get("attribute_map", {})) if entry else {}


def sub_config_model_type(model_type: str, key: str) -> Optional[str]:
    """The model_type of the class behind ``model_type``'s nested config ``key`` (``text_config``,
    ``vision_config``, ``audio_config``), e.g. ``("gemma3", "text_config") -> "gemma3_text"``; None when
    the class has no such sub-config or it is typed only as ``AutoConfig`` (any model_type)."""
    entry = _entry(model_type)
    if not entry:
        return None
    sub = entry.get("sub_configs", {}).get(key)
    return sub if isinstance(sub, str) and sub != "AutoConfig" else None


def table_version() -> str:
    """The transformers version the shipped table was generated from, e.g. ``"5.25.0"``."""
    return str(_load().get("transformers_version", ""))


def known_model_types() -> tuple[str, ...]:
    """The model_types the shipped table covers, sorted."""
    return tuple(sorted(_load()["model_types"]))
