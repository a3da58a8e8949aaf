"""Write the attention-DP H100 rows at the concurrency their benchmark ran, not the batch per DP rank.

    python scripts/attn_dp_as_run.py          # rewrites tests/fixtures/measurements/serving_attn_dp_h100_as_run.csv
    python scripts/attn_dp_as_run.py --check  # exit 1 when the file is out of date

The shared file ``serving_attn_dp_h100.csv`` comes from aiconfigurator-core 0.12.0's
``systems/silicon_sample.csv``. There, each of its 15 MiniMax-M2.5 rows (vLLM 0.18, attention DP 4
x TP 4, EP 16, ``attention_dp_size = 4``) has a ``batch_size`` a quarter of the benchmark's
concurrency: the row's ``silicon_data_source`` says ``silicon_concurrency=64`` and its id ends in
``_c64_tp4_ep4_...`` where ``batch_size`` is 16 (e.g. ``2026_04_06_minimax_m2_5_h100_sxm_vllm_fp8_agg_
8192x1024_c64_tp4_ep4_1359``), and so for 4, 8, 16 and 32 (batch 1, 2, 4, 8). On every aggregated row
without attention DP the two are equal, so ``batch_size`` is the batch of one DP rank. The shared
file's ``concurrency`` is that ``batch_size``, while gpurec (and the file's README: closed-loop users)
reads ``concurrency`` as the users of the whole deployment, which it splits over the ``dp`` ranks:
as recorded, each rank is planned with a quarter of the users it served.

This writes the same rows, measured values unchanged, with ``concurrency`` = recorded x ``dp`` (the
benchmark's ``silicon_concurrency``) and the evidence in ``source``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from disagg_as_run import ROOT, rewritten_csv, write_or_check  # noqa: E402

RECORDED = ROOT / "tests" / "fixtures" / "measurements" / "serving_attn_dp_h100.csv"
AS_RUN = ROOT / "tests" / "fixtures" / "measurements" / "serving_attn_dp_h100_as_run.csv"
EVIDENCE = ("concurrency as run: aiconfigurator-core 0.12.0 silicon_sample.csv silicon_concurrency = batch_size x "
            "attention_dp_size (the recorded concurrency is batch_size, one DP rank's)")


def as_run_row(row: dict) -> bool:
    """A recorded row with its concurrency multiplied by its ``dp`` and the evidence in ``source``."""
    row["concurrency"] = str(int(row["concurrency"]) * int(row["dp"] or 1))
    row["source"] = f"{row['source']}; {EVIDENCE}"
    return True


def as_run_text() -> str:
    """The as-run CSV: every recorded row at the benchmark's concurrency."""
    return rewritten_csv(RECORDED, as_run_row)


def main(argv=None) -> int:
    return write_or_check(AS_RUN, as_run_text(), "attn_dp_as_run.py", argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
