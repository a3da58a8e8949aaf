"""Predict the rows of a serving-measurement CSV (TTFT, ITL, output throughput) with an estimator.

The serving schema (docs/validate.md): ``model, model_path, checkpoint, precision,
kv_cache_dtype, engine, engine_version, gpu, tp, pp, ep, isl, osl, concurrency, metric, value,
source``; metrics ``ttft_ms``, ``itl_ms``, ``output_tok_s``; ``concurrency=max`` rows are the
saturation throughput of the whole deployment. ``gpurec_core.validate`` dispatches serving CSVs
here and aggregates the returned rows.

Every prediction goes through :func:`gpurec_core.api.estimate_performance`, the public path a
user takes, and is cached per (model, configuration) so each distinct deployment is estimated once
for its three metrics.
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import Any, Optional, Union

from gpurec_core.catalog_names import export_format
from gpurec_core.errors import EstimationError, GpurecError
from gpurec_core.measurement_cells import (ape, cell, concurrency, engine_of, frontend_name, parsed,
                                         random_range_ratio_of, request_lengths, speculative_label)

SERVING_COLUMNS = ("model", "model_path", "checkpoint", "precision", "kv_cache_dtype", "engine", "engine_version",
                   "gpu", "tp", "pp", "ep", "isl", "osl", "concurrency", "metric", "value", "source")
SERVING_METRICS = ("ttft_ms", "itl_ms", "output_tok_s")
_METRIC_FIELD = {"ttft_ms": "time_to_first_token_ms", "itl_ms": "inter_token_latency_ms",
                 "output_tok_s": "throughput_tokens_per_sec"}

#: Models whose rows are all held out of calibration (scripts/calibrate_roofline.py): they test the
#: estimator on architectures (70B/405B dense, MoE, MXFP4) and engines' fp8 paths it was not fitted on.
HELD_OUT_MODELS = frozenset({
    "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.1-405B",
    "Qwen/Qwen3-235B-A22B", "openai/gpt-oss-120b", "MiniMaxAI/MiniMax-M2.5",
    "meta-llama/Llama-4-Scout-17B-16E-Instruct", "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
})
#: Within the calibration models, a configuration whose hash falls in this many out of 4 buckets is
#: held out too (so every engine has held-out rows); all concurrencies of one configuration stay
#: on the same side, so neighbouring points cannot leak.
HELD_OUT_BUCKETS = 1


#: Publishers (as a row's ``source`` names them) whose ``concurrency`` cell is one rank's batch:
#: aiconfigurator-core, whose silicon_sample.csv the reference rows come from, records a
#: deployment's ``batch_size`` per attention-DP rank and pipeline stage, and its users as
#: ``concurrency = b * pp_size * attention_dp_size`` (sdk/backends/base_backend.py, "correct
#: output_throughput and concurrency for attention dp (global batch)"); every attention-DP row of its
#: silicon_sample.csv names b x dp users in its id (``..._c64_tp4_ep4_...`` at batch_size 16, dp 4).
PER_RANK_BATCH_PUBLISHERS = ("aiconfigurator", "silicon_sample")


def batch_per_rank(row: dict) -> bool:
    """Whether the row's ``concurrency`` is one attention-DP rank's (and stage's) batch, not the users:
    a row at a fixed concurrency with dp or pp > 1 from a publisher in :data:`PER_RANK_BATCH_PUBLISHERS`."""
    source = cell(row, "source").lower()
    return (parsed(row, "dp", 1) * parsed(row, "pp", 1) > 1 and cell(row, "concurrency").lower() != "max"
            and any(name in source for name in PER_RANK_BATCH_PUBLISHERS))


def concurrency_of(row: dict) -> Union[int, str]:
    """The closed-loop users of the whole deployment (or 'max'): the ``concurrency`` cell, times dp x pp
    where the publisher records one rank's batch there (:func:`batch_per_rank`), and no more than the
    requests the run sent (:func:`num_prompts_of`): vllm bench serve's ``--max-concurrency`` only caps
    the requests in flight."""
    users, sent = listed_users(row), num_prompts_of(row)
    return users if sent is None else min(users, sent)


def listed_users(row: dict) -> Union[int, str]:
    """The users the row's concurrency cell names (or 'max'), times dp x pp where it is one rank's batch."""
    text = cell(row, "concurrency")
    users = concurrency(text) if text else 1
    if batch_per_rank(row):
        return users * parsed(row, "dp", 1) * parsed(row, "pp", 1)
    return users


def num_prompts_of(row: dict) -> Optional[int]:
    """The requests the row's benchmark run sent in all (its ``num_prompts`` cell), or None: not recorded,
    or a ``concurrency=max`` row (a saturation throughput, which the count does not change)."""
    if cell(row, "concurrency").lower() == "max":
        return None
    return parsed(row, "num_prompts")


#: Engine names that say the engine ran behind NVIDIA Dynamo (SemiAnalysis InferenceX's framework names
#: ``dynamo-trt``, ``dynamo-sglang``, ``dynamo-vllm``, .github/configs/nvidia-master.yaml).
DYNAMO_ENGINE_PREFIX = "dynamo"
#: Words of a ``source`` that name a run behind Dynamo: those framework names (InferenceX's config names carry
#: them, e.g. ``dsr1-fp8-h100-dynamo-trt``), Dynamo's runtime images (``nvcr.io/nvidia/ai-dynamo/
#: tensorrtllm-runtime``, ``vllm-runtime``, ``sglang-runtime``) and aiconfigurator's gap-analysis data files
#: (``aic-auto-gap-analysis``, served by those images: scripts/serving_frontends.py).
DYNAMO_SOURCE_MARKS = ("dynamo-trt", "dynamo-sglang", "dynamo-vllm", "tensorrtllm-runtime", "vllm-runtime",
                       "sglang-runtime", "aic-auto-gap-analysis")


def frontend_of(row: dict) -> str:
    """What took the row's requests (gpurec_core.models.Frontend): its ``frontend`` cell; else ``"dynamo"``
    when its engine is named as run behind NVIDIA Dynamo (:data:`DYNAMO_ENGINE_PREFIX`) or its ``source``
    names such a run (:data:`DYNAMO_SOURCE_MARKS`); else the engine's own server, ``"engine"``."""
    text = cell(row, "frontend")
    if text:
        return frontend_name(text)
    source = cell(row, "source").lower()
    if cell(row, "engine").lower().startswith(DYNAMO_ENGINE_PREFIX) or any(m in source for m in DYNAMO_SOURCE_MARKS):
        return "dynamo"
    return "engine"


def unknown_metric(metric: str, kind: str) -> str:
    """Why a row of a ``kind`` ('serving', 'disaggregated') file with this metric is not predicted."""
    return (f"unknown metric {metric!r}; {kind} metrics are {', '.join(SERVING_METRICS)} (means; other tools' "
            "names of them: measurement_cells.METRIC_ALIASES; a median is not a mean)")


def describe_config(row: dict) -> str:
    """A short label of a row's deployment, e.g. ``"tp2 isl1024 osl128 c16 fp8"``."""
    parts = [f"tp{parsed(row, 'tp', 1)}"]
    if parsed(row, "pp", 1) > 1:
        parts.append(f"pp{parsed(row, 'pp', 1)}")
    if parsed(row, "dp", 1) > 1:
        parts.append(f"dp{parsed(row, 'dp', 1)}")
    if parsed(row, "ep", 1) > 1:
        parts.append(f"ep{parsed(row, 'ep', 1)}")
    parts += [f"isl{cell(row, 'isl')}", f"osl{cell(row, 'osl')}", f"c{concurrency_of(row)}"]
    ratio = random_range_ratio_of(row)
    if ratio is not None:
        parts.append(f"lengths {ratio:g}-1x")
    if speculative_label(row):
        parts.append(speculative_label(row))
    if cell(row, "precision"):
        parts.append(cell(row, "precision"))
    if cell(row, "kv_cache_dtype"):
        parts.append(f"kv-{cell(row, 'kv_cache_dtype')}")
    front = frontend_of(row)
    if front != "engine":
        parts.append(f"via {front}")
    gpu = cell(row, "gpu")
    if gpu and gpu.upper() != "H100":
        parts.insert(0, gpu)
    return " ".join(parts)


def calibration_split(row: dict) -> str:
    """``"calibration"`` or ``"held-out"`` for a serving row (documented in docs/accuracy.md).

    Held out: every row of :data:`HELD_OUT_MODELS`, and rows of other models whose configuration
    key ``model|engine|tp|pp|ep|isl|osl|precision`` has an MD5 whose first byte mod 4 is below
    :data:`HELD_OUT_BUCKETS`.
    """
    if cell(row, "model") in HELD_OUT_MODELS:
        return "held-out"
    key = "|".join(cell(row, k) for k in ("model", "engine", "tp", "pp", "ep", "isl", "osl", "precision"))
    bucket = hashlib.md5(key.encode()).digest()[0] % 4
    return "held-out" if bucket < HELD_OUT_BUCKETS else "calibration"


def kv_cache_dtype_of(row: dict) -> Optional[str]:
    """The row's KV-cache dtype, or None for the engine default.

    An empty cell with an export that ships an fp8 KV cache as ``checkpoint`` means fp8
    (:func:`gpurec_core.catalog_names.export_format`: NVIDIA ModelOpt's FP8 / FP4 exports, whose
    hf_quant_config.json sets ``kv_cache_quant_algo: FP8``, and AMD Quark's ``-KV`` exports); the
    engines serve the KV cache in that dtype.

    An empty cell on a TensorRT-LLM row quantized to fp8 from a float checkpoint means fp8 too:
    TensorRT-LLM serves fp8 from a ModelOpt export (it does not quantize a bf16 checkpoint
    online), and ModelOpt's ``examples/llm_ptq/hf_ptq.py`` exports the KV cache as fp8 unless told
    otherwise (``--kv_cache_qformat`` default ``fp8``: "default to fp8 if not provided"; later
    releases default to ``fp8_cast``, also fp8).
    """
    kv = cell(row, "kv_cache_dtype")
    if kv:
        return kv
    export = export_format(cell(row, "checkpoint"))
    if export is not None and export.kv_cache_dtype:
        return export.kv_cache_dtype
    if engine_of(row) == "trtllm" and cell(row, "precision") == "fp8":
        return "fp8"
    return None


def served_precision(model: Any, label: Optional[str]) -> Optional[str]:
    """The weight precision a measured run served: the row's label, unless the checkpoint is
    pre-quantized to a format at least as narrow, which it then served as it is.

    A label wider than the checkpoint names the activations, not a re-export ('fp8' rows of gpt-oss,
    whose checkpoint is MXFP4, run MXFP4 weights with fp8 activations). A label narrower than the
    checkpoint names another export of the model: 'fp4' rows of DeepSeek-R1 (an fp8 checkpoint)
    served an NVFP4 export such as nvidia/DeepSeek-R1-FP4, so they are planned as that what-if.
    Narrower means fewer stored bytes of the whole model: DeepSeek-V4's checkpoint (MXFP4 experts,
    FP8 elsewhere) is narrower than an NVFP4 export of it, so its 'fp4' rows served it as it is.
    """
    if not label or not model.is_quantized:
        return label or None
    from gpurec_core.memory_math import weights_bytes

    def stored(precision: Any) -> float:
        return weights_bytes(model.config, model.parameters, precision)

    try:
        narrower = stored(model.resolve_precision(label, None)) < stored(model.precision)
    except GpurecError:
        return None
    return label if narrower else None


#: The memory fraction (vLLM --gpu-memory-utilization, SGLang --mem-fraction-static) a measured run is
#: planned at when the engine's default cannot start its deployment: the run did start, so it was launched
#: with a higher one. 0.95 is what SemiAnalysis InferenceX's launch scripts set then
#: (benchmarks/single_node/fixed_seq_len/dsr1_fp8_b200.sh: DeepSeek-R1 fp8 on 4 B200 with SGLang,
#: MEM_FRAC_STATIC=0.95; 0.95 is also its most common --gpu-memory-utilization above vLLM's 0.9, in 27
#: launches), an assumption about the unrecorded setting, said in the row's note.
STARTED_RUN_MEMORY_FRACTION = 0.95


def as_started(run: Any) -> tuple[Any, Optional[str]]:
    """``run(gpu_memory_utilization)`` at the engine's default; when the deployment does not fit there,
    again at :data:`STARTED_RUN_MEMORY_FRACTION`. Returns the estimate and a note (None at the default);
    the first error is raised when neither fits."""
    try:
        return run(0.9), None
    except EstimationError as first:
        try:
            estimate = run(STARTED_RUN_MEMORY_FRACTION)
        except GpurecError:
            raise first from None
    return estimate, (f"planned at memory fraction {STARTED_RUN_MEMORY_FRACTION}: the engine's default does not "
                      "start this deployment, so the measured run set a higher one (InferenceX's value)")


def benchmark_limits(model: Any, gpu: str, precision: Optional[str], kv_cache_dtype: Optional[str], tp: int, pp: int,
                     input_length: int, output_length: int, fraction: float) -> tuple[int, int]:
    """(max_num_seqs, max_num_batched_tokens) of a TensorRT-LLM ``concurrency=max`` row: its max-throughput
    tables are ``trtllm-bench throughput`` runs, which set the engine's limits by their own heuristic
    (:mod:`gpurec_core.trtllm_bench`) at the run's KV memory fraction."""
    from gpurec_core.api import as_gpu
    from gpurec_core.trtllm_bench import throughput_run_limits

    resolved = model.resolve_precision(precision, kv_cache_dtype)
    return throughput_run_limits(model, as_gpu(gpu), resolved, tp, pp, input_length, output_length, fraction)


def _model_ref(row: dict, csv_dir: pathlib.Path) -> str:
    path = cell(row, "model_path")
    if path:
        return str((csv_dir / path).resolve())
    return cell(row, "model")


def _estimate_key(row: dict, csv_dir: pathlib.Path, estimator: str) -> tuple:
    return (_model_ref(row, csv_dir), cell(row, "gpu") or "H100", parsed(row, "tp", 1), parsed(row, "pp", 1),
            parsed(row, "ep", 1), parsed(row, "dp", 1), *request_lengths(row),
            concurrency_of(row), num_prompts_of(row),
            cell(row, "precision") or None, kv_cache_dtype_of(row),
            engine_of(row), frontend_of(row), parsed(row, "speculative_tokens", 0), parsed(row, "acceptance_length"),
            estimator)


class _Predictor:
    """Caches models and estimates so each deployment is estimated once."""

    def __init__(self, csv_dir: pathlib.Path, estimator: str) -> None:
        self.csv_dir = csv_dir
        self.estimator = estimator
        self.models: dict[str, Any] = {}
        self.estimates: dict[tuple, tuple[Optional[Any], Optional[str], Optional[str]]] = {}

    def model(self, ref: str):
        if ref not in self.models:
            from gpurec_core.api import as_model

            self.models[ref] = as_model(ref)
        return self.models[ref]

    def estimate(self, row: dict):
        key = _estimate_key(row, self.csv_dir, self.estimator)
        if key in self.estimates:
            return self.estimates[key]
        (ref, gpu, tp, pp, ep, dp, isl, osl, conc, prompts, precision, kv, engine, frontend, drafts, accepted,
         estimator) = key
        from gpurec_core.api import estimate_performance

        def run(fraction: float):
            served = served_precision(self.model(ref), precision)
            batch = tokens = None
            if engine == "trtllm" and conc == "max":
                # trtllm-bench's --tp counts every GPU of a stage; attention DP is an option on top of it.
                batch, tokens = benchmark_limits(self.model(ref), gpu, served, kv, tp * dp, pp, isl, osl, fraction)
            return estimate_performance(
                self.model(ref), gpu, tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=ep,
                data_parallel_size=dp, input_length=isl, output_length=osl, concurrency=conc,
                precision=served, kv_cache_dtype=kv, gpu_memory_utilization=fraction,
                max_num_batched_tokens=tokens, max_num_seqs=batch, engine=engine, frontend=frontend,
                speculative_tokens=drafts, acceptance_length=accepted, num_prompts=prompts, estimator=estimator)

        try:
            result = as_started(run) + (None,)
        except GpurecError as exc:
            result = (None, None, f"{type(exc).__name__}: {exc}")
        self.estimates[key] = result
        return result


def predict_rows(rows: list[dict], csv_dir: pathlib.Path, estimator: str) -> list[dict]:
    """Predict every serving row; one dict per input row, in order.

    Each dict has ``model, engine, metric, measured, predicted, ape, config, error`` (``ape`` in
    percent, as in ``gpurec_core.validate``; ``predicted``
    and ``ape`` are None and ``error`` says why when the estimate failed or the metric is unknown),
    plus ``gpu, concurrency, source, split`` (``split`` is :func:`calibration_split`).
    """
    predictor = _Predictor(pathlib.Path(csv_dir), estimator)
    out: list[dict] = []
    for row in rows:
        metric = cell(row, "metric")
        measured_text = cell(row, "value")
        measured = float(measured_text) if measured_text else None
        record: dict[str, Any] = {
            "model": cell(row, "model") or cell(row, "model_path"),
            "engine": engine_of(row),
            "metric": metric,
            "measured": measured,
            "predicted": None,
            "ape": None,
            "config": describe_config(row),
            "error": None,
            "gpu": cell(row, "gpu") or "H100",
            "concurrency": cell(row, "concurrency"),
            "source": cell(row, "source"),
            "split": calibration_split(row),
            "frontend": frontend_of(row),
            "random_range_ratio": random_range_ratio_of(row),
            "speculative_tokens": parsed(row, "speculative_tokens", 0),
            "num_prompts": num_prompts_of(row),
        }
        if metric not in _METRIC_FIELD:
            record["error"] = unknown_metric(metric, "serving")
            out.append(record)
            continue
        estimate, note, error = predictor.estimate(row)
        notes = [note] if note else []
        if batch_per_rank(row):
            notes.append(f"read as {concurrency_of(row)} users: the publisher's concurrency {cell(row, 'concurrency')} "
                         "is one attention-DP rank's batch (aiconfigurator: users = batch x pp x dp)")
        if concurrency_of(row) != listed_users(row):
            notes.append(f"read as {concurrency_of(row)} users: the run sent {num_prompts_of(row)} requests, fewer "
                         f"than its {listed_users(row)} users")
        if notes:
            record["note"] = "; ".join(notes)
        record_prediction(record, estimate, error)
        out.append(record)
    for index, reason in inconsistent_runs(rows).items():
        out[index]["flag"] = reason
    return out


def record_prediction(record: dict[str, Any], estimate, error: Optional[str]) -> None:
    """Fill ``record``'s ``predicted`` (the estimate's field for its metric) and ``ape``, or its ``error``."""
    if estimate is None:
        record["error"] = error
        return
    record["predicted"] = getattr(estimate, _METRIC_FIELD[record["metric"]])
    record["ape"] = ape(record["measured"], record["predicted"])


#: A closed-loop ITL measured at more users may fall below one at fewer users of the same
#: configuration by run-to-run noise only; beyond this fraction the runs contradict each other.
ITL_DROP_TOLERANCE = 0.7


def _run_key(row: dict) -> tuple:
    """A configuration without its concurrency and engine version: the runs that must agree."""
    return tuple(cell(row, k) for k in ("model", "model_path", "checkpoint", "precision", "kv_cache_dtype", "engine",
                                        "gpu", "tp", "pp", "dp", "ep", "isl", "osl"))


def inconsistent_runs(rows: list[dict]) -> dict[int, str]:
    """Rows whose run contradicts the same configuration's runs at fewer users, with the reason.

    In a closed loop more users can only keep the running batch as large or larger, so the step, and
    the inter-token latency, cannot shrink as concurrency grows (continuous batching: the engine runs
    min(users, its limits) requests per step). A run whose ITL is below ``ITL_DROP_TOLERANCE`` x the
    ITL measured at a lower concurrency of the same configuration did not measure what the model
    describes (e.g. the client, not the engine, limited the requests in flight); every metric of that
    run (same configuration and concurrency) is flagged. Flagged rows are still predicted and
    reported; the report counts them apart.
    """
    itl: dict[tuple, list[tuple[int, float]]] = {}
    for row in rows:
        conc = concurrency_of(row)
        if cell(row, "metric") == "itl_ms" and isinstance(conc, int) and cell(row, "value"):
            itl.setdefault(_run_key(row), []).append((conc, float(cell(row, "value"))))
    bad: dict[tuple, str] = {}
    for key, points in itl.items():
        for conc, value in points:
            lower = [(c, v) for c, v in points if c < conc and v > 0]
            if not lower:
                continue
            c_max, v_max = max(lower, key=lambda p: p[1])
            if value < ITL_DROP_TOLERANCE * v_max:
                bad[key + (conc,)] = (f"measured ITL {value:g} ms at {conc} users is below {ITL_DROP_TOLERANCE:g} x the "
                                      f"{v_max:g} ms measured at {c_max} users of the same configuration: a closed "
                                      "loop cannot get faster with more users")
    return {i: bad[_run_key(row) + (concurrency_of(row),)] for i, row in enumerate(rows)
            if _run_key(row) + (concurrency_of(row),) in bad}
