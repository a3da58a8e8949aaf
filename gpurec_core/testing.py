"""Helpers for testing gpurec plugins (pytest fixtures and plain functions).

Use in a plugin's ``conftest.py``::

    from gpurec_core.testing import *  # noqa: F401,F403  (fixtures: gpurec_pm, register_plugin)

* ``gpurec_pm`` — a fresh plugin manager with only the bundled plugins (no entry points from
  the machine), installed as the process-wide manager for the test and restored after.
* ``register_plugin`` — ``register_plugin(obj, name=None)`` registers a plugin (module, class
  or instance) on that manager for one test; it is unregistered afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Optional

import pytest

from gpurec_core.plugins import GpurecPluginManager, build_plugin_manager, set_plugin_manager

__all__ = ["fresh_plugin_manager", "gpurec_pm", "register_plugin", "using_plugin_manager"]


def fresh_plugin_manager() -> GpurecPluginManager:
    """A new manager with the bundled plugins only."""
    return build_plugin_manager(load_entry_points=False)


@contextmanager
def using_plugin_manager(pm: GpurecPluginManager) -> Iterator[GpurecPluginManager]:
    """Make ``pm`` the process-wide manager inside the ``with`` block."""
    previous = set_plugin_manager(pm)
    try:
        yield pm
    finally:
        set_plugin_manager(previous)


@pytest.fixture
def gpurec_pm() -> Iterator[GpurecPluginManager]:
    """A fresh, bundled-only plugin manager, process-wide for this test."""
    with using_plugin_manager(fresh_plugin_manager()) as pm:
        yield pm


@pytest.fixture
def register_plugin(gpurec_pm: GpurecPluginManager):
    """Register a plugin on the test's fresh manager; it is removed after the test."""
    names: list[str] = []

    def register(plugin: Any, name: Optional[str] = None) -> str:
        plugin_name = name or getattr(plugin, "__name__", type(plugin).__name__)
        gpurec_pm.register_plugin(plugin, plugin_name, version="test")
        names.append(plugin_name)
        return plugin_name

    yield register
    for plugin_name in names:
        if gpurec_pm.has_plugin(plugin_name):
            gpurec_pm.unregister_plugin(plugin_name)
