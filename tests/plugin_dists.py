"""Build real (unpacked, wheel-layout) distributions for plugin tests.

``write_distribution(root, "acme-bad", modules={"acme_bad": SOURCE}, entry_points={"acme-bad": "acme_bad"})``
writes ``root/acme_bad.py`` and ``root/acme_bad-1.0.dist-info/{METADATA,entry_points.txt,top_level.txt}``:
the layout pip leaves in site-packages. Once ``root`` is on ``sys.path`` (``monkeypatch.syspath_prepend``
then ``importlib.invalidate_caches()``, or ``PYTHONPATH`` for a subprocess),
``importlib.metadata.entry_points(group="gpurec")`` lists the entry points, exactly as for an
installed third-party plugin.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Mapping

GROUP = "gpurec"


def dist_info_name(dist_name: str, version: str) -> str:
    """The ``.dist-info`` folder name of a distribution (PEP 427/503 normalised name)."""
    return f"{re.sub(r'[-_.]+', '_', dist_name).lower()}-{version}.dist-info"


def write_distribution(
    root: Path,
    dist_name: str,
    *,
    modules: Mapping[str, str],
    entry_points: Mapping[str, str],
    version: str = "1.0",
    group: str = GROUP,
) -> Path:
    """Write modules and a ``.dist-info`` whose ``[gpurec]`` entry points name them; returns the dist-info.

    :param root: the folder that will be put on ``sys.path`` (a stand-in for site-packages).
    :param modules: module name -> source; a dotted name (``pkg.plugin``) writes a package
        (``pkg/__init__.py`` created empty when not given as ``pkg``). Sources are dedented.
    :param entry_points: entry-point name -> value (``module`` or ``module:attribute``).
    :param group: the entry-point group (``gpurec``; ``gpurec.profiles`` for calibration profiles).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    packages = {m.rsplit(".", 1)[0] for m in modules if "." in m}
    for module, source in modules.items():
        parts = module.split(".")
        if module in packages:
            path = root.joinpath(*parts, "__init__.py")  # the package itself, given explicitly
        else:
            path = root.joinpath(*parts[:-1], parts[-1] + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for depth in range(1, len(parts)):
            init = root.joinpath(*parts[:depth], "__init__.py")
            if not init.exists():
                init.parent.mkdir(parents=True, exist_ok=True)
                init.write_text("")
                written.append(str(init.relative_to(root)))
        path.write_text(textwrap.dedent(source))
        written.append(str(path.relative_to(root)))
    info = root / dist_info_name(dist_name, version)
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
    lines = [f"[{group}]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    top_level = sorted({m.split(".")[0] for m in modules})
    (info / "top_level.txt").write_text("".join(f"{m}\n" for m in top_level))
    record = written + [f"{info.name}/{name}" for name in ("METADATA", "entry_points.txt", "top_level.txt", "RECORD")]
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in record))
    return info
