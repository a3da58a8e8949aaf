"""How what a user types finds a bundled model: variants that share a config, and forgiving spellings.

Four rules, tried in order after the exact id or alias (any case) in ``index.toml``:

1. **Variants** (``catalogs/models/aliases.toml``): an id whose ``config.json`` is JSON-identical to
   a catalog entry's (an instruct model and its base, a dated re-upload), each with the evidence of
   identity (the source of the variant's config and the hash of both). The variant resolves to the
   entry's config under its own id, so launch lines name what the user asked for.
2. **Spellings**: a leading ``hf.co/`` or ``huggingface.co/`` is dropped.
3. **Suffixes** (a guess, always said): the chat/instruct suffixes ``-Instruct``, ``-it``, ``-chat``,
   ``-hf``, ``-chat-hf``, ``-Base`` (any case) and a dated revision (``-0528``, ``-2407``,
   ``-2025-01-15``) are dropped from, or added to, the name; the first spelling that names an entry
   is used, and the resolution carries a note saying whose config it is. Fine-tuned variants keep
   their base's architecture, so memory and speed transfer; the weights do not matter to either.
4. **Another publisher** (a guess, always said): a name no entry has under the org typed (or typed
   without an org: ``gpt-oss-120b``), but one entry has under another org (a mirror such as
   ModelScope's ``ZhipuAI/GLM-5`` for Hugging Face's ``zai-org/GLM-5``, a re-upload), or a quantized export's name (``nvidia/Llama-3.1-8B-Instruct-FP8``,
   ``.../DeepSeek-R1-NVFP4``, ``amd/...-FP8-KV``, ``nvidia/...-FP4-V2``: :data:`EXPORT_SUFFIXES` and the
   qualifiers after them) whose base name one entry has. The entry's
   config is used with a note, and an export is planned in the format its name gives
   (:func:`export_format`: ``-FP8`` fp8 weights, ``-NVFP4`` NVFP4, ...), with the fp8 KV cache its
   publisher ships where the name or the publisher's tool says so; ``--precision`` still overrides.

:func:`config_hash` is the identity used for the evidence.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterator, Optional

from pydantic import BaseModel, ConfigDict, Field

#: Suffixes people add or leave out (matched ignoring case, as catalog names are); longest first so
#: '-chat-hf' wins over '-hf'.
SUFFIXES = ("-chat-hf", "-Instruct", "-it", "-chat", "-hf", "-Base")
_DATED = re.compile(r"-(\d{4}|\d{6}|\d{4}-\d{2}(-\d{2})?)$")
#: Name suffixes of quantized exports and the weight format each names (matched ignoring case, longest
#: first), as the precision gpurec plans it in (``--precision`` names): NVIDIA ModelOpt (``nvidia/...-FP8``;
#: ``-FP4`` / ``-NVFP4`` are NVFP4, the ``quant_algo`` of nvidia/DeepSeek-R1-FP4's hf_quant_config.json),
#: ``-MXFP8`` fp8 with e8m0 scales per 32 (MiniMaxAI/MiniMax-M3-MXFP8's quant_method mxfp8),
#: RedHatAI / neuralmagic llm-compressor (``-FP8-dynamic``, ``-W4A16``, ``-W8A8``: int8 weights and
#: activations), AMD Quark (``amd/...-FP8-KV``, ``-MXFP4-Preview``), Qwen's and the community's AWQ / GPTQ
#: exports (4-bit groups unless ``-Int8``), unsloth's bitsandbytes uploads (NF4: planned as 4-bit groups,
#: an approximation of its absmax blocks). Not ``-BF16``: a bf16 re-save of a quantized release
#: (``lmsys/gpt-oss-120b-bf16``) is wider than the entry's config says, and a row's ``bf16`` label on an
#: MXFP4 entry names its activations (validate_serving.served_precision), so it is not guessed.
EXPORT_FORMATS = {"-FP8-Dynamic": "fp8", "-GPTQ-Int4": "int4", "-GPTQ-Int8": "int8", "-bnb-4bit": "int4",
                  "-NVFP4": "nvfp4", "-MXFP4": "mxfp4", "-MXFP8": "fp8", "-W4A16": "int4", "-W8A8": "int8", "-GPTQ": "int4",
                  "-FP8": "fp8", "-FP4": "nvfp4", "-AWQ": "int4", "-Int4": "int4", "-Int8": "int8"}
EXPORT_SUFFIXES = tuple(sorted(EXPORT_FORMATS, key=len, reverse=True))
#: Publishers whose exports ship an fp8 KV cache with every FP8 or FP4 export: NVIDIA's ModelOpt
#: exports (``examples/llm_ptq/hf_ptq.py --kv_cache_qformat`` defaults to fp8; all 23 bundled nvidia/
#: exports of one format, FP8 or NVFP4, set an fp8 KV cache, and 3 of the 6 MIXED_PRECISION ones). AMD
#: Quark says so in the name instead (``-KV``: "FP8 KV cache", amd/Llama-3.3-70B-Instruct-FP8-KV's
#: model card).
_FP8_KV_PUBLISHERS = ("nvidia",)
#: What publishers write after an export's format (matched ignoring case, any number): AMD Quark's
#: ``-KV`` (calibrated KV-cache scales, ``amd/Llama-3.3-70B-Instruct-FP8-KV``) and ``-Preview``
#: (``amd/DeepSeek-R1-0528-MXFP4-Preview``), and a re-export's version (``nvidia/DeepSeek-R1-0528-FP4-V2``,
#: the checkpoint of SemiAnalysis InferenceMAX's DeepSeek-R1 FP4 runs).
_EXPORT_QUALIFIER = re.compile(r"-(kv|preview|v\d+)$", re.IGNORECASE)
_PREFIXES = ("hf.co/", "huggingface.co/", "www.huggingface.co/")


class CatalogVariant(BaseModel):
    """One ``[[alias]]`` of ``aliases.toml``: ``id`` has the same config.json as ``same_as``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(pattern=r"^[^/\s]+/[^/\s]+$", description="the variant's Hub id")
    same_as: str = Field(pattern=r"^[^/\s]+/[^/\s]+$", description="the catalog entry whose config it shares")
    evidence: str = Field(min_length=1, description="where the variant's config was seen and how it was compared")


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a config (sorted keys, no spaces): equal configs, equal hashes."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def without_prefix(name: str) -> str:
    """``name`` without a leading ``hf.co/`` or ``huggingface.co/`` (the URL forms are handled as URLs)."""
    stripped = name.strip()
    for prefix in _PREFIXES:
        if stripped.lower().startswith(prefix):
            return stripped[len(prefix):]
    return stripped


