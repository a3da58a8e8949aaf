#!/usr/bin/env python
"""Regenerate catalogs/config_defaults/transformers_config_defaults.json from the installed transformers.

For every model_type in transformers' ``CONFIG_MAPPING`` it records the config class's name, the
declared default of each shape-relevant field (transformers 5.x config classes are dataclasses;
older ones are read from ``__init__``'s signature), its ``attribute_map`` (alias -> stored name) and
its ``sub_configs`` (key -> model_type of the nested class, or "AutoConfig" when any model_type goes). Sub-config classes that are not
themselves in ``CONFIG_MAPPING`` (e.g. DbrxFFNConfig) get an entry named ``<model_type>.<key>``.
Generic PretrainedConfig plumbing (return_dict, id2label, dropout, token ids, ...) and values that
are not JSON scalars or lists are left out. Output is deterministic (sorted keys).

    python scripts/generate_config_defaults.py [--output PATH]

Nothing here downloads anything; transformers' own source is the only input.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpurec_core.config_defaults import TABLE_FILE  # noqa: E402
from gpurec_core.transformers_config_classes import class_entry  # noqa: E402

DEFAULT_OUTPUT = ROOT / "catalogs" / "config_defaults" / TABLE_FILE

def build_table() -> tuple[dict, list[str]]:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING, CONFIG_MAPPING_NAMES

    classes: dict[str, type] = {}
    skipped: list[str] = []
    for model_type in sorted(CONFIG_MAPPING_NAMES):
        try:
            classes[model_type] = CONFIG_MAPPING[model_type]
        except Exception as exc:  # a class whose module fails to import
            skipped.append(f"{model_type}: {type(exc).__name__}: {exc}")
    # A class is named by the model_type under which CONFIG_MAPPING lists it (its own, when it is one
    # of those; else the first, sorted).
    known: dict[type, str] = {}
    for model_type, cls in classes.items():
        if getattr(cls, "model_type", None) == model_type or cls not in known:
            known[cls] = model_type
    # Nested classes not in the mapping get a synthetic name "<outer model_type>.<key>".
    pending = list(classes.items())
    while pending:
        model_type, cls = pending.pop(0)
        for key, sub in sorted((getattr(cls, "sub_configs", None) or {}).items()):
            if getattr(sub, "__name__", "") == "AutoConfig" or sub in known:
                continue
            name = f"{model_type}.{key}"
            known[sub] = name
            classes[name] = sub
            pending.append((name, sub))

    entries: dict[str, dict] = {}
    for model_type in sorted(classes):
        try:
            entries[model_type] = class_entry(classes[model_type], known)
        except Exception as exc:
            skipped.append(f"{model_type}: {type(exc).__name__}: {exc}")
    table = {
        "source": (
            "Declared defaults of transformers' config classes (models/*/configuration_*.py), one entry "
            "per model_type of transformers.models.auto.configuration_auto.CONFIG_MAPPING: the class "
            "name, each shape-relevant field's default (PretrainedConfig plumbing, dropout, token ids "
            "and non-JSON values left out; null kept, e.g. num_key_value_heads null = attention heads), "
            "its attribute_map (alias -> name stored) and sub_configs (nested config key -> model_type of "
            "its class, or AutoConfig; a nested class outside CONFIG_MAPPING is listed as "
            "'<model_type>.<key>')."
        ),
        "transformers_version": transformers.__version__,
        "generated": _dt.date.today().isoformat(),
        "generator": "scripts/generate_config_defaults.py",
        "skipped": sorted(skipped),
        "model_types": entries,
    }
    return table, skipped


def dump(table: dict) -> str:
    """Sorted JSON, one model_type per line (small, and diffs stay readable)."""
    head = {k: v for k, v in table.items() if k != "model_types"}
    lines = ["{"]
    for key in sorted(head):
        lines.append(f"  {json.dumps(key)}: {json.dumps(head[key], sort_keys=True, ensure_ascii=False)},")
    lines.append('  "model_types": {')
    items = sorted(table["model_types"].items())
    for i, (model_type, entry) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        lines.append(f"    {json.dumps(model_type)}: {body}{comma}")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    table, skipped = build_table()
    text = dump(table)
    json.loads(text)  # sanity: the hand-built layout is valid JSON
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.encode()):,} bytes, {len(table['model_types'])} model_types, "
          f"transformers {table['transformers_version']})")
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
