"""gpurec's own environment settings, each kind read one way: name lists, flags, seconds.

(``HF_HUB_OFFLINE`` and the other Hugging Face variables keep huggingface_hub's reading, in
:mod:`gpurec_core.resolve`.)
"""

from __future__ import annotations

import math
import os
from typing import Optional


def env_list(name: str) -> set[str]:
    """A comma-separated list of names (``GPUREC_DISABLED_PLUGINS=a,b``); empty items dropped."""
    return {item.strip() for item in os.environ.get(name, "").split(",") if item.strip()}


def env_flag(name: str) -> bool:
    """On unless unset, empty, ``0``, ``false`` or ``no`` (any case)."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def env_seconds(name: str, default: float, *, zero_allowed: bool) -> tuple[Optional[float], str]:
    """A duration in seconds and the raw text: ``default`` when unset; None when the text is not a
    finite number above 0 (or at least 0 when ``zero_allowed``), for the caller's error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default, raw
    try:
        value = float(raw)
    except ValueError:
        return None, raw
    ok = math.isfinite(value) and (value >= 0 if zero_allowed else value > 0)
    return (value if ok else None), raw
