"""The plugin manager and the typed facade through which core code calls the hooks.

Plugins, bundled or not, are found through the entry-point group ``gpurec``. The bundled
ones ship in the ``gpurec`` distribution; when gpurec runs from a source tree that was never
installed they are registered from :data:`BUILTIN_PLUGINS` instead.

Environment controls:

* ``GPUREC_DISABLE_PLUGIN_AUTOLOAD=1`` — load only the bundled plugins.
* ``GPUREC_DISABLED_PLUGINS=a,b`` — skip these plugins (entry-point or module names).
* ``GPUREC_TRACE_PLUGINS=1`` — print every hook call and which plugin answered, on stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable, Optional

import pluggy

from gpurec_core import hookspecs
from gpurec_core._names import PROJECT_NAME
from gpurec_core.errors import CatalogError, GPUNotFoundError, GpurecError, PluginError, did_you_mean
from gpurec_core.models import (
    EstimatorInfo,
    GPUSpec,
    MemoryPlan,
    Parallelism,
    PerformanceEstimate,
    Precision,
    Workload,
    normalize_gpu_name,
)

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Entry-point name -> module of the plugins bundled with gpurec (an explicit tuple, no scanning).
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("toml-catalog", "gpurec_toml_catalog"),
    ("capacity", "gpurec_capacity"),
    ("roofline", "gpurec_roofline"),
    ("llm-optimizer", "gpurec_llm_optimizer"),
)
_BUILTIN_MODULES = {module for _, module in BUILTIN_PLUGINS}


@dataclass
class PluginRecord:
    """What ``gpurec plugins`` shows about one plugin."""

    name: str
    module: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    error: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "version": self.version,
            "builtin": self.builtin,
            "hooks": self.hooks,
            "loaded": self.error is None,
            "error": self.error,
        }


def _env_list(name: str) -> set[str]:
    return {item.strip() for item in os.environ.get(name, "").split(",") if item.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class GpurecPluginManager(pluggy.PluginManager):
    """pluggy's manager plus the load records shown by ``gpurec plugins``."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []
        self._lock = threading.RLock()
        self._catalog_cache: dict[tuple[str, ...], "GPUCatalog"] = {}

    def register_plugin(self, plugin: Any, name: str, *, version: str = "", builtin: bool = False) -> None:
        """Register ``plugin`` under ``name`` and record it for ``gpurec plugins``."""
        self.register(plugin, name=name)
        hooks = sorted(impl_name for impl_name in dir(plugin) if impl_name in _HOOK_NAMES)
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self.records.append(PluginRecord(name=name, module=module, version=version, builtin=builtin, hooks=hooks))
        self._catalog_cache.clear()

    def unregister_plugin(self, name: str) -> None:
        self.unregister(name=name)
        self.records = [r for r in self.records if r.name != name]
        self._catalog_cache.clear()

    def record_failure(self, name: str, module: str, version: str, builtin: bool, error: str) -> None:
        self.records.append(PluginRecord(name=name, module=module, version=version, builtin=builtin, error=error))


_HOOK_NAMES = frozenset(n for n in dir(hookspecs) if not n.startswith("_") and hasattr(getattr(hookspecs, n), "gpurec_spec"))


def _register_builtins_from_source(pm: GpurecPluginManager, disabled: set[str]) -> None:
    from gpurec_core import __version__

    for name, module_name in BUILTIN_PLUGINS:
        if name in disabled or module_name in disabled or pm.has_plugin(name):
            continue
        module = importlib.import_module(module_name)
        pm.register_plugin(module, name, version=__version__, builtin=True)


def _load_entry_points(pm: GpurecPluginManager, *, builtins_only: bool, disabled: set[str]) -> None:
    def is_builtin(ep: metadata.EntryPoint) -> bool:
        dist = getattr(ep, "dist", None)
        return dist is not None and dist.metadata["Name"] == PROJECT_NAME and ep.value.split(":")[0] in _BUILTIN_MODULES

    # Bundled plugins first, then third-party ones; correctness never depends on this order.
    for ep in sorted(metadata.entry_points(group=PROJECT_NAME), key=lambda e: (not is_builtin(e), e.name)):
        dist = getattr(ep, "dist", None)
        version = dist.version if dist is not None else ""
        builtin = is_builtin(ep)
        if (builtins_only and not builtin) or ep.name in disabled or ep.value in disabled or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take gpurec down
            message = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"gpurec plugin {ep.name!r} ({ep.value}) failed to import and was skipped: {message}", stacklevel=2)
            pm.record_failure(ep.name, ep.value, version, builtin, message)
            continue
        try:
            pm.register_plugin(plugin, ep.name, version=version, builtin=builtin)
        except (ValueError, pluggy.PluginValidationError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"gpurec plugin {ep.name!r} could not be registered and was skipped: {message}", stacklevel=2)
            pm.record_failure(ep.name, ep.value, version, builtin, message)


