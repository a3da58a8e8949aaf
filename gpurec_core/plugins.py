"""The plugin manager, and the typed facade through which core code calls the hooks.

Plugins, bundled or not, are found through the entry-point group ``gpurec``. The bundled
ones ship in the ``gpurec`` distribution; when gpurec runs from a source tree that was never
installed they are registered from :data:`BUILTIN_PLUGINS` instead.

Every hook is called through pluggy (``pm.hook.<name>`` or a subset of it), so hook wrappers,
``pm.enable_tracing()`` and ``pm.add_hookcall_monitoring`` work. Third-party code is contained
(:mod:`gpurec_core.plugin_isolation`): its import and every hook call that reaches it run under a
deadline, and whatever it raises, ``SystemExit`` included, is caught. A third-party plugin that
raises, returns the wrong type or overruns the deadline is disabled for the rest of the process
and named (a :class:`~gpurec_core.errors.PluginWarning`, ``gpurec plugins``, the notes of a
recommendation); the built-ins answer without it. Estimator and engine names are owned: a
plugin is asked only for the names it lists.

Environment controls:

* ``GPUREC_DISABLE_PLUGIN_AUTOLOAD=1`` — load only the bundled plugins.
* ``GPUREC_DISABLED_PLUGINS=a,b`` — skip these plugins (entry-point or module names).
* ``GPUREC_PLUGIN_TIMEOUT=seconds`` — deadline of a third-party import or hook call (default 5; 0: none).
* ``GPUREC_ALLOW_GPU_OVERRIDE=a,b`` (or ``*``) — these plugins may replace bundled GPUs.
* ``GPUREC_TRACE_PLUGINS=1`` — pluggy's hook-call tracing, on stderr.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Optional

import pluggy

from gpurec_core import hookspecs
from gpurec_core._names import PROJECT_NAME
from gpurec_core.env_settings import env_flag, env_list, env_seconds
from gpurec_core.errors import GpurecError, PluginError, PluginWarning, did_you_mean, one_line
from gpurec_core.gpu_catalog import OVERRIDE_ENV, GPUCatalog
from gpurec_core.models import EngineInfo, EstimatorInfo, GPUSpec, MemoryPlan, Parallelism, PerformanceEstimate, Precision, Workload
from gpurec_core.plugin_isolation import (CallLog, DeadlineRunner, Outcome, attributed, culprit_in_frames, current_log,
                                          frames_of_thread, frames_of_traceback)

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Entry-point name -> module of the plugins bundled with gpurec (an explicit tuple, no scanning).
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("toml-catalog", "gpurec_toml_catalog"),
    ("capacity", "gpurec_capacity"),
    ("roofline", "gpurec_roofline"),
    ("llm-optimizer", "gpurec_llm_optimizer"),
)
_BUILTIN_MODULES = {module for _, module in BUILTIN_PLUGINS}

#: Hooks whose results are collected from every plugin (each an iterable of items).
_COLLECTING_HOOKS = frozenset({"provide_gpu_specs", "list_estimators", "list_engines"})
_HOOK_NAMES = frozenset(n for n in dir(hookspecs) if not n.startswith("_") and hasattr(getattr(hookspecs, n), "gpurec_spec"))

TIMEOUT_ENV = "GPUREC_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT_S = 5.0

LOADED, BROKEN, TIMED_OUT, DISABLED = "loaded", "broken", "timed-out", "disabled"


@dataclass
class PluginRecord:
    """What ``gpurec plugins`` shows about one plugin: its status and, unless loaded, why."""

    name: str
    module: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    status: str = LOADED
    reason: Optional[str] = None

    @property
    def error(self) -> Optional[str]:
        return self.reason

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "module": self.module, "version": self.version, "builtin": self.builtin,
                "hooks": self.hooks, "status": self.status, "reason": self.reason,
                "loaded": self.status == LOADED, "error": self.reason}


def plugin_timeout() -> float:
    """The deadline of one third-party import or hook call, seconds (``GPUREC_PLUGIN_TIMEOUT``; 0: none)."""
    value, raw = env_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, zero_allowed=True)
    if value is None:
        raise PluginError(f"{TIMEOUT_ENV}={raw[:40]!r} is not a number of seconds >= 0; e.g. {TIMEOUT_ENV}=10 "
                          "(0 waits for plugins without a deadline)")
    return value


def _module_of(plugin: Any) -> str:
    """The module a plugin's code lives in (a module's own name; a class's or instance's module)."""
    if isinstance(plugin, type(sys)):
        return plugin.__name__
    return str(getattr(plugin, "__module__", None) or type(plugin).__module__)


def _one_line(exc: BaseException) -> str:
    """An exception as ``Type: text`` on one line."""
    detail = one_line(str(exc))
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class GpurecPluginManager(pluggy.PluginManager):
    """pluggy's manager plus load records, ownership-filtered hook callers and plugin containment."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self._records: dict[str, PluginRecord] = {}
        self._builtin: set[str] = set()
        self._lock = threading.RLock()
        self._callers: dict[tuple[str, Optional[str]], tuple[Any, frozenset]] = {}
        self._derived: dict[Any, Any] = {}  # GPU catalogs, name owners: rebuilt when plugins change
        self._code_owner: dict[Any, str] = {}
        self._module_owner: dict[str, str] = {}
        self.runner = DeadlineRunner()

    @property
    def records(self) -> list[PluginRecord]:
        return list(self._records.values())

    def is_builtin(self, name: Optional[str]) -> bool:
        return name in self._builtin

    def _changed(self) -> None:
        self._callers.clear()
        self._derived.clear()

    def register_plugin(self, plugin: Any, name: str, *, version: str = "", builtin: bool = False) -> bool:
        """Register ``plugin`` under ``name``; a third-party plugin that pluggy or gpurec rejects is
        recorded as broken (returns False), a bundled one raises :class:`PluginError`."""
        module = _module_of(plugin)
        with self._lock:
            try:
                self.register(plugin, name=name)
                self.check_pending()
            except (ValueError, pluggy.PluginValidationError) as exc:
                if self.is_registered(plugin):
                    self.unregister(plugin)
                message = f"{_one_line(exc)} (check the hook names and arguments against gpurec_core.hookspecs)"
                if builtin:
                    raise PluginError(f"bundled plugin {name!r} cannot be registered: {message}") from exc
                self.record_failure(name, module, version, builtin, message)
                return False
            hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or [])
            if not hooks and not builtin:
                self.unregister(plugin)
                self.record_failure(name, module, version, builtin,
                                    f"{type(plugin).__name__} {plugin!r:.60} implements no gpurec hook (mark the hook "
                                    "functions with gpurec_core.hookimpl; the entry point names a module, class or object)")
                return False
            if builtin:
                self._builtin.add(name)
            self._instrument(name, plugin, module)
            self._records[name] = PluginRecord(name=name, module=module, version=version, builtin=builtin, hooks=hooks)
            self._changed()
            return True

    def _instrument(self, name: str, plugin: Any, module: str) -> None:
        """Wrap the plugin's hook functions so that a facade call knows who ran, raised and returned what."""
        self._module_owner.setdefault(module, name)
        for caller in self.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                code = getattr(impl.function, "__code__", None)
                if code is not None:
                    self._code_owner[code] = name
                if not (impl.wrapper or impl.hookwrapper):
                    impl.function = attributed(name, impl.function, caller.name in _COLLECTING_HOOKS)

    def unregister_plugin(self, name: str) -> None:
        with self._lock:
            if self.has_plugin(name):
                self.unregister(name=name)
            self._records.pop(name, None)
            self._builtin.discard(name)
            self._changed()

    def record_failure(self, name: str, module: str, version: str, builtin: bool, reason: str,
                       status: str = BROKEN) -> None:
        """Record a plugin that could not be loaded, and warn."""
        self._records[name] = PluginRecord(name=name, module=module, version=version, builtin=builtin,
                                           status=status, reason=reason)
        if status != DISABLED:
            _warn(f"plugin {name!r} ({module}) was not loaded: {reason}")

    def disable(self, name: str, status: str, reason: str) -> None:
        """Take a misbehaving third-party plugin out for the rest of the process, and say so once."""
        with self._lock:
            if self.has_plugin(name):
                self.unregister(name=name)
            record = self._records.get(name)
            if record is not None and record.status == LOADED:
                record.status, record.reason = status, reason
                _warn(f"plugin {name!r} was disabled: {reason}; gpurec goes on without it "
                      f"(report it to its author; GPUREC_DISABLED_PLUGINS={name} skips it)")
            self._changed()

    def caller(self, hook_name: str, owner: Optional[str] = None) -> tuple[Any, frozenset]:
        """The hook caller for ``hook_name``: every implementation, or with ``owner`` the owner's and
        every plugin's wrappers; and the third-party plugins it reaches."""
        key = (hook_name, owner)
        cached = self._callers.get(key)
        if cached is None:
            hook = getattr(self.hook, hook_name)
            caller = hook
            if owner is not None:
                others = [impl.plugin for impl in hook.get_hookimpls()
                          if not (impl.wrapper or impl.hookwrapper) and impl.plugin_name != owner]
                caller = self.subset_hook_caller(hook_name, others) if others else hook
            third_party = frozenset(impl.plugin_name for impl in caller.get_hookimpls()
                                    if impl.plugin_name not in self._builtin)
            cached = self._callers[key] = (caller, third_party)
        return cached

    def derived(self, key: Any, build) -> Any:
        """``build()`` once per key until the registered plugins change (catalogs, name owners)."""
        value = self._derived.get(key)
        if value is None:
            with self._lock:
                value = self._derived.get(key)
                if value is None:
                    value = self._derived[key] = build()
        return value

    def culprit(self, outcome: Outcome, log: CallLog, third_party: frozenset) -> Optional[str]:
        """The plugin behind a failed call: the log's, else the innermost plugin frame, else the only
        third-party plugin involved."""
        name = log.current if outcome.overran else log.raised
        if name is None:
            frames = frames_of_thread(outcome.thread_id) if outcome.overran else \
                frames_of_traceback(outcome.error.__traceback__ if outcome.error else None)
            name = culprit_in_frames(frames, self._code_owner, self._module_owner)
        if name is None and len(third_party) == 1:
            name = next(iter(third_party))
        return name


