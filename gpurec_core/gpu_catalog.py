"""The merged GPU catalog: every plugin's GPUs, with case-insensitive lookup by name or alias.

Merging is one pass over the specs (linear in their number). The bundled plugins' GPUs come
first. A third-party GPU whose name or alias is taken is skipped with a warning: a bundled
one is replaced only when the user lets that plugin override (``GPUREC_ALLOW_GPU_OVERRIDE``),
and between two third-party plugins the one loaded first keeps the name.

Every GPU that makes it into the catalog then goes through
:func:`gpurec_core.gpu_assumptions.complete` once: figures left out (architecture, interconnect,
FP8) are derived where they can be, and each assumption is warned once. The bundled catalog is
complete, so its GPUs come out unchanged; a user's TOML entry (served by the bundled toml-catalog
plugin) and a plugin's GPU are completed alike.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Optional

from gpurec_core.env_settings import env_list
from gpurec_core.errors import GPUNotFoundError, did_you_mean
from gpurec_core.gpu_assumptions import complete
from gpurec_core.models import GPUSpec, normalize_gpu_name

OVERRIDE_ENV = "GPUREC_ALLOW_GPU_OVERRIDE"
#: Incomplete GPUs whose assumptions are warned one by one; beyond them, one warning counts the rest.
GPUS_WARNED_BY_NAME = 20
#: Words after a GPU's name that say which GPU it is (bus, form factor, NVLink domain, memory size, memory type):
#: a name ending in one of them is never read as another GPU's name plus a tag.
HARDWARE_QUALIFIER = re.compile(r"^(pcie|sxm\d*|nvl\d*|oam|mxm|\d+gb?|\d+g|hbm\d*e?)$", re.IGNORECASE)


def override_allowed(plugin: str) -> bool:
    """The user lets ``plugin`` replace bundled GPUs (``GPUREC_ALLOW_GPU_OVERRIDE=name[,name]`` or ``*``)."""
    allowed = env_list(OVERRIDE_ENV)
    return "*" in allowed or plugin in allowed


def _keys(spec: GPUSpec) -> set[str]:
    return {normalize_gpu_name(spec.name), *(normalize_gpu_name(a) for a in spec.aliases)}


#: A GPU count written into the name (``8xH100``, ``H100x8``, ``8 x H200``): the count is the deployment's, not the
#: GPU's.
_COUNT = re.compile(r"^\s*\d+\s*[x×]\s*|\s*[x×]\s*\d+\s*$", re.IGNORECASE)


def _name_words(name: str) -> list[str]:
    """The words of a GPU name, split at '-', '_' and spaces."""
    return [w for w in re.split(r"[-_\s]+", name) if w]


def _loose_key(name: str) -> str:
    """A looser lookup key than :func:`normalize_gpu_name`, for spellings no alias lists: without a GPU count
    (:data:`_COUNT`), the SXM generation read as SXM (``H200-SXM5-141GB``: HGX H200 boards are SXM5 like the
    H100's; each catalog entry has one SXM form) and a memory size in ``G`` read as GB (``A100-80G``). Every
    other qualifier stays, so a PCIe, NVL or other-memory part is never read as the SXM one."""
    words = _name_words(_COUNT.sub("", name))
    words = [re.sub(r"^sxm\d$", "sxm", w, flags=re.IGNORECASE) for w in words]
    words = [re.sub(r"^(\d+)g$", r"\1gb", w, flags=re.IGNORECASE) for w in words]
    return normalize_gpu_name("-".join(words))


class GPUCatalog:
    """GPUs by normalized name and alias.

    ``entries`` are ``(spec, bundled)`` pairs in plugin load order, bundled plugins first; each
    spec's ``provided_by`` names its plugin. ``warn`` receives one sentence per skipped or
    replacing entry, and one per assumption made for an incomplete GPU (:func:`complete`).
    """

    def __init__(self, entries: Iterable[tuple[GPUSpec, bool]], warn: Callable[[str], None] = lambda _: None) -> None:
        by_key: dict[str, GPUSpec] = {}
        bundled_specs: set[int] = set()
        for spec, bundled in entries:
            keys = _keys(spec)
            taken = {id(other): other for key in keys if (other := by_key.get(key)) is not None}
            if taken:
                others = list(taken.values())
                replaceable = all(id(o) in bundled_specs for o in others) and not bundled
                if not (replaceable and override_allowed(spec.provided_by)):
                    warn(self._clash(spec, others, bundled_specs))
                    continue
                for other in others:
                    for key in _keys(other):
                        by_key.pop(key, None)
                warn(f"plugin {spec.provided_by!r} replaces the bundled GPU "
                     f"{', '.join(o.name for o in others)} ({OVERRIDE_ENV} allows it)")
            for key in keys:
                by_key[key] = spec
            if bundled:
                bundled_specs.add(id(spec))
        unique = {id(spec): spec for spec in by_key.values()}
        self.specs: list[GPUSpec] = sorted(unique.values(), key=lambda s: s.name)
        completed = self._complete_all(self.specs, warn)
        self.specs = [completed[id(spec)] for spec in self.specs]
        self._by_key = {key: completed[id(spec)] for key, spec in by_key.items()}
        loose: dict[str, set[int]] = {}
        for spec in self.specs:
            for key in {_loose_key(n) for n in (spec.name, *spec.aliases)}:
                loose.setdefault(key, set()).add(id(spec))
        ids = {id(spec): spec for spec in self.specs}
        self._by_loose_key = {key: ids[next(iter(found))] for key, found in loose.items() if len(found) == 1}

    @staticmethod
    def _complete_all(specs: list[GPUSpec], warn: Callable[[str], None]) -> dict[int, GPUSpec]:
        """id(spec) -> ``spec`` with its derivable figures filled in. Each assumption is warned once, for the
        first :data:`GPUS_WARNED_BY_NAME` incomplete GPUs; the rest are counted in one last warning."""
        completed: dict[int, GPUSpec] = {}
        incomplete = 0
        for spec in specs:
            completed[id(spec)], assumptions = complete(spec)
            if not assumptions:
                continue
            incomplete += 1
            if incomplete <= GPUS_WARNED_BY_NAME:
                for sentence in assumptions:
                    warn(sentence)
        if incomplete > GPUS_WARNED_BY_NAME:
            warn(f"{incomplete - GPUS_WARNED_BY_NAME} more GPUs have figures gpurec assumed or lacks; "
                 "`gpurec gpu NAME` lists them for each")
        return completed

    @staticmethod
    def _clash(spec: GPUSpec, others: list[GPUSpec], bundled_specs: set[int]) -> str:
        other = others[0]
        if id(other) in bundled_specs:
            return (f"plugin {spec.provided_by!r} defines GPU {spec.name!r}, whose name or alias is the bundled "
                    f"GPU {other.name!r} (plugin {other.provided_by!r}); skipped. Rename it, or let the plugin "
                    f"replace bundled GPUs with {OVERRIDE_ENV}={spec.provided_by}")
        return (f"plugin {spec.provided_by!r} defines GPU {spec.name!r}, whose name or alias plugin "
                f"{other.provided_by!r} defined first ({other.name!r}); skipped")

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def _site_tagged(self, name: str) -> Optional[GPUSpec]:
        """The GPU a benchmark campaign's machine name names: a GPU name, maybe after a ``cluster:``-style
        prefix, followed by tags of the site or role (SemiAnalysis InferenceX's runners: ``b200-multinode``,
        ``h200-dgxc``, ``cluster:gb300-nv``, ``mi355x-amds``); None when what is left names no GPU, or when a
        dropped word is a hardware qualifier (``-pcie``, ``-nvl``, ``-94gb``: another GPU, not a site)."""
        words = _name_words(name.rsplit(":", 1)[-1])
        for end in range(len(words), 0, -1):
            if any(HARDWARE_QUALIFIER.match(w) for w in words[end:]):
                return None
            spec = self._by_key.get(normalize_gpu_name("-".join(words[:end])))
            if spec is not None:
                return spec
        return None

    def get(self, name: str) -> GPUSpec:
        if not isinstance(name, str):
            raise GPUNotFoundError(f"a GPU is named by a string such as 'H100' (`gpurec gpus` lists them all), "
                                   f"got {type(name).__name__} {name!r:.80}")
        spec = (self._by_key.get(normalize_gpu_name(name)) or self._site_tagged(name)
                or self._by_loose_key.get(_loose_key(name)))
        if spec is None:
            choices = self.names() + [alias for spec in self.specs for alias in spec.aliases]
            raise GPUNotFoundError(
                f"unknown GPU {name!r:.80}.{did_you_mean(name[:200], choices)} `gpurec gpus` lists them all; "
                "add your own with a TOML file named by GPUREC_GPU_CATALOG"
            )
        return spec
