"""Is BentoML's llm-optimizer importable here, and is it really BentoML's?

Two projects share the distribution name ``llm-optimizer``: BentoML's serving-performance
estimator, installed only from git (``pip install git+https://github.com/bentoml/llm-optimizer.git``),
and an unrelated PyPI project ("Reduce LLM API costs ... prompt caching, smart routing").
The check, run once per process and cached (:func:`clear_cache` forgets it):

1. **Import.** ``llm_optimizer.performance``, ``llm_optimizer.common`` and
   ``llm_optimizer.predefined.gpus`` must import. A missing ``llm_optimizer`` package means "not
   installed" — unless a distribution named ``llm-optimizer`` that is not BentoML's is installed,
   which is the PyPI project under another import name.
2. **API (decides).** ``performance.estimate_llm_performance`` must take the keyword arguments
   gpurec passes, ``common.ModelConfig`` must have the fields gpurec fills,
   ``performance.PerformanceResult`` the fields gpurec reads, and ``predefined.gpus`` must name
   its GPU table. What gpurec calls is what is checked, so a fork or a source checkout on
   ``PYTHONPATH`` with BentoML's API is accepted.
3. **Metadata (explains).** The distribution that provides ``llm_optimizer`` is BentoML's when
   its name, summary, author, maintainer, home page or project URLs mention "bentoml", or its
   PEP 610 ``direct_url.json`` (written by ``pip install git+...``) points at bentoml's
   repository. When the API check fails, this decides between "PyPI's llm-optimizer is a
   different project" and "BentoML's llm-optimizer changed its API".
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import json
import threading
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Optional

DISTRIBUTION_NAME = "llm-optimizer"
IMPORT_NAME = "llm_optimizer"
REPOSITORY_URL = "https://github.com/bentoml/llm-optimizer"
INSTALL_COMMAND = f"pip install git+{REPOSITORY_URL}.git"
IMPOSTOR_FIX = f"pip uninstall -y {DISTRIBUTION_NAME} && {INSTALL_COMMAND}"
IMPOSTOR_MESSAGE = (
    "PyPI's llm-optimizer is a different project; uninstall it and install BentoML's with: " + IMPOSTOR_FIX
)

#: Keyword arguments gpurec passes to ``performance.estimate_llm_performance``.
REQUIRED_ESTIMATE_ARGS = (
    "num_gpus", "gpu_name", "model_config", "precision", "concurrency", "input_length", "output_length",
)
#: Fields gpurec fills in ``common.ModelConfig``.
REQUIRED_MODEL_CONFIG_FIELDS = ("num_params", "num_layers", "hidden_dim", "num_heads", "num_kv_heads")
#: Fields gpurec reads from ``performance.PerformanceResult``.
REQUIRED_RESULT_FIELDS = ("ttft_ms", "itl_ms", "e2e_latency_s", "output_throughput_tps")
_SUBMODULES = ("performance", "common", "predefined.gpus")


@dataclass(frozen=True)
class LLMOptimizerAPI:
    """The parts of BentoML's llm-optimizer that gpurec uses."""

    performance: ModuleType
    common: ModuleType
    gpus: ModuleType
    version: str = ""

    def estimate_accepts(self, argument: str) -> bool:
        """True when ``estimate_llm_performance`` takes ``argument`` (optional ones vary by version)."""
        try:
            params = inspect.signature(self.performance.estimate_llm_performance).parameters
        except (TypeError, ValueError):
            return False
        return argument in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def gpu_names(self) -> list[str]:
        """The GPU names llm-optimizer knows (its ``predefined/gpus.py`` table), in its order."""
        lister = getattr(self.gpus, "list_available_gpus", None)
        if callable(lister):
            return [str(name) for name in lister()]
        return [str(name) for name in getattr(self.gpus, "GPU_SPECS", {})]

    def gpu_specs(self, name: str) -> dict[str, Any]:
        """llm-optimizer's table row for ``name`` (empty when it has none)."""
        table = getattr(self.gpus, "GPU_SPECS", None)
        if isinstance(table, dict) and isinstance(table.get(name), dict):
            return dict(table[name])
        getter = getattr(self.gpus, "get_gpu_specs", None)
        if callable(getter):
            try:
                return dict(getter(name))
            except (ValueError, KeyError):
                return {}
        return {}


@dataclass(frozen=True)
class Availability:
    """Result of the check: usable (with the API) or not (with the reason and the fix)."""

    usable: bool
    reason: str = ""
    api: Optional[LLMOptimizerAPI] = None
    distribution: str = ""
    details: tuple[str, ...] = field(default=())


_lock = threading.Lock()
_cached: Optional[Availability] = None


def availability() -> Availability:
    """The cached result of :func:`probe` (computed on first use)."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                _cached = probe()
    return _cached


def clear_cache() -> None:
    """Forget the cached check (tests; after installing or removing the package)."""
    global _cached
    with _lock:
        _cached = None


# ---------------------------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------------------------


def _find_distribution(module_found: bool) -> Optional[metadata.Distribution]:
    """The installed distribution named llm-optimizer, else the one that provides ``llm_optimizer``.

    The second look-up scans every installed distribution, so it runs only when the module exists.
    """
    try:
        return metadata.distribution(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError:
        if not module_found:
            return None
    for name in metadata.packages_distributions().get(IMPORT_NAME, []):
        try:
            return metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _metadata_texts(dist: metadata.Distribution) -> list[str]:
    """Every metadata field that names a project's origin, plus the PEP 610 install URL."""
    meta = dist.metadata
    texts: list[str] = []
    for key in ("Name", "Summary", "Author", "Author-email", "Maintainer", "Maintainer-email",
                "Home-page", "Download-URL"):
        value = meta.get(key)
        if value:
            texts.append(str(value))
    texts.extend(str(url) for url in (meta.get_all("Project-URL") or []))
    raw = dist.read_text("direct_url.json")
    if raw:
        try:
            texts.append(str(json.loads(raw).get("url", "")))
        except (ValueError, AttributeError):
            texts.append(raw)
    return texts


