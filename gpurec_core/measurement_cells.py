"""The cells of a measurement CSV (``gpurec validate``): what each column holds, checked before any prediction.

Empty cells mean "engine default", except in the columns no row can do without
(:data:`REQUIRED_CELLS`). A malformed cell makes the file malformed: :func:`check_rows` raises
MeasurementFileError naming the file, the row (its line; the header is line 1), the column, the
value and what the cell must hold, before a single row is predicted. The predictors read cells
with :func:`cell_value`, so a value means the same whether it is checked or used.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Optional, Union

from gpurec_core.errors import MeasurementFileError
from gpurec_core.models import FRONTENDS
from gpurec_core.speculative import MAX_DRAFT_TOKENS

Row = dict[str, Any]


def finite_number(text: str) -> float:
    """The finite number in ``text``; ValueError for anything else ('abc', 'nan', 'inf', '1e999')."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def whole_number(text: str) -> int:
    """The whole number >= 1 in ``text`` ('2' or '2.0'); ValueError for anything else."""
    value = finite_number(text)
    if value < 1 or value != int(value):
        raise ValueError(text)
    return int(value)


def parallel_degree(text: str) -> int:
    """A parallel degree that may be unused: a whole number >= 1, or 0 read as 1 (not used).

    aiconfigurator-core's silicon_sample.csv, the source of the reference measurements, writes
    ``moe_ep_size`` 0 (and ``attention_dp_size`` 0) for deployments without expert parallelism
    (attention data parallelism); no engine runs a degree of 0, so 0 can only mean "not used"."""
    value = finite_number(text)
    if value < 0 or value != int(value):
        raise ValueError(text)
    return max(1, int(value))


def fraction(text: str) -> float:
    """The number in (0, 1] in ``text``; ValueError for anything else."""
    value = finite_number(text)
    if not 0 < value <= 1:
        raise ValueError(text)
    return value


def draft_count(text: str) -> int:
    """Draft tokens per speculative step: a whole number from 0 to MAX_DRAFT_TOKENS; ValueError else."""
    value = finite_number(text)
    if value < 0 or value != int(value) or value > MAX_DRAFT_TOKENS:
        raise ValueError(text)
    return int(value)


def acceptance(text: str) -> float:
    """Tokens accepted per speculative step: a number from 1 to MAX_DRAFT_TOKENS + 1; ValueError else."""
    value = finite_number(text)
    if not 1 <= value <= MAX_DRAFT_TOKENS + 1:
        raise ValueError(text)
    return value


def range_ratio(text: str) -> float:
    """A number in [0, 1] (a benchmark's random range ratio); ValueError for anything else."""
    value = finite_number(text)
    if not 0 <= value <= 1:
        raise ValueError(text)
    return value


def concurrency(text: str) -> Union[int, str]:
    """A whole number >= 1, or 'max' (the saturation throughput of the whole deployment)."""
    return "max" if text.lower() == "max" else whole_number(text)


#: The smallest serving measurement (ms or tokens/s) a file may hold: 0 is no time or rate, and a value
#: this small already means a unit slip (a percentage error of a prediction against it is meaningless).
SMALLEST_TIME_OR_RATE = 1e-6


def measured(text: str) -> float:
    """A measured value: a finite number >= 0 (GiB, tokens, milliseconds, tokens/s)."""
    value = finite_number(text)
    if value < 0:
        raise ValueError(text)
    return value


def frontend_name(text: str) -> str:
    """A front end gpurec_core.models.FRONTENDS names ('engine', 'dynamo'; any case); ValueError for anything
    else."""
    name = text.lower()
    if name not in FRONTENDS:
        raise ValueError(text)
    return name


#: column -> (what the cell must hold, its parser). Columns not listed are text.
CELL_KINDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    **{column: ("a whole number >= 1", whole_number)
       for column in ("tp", "isl", "osl", "max_model_len", "max_num_batched_tokens", "max_num_seqs",
                      *(f"{pool}_{size}" for pool in ("prefill", "decode") for size in ("workers", "tp", "batch")))},
    **{column: ("a whole number >= 0 (0: not used)", parallel_degree)
       for column in ("pp", "ep", "dp", *(f"{pool}_{size}" for pool in ("prefill", "decode") for size in ("dp", "ep")))},
    "concurrency": ("a whole number >= 1 or 'max'", concurrency),
    "num_prompts": ("a whole number >= 1", whole_number),
    "gpu_memory_utilization": ("a number above 0 and at most 1", fraction),
    "value": ("a finite number >= 0", measured),
    "frontend": (" or ".join(repr(f) for f in FRONTENDS), frontend_name),
    "random_range_ratio": ("a number from 0 to 1", range_ratio),
    "speculative_tokens": (f"a whole number from 0 to {MAX_DRAFT_TOKENS}", draft_count),
    "acceptance_length": (f"a number from 1 to {MAX_DRAFT_TOKENS + 1}", acceptance),
}

