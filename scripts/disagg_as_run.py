"""Write the disaggregated H100 rows with the layouts their runs used, from the runs' published recipes.

    python scripts/disagg_as_run.py          # rewrites tests/fixtures/measurements/serving_disagg_h100_as_run.csv
    python scripts/disagg_as_run.py --check  # exit 1 when the file is out of date

The shared file ``serving_disagg_h100.csv`` comes from aiconfigurator-core's ``silicon_sample.csv``,
whose H100 disaggregated DeepSeek rows were imported from SemiAnalysis InferenceX runs (same image
``tensorrtllm-runtime:0.8.1.post3``, same ISL/OSL, the same odd concurrencies 6, 9, 30, 60, 154, 308,
924, 1845, 4916, and ``measured=2026-02-08T01:24:15Z`` three seconds after InferenceX commit
``66d6a351a`` (2026-02-08 01:24:12 UTC, "fix: h100 dsr1 fp8 dynamo trtllm model prefix") which ran
the ``dsr1-fp8-h100-dynamo-trt`` entry of ``.github/configs/nvidia-master.yaml``). That entry names, for
each concurrency, the recipe that ran (``CONFIG_FILE=recipes/trtllm/h100-fp8/...``, files of
NVIDIA/srt-slurm, unchanged since its commit ``5063eb43`` "Merge sa-submission-q1-2026", whose
``benchmark.concurrencies`` is each row's concurrency): workers, ``enable_attention_dp``,
``max_batch_size`` per rank, ``kv_cache_config.dtype`` and speculative decoding. The import lost some:

* the DeepSeek-V3 rows record the decode max batch as concurrency / workers (2, 3, 10, 20, 77) where
  the recipes set 1, 2, 8, 16, 64 (``..._tep16_batch1_...`` and so on): InferenceX runs about 1.2 users per
  slot, so a quarter to half of the users wait for a decode slot;
* the DeepSeek-R1 rows record one TP16 worker per pool with DP 1; the recipes of the concurrencies
  that ran without speculative decoding (924, 1845, 4916; 308 at 8k in) use attention DP 16 in both
  pools (``dep16``), 3 decode workers or 2 prefill workers;
* every recipe stores the KV cache in fp8 (``kv_cache_config.dtype: fp8``) and caps a prefill rank
  at 2 requests for 1k prompts, 1 for 8k (``max_batch_size``); the file leaves both empty (R1) or
  records prefill batch 1 (V3).

Only the rows whose run can be named without doubt are written, measured values unchanged, with
the recipe in ``source``. Left out, with the reason: the R1 concurrencies that InferenceX ran only
with MTP speculative decoding (117, 615, 1229; 77 at 8k in), which gpurec does not model, and all
SGLang rows: their ``measured=2026-02-13T03:10:06Z`` is the time of InferenceX commit ``78d48618f``
("h100: mtp configs sglang"), whose ``dsr1-fp8-h100-dynamo-sglang`` entries are all MTP runs.
The V3 rows are taken as the runs without speculative decoding: config 503 (154 users, 2 decode
workers of TP16 EP16) exists only as such a recipe, and config 494's ITL at 60 users (30.3 ms) is
above the R1 MTP run's at 117 users (18.0 ms) on the same decode layout.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpurec_core.validate_disagg import POOL_COLUMNS  # noqa: E402

RECORDED = ROOT / "tests" / "fixtures" / "measurements" / "serving_disagg_h100.csv"
AS_RUN = ROOT / "tests" / "fixtures" / "measurements" / "serving_disagg_h100_as_run.csv"

CONFIG = ("SemiAnalysisAI/InferenceX .github/configs/nvidia-master.yaml at 66d6a351a, "
          "dsr1-fp8-h100-dynamo-trt; NVIDIA/srt-slurm at 5063eb43")
KV_CACHE_DTYPE = "fp8"  # kv_cache_config.dtype of every recipe below
FRONTEND = "dynamo"  # the entry's runs are Dynamo's (framework dynamo-trt, image ai-dynamo/tensorrtllm-runtime)

# (model, isl, osl, concurrency) -> pool columns as run, and the recipe file that ran.
# Pools: (workers, tp, dp, ep, batch); tp is attention TP per DP rank, batch the max batch per rank
# (max_batch_size of the recipe's prefill and decode engines).
DEP16 = (1, 16, 16)  # tp 1, dp 16, ep 16: InferenceX "tp: 16, ep: 16, dp-attn: true"
TEP16 = (16, 1, 16)  # tp 16, dp 1, ep 16: "dp-attn: false"
AS_RUN_LAYOUTS = {
    ("deepseek-ai/DeepSeek-V3", 1024, 1024, 6): ((1, *DEP16, 2), (3, *TEP16, 1), "1k1k/stp/ctx1_gen3_tep16_batch1_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-V3", 1024, 1024, 9): ((1, *DEP16, 2), (3, *TEP16, 2), "1k1k/stp/ctx1_gen3_tep16_batch2_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-V3", 1024, 1024, 30): ((1, *DEP16, 2), (3, *TEP16, 8), "1k1k/stp/ctx1_gen3_tep16_batch8_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-V3", 1024, 1024, 60): ((1, *DEP16, 2), (3, *TEP16, 16), "1k1k/stp/ctx1_gen3_tep16_batch16_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-V3", 8192, 1024, 6): ((1, *DEP16, 1), (3, *TEP16, 1), "8k1k/stp/ctx1_gen3_tep16_batch1_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-V3", 8192, 1024, 9): ((1, *DEP16, 1), (3, *TEP16, 2), "8k1k/stp/ctx1_gen3_tep16_batch2_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-V3", 8192, 1024, 30): ((1, *DEP16, 1), (3, *TEP16, 8), "8k1k/stp/ctx1_gen3_tep16_batch8_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-V3", 8192, 1024, 154): ((1, *DEP16, 1), (2, *TEP16, 64), "8k1k/stp/ctx1_gen2_tep16_batch64_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-R1", 1024, 1024, 924): ((1, *DEP16, 2), (3, *DEP16, 16), "1k1k/stp/ctx1_gen3_dep16_batch16_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-R1", 1024, 1024, 1845): ((1, *DEP16, 2), (3, *DEP16, 32), "1k1k/stp/ctx1_gen3_dep16_batch32_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-R1", 1024, 1024, 4916): ((2, *DEP16, 2), (1, *DEP16, 256), "1k1k/stp/ctx2_gen1_dep16_batch256_eplb0_mtp0.yaml"),
    ("deepseek-ai/DeepSeek-R1", 8192, 1024, 308): ((2, *DEP16, 1), (1, *DEP16, 16), "8k1k/stp/ctx2_gen1_dep16_batch16_eplb0_mtp0.yaml"),
}


def key(row: dict) -> tuple:
    return row["model"], int(row["isl"]), int(row["osl"]), int(row["concurrency"])


def as_run_row(row: dict) -> bool:
    """A recorded row with a named recipe gets its pool columns, KV-cache dtype and source; False otherwise."""
    layout = AS_RUN_LAYOUTS.get(key(row)) if row["engine"] == "trtllm" else None
    if layout is None:
        return False
    prefill, decode, recipe = layout
    for pool, sizes in (("prefill", prefill), ("decode", decode)):
        for name, size in zip(POOL_COLUMNS, sizes):
            row[f"{pool}_{name}"] = str(size)
    row["kv_cache_dtype"] = KV_CACHE_DTYPE
    row["frontend"] = FRONTEND
    row["source"] = f"{row['source']}; layout as run: {CONFIG}, recipes/trtllm/h100-fp8/{recipe}"
    return True


def as_run_text() -> str:
    """The as-run CSV: the recorded rows that have a named recipe, pool columns from it; the recorded
    file's columns and their order are kept, and a ``frontend`` column added."""
    with RECORDED.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*fields, "frontend"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(row for row in rows if as_run_row(row))
    return out.getvalue()


def main(argv=None) -> int:
    """Write the as-run file, or with ``--check`` exit 1 when it differs from what this would write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the as-run file is current")
    args = parser.parse_args(argv)
    text = as_run_text()
    if args.check:
        if (AS_RUN.read_text() if AS_RUN.exists() else "") != text:
            print(f"{AS_RUN.relative_to(ROOT)} is out of date: run python scripts/disagg_as_run.py", file=sys.stderr)
            return 1
        return 0
    AS_RUN.write_text(text)
    print(f"wrote {AS_RUN.relative_to(ROOT)} ({text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
