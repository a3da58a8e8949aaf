"""The seed's GPU library functions, served by the ``provide_gpu_specs`` hook."""

from __future__ import annotations

from gpurec_core.models import GPUSpec
from gpurec_core.plugins import gpu_catalog


def list_available_gpus() -> list[str]:
    """Canonical names of every GPU the installed plugins provide, sorted."""
    return gpu_catalog().names()


def get_gpu_spec(gpu_name: str) -> GPUSpec:
    """The spec of a GPU by name or alias, case-insensitively; unknown names suggest near matches."""
    return gpu_catalog().get(gpu_name)