#: The serving metrics under the names benchmark tools save them (matched ignoring case): vLLM's ``vllm bench
#: serve --save-result`` keys ``mean_ttft_ms``, ``mean_tpot_ms`` (TPOT excludes the first token: gpurec's ITL),
#: ``mean_itl_ms`` and ``output_throughput`` (vllm/benchmarks/serve.py); GuideLLM's ``time_to_first_token_ms``,
#: ``inter_token_latency_ms`` and ``output_tokens_per_second`` (guidellm benchmark metrics). Means only: a
#: median (``median_ttft_ms``) is not a mean, and GuideLLM's ``time_per_output_token_ms`` counts the first token.
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "ttft_ms": ("mean_ttft_ms", "ttft_ms_mean", "time_to_first_token_ms"),
    "itl_ms": ("mean_tpot_ms", "tpot_ms", "tpot_ms_mean", "mean_itl_ms", "itl_ms_mean", "inter_token_latency_ms"),
    "output_tok_s": ("output_throughput", "output_tokens_per_second", "output_tok_s_total"),
}
_METRIC_OF = {alias: metric for metric, aliases in METRIC_ALIASES.items() for alias in (metric, *aliases)}


def metric_name(text: str) -> str:
    """gpurec's name of a serving metric written as another tool names it (:data:`METRIC_ALIASES`); any
    other text as it is (a memory metric, or one no estimator predicts, which the report names)."""
    return _METRIC_OF.get(text.strip().lower(), text)


#: Cells every row of a file kind must fill (besides ``model`` or ``model_path``).
REQUIRED_CELLS = {"memory": ("metric", "value"), "serving": ("isl", "osl", "metric", "value"),
                  "disaggregated": ("isl", "osl", "concurrency", "prefill_tp", "decode_tp", "metric", "value")}


def cell(row: Row, column: str) -> str:
    """The text of a cell, stripped; '' when empty or absent."""
    value = row.get(column)
    return "" if value is None else str(value).strip()


def engine_of(row: Row) -> str:
    """The row's engine as gpurec names it, ``vllm`` when the cell is empty: 'TensorRT-LLM', 'TRT-LLM' or
    'SGLang' in another publisher's file is trtllm or sglang (:func:`gpurec_core.plugins.engine_info`).
    A name no plugin lists is kept, for the estimate to report with its near names."""
    from gpurec_core.errors import GpurecError
    from gpurec_core.plugins import engine_info

    name = cell(row, "engine") or "vllm"
    try:
        return engine_info(name).name
    except GpurecError:
        return name


#: ``source`` text naming a benchmark that draws each request's lengths at random, and the range ratio it
#: draws them with: SemiAnalysis InferenceX runs every fixed-sequence-length benchmark with
#: ``RANDOM_RANGE_RATIO: 0.8`` (.github/workflows/benchmark-tmpl.yml, the input's default since 2025-08;
#: benchmarks/benchmark_lib.sh passes it to utils/bench_serving/benchmark_serving.py).
RANDOM_LENGTH_SOURCES = {"inferencex": 0.8, "inferencemax": 0.8}
#: An InferenceX configuration's name in a ``source`` (``gptoss-fp4-h100-vllm``, ``dsr1-fp8-gb200-dynamo-trt``):
#: model, precision, GPU and framework, as all 339 keys of its configs/*master.yaml and configs/deprecated/*.yaml
#: are written (@843c6254). Its multi-node runs draw lengths the same way (benchmark-multinode-tmpl.yml
#: ``RANDOM_RANGE_RATIO: 0.8``; of the srt-slurm recipes it ships that set one, 89 say ``random_range_ratio: 0.8``
#: and 11 say 1.0).
INFERENCEX_CONFIG_NAME = re.compile(
    r"(?<![a-z0-9])[a-z0-9.]+-(?:fp4|fp8|bf16|fp16|int4|int8)-(?:h100|h200|b200|b300|gb200|gb300|mi300x|mi325x|mi355x|"
    r"rtx6000pro)-(?:vllm|sglang|trt|atom|dynamo|llmd|tilert)")


