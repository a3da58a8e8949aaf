"""docs/errors.md lists every GpurecError class a user can meet."""

import inspect
from pathlib import Path

from gpurec_core import errors

DOC = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()


def test_every_error_class_is_documented():
    classes = [name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, errors.GpurecError) and obj is not errors.GpurecError]
    assert classes
    for name in classes:
        assert f"`{name}`" in DOC, f"{name} missing from docs/errors.md"
