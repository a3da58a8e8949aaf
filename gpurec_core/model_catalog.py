"""The bundled model catalog as people browse it: family, parameters, architecture kind, context.

Each row is read from the entry's own config.json through the same parser every estimate uses
(nothing is stored twice); a family is named after the architecture (``model_type``), so
``--family qwen`` finds Qwen's own releases and the exports and distills built on them.
"""

from __future__ import annotations

from typing import Any, Optional

#: model_type prefix -> family, first match wins (longer prefixes first where they overlap).
FAMILY_OF_MODEL_TYPE: tuple[tuple[str, str], ...] = (
    ("llama4", "llama"), ("llama", "llama"), ("mllama", "llama"),
    ("mistral", "mistral"), ("mixtral", "mistral"), ("ministral", "mistral"),
    ("qwen", "qwen"), ("deepseek", "deepseek"), ("kimi", "kimi"),
    ("gemma", "gemma"), ("phi", "phi"), ("granite", "granite"),
    ("glm", "glm"), ("chatglm", "glm"), ("gpt_oss", "gpt-oss"), ("gptj", "gpt-j"), ("gpt_neox", "gpt-neox"),
    ("minimax", "minimax"), ("nemotron", "nemotron"), ("mimo", "mimo"), ("step", "step"),
    ("cohere", "command-r"), ("falcon", "falcon"), ("olmo", "olmo"), ("internlm", "internlm"),
    ("baichuan", "baichuan"), ("exaone", "exaone"), ("starcoder", "starcoder"), ("dbrx", "dbrx"),
    ("laguna", "laguna"), ("pixtral", "mistral"), ("voxtral", "mistral"),
)


def family_of(model_type: str) -> str:
    """The family of a ``model_type`` (its own name when no family is listed)."""
    for prefix, family in FAMILY_OF_MODEL_TYPE:
        if model_type.startswith(prefix):
            return family
    return model_type


def catalog_row(model_id: str) -> dict[str, Any]:
    """One entry as ``gpurec models`` shows it (parameters from the config, as every estimate counts them)."""
    from gpurec_core.architecture import ModelArchitecture

    arch = ModelArchitecture(model_id)
    config = arch.config
    return {
        "id": model_id,
        "family": family_of(config.model_type),
        "model_type": config.model_type,
        "parameters": arch.num_parameters,
        "active_parameters": arch.active_parameters,
        "kind": ("MoE" if arch.is_moe else "dense") + (" multimodal" if arch.towers.total else ""),
        "attention": arch.attention_kind,
        "context_length": arch.max_context_length(),
        "precision": arch.precision.weight,
        "layers": dict(config.num_layers_of),
        "experts": [config.num_experts, config.num_experts_per_tok] if arch.is_moe else None,
    }


def catalog_rows(query: Optional[str] = None, family: Optional[str] = None) -> list[dict[str, Any]]:
    """Catalog entries and variants whose id contains ``query`` and whose family or organisation is
    ``family`` (both ignoring case), each with its row; variants say which entry's config they use."""
    from gpurec_core.resolve import list_catalog_models, list_catalog_variants

    wanted = (query or "").strip().lower()
    kind = (family or "").strip().lower()
    rows = []
    entries = [(m["id"], None) for m in list_catalog_models()] + \
              [(v["id"], v["same_as"]) for v in list_catalog_variants()]
    for model_id, same_as in sorted(entries, key=lambda pair: pair[0].lower()):
        if wanted and wanted not in model_id.lower():
            continue
        row = catalog_row(model_id)
        if kind and kind not in (row["family"], model_id.split("/")[0].lower()):
            continue
        rows.append({**row, "config_of": same_as})
    return rows
