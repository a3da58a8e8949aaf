"""Regenerate the catalog tables of docs/models.md from the bundled catalog itself.

    python scripts/generate_model_docs.py          # rewrites the section between the markers
    python scripts/generate_model_docs.py --check  # exit 1 when docs/models.md is out of date

Every row is computed by the parser and parameter counter every estimate uses
(:func:`gpurec_core.model_catalog.catalog_row`), so the page cannot drift from the catalog.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "models.md"
START = "<!-- catalog-table:start (scripts/generate_model_docs.py) -->"
END = "<!-- catalog-table:end -->"


def catalog_section() -> str:
    """The generated Markdown: counts, one row per entry, then the variants with their evidence."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gpurec_core.model_catalog import catalog_row
    from gpurec_core.resolve import list_catalog_models, list_catalog_variants

    models = sorted(list_catalog_models(), key=lambda m: m["id"].lower())
    variants = sorted(list_catalog_variants(), key=lambda v: v["id"].lower())
    rows = [catalog_row(m["id"]) for m in models]
    families = sorted({r["family"] for r in rows})
    lines = [START, "",
             f"{len(rows)} configs of {len(families)} families ({', '.join(families)}), and {len(variants)} "
             "variants that share one of them.", "",
             "| model | family | model_type | attention | layers by kind | MoE (E / k) | total | active per token "
             "| context |",
             "|---|---|---|---|---|---|---:|---:|---:|"]
    lines += [f"| {r['id']} | {r['family']} | {r['model_type']} | {r['attention']} | "
              f"{', '.join(f'{n} {kind}' for kind, n in r['layers'].items())} | "
              f"{'%d / %d' % tuple(r['experts']) if r['experts'] else 'dense'} | {r['parameters']:,} | "
              f"{r['active_parameters']:,} | {r['context_length']:,} |" for r in rows]
    if variants:
        lines += ["", "Variants (`catalogs/models/aliases.toml`): the id resolves to the config of `same as`.", "",
                  "| variant | same as | evidence |", "|---|---|---|"]
        lines += [f"| {v['id']} | {v['same_as']} | {v['evidence'].replace('|', '/')} |" for v in variants]
    lines += ["", END]
    return "\n".join(lines)


def updated(text: str, section: str) -> str:
    if START in text and END in text:
        head, rest = text.split(START, 1)
        return head + section + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n## The bundled catalog, model by model\n\n" + section + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that docs/models.md is current")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    text = DOC.read_text()
    new = updated(text, catalog_section())
    if args.check:
        if new != text:
            print("docs/models.md is out of date: run python scripts/generate_model_docs.py")
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