def _warn(message: str) -> None:
    warnings.warn(message, PluginWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _register_builtins_from_source(pm: GpurecPluginManager, disabled: set[str]) -> None:
    from gpurec_core import __version__

    for name, module_name in BUILTIN_PLUGINS:
        if name in disabled or module_name in disabled or pm.has_plugin(name):
            continue
        module = importlib.import_module(module_name)
        pm.register_plugin(module, name, version=__version__, builtin=True)


def _load_contained(ep: metadata.EntryPoint) -> Outcome:
    """Import a third-party entry point under the deadline, containing whatever it raises."""
    timeout = plugin_timeout()
    if timeout > 0:
        return DeadlineRunner().run(ep.load, timeout)
    try:
        return Outcome(value=ep.load())
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: B036 - SystemExit from a plugin's import is contained too
        return Outcome(error=exc)


def _load_entry_points(pm: GpurecPluginManager, *, builtins_only: bool, disabled: set[str]) -> None:
    def is_builtin(ep: metadata.EntryPoint) -> bool:
        dist = getattr(ep, "dist", None)
        return dist is not None and dist.metadata["Name"] == PROJECT_NAME and ep.value.split(":")[0] in _BUILTIN_MODULES

    # Bundled plugins first, then third-party ones by name; correctness never depends on this order.
    for ep in sorted(metadata.entry_points(group=PROJECT_NAME), key=lambda e: (not is_builtin(e), e.name)):
        dist = getattr(ep, "dist", None)
        version = dist.version if dist is not None else ""
        builtin = is_builtin(ep)
        if (builtins_only and not builtin) or pm.has_plugin(ep.name):
            continue
        if ep.name in disabled or ep.value in disabled or ep.value.split(":")[0] in disabled:
            pm.record_failure(ep.name, ep.value, version, builtin, "disabled by GPUREC_DISABLED_PLUGINS", DISABLED)
            continue
        if builtin:
            pm.register_plugin(ep.load(), ep.name, version=version, builtin=True)
            continue
        outcome = _load_contained(ep)
        if outcome.overran:
            pm.record_failure(ep.name, ep.value, version, False,
                              f"its import did not finish within {plugin_timeout():g} s ({TIMEOUT_ENV})", TIMED_OUT)
        elif outcome.error is not None:
            pm.record_failure(ep.name, ep.value, version, False, f"{_one_line(outcome.error)} (at import)")
        else:
            pm.register_plugin(outcome.value, ep.name, version=version, builtin=False)


def build_plugin_manager(*, load_entry_points: bool = True) -> GpurecPluginManager:
    """Build a new manager: the bundled plugins, then (unless disabled) third-party entry points."""
    pm = GpurecPluginManager()
    disabled = env_list("GPUREC_DISABLED_PLUGINS")
    builtins_only = not load_entry_points or env_flag("GPUREC_DISABLE_PLUGIN_AUTOLOAD")
    _load_entry_points(pm, builtins_only=builtins_only, disabled=disabled)
    _register_builtins_from_source(pm, disabled)  # no-op when the entry points provided them
    if env_flag("GPUREC_TRACE_PLUGINS"):
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
# Calling hooks
# ---------------------------------------------------------------------------------------------


def _raised(name: Optional[str], hook_name: str, exc: BaseException) -> PluginError:
    """The error for an exception a plugin raised in a hook: the plugin, the hook, the exception, the fix."""
    return PluginError(f"plugin {name or '(unknown)'!r} raised {type(exc).__name__} in hook {hook_name}: {one_line(str(exc))} "
                       f"(disable it with GPUREC_DISABLED_PLUGINS={name} and report it to its author)")


def _run(pm: GpurecPluginManager, caller: Any, kwargs: dict, log: CallLog, third_party: frozenset) -> Outcome:
    """One pluggy call, under the deadline when it reaches third-party code."""
    token = current_log().set(log)
    try:
        timeout = plugin_timeout() if third_party else 0.0
        if timeout > 0:
            return pm.runner.run(lambda: caller(**kwargs), timeout)
        try:
            return Outcome(value=caller(**kwargs))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: B036 - a plugin's SystemExit is contained like any error
            return Outcome(error=exc)
    finally:
        current_log().reset(token)


def call_hook(pm: GpurecPluginManager, hook_name: str, kwargs: dict, owner: Optional[str] = None) -> tuple[Any, CallLog]:
    """Call ``hook_name`` through pluggy; returns pluggy's result and the call's log.

    A third-party plugin other than ``owner`` that raises or overruns is disabled and the call is
    made again without it. The owner's failure is raised as a :class:`PluginError` naming it (its
    own :class:`GpurecError` passes through), as is any failure of a bundled plugin.
    """
    while True:
        caller, third_party = pm.caller(hook_name, owner)
        log = CallLog()
        outcome = _run(pm, caller, kwargs, log, third_party)
        if outcome.error is None and not outcome.overran:
            return outcome.value, log
        culprit = pm.culprit(outcome, log, third_party)
        replaceable = culprit is not None and culprit != owner and not pm.is_builtin(culprit) and pm.has_plugin(culprit)
        if outcome.overran:
            reason = f"it did not answer hook {hook_name} within {plugin_timeout():g} s ({TIMEOUT_ENV})"
            if culprit is not None and not pm.is_builtin(culprit):
                pm.disable(culprit, TIMED_OUT, reason)
            if not replaceable:
                raise PluginError(f"plugin {culprit or '(unknown)'!r}: {reason}; it is disabled for this run")
            continue
        exc = outcome.error
        if not replaceable:
            if isinstance(exc, GpurecError):
                raise exc
            raise _raised(culprit, hook_name, exc) from exc
        pm.disable(culprit, BROKEN, f"{_one_line(exc)} in hook {hook_name}")


def _wrong_type(hook_name: str, result: Any, expected: str) -> str:
    return f"it returned {type(result).__name__} from {hook_name}; expected {expected}"


def _items(result: Any, kind: type) -> Optional[list]:
    """A collecting hook's result as a list of ``kind``, or None when it is not one."""
    if isinstance(result, (str, bytes, dict)) or not isinstance(result, (list, tuple)):
        return None
    return list(result) if all(isinstance(item, kind) for item in result) else None


def _collect(pm: GpurecPluginManager, hook_name: str, kind: type) -> list[tuple[str, Any]]:
    """``(plugin, item)`` for every item of a collecting hook, in load order; a third-party plugin
    returning anything but a list of ``kind`` is disabled and left out."""
    results, log = call_hook(pm, hook_name, {})
    collected: list[tuple[str, Any]] = []
    for result in results:
        name = log.results.get(id(result), "(a hook wrapper)")
        items = _items(result, kind)
        if items is None:
            if isinstance(result, (list, tuple)):
                problem = _wrong_type(hook_name, next(i for i in result if not isinstance(i, kind)), kind.__name__)
            else:
                problem = _wrong_type(hook_name, result, f"a list of {kind.__name__}")
            if pm.is_builtin(name) or name not in pm._records:
                raise PluginError(f"plugin {name!r}: {problem} (fix the plugin or disable it with "
                                  f"GPUREC_DISABLED_PLUGINS={name})")
            pm.disable(name, BROKEN, problem)
            continue
        collected += [(name, item) for item in items]
    order = {record.name: i for i, record in enumerate(pm.records)}
    return sorted(collected, key=lambda pair: (not pm.is_builtin(pair[0]), order.get(pair[0], len(order))))


def _first(pm: GpurecPluginManager, hook_name: str, kwargs: dict, kind: type, owner: Optional[str] = None) -> Any:
    """The answer of a first-result hook, type-checked; a wrong type from a third-party plugin other
    than ``owner`` disables it and asks again."""
    while True:
        result, log = call_hook(pm, hook_name, kwargs, owner)
        if result is None or isinstance(result, kind):
            return result
        name = log.results.get(id(result), "(a hook wrapper)")
        problem = _wrong_type(hook_name, result, kind.__name__)
        if pm.is_builtin(name) or name == owner or name not in pm._records:
            raise PluginError(f"plugin {name!r}: {problem} (fix the plugin or disable it with "
                              f"GPUREC_DISABLED_PLUGINS={name})")
        pm.disable(name, BROKEN, problem)


# ---------------------------------------------------------------------------------------------
# The typed facade: core code calls these, never ``pm.hook.x(...)``.
# ---------------------------------------------------------------------------------------------


def gpu_catalog(pm: Optional[GpurecPluginManager] = None) -> GPUCatalog:
    """Every plugin's GPUs in one catalog (cached per manager and ``GPUREC_GPU_CATALOG``)."""
    pm = pm or get_plugin_manager()

    def build() -> GPUCatalog:
        entries = [(spec.model_copy(update={"provided_by": name}), pm.is_builtin(name))
                   for name, spec in _collect(pm, "provide_gpu_specs", GPUSpec)]
        return GPUCatalog(entries, _warn)
    key = ("gpus", os.environ.get("GPUREC_GPU_CATALOG", ""), os.environ.get(OVERRIDE_ENV, ""))
    return pm.derived(key, build)


def _owned(pm: GpurecPluginManager, hook_name: str, kind: type, what: str) -> dict[str, Any]:
    """Name -> info of what plugins list (estimators, engines), each name owned by one plugin:
    a bundled plugin's first, else the first plugin loaded to list it."""
    def build() -> dict[str, Any]:
        owned: dict[str, Any] = {}
        for name, info in _collect(pm, hook_name, kind):
            info = info.model_copy(update={"provided_by": name})
            first = owned.get(info.name)
            if first is None:
                owned[info.name] = info
            elif first.provided_by != name:
                _warn(f"plugin {name!r} lists {what} {info.name!r}, which plugin {first.provided_by!r} provides; "
                      f"gpurec asks only {first.provided_by!r} for it")
        return owned
    return pm.derived(hook_name, build)


def list_estimators(pm: Optional[GpurecPluginManager] = None) -> list[EstimatorInfo]:
    """Every estimator the plugins offer, with whether it can run here and which plugin owns it."""
    pm = pm or get_plugin_manager()
    return sorted(_owned(pm, "list_estimators", EstimatorInfo, "estimator").values(), key=lambda i: i.name)


def list_engines(pm: Optional[GpurecPluginManager] = None) -> list[EngineInfo]:
    """Every serving engine the plugins plan memory for, and which plugin owns it."""
    pm = pm or get_plugin_manager()
    return sorted(_owned(pm, "list_engines", EngineInfo, "engine").values(), key=lambda i: i.name)


def engine_key(name: str) -> str:
    """How engine names are matched: ``TensorRT-LLM``, ``tensorrt_llm`` and ``TRT-LLM`` differ from their
    keys only in case and the separators benchmark files write (spaces, '-', '_', '.')."""
    return re.sub(r"[\s\-_.]+", "", name).lower()


#: A version or image tag after an engine's name, as benchmark files write it: 'sglang-0.5', 'vLLM V1',
#: 'TensorRT-LLM 1.0.0rc3', 'vllm==0.11.0', 'vllm-openai:v0.10.1'.
_VERSION_TAIL = re.compile(r"[\s\-_=@:]*v?\d[\w.\-+]*$", re.IGNORECASE)


def without_version(name: str) -> str:
    """An engine name without its version or image tag, and without an image's repository
    ('lmsysorg/sglang:v0.5.3-cu126' -> 'sglang')."""
    return _VERSION_TAIL.sub("", name.rsplit("/", 1)[-1])


def engine_info(engine: str, pm: Optional[GpurecPluginManager] = None) -> EngineInfo:
    """The engine named ``engine``, by its name or an alias (:func:`engine_key`: 'vLLM', 'SGLang',
    'TRT-LLM', 'TensorRT-LLM' find vllm, sglang, trtllm), with or without a version after it
    (:func:`without_version`); a :class:`WorkloadError` suggesting near names otherwise."""
    pm = pm or get_plugin_manager()
    engines = _owned(pm, "list_engines", EngineInfo, "engine")
    info = engines.get(engine) if isinstance(engine, str) else None
    if info is None and isinstance(engine, str):
        by_key = pm.derived("engine_keys", lambda: {engine_key(n): i for i in engines.values()
                                                    for n in (i.name, *i.aliases)})
        info = by_key.get(engine_key(engine)) or by_key.get(engine_key(without_version(engine)))
    if info is None:
        from gpurec_core.catalogs import catalog_path
        from gpurec_core.errors import WorkloadError

        disabled = [r.name for r in pm._records.values() if r.builtin and r.status == DISABLED]
        if disabled and isinstance(engine, str) and (catalog_path("engines") / f"{engine_key(engine)}.toml").is_file():
            raise PluginError(f"no plugin lists the engine {engine!r:.80}: the bundled plugin(s) "
                              f"{', '.join(map(repr, disabled))} that list gpurec's engines are disabled "
                              "(GPUREC_DISABLED_PLUGINS); enable them again")
        names = sorted(engines)
        spellings = names + sorted({a for i in engines.values() for a in i.aliases})
        raise WorkloadError(f"unknown engine {engine!r:.80}.{did_you_mean(str(engine)[:200], spellings)} "
                            f"Choose one of {', '.join(names)} (`gpurec engines` lists them)")
    return info


def _estimator_owner(pm: GpurecPluginManager, estimator: str) -> str:
    info = _owned(pm, "list_estimators", EstimatorInfo, "estimator").get(estimator)
    if info is None:
        from gpurec_core.errors import EstimatorUnavailableError

        names = [i.name for i in list_estimators(pm)]
        raise EstimatorUnavailableError(
            f"no estimator named {estimator!r:.80}.{did_you_mean(str(estimator)[:200], names)} `gpurec estimators` lists them")
    return info.provided_by


def infer_precision(model: Any, pm: Optional[GpurecPluginManager] = None) -> Precision:
    """The first plugin's precision for ``model`` (the bundled one always answers)."""
    pm = pm or get_plugin_manager()
    result = _first(pm, "infer_precision", {"model": model}, Precision)
    if result is None:
        raise PluginError("no plugin inferred a precision; is the bundled 'capacity' plugin disabled?")
    return result


def estimate_memory(
    model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, engine: str,
    pm: Optional[GpurecPluginManager] = None,
) -> MemoryPlan:
    """The memory plan of the plugin that owns ``engine``; it does not fit when the engine does not run on
    ``gpu``'s maker's GPUs (``EngineInfo.manufacturers``), whatever plugin planned it."""
    pm = pm or get_plugin_manager()
    info = engine_info(engine, pm)
    kwargs = {"model": model, "gpu": gpu, "parallelism": parallelism, "workload": workload, "engine": engine}
    result = _first(pm, "estimate_memory", kwargs, MemoryPlan, info.provided_by)
    if result is None:
        from gpurec_core.errors import EstimationError

        raise EstimationError(f"plugin {info.provided_by!r} lists engine {engine!r} but planned no memory for it")
    if info.manufacturers and gpu.manufacturer.casefold() not in {m.casefold() for m in info.manufacturers}:
        problem = (f"{engine} runs on {' and '.join(info.manufacturers)} GPUs only and {gpu.name} is "
                   f"{gpu.manufacturer}'s; choose an engine that runs on it (`gpurec engines`)")
        return result.model_copy(update={"fits": False, "reason": "; ".join(r for r in (problem, result.reason) if r)})
    return result


def estimate_performance(
    model: Any, gpu: GPUSpec, parallelism: Parallelism, workload: Workload, memory: MemoryPlan, estimator: str,
    pm: Optional[GpurecPluginManager] = None,
) -> PerformanceEstimate:
    """The estimate of the plugin that owns ``estimator``."""
    kwargs = {"model": model, "gpu": gpu, "parallelism": parallelism, "workload": workload,
              "memory": memory, "estimator": estimator}
    return _estimator_answer(pm, "estimate_performance", kwargs, PerformanceEstimate, lambda owner: PluginError(
        f"plugin {owner!r} lists estimator {estimator!r} but returned no estimate (report it to its author)"))


def _estimator_answer(pm: Optional[GpurecPluginManager], hook_name: str, kwargs: dict, kind: type,
                      missing: Callable[[str], Exception]) -> Any:
    """The answer of the plugin that owns ``kwargs["estimator"]`` to a first-result hook, or the
    error ``missing(owner)`` when it gives none."""
    pm = pm or get_plugin_manager()
    owner = _estimator_owner(pm, kwargs["estimator"])
    result = _first(pm, hook_name, kwargs, kind, owner)
    if result is None:
        raise missing(owner)
    return result


def estimate_performance_batch(batch: Any, estimator: str, pm: Optional[GpurecPluginManager] = None) -> Any:
    """:class:`~gpurec_core.batch.BatchEstimates` of every point of ``batch``: the owner's batch
    implementation, or its ``estimate_performance`` point by point when it has none."""
    from gpurec_core.batch import BatchEstimates

    pm = pm or get_plugin_manager()
    owner = _estimator_owner(pm, estimator)
    result = _first(pm, "estimate_performance_batch", {"batch": batch, "estimator": estimator}, BatchEstimates, owner)
    if result is not None:
        problems = result.problems(len(batch))
        if problems:
            raise PluginError(f"plugin {owner!r} answered estimate_performance_batch with {problems[0]} "
                              f"(report it to its author)")
        return result
    estimates = []
    for i in range(len(batch)):
        model, gpu, parallelism, workload, memory = batch.point(i)
        try:
            estimates.append(estimate_performance(model, gpu, parallelism, workload, memory, estimator, pm))
        except GpurecError as exc:
            estimates.append(PerformanceEstimate(error=str(exc), estimator=estimator, concurrency=workload.concurrency))
    return BatchEstimates.of(estimates)


def estimate_disaggregated(model: Any, deployment: Any, workload: Workload, prefill_memory: MemoryPlan,
                           decode_memory: MemoryPlan, estimator: str,
                           pm: Optional[GpurecPluginManager] = None) -> PerformanceEstimate:
    """The estimate of a disaggregated deployment by the plugin that owns ``estimator``."""
    from gpurec_core.errors import EstimatorUnavailableError

    kwargs = {"model": model, "deployment": deployment, "workload": workload, "prefill_memory": prefill_memory,
              "decode_memory": decode_memory, "estimator": estimator}
    return _estimator_answer(pm, "estimate_disaggregated", kwargs, PerformanceEstimate, lambda owner: (
        EstimatorUnavailableError(f"estimator {estimator!r} (plugin {owner!r}) does not estimate disaggregated "
                                  "prefill/decode deployments; use the roofline estimator")))


def fit_calibration(rows: list, estimator: str, files: tuple = (), file_dates: tuple = (), folds: int = 3,
                    pm: Optional[GpurecPluginManager] = None) -> Any:
    """The calibration profile the plugin owning ``estimator`` fits to ``rows`` (``gpurec calibrate``)."""
    from gpurec_core.calibration import Profile
    from gpurec_core.errors import EstimatorUnavailableError

    kwargs = {"rows": rows, "estimator": estimator, "files": tuple(files), "file_dates": tuple(file_dates),
              "folds": folds}
    return _estimator_answer(pm, "fit_calibration", kwargs, Profile, lambda owner: EstimatorUnavailableError(
        f"estimator {estimator!r} (plugin {owner!r}) cannot be calibrated: its plugin implements no fit_calibration "
        "hook; calibrate the roofline estimator instead"))


def estimator_batches(estimator: str, pm: Optional[GpurecPluginManager] = None) -> bool:
    """Whether the plugin owning ``estimator`` implements ``estimate_performance_batch``."""
    pm = pm or get_plugin_manager()
    owner = _estimator_owner(pm, estimator)
    return any(impl.plugin_name == owner and not (impl.wrapper or impl.hookwrapper)
               for impl in pm.hook.estimate_performance_batch.get_hookimpls())


def plugin_records(pm: Optional[GpurecPluginManager] = None) -> list[PluginRecord]:
    """What ``gpurec plugins`` shows: every plugin loaded, broken, timed out or disabled, in load order."""
    return (pm or get_plugin_manager()).records


def plugin_problems(pm: Optional[GpurecPluginManager] = None) -> list[str]:
    """One sentence per third-party plugin that is broken or timed out (for a result's notes)."""
    return [f"plugin {r.name!r} is {r.status}: {r.reason}" for r in plugin_records(pm)
            if not r.builtin and r.status in (BROKEN, TIMED_OUT)]