def suffix_variants(name: str) -> Iterator[str]:
    """Spellings of ``name`` with a chat/instruct suffix or a dated revision dropped or added, in order."""
    stem = name
    dated = _DATED.search(stem)
    if dated:
        stem = stem[:dated.start()]
        yield stem
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix.lower()):
            base = stem[:-len(suffix)]
            yield base
            stem = base
            break
    for suffix in SUFFIXES:
        yield stem + suffix


class ExportFormat(BaseModel):
    """What an export's name says of its checkpoint: the weight format and, where known, an fp8 KV cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: str = Field(description="weight precision as gpurec plans it (fp8, nvfp4, mxfp4, int8, int4)")
    kv_cache_dtype: Optional[str] = Field(default=None, description="'fp8' when the export ships an fp8 KV cache")
    suffix: str = Field(description="the name's format suffix, as the name spells it")

    def describe(self) -> str:
        kv = ", fp8 KV cache" if self.kv_cache_dtype else ""
        return f"{self.weight} weights{kv} (the name's {self.suffix})"


def _export_parts(name: str) -> tuple[str, list[str]]:
    """``name`` without the qualifiers after an export's format (``-KV``, ``-Preview``, ``-V2``), and them."""
    stem, qualifiers = name, []
    while (found := _EXPORT_QUALIFIER.search(stem)):
        qualifiers.append(found.group(1).lower())
        stem = stem[:found.start()]
    return stem, qualifiers


def _format_suffix(stem: str) -> Optional[str]:
    for suffix in EXPORT_SUFFIXES:
        if stem.lower().endswith(suffix.lower()) and len(stem) > len(suffix):
            return suffix
    return None


def export_base(name: str) -> Optional[str]:
    """``name`` without an export's format suffix (:data:`EXPORT_SUFFIXES`) and the qualifiers after it
    (``-KV``, ``-Preview``, ``-V2``), or None when it has no format suffix."""
    stem, _ = _export_parts(name)
    suffix = _format_suffix(stem)
    return stem[:-len(suffix)] if suffix else None


def export_format(model_id: str) -> Optional[ExportFormat]:
    """The format an export's id names (``org/name``), or None when the name has no format suffix.

    The weights are :data:`EXPORT_FORMATS`' entry for the suffix; the KV cache is fp8 for a ``-KV``
    qualifier and for the FP8 / FP4 exports of :data:`_FP8_KV_PUBLISHERS`."""
    org, _, repo = model_id.strip().rpartition("/")
    stem, qualifiers = _export_parts(repo)
    suffix = _format_suffix(stem)
    if suffix is None:
        return None
    weight = EXPORT_FORMATS[suffix]
    fp8_kv = "kv" in qualifiers or (org.lower() in _FP8_KV_PUBLISHERS and weight in ("fp8", "nvfp4"))
    return ExportFormat(weight=weight, kv_cache_dtype="fp8" if fp8_kv else None, suffix=stem[-len(suffix):])


def publisher_note(asked: str, entry_id: str, export: bool, fmt: Optional[ExportFormat]) -> str:
    """What a resolution by another publisher's name says (rule 4): ``export`` when the entry is the
    model ``asked`` exports, ``fmt`` the format its name gives (planned unless the user says otherwise)."""
    if "/" not in asked and not export:
        return (f"{asked} names no publisher; planned as {entry_id}, the one bundled model of that name; name the "
                "publisher to plan another")
    what = ("the model it is a quantized export of" if export
            else "the same model name under another publisher (a mirror, a re-upload or an export)")
    planned = (f", at {fmt.describe()} unless --precision / --kv-cache-dtype (or a row's columns) say otherwise"
               if fmt is not None else "")
    return (f"{asked} is not in the bundled catalog; planned with the config of {entry_id}, {what}{planned}; pass a "
            f"directory holding {asked}'s config.json to use its own")


def variant_note(asked: str, entry_id: str) -> Optional[str]:
    """What a resolution by suffix says: whose config stands in for the id asked."""
    if asked.lower() == entry_id.lower():
        return None
    return (f"{asked} is not in the bundled catalog; planned with the config of {entry_id}, a variant of the same "
            f"model (fine-tunes and dated revisions keep the architecture); pass a directory holding {asked}'s "
            "config.json to use its own")