def build_plugin_manager(*, load_entry_points: bool = True) -> GpurecPluginManager:
    """Build a new manager: the bundled plugins, then (unless disabled) third-party entry points."""
    pm = GpurecPluginManager()
    disabled = _env_list("GPUREC_DISABLED_PLUGINS")
    builtins_only = not load_entry_points or _env_flag("GPUREC_DISABLE_PLUGIN_AUTOLOAD")
    _load_entry_points(pm, builtins_only=builtins_only, disabled=disabled)
    _register_builtins_from_source(pm, disabled)  # no-op when the entry points provided them
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc} — a plugin implements a hook gpurec does not define; check its spelling") from exc
    if _env_flag("GPUREC_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda message: sys.stderr.write(f"[gpurec] {message}"))
        pm.enable_tracing()
    return pm


_manager: Optional[GpurecPluginManager] = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> GpurecPluginManager:
    """The process-wide manager, built once (thread-safe)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = build_plugin_manager()
    return _manager


def set_plugin_manager(pm: Optional[GpurecPluginManager]) -> Optional[GpurecPluginManager]:
    """Replace the process-wide manager (None: rebuild on next use); returns the previous one."""
    global _manager
    with _manager_lock:
        previous, _manager = _manager, pm
    return previous


# ---------------------------------------------------------------------------------------------
# The typed facade: core code calls these, never ``pm.hook.x(...)``.
# ---------------------------------------------------------------------------------------------


def _plugin_name(pm: pluggy.PluginManager, impl: Any) -> str:
    return pm.get_name(impl.plugin) or repr(impl.plugin)


def _call_each(pm: GpurecPluginManager, hook_name: str, kwargs: dict[str, Any], *, firstresult: bool) -> list[tuple[str, Any]]:
    """Call a hook's implementations in pluggy's order, attributing errors to the plugin.

    Returns ``(plugin name, result)`` pairs of the non-None results (just the first one for a
    firstresult hook). A ``GpurecError`` from a plugin passes through; any other exception
    becomes a :class:`PluginError` naming the plugin, chained to the original.
    """
    hook = getattr(pm.hook, hook_name)
    results: list[tuple[str, Any]] = []
    trace = _env_flag("GPUREC_TRACE_PLUGINS")
    for impl in reversed(hook.get_hookimpls()):
        name = _plugin_name(pm, impl)
        args = [kwargs[arg] for arg in impl.argnames]
        try:
            result = impl.function(*args)
        except GpurecError:
            raise
        except Exception as exc:
            raise _raised(name, hook_name, exc) from exc
        if trace:
            sys.stderr.write(f"[gpurec] {hook_name} <- {name}: {'None' if result is None else type(result).__name__}\n")
        if result is not None:
            results.append((name, result))
            if firstresult:
                break
    return results


def _raised(name: str, hook_name: str, exc: Exception) -> PluginError:
    """The error for an exception a plugin raised in a hook: the plugin, the hook, the exception, the fix.

    On one line: a multi-line exception text (a pydantic ValidationError's) is joined with '; '.
    """
    detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return PluginError(
        f"plugin {name!r} raised {type(exc).__name__} in hook {hook_name}: {detail} "
        f"(disable it with GPUREC_DISABLED_PLUGINS={name} and report it to its author)"
    )


def _expect_items(name: str, hook_name: str, result: Any, kind: type) -> list[Any]:
    """The items of a collect-all hook's result (a list, tuple or generator of ``kind``), type-checked.

    A result that is not iterable is a wrong type; an exception raised while iterating it (a generator
    hookimpl) is attributed to the plugin like one raised by the call itself.
    """
    if isinstance(result, (str, bytes, dict)):
        _expect(name, hook_name, result, list)
    try:
        iterator = iter(result)
    except TypeError:
        _expect(name, hook_name, result, list)
    try:
        items = list(iterator)
    except GpurecError:
        raise
    except Exception as exc:
        raise _raised(name, hook_name, exc) from exc
    return [_expect(name, hook_name, item, kind) for item in items]


def _expect(name: str, hook_name: str, result: Any, kind: type) -> Any:
    if not isinstance(result, kind):
        raise PluginError(
            f"plugin {name!r} returned {type(result).__name__} from {hook_name}; expected {kind.__name__} "
            f"(fix the plugin or disable it with GPUREC_DISABLED_PLUGINS={name})"
        )
    return result


class GPUCatalog:
    """Every GPU the plugins provide, merged, with case-insensitive lookup by name or alias."""

    def __init__(self, specs: Iterable[GPUSpec]):
        self.specs: list[GPUSpec] = sorted(specs, key=lambda s: s.name)
        self._by_key: dict[str, GPUSpec] = {}
        for spec in self.specs:
            for key in {normalize_gpu_name(spec.name), *(normalize_gpu_name(a) for a in spec.aliases)}:
                other = self._by_key.get(key)
                if other is not None and other is not spec:
                    raise CatalogError(
                        f"GPU name {key!r} is defined twice: {other.name} (plugin {other.provided_by!r}) and "
                        f"{spec.name} (plugin {spec.provided_by!r}); remove one, or override it through a "
                        "GPUREC_GPU_CATALOG TOML file"
                    )
                self._by_key[key] = spec

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def get(self, name: str) -> GPUSpec:
        if not isinstance(name, str):
            raise GPUNotFoundError(f"a GPU is named by a string such as 'H100' (`gpurec gpus` lists them all), "
                                   f"got {type(name).__name__} {name!r:.80}")
        spec = self._by_key.get(normalize_gpu_name(name))
        if spec is None:
            choices = self.names() + [alias for spec in self.specs for alias in spec.aliases]
            raise GPUNotFoundError(
                f"unknown GPU {name!r:.80}.{did_you_mean(name[:200], choices)} `gpurec gpus` lists them all; "
                "add your own with a TOML file named by GPUREC_GPU_CATALOG"
            )
        return spec


def gpu_catalog(pm: Optional[GpurecPluginManager] = None) -> GPUCatalog:
    """Collect ``provide_gpu_specs`` from every plugin into one catalog (cached per manager and env)."""
    pm = pm or get_plugin_manager()
    key = (os.environ.get("GPUREC_GPU_CATALOG", ""),)
    cached = pm._catalog_cache.get(key)
    if cached is not None:
        return cached
    with pm._lock:
        cached = pm._catalog_cache.get(key)
        if cached is not None:
            return cached
        specs: list[GPUSpec] = []
        for name, result in _call_each(pm, "provide_gpu_specs", {}, firstresult=False):
            for spec in _expect_items(name, "provide_gpu_specs", result, GPUSpec):
                specs.append(spec if spec.provided_by else spec.model_copy(update={"provided_by": name}))
        catalog = GPUCatalog(specs)
        pm._catalog_cache[key] = catalog
        return catalog


def infer_precision(model: Any, pm: Optional[GpurecPluginManager] = None) -> Precision:
    """The first plugin's precision for ``model`` (the bundled one always answers)."""
    pm = pm or get_plugin_manager()
    results = _call_each(pm, "infer_precision", {"model": model}, firstresult=True)
    if not results:
        raise PluginError("no plugin inferred a precision; is the bundled 'capacity' plugin disabled?")
    name, result = results[0]
    return _expect(name, "infer_precision", result, Precision)


def estimate_memory(
    model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, engine: str,
    pm: Optional[GpurecPluginManager] = None,
) -> MemoryPlan:
    """The first plugin's memory plan for this engine."""
    pm = pm or get_plugin_manager()
    kwargs = {"model": model, "gpu": gpu, "parallelism": parallelism, "workload": workload, "engine": engine}
    results = _call_each(pm, "estimate_memory", kwargs, firstresult=True)
    if not results:
        from gpurec_core.errors import EstimationError

        raise EstimationError(f"no plugin plans memory for engine {engine!r}; choose vllm, sglang or trtllm")
    name, result = results[0]
    return _expect(name, "estimate_memory", result, MemoryPlan)


def estimate_performance(
    model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, memory: MemoryPlan, estimator: str,
    pm: Optional[GpurecPluginManager] = None,
) -> PerformanceEstimate:
    """The named estimator's performance estimate."""
    pm = pm or get_plugin_manager()
    kwargs = {"model": model, "gpu": gpu, "parallelism": parallelism, "workload": workload,
              "memory": memory, "estimator": estimator}
    results = _call_each(pm, "estimate_performance", kwargs, firstresult=True)
    if not results:
        from gpurec_core.errors import EstimatorUnavailableError

        names = [info.name for info in list_estimators(pm)]
        raise EstimatorUnavailableError(
            f"no estimator named {estimator!r}.{did_you_mean(estimator, names)} `gpurec estimators` lists them"
        )
    name, result = results[0]
    return _expect(name, "estimate_performance", result, PerformanceEstimate)


def list_estimators(pm: Optional[GpurecPluginManager] = None) -> list[EstimatorInfo]:
    """Every estimator the plugins offer, with whether it can run here."""
    pm = pm or get_plugin_manager()
    infos: list[EstimatorInfo] = []
    for name, result in _call_each(pm, "list_estimators", {}, firstresult=False):
        for info in _expect_items(name, "list_estimators", result, EstimatorInfo):
            infos.append(info if info.provided_by else info.model_copy(update={"provided_by": name}))
    return sorted(infos, key=lambda i: i.name)


def plugin_records(pm: Optional[GpurecPluginManager] = None) -> list[PluginRecord]:
    """What ``gpurec plugins`` shows: every plugin loaded or failed, in load order."""
    return list((pm or get_plugin_manager()).records)


