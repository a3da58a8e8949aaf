"""Read the declared defaults of a transformers config class: the one place that introspects them.

Used by ``scripts/generate_config_defaults.py`` to build the shipped table, and at run time by
:func:`gpurec_core.config_defaults.class_defaults` for a model_type the table does not know, when
transformers is installed. Only configuration classes are touched (``CONFIG_MAPPING``): no
``from_pretrained``, no model code, no ``trust_remote_code``; the import is lazy, so
``import gpurec_core`` and the CLI's hot path never load transformers.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Optional

# Generic PretrainedConfig plumbing and training-only knobs: no bearing on a model's shape.
_PLUMBING = frozenset({
    "transformers_version", "architectures", "output_hidden_states", "output_attentions", "return_dict",
    "dtype", "torch_dtype", "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id",
    "problem_type", "torchscript", "pruned_heads", "tf_legacy_loss", "use_bfloat16", "finetuning_task",
    "tokenizer_class", "prefix", "task_specific_params", "cross_attention_hidden_size",
    "add_cross_attention", "is_decoder", "use_cache", "initializer_range", "initializer_factor",
    "init_std", "pretraining_tp", "num_labels", "gradient_checkpointing", "output_router_logits",
    "router_aux_loss_coef", "router_z_loss_coef", "router_jitter_noise", "aux_loss_alpha",
    "seq_aux", "return_dict_in_generate", "_attn_implementation", "base_config_key",
})


def _plumbing(name: str) -> bool:
    return (name in _PLUMBING or name.startswith("_") or name.endswith("_token_id")
            or name.endswith("_token_ids") or "dropout" in name or name.startswith("initializer_"))


def _jsonable(value: Any) -> bool:
    """A JSON scalar (finite numbers) or a (nested) list of them."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    return False


def _declared_defaults(cls: type) -> dict[str, Any]:
    """Each field's declared default: dataclass fields (transformers 5.x), else ``__init__``'s keywords."""
    out: dict[str, Any] = {}
    if dataclasses.is_dataclass(cls):
        for field in dataclasses.fields(cls):
            if field.default is not dataclasses.MISSING:
                value = field.default
            elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                try:
                    value = field.default_factory()  # type: ignore[misc]
                except Exception:
                    continue
            else:
                continue
            out[field.name] = value
    else:
        for name, param in inspect.signature(cls.__init__).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or name == "self":
                continue
            if param.default is not inspect.Parameter.empty:
                out[name] = param.default
    return out


def _sub_config_name(sub: Any, known: "dict[type, str]") -> Optional[str]:
    """How the table names a sub-config class: "AutoConfig", its model_type, or None if unnamed."""
    name = getattr(sub, "__name__", "")
    if name == "AutoConfig":
        return "AutoConfig"
    if sub in known:
        return known[sub]
    model_type = getattr(sub, "model_type", "") or ""
    return model_type or None


def class_entry(cls: type, known: "Optional[dict[type, str]]" = None) -> dict[str, Any]:
    """The table entry of one config class: its name, declared defaults (shape-relevant, JSON-able)
    and ``sub_configs`` (key -> model_type of the nested class, or "AutoConfig")."""
    known = known or {}
    subs_raw = dict(getattr(cls, "sub_configs", None) or {})
    subs: dict[str, str] = {}
    for key, sub in sorted(subs_raw.items()):
        named = _sub_config_name(sub, known)
        if named is not None:
            subs[key] = named
    # attribute_map {alias: name stored}: a field may be declared under an alias (Qwen3MoeConfig
    # declares num_experts, stored and written to config.json as num_local_experts). Defaults are
    # recorded under the declared names, and the map alongside, so a reader can match either spelling.
    aliases = {str(k): str(v) for k, v in (getattr(cls, "attribute_map", None) or {}).items()
               if isinstance(k, str) and isinstance(v, str)}
    defaults = {
        name: (list(value) if isinstance(value, tuple) else value)
        for name, value in _declared_defaults(cls).items()
        if name not in subs_raw and not _plumbing(name) and not _plumbing(aliases.get(name, name))
        and _jsonable(value)
    }
    entry: dict[str, Any] = {"class": cls.__name__, "defaults": dict(sorted(defaults.items()))}
    if subs:
        entry["sub_configs"] = subs
    if aliases:
        entry["attribute_map"] = dict(sorted(aliases.items()))
    return entry



def transformers_entry(model_type: str) -> Optional[dict[str, Any]]:
    """The table entry of ``model_type`` read from the installed transformers, or None when
    transformers is absent or does not know it. Lazy: the first call imports transformers' config
    registry (about a second), which only a config of an unlisted model_type pays."""
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    except Exception:  # transformers not installed, or broken: no class defaults
        return None
    try:
        cls = CONFIG_MAPPING[model_type]
    except Exception:  # unknown model_type (KeyError) or a class whose module fails to import
        return None
    try:
        return class_entry(cls)
    except Exception:  # a class that cannot be introspected
        return None
