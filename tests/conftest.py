"""Every test gets a fresh plugin manager with the bundled plugins only (no entry points from
the machine), and no user GPU catalog or Hub access from the environment."""

import os

import pytest
from hypothesis import settings

# CI runs the same examples every time (a failure there is reproducible); local runs explore anew.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

pytest_plugins = ["gpurec_core.testing"]


@pytest.fixture(autouse=True)
def _isolated_gpurec(monkeypatch):
    monkeypatch.delenv("GPUREC_GPU_CATALOG", raising=False)
    monkeypatch.delenv("GPUREC_DISABLED_PLUGINS", raising=False)
    monkeypatch.delenv("GPUREC_TRACE_PLUGINS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from gpurec_core.testing import fresh_plugin_manager, using_plugin_manager

    with using_plugin_manager(fresh_plugin_manager()):
        yield
