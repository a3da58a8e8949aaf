"""Containing third-party plugin code: deadlines, and finding the plugin that raised or hung.

* :class:`DeadlineRunner` runs a call on a daemon worker thread and waits at most ``timeout``
  seconds. A call that overruns is abandoned (its thread keeps running, detached, and dies with
  the process); one that raises anything, ``SystemExit`` and ``KeyboardInterrupt`` included, has
  its exception handed back as a value. Signals reach the main thread only, so a
  ``KeyboardInterrupt`` raised on a worker comes from plugin code, never from the user.
* :func:`attributed` wraps a hook implementation's function so that, during a call the facade
  makes (a :class:`CallLog` is current), it records which plugin is running, which plugin raised
  and which result each plugin returned. pluggy calls the wrapped function like the original;
  wrappers, tracing and monitoring are unaffected.
* :func:`culprit_in_frames` names the plugin whose code is innermost on a traceback or a stack,
  for what the log cannot see (a hook wrapper that raised or hangs).
"""

from __future__ import annotations

import contextvars
import queue
import sys
import threading
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Callable, Iterable, Optional


class CallLog:
    """What happened inside one facade call of a hook."""

    __slots__ = ("current", "raised", "results", "keep")

    def __init__(self) -> None:
        self.current: Optional[str] = None  # plugin whose implementation is running now
        self.raised: Optional[str] = None   # first plugin an exception came out of
        self.results: dict[int, str] = {}   # id(result) -> plugin that returned it
        self.keep: list[Any] = []           # the results themselves (keeps their ids unique)


_LOG: contextvars.ContextVar[Optional[CallLog]] = contextvars.ContextVar("gpurec_hook_call_log", default=None)


def current_log() -> contextvars.ContextVar[Optional[CallLog]]:
    return _LOG


def attributed(plugin_name: str, function: Callable[..., Any], materialize: bool) -> Callable[..., Any]:
    """``function`` recording its plugin in the current :class:`CallLog`.

    ``materialize``: the hook returns an iterable (a collect-all hook); a generator or other
    iterator is turned into a list here, so that its code runs under the caller's deadline and
    its errors are the plugin's.
    """
    def call(*args: Any) -> Any:
        log = _LOG.get()
        if log is None:
            return function(*args)
        outer, log.current = log.current, plugin_name
        try:
            result = function(*args)
            if materialize and result is not None and not isinstance(result, (list, tuple, str, bytes, dict)) \
                    and hasattr(result, "__next__"):
                result = list(result)
        except BaseException:
            if log.raised is None:
                log.raised = plugin_name
            raise
        finally:
            log.current = outer
        if result is not None:
            log.results[id(result)] = plugin_name
            log.keep.append(result)
        return result

    call.__wrapped__ = function  # type: ignore[attr-defined]
    return call


@dataclass
class Outcome:
    """How a call ended: with ``value``, with ``error`` (any BaseException), or ``overran`` its deadline."""

    value: Any = None
    error: Optional[BaseException] = None
    overran: bool = False
    thread_id: Optional[int] = None  # the worker left running when it overran


class _Worker(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="gpurec-plugin-call", daemon=True)
        self.inbox: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            context, function, outcome, done = self.inbox.get()
            try:
                outcome.value = context.run(function)
            except BaseException as exc:  # noqa: B036 - contained: handed back to the caller as a value
                outcome.error = exc
            done.set()


class DeadlineRunner:
    """Runs calls on reusable daemon threads, waiting at most a deadline for each."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def run(self, function: Callable[[], Any], timeout: float) -> Outcome:
        """``function()`` in the caller's context on a worker thread; at most ``timeout`` seconds."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker()
            worker.start()
        outcome, done = Outcome(), threading.Event()
        worker.inbox.put((contextvars.copy_context(), function, outcome, done))
        if not done.wait(timeout):
            return Outcome(overran=True, thread_id=worker.ident)  # the worker is abandoned, not reused
        with self._lock:
            self._idle.append(worker)
        return outcome


def frames_of_traceback(tb: Optional[TracebackType]) -> list[FrameType]:
    """The frames of a traceback, outermost first."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def frames_of_thread(thread_id: Optional[int]) -> list[FrameType]:
    """The stack of a running thread, outermost first ([] when it has ended)."""
    frame = sys._current_frames().get(thread_id) if thread_id is not None else None
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def culprit_in_frames(frames: Iterable[FrameType], code_owner: dict[Any, str],
                      module_owner: dict[str, str]) -> Optional[str]:
    """The plugin owning the innermost frame: by its hook functions' code, else by its module."""
    found = None
    for frame in frames:
        name = code_owner.get(frame.f_code)
        if name is None:
            module = frame.f_globals.get("__name__", "")
            name = module_owner.get(module) or module_owner.get(module.split(".")[0])
        if name is not None:
            found = name
    return found
