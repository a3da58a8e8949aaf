"""Speculative decoding of a workload: draft tokens per step and how many of them are accepted.

An engine serving with speculative decoding (vLLM ``--speculative-config '{"method": "mtp" | "eagle3",
"num_speculative_tokens": k}'``, SGLang ``--speculative-algorithm EAGLE|NEXTN
--speculative-num-steps k``, TensorRT-LLM ``speculative_config`` MTP ``num_nextn_predict_layers``)
drafts k tokens per running request each step and verifies them in one pass of the target model;
a request then advances its acceptance length (AL, 1 <= AL <= 1 + k) tokens per step on average
(Leviathan et al., "Fast Inference from Transformers via Speculative Decoding", ICML 2023). When the
workload gives k but no AL, the default is the median of SemiAnalysis InferenceX's golden curves
(``catalogs/engines/speculative.toml`` says which).
"""

from __future__ import annotations

from functools import lru_cache

from gpurec_core.catalogs import catalog_path, read_catalog_toml

SPECULATIVE_FILE = "speculative.toml"
#: The most draft tokens per step a workload may ask for (engines' recipes use 1-8).
MAX_DRAFT_TOKENS = 16


@lru_cache(maxsize=1)
def _defaults() -> tuple[dict[int, float], str]:
    data = read_catalog_toml(catalog_path("engines") / SPECULATIVE_FILE, missing="reinstall gpurec")
    return {int(k): float(v) for k, v in data["default_acceptance_length"].items()}, str(data["source"])


def default_acceptance_length(draft_tokens: int) -> float:
    """The acceptance length assumed for ``draft_tokens`` drafts per step (1.0 for none); beyond the
    table's longest draft the curves have flattened, so its last value."""
    if draft_tokens <= 0:
        return 1.0
    table, _ = _defaults()
    return table[min(draft_tokens, max(table))]


def acceptance_note(draft_tokens: int, acceptance_length, estimator: str = "roofline") -> str:
    """What an estimate with speculative decoding assumed about acceptance ('' without drafts); for an
    estimator other than gpurec's roofline, that it is up to that estimator to model the drafts."""
    if draft_tokens <= 0:
        return ""
    if acceptance_length is not None:
        note = (f"speculative decoding with {draft_tokens} draft token(s) per step, {acceptance_length:g} "
                "tokens accepted per step (as given)")
    else:
        _, source = _defaults()
        note = (f"speculative decoding with {draft_tokens} draft token(s) per step assumes "
                f"{default_acceptance_length(draft_tokens):g} tokens accepted per step ({source}); acceptance "
                "depends on the model, its draft module and the text (random-token benchmark prompts accept "
                "far fewer), so pass acceptance_length measured for yours")
    if estimator != "roofline":
        note += (f"; the {estimator} estimator is given them in its workload (Workload.speculative_tokens, "
                 "tokens_per_step) and models them only if it reads them")
    return note
