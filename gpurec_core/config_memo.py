"""A per-config cache for facts that depend only on a model's (frozen) config and a key.

Estimators and memory planners evaluate the same model on dozens of GPUs and layouts; the
facts that do not depend on the GPU (weight bytes per rank, KV bytes per token, FLOPs per
token) are computed once per (config object, key) here and shared by everyone who reads them.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

#: id(config) -> (weak reference to the config, {key: value}); an entry goes with its config.
_CONFIG_FACTS: dict[int, tuple[weakref.ref, dict]] = {}
_CONFIG_FACTS_LOCK = threading.Lock()
#: Keys kept per config before its table is cleared (precisions x layouts stay far below).
MAX_FACTS_PER_CONFIG = 4096


def memo_per_config(cfg: Any, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (config object, key).

    Keyed by the config's identity (configs are frozen); thread-safe and idempotent: two threads
    may both compute a missing value, the first stored wins. Values are shared: never mutate them.
    Keys holding an ``id()`` must keep that object alive in the value, so the id cannot be reused.
    """
    ident = id(cfg)
    entry = _CONFIG_FACTS.get(ident)
    if entry is None or entry[0]() is not cfg or len(entry[1]) > MAX_FACTS_PER_CONFIG:
        with _CONFIG_FACTS_LOCK:
            entry = _CONFIG_FACTS.get(ident)
            if entry is None or entry[0]() is not cfg or len(entry[1]) > MAX_FACTS_PER_CONFIG:
                try:
                    ref = weakref.ref(cfg, lambda _, ident=ident: _CONFIG_FACTS.pop(ident, None))
                except TypeError:  # not weakly referenceable: no caching
                    return compute()
                entry = (ref, {})
                _CONFIG_FACTS[ident] = entry
    table = entry[1]
    try:
        return table[key]
    except KeyError:
        pass
    return table.setdefault(key, compute())
