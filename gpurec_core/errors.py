"""The errors a user can meet. Each says what went wrong and what to do next.

Anything that is not a ``GpurecError`` is a bug in gpurec or a plugin and keeps its traceback.
The CLI prints a ``GpurecError`` as one line and exits with status 2. ``docs/errors.md`` lists
every class with its fix.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher, get_close_matches
from typing import Iterable


class GpurecError(Exception):
    """Base class of every error meant for the user."""


class ModelNotFoundError(GpurecError):
    """A model id or path could not be resolved offline, from the cache or from the Hub."""


class GatedModelError(ModelNotFoundError):
    """The Hub refused a gated or private model because no (or a wrong) token was given."""


class ModelConfigError(GpurecError):
    """A model's config.json is missing a field, has the wrong type, or an impossible value."""


class CatalogError(GpurecError):
    """A GPU or engine catalog file is malformed, or two plugins define the same GPU."""


class GPUNotFoundError(CatalogError):
    """A GPU name matched nothing in the catalog."""


class PluginError(GpurecError):
    """A plugin raised inside a hook, returned the wrong type, or is unusable."""


class PluginWarning(UserWarning):
    """A third-party plugin was disabled, cut off, or refused a name it does not own; gpurec goes on
    without it. The message names the plugin and what it did."""


class ModelConfigWarning(UserWarning):
    """A config.json gpurec reads by a general rule rather than its family's own: the message says which
    rule and what may differ."""


class EstimatorUnavailableError(PluginError):
    """The chosen estimator is not installed, or cannot handle this model, GPU or precision."""


class WorkloadError(GpurecError):
    """A workload or serving option is impossible (negative lengths, utilization outside (0, 1], ...)."""


class EstimationError(GpurecError):
    """A memory or performance estimate cannot be produced for this combination."""


class MeasurementFileError(GpurecError):
    """A measurement CSV given to ``gpurec validate`` is malformed."""


def one_line(text: str) -> str:
    """``text`` on one line: its lines stripped and joined with '; ' (how every message is printed)."""
    return "; ".join(line.strip() for line in re.split(r"[\r\n]+", str(text)) if line.strip())


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ' Did you mean X, Y?' for the closest choices to ``name``, or ''."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    matches = [lowered[m] for m in get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)]
    if not matches:  # the name without its organisation and separators: "llama8b" -> meta-llama/Llama-3.1-8B
        bare: dict[str, list[str]] = {}
        for choice in choices:
            bare.setdefault(_bare(choice), []).append(choice)
        key = _bare(name)
        close = set(get_close_matches(key, list(bare), n=n, cutoff=0.7))
        close |= {k for k in bare if len(key) >= 3 and key in k}
        ranked = sorted(close, key=lambda k: (k.startswith(key), SequenceMatcher(None, key, k).ratio()), reverse=True)
        matches = [c for k in ranked for c in bare[k]][:n]
    if not matches:
        matches = [lowered[k] for k in lowered if name.lower() in k or k in name.lower()][:n]
    if not matches:
        return ""
    return " Did you mean " + ", ".join(matches) + "?"


def _bare(name: str) -> str:
    """A name as people misspell it: lower case, without an ``org/`` prefix, letters and digits only."""
    return "".join(ch for ch in name.lower().rsplit("/", 1)[-1] if ch.isalnum())