def is_bentoml_distribution(dist: Optional[metadata.Distribution]) -> bool:
    """True when the distribution's metadata or install URL mentions BentoML."""
    if dist is None:
        return False
    return any("bentoml" in text.lower() for text in _metadata_texts(dist))


def _describe(dist: Optional[metadata.Distribution]) -> str:
    if dist is None:
        return ""
    name = dist.metadata.get("Name") or DISTRIBUTION_NAME
    summary = dist.metadata.get("Summary") or ""
    return f"{name} {dist.version}" + (f" ({summary!r})" if summary else "")


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------


def field_names(kind: Any) -> set[str]:
    """Field names of a dataclass, or the parameters of a class's constructor."""
    if dataclasses.is_dataclass(kind):
        return {f.name for f in dataclasses.fields(kind)}
    names = set(getattr(kind, "model_fields", {}) or {})  # a pydantic model
    try:
        names |= set(inspect.signature(kind).parameters)
    except (TypeError, ValueError):
        pass
    return names


def api_problems(performance: ModuleType, common: ModuleType, gpus: ModuleType) -> list[str]:
    """What is missing from BentoML's API, as short phrases; empty when all is there."""
    problems: list[str] = []
    estimate = getattr(performance, "estimate_llm_performance", None)
    if not callable(estimate):
        problems.append("performance.estimate_llm_performance")
    else:
        try:
            params = inspect.signature(estimate).parameters
        except (TypeError, ValueError):
            params = {}
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        missing = [arg for arg in REQUIRED_ESTIMATE_ARGS if arg not in params and not takes_kwargs]
        if missing:
            problems.append(f"estimate_llm_performance arguments {', '.join(missing)}")
    model_config = getattr(common, "ModelConfig", None)
    if model_config is None or not isinstance(model_config, type):
        problems.append("common.ModelConfig")
    else:
        missing = [f for f in REQUIRED_MODEL_CONFIG_FIELDS if f not in field_names(model_config)]
        if missing:
            problems.append(f"ModelConfig fields {', '.join(missing)}")
    result = getattr(performance, "PerformanceResult", None)
    if result is not None and isinstance(result, type):
        missing = [f for f in REQUIRED_RESULT_FIELDS if f not in field_names(result)]
        if missing:
            problems.append(f"PerformanceResult fields {', '.join(missing)}")
    has_table = isinstance(getattr(gpus, "GPU_SPECS", None), dict)
    if not has_table and not callable(getattr(gpus, "list_available_gpus", None)):
        problems.append("predefined.gpus.GPU_SPECS")
    return problems


def _import_api() -> tuple[Optional[dict[str, ModuleType]], Optional[BaseException]]:
    modules: dict[str, ModuleType] = {}
    for sub in _SUBMODULES:
        try:
            modules[sub] = importlib.import_module(f"{IMPORT_NAME}.{sub}")
        except Exception as exc:  # an impostor, a half-installed package or a missing dependency
            return None, exc
    return modules, None


def probe() -> Availability:
    """Check, without caching, whether BentoML's llm-optimizer can run here."""
    try:
        top = importlib.util.find_spec(IMPORT_NAME)
    except (ImportError, ValueError):
        top = None
    dist = _find_distribution(module_found=top is not None)
    bentoml = is_bentoml_distribution(dist)
    found = _describe(dist)
    if top is None:
        if dist is not None and not bentoml:
            return Availability(False, f"{IMPOSTOR_MESSAGE} (found {found}, which has no llm_optimizer module)",
                                distribution=found)
        return Availability(
            False, f"BentoML's llm-optimizer is not installed; install it with: {INSTALL_COMMAND} "
            f"(the PyPI package of that name is a different project)", distribution=found)

    modules, error = _import_api()
    if modules is None:
        missing_name = getattr(error, "name", None) or ""
        ours = isinstance(error, ModuleNotFoundError) and (
            missing_name == IMPORT_NAME or missing_name.startswith(IMPORT_NAME + "."))
        if ours and not bentoml:
            return Availability(False, f"{IMPOSTOR_MESSAGE} (found {found or 'a llm_optimizer module'} without "
                                f"BentoML's {missing_name})", distribution=found)
        return Availability(
            False, f"llm-optimizer is installed but does not import ({type(error).__name__}: {error}); "
            f"reinstall BentoML's with: {INSTALL_COMMAND}", distribution=found)

    problems = api_problems(modules["performance"], modules["common"], modules["predefined.gpus"])
    if problems:
        if bentoml:
            return Availability(
                False, f"BentoML's llm-optimizer ({found}) lacks the API gpurec calls: missing {'; '.join(problems)}; "
                "report this to gpurec, and meanwhile use estimator='roofline'",
                distribution=found, details=tuple(problems))
        return Availability(False, f"{IMPOSTOR_MESSAGE} (found {found or 'a llm_optimizer module'} without "
                            f"{'; '.join(problems)})", distribution=found, details=tuple(problems))

    api = LLMOptimizerAPI(performance=modules["performance"], common=modules["common"],
                          gpus=modules["predefined.gpus"], version=dist.version if dist is not None else "")
    return Availability(True, api=api, distribution=found)