def random_range_ratio_of(row: Row) -> Optional[float]:
    """The random range ratio the row's benchmark drew request lengths with: its ``random_range_ratio``
    cell, else InferenceX's when its ``source`` names InferenceX (:data:`RANDOM_LENGTH_SOURCES`) or one of
    its configurations (:data:`INFERENCEX_CONFIG_NAME`), else None (every request at ``isl`` in and
    ``osl`` out)."""
    text = cell(row, "random_range_ratio")
    if text:
        return range_ratio(text)
    source = cell(row, "source").lower()
    for mark, ratio in RANDOM_LENGTH_SOURCES.items():
        if mark in source:
            return ratio
    return RANDOM_LENGTH_SOURCES["inferencex"] if INFERENCEX_CONFIG_NAME.search(source) else None


def speculative_label(row: Row) -> str:
    """The row's speculative decoding in a config label, e.g. ``"spec2 al2.4"`` (``""`` for none)."""
    drafts = parsed(row, "speculative_tokens", 0)
    if not drafts:
        return ""
    accepted = parsed(row, "acceptance_length")
    return f"spec{drafts}" + (f" al{accepted:g}" if accepted else "")


def mean_random_length(length: int, ratio: Optional[float]) -> int:
    """The mean of request lengths drawn uniformly from the whole numbers ``max(int(ratio x length), 1)``
    to ``length`` (``ratio`` None: every request is ``length`` long), rounded to a token.

    Sources: InferenceX's utils/bench_serving/benchmark_serving.py ``sample_random_requests``
    (``np.random.randint(int(seq_len * range_ratio), seq_len + 1)`` for input and output lengths alike,
    outputs held to their length by ``--ignore-eos``), vLLM's benchmarks/benchmark_serving.py before
    its datasets module, and SGLang's bench_serving.py (``max(int(input_len * range_ratio), 1)``: its
    default ratio 0 draws from 1 to the length). vLLM's ``vllm bench serve`` draws from
    ``length x (1 - ratio)`` to ``length x (1 + ratio)`` instead, a mean of ``length``: a file of its
    runs leaves the column empty."""
    if ratio is None:
        return length
    low = max(int(length * ratio), 1)
    return max(1, round((low + length) / 2))


def request_lengths(row: Row) -> tuple[int, int]:
    """The mean input and output length of the row's requests, the lengths it is predicted at: ``isl`` and
    ``osl``, or their random means (:func:`random_range_ratio_of`, :func:`mean_random_length`)."""
    ratio = random_range_ratio_of(row)
    return tuple(mean_random_length(parsed(row, column, 1), ratio) for column in ("isl", "osl"))  # type: ignore


def cell_value(row: Row, column: str, path: str, line: int, default: Optional[Any] = None) -> Any:
    """The parsed cell of a :data:`CELL_KINDS` column, ``default`` when it is empty;
    MeasurementFileError naming the file, row, column and value when it is malformed."""
    text = cell(row, column)
    if not text:
        return default
    expected, parse = CELL_KINDS[column]
    try:
        return parse(text)
    except ValueError:
        raise MeasurementFileError(f"{path}: row {line}, column {column!r}: {text!r} is not {expected}") from None


def parsed(row: Row, column: str, default: Optional[Any] = None) -> Any:
    """The parsed cell of a :data:`CELL_KINDS` column of a row :func:`check_rows` has checked,
    ``default`` when it is empty."""
    text = cell(row, column)
    return CELL_KINDS[column][1](text) if text else default


def check_rows(rows: list[Row], kind: str, path: str) -> None:
    """Check every row of a ``kind`` ('memory' or 'serving') file before any prediction: the required
    cells are filled and every cell of :data:`CELL_KINDS` holds what it must. Rows are lines 2, 3, ..."""
    for line, row in enumerate(rows, start=2):
        for column in REQUIRED_CELLS[kind]:
            if not cell(row, column):
                raise MeasurementFileError(f"{path}: row {line}, column {column!r}: empty; every row needs one")
        if not (cell(row, "model") or cell(row, "model_path")):
            raise MeasurementFileError(f"{path}: row {line}, column 'model': empty; name the model "
                                       "(or its directory in 'model_path')")
        for column in CELL_KINDS:
            cell_value(row, column, path, line)
        if kind != "memory" and parsed(row, "value") < SMALLEST_TIME_OR_RATE:
            raise MeasurementFileError(f"{path}: row {line}, column 'value': {cell(row, 'value')!r} is not a measured "
                                       f"time or rate; it must be at least {SMALLEST_TIME_OR_RATE:g} (ms or tokens/s)")


def ape(measured: Optional[float], predicted: Optional[float]) -> Optional[float]:
    """Absolute percentage error, in percent: ``|predicted - measured| / |measured| x 100`` (None without a
    prediction or a non-zero measurement)."""
    if predicted is None or not measured:
        return None
    return abs(predicted - measured) / abs(measured) * 100.0
