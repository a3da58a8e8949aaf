"""The JSON API behind ``gpurec serve``: each route turns a query string into the CLI's ``--json``
payload (``gpurec_core.queries``), so the page and the command line answer the same question the same
way. A bad input is a 4xx with the CLI's one-line message (``GpurecError``), never a traceback.

Routes (GET; parameters are the CLI's long options with ``_`` for ``-``):

* ``/api/recommend``: ``gpurec recommend --json`` (docs/recommend.schema.json); ``model`` required.
* ``/api/table``: for the same query, the table as the terminal shows it (``gpurec_core.formatting``'s
  columns, each figure with its p10-p90 band), the workload line and each row's "why not".
* ``/api/curves``: for the same query, each shown candidate's (ITL, tok/s per GPU) over concurrency
  1, 2, 4, ... saturation (``gpurec_core.plotting.candidate_curve``, what ``--plot`` draws), the
  Pareto front and the chosen point.
* ``/api/explain``: for the same query and ``rank`` (1-based), ``gpurec recommend --explain``'s text.
* ``/api/model``: ``gpurec model --json``; ``/api/gpus``: ``gpurec gpus --json``;
  ``/api/models``: ``gpurec models --json`` (``q``, ``family``); ``/api/options``: the engines,
  estimators and precisions the form offers.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from typing import Any, Callable

from gpurec_core.errors import GpurecError, ModelNotFoundError, one_line
from gpurec_core.models import FRONTENDS
from gpurec_core.queries import DEFAULT_ENGINE, DEFAULT_ESTIMATOR, DEFAULT_TOP, SORTS

#: How many recent searches are kept for /api/curves and /api/explain.
CACHE_SIZE = 32
#: Candidates drawn as curves on the plot (the table shows ``top`` rows).
CURVES = 12

# (query key, keyword of gpurec_core.queries.run_recommend, type); the query keys follow the CLI's flags.
RECOMMEND_PARAMS: tuple[tuple[str, str, str], ...] = (
    ("input_length", "input_length", "int"), ("output_length", "output_length", "int"),
    ("max_model_len", "context_length", "int"), ("concurrency", "batch_size", "int"),
    ("precision", "precision", "str"), ("dtype", "dtype", "str"), ("kv_cache_dtype", "kv_cache_dtype", "str"),
    ("gpu_memory_utilization", "gpu_memory_utilization", "float"),
    ("tensor_parallel_size", "tensor_parallel_size", "int"), ("max_tensor_parallel", "max_tensor_parallel", "int"),
    ("pipeline_parallel_size", "pipeline_parallel_size", "int"), ("max_gpus", "max_gpus", "int"),
    ("gpus", "gpus", "str"), ("disagg", "disaggregated", "bool"), ("prefill_gpus", "prefill_gpus", "str"),
    ("decode_gpus", "decode_gpus", "str"), ("engine", "engine", "str"), ("frontend", "frontend", "str"),
    ("speculative_tokens", "speculative_tokens", "int"), ("acceptance_length", "acceptance_length", "float"),
    ("estimator", "estimator", "str"), ("ttft_slo_ms", "ttft_slo_ms", "float"), ("itl_slo_ms", "itl_slo_ms", "float"),
    ("target_throughput", "target_tok", "float"), ("target_rps", "target_rps", "float"),
    ("text_only", "text_only", "bool"), ("fitting_only", "fitting_only", "bool"), ("sort", "sort", "str"),
)
MODEL_PARAMS: tuple[tuple[str, str, str], ...] = (
    ("gpu", "gpu", "str"), ("tensor_parallel_size", "tensor_parallel_size", "int"),
    ("pipeline_parallel_size", "pipeline_parallel_size", "int"), ("max_model_len", "max_model_len", "int"),
    ("gpu_memory_utilization", "gpu_memory_utilization", "float"), ("dtype", "dtype", "str"),
    ("precision", "quantization", "str"), ("kv_cache_dtype", "kv_cache_dtype", "str"),
    ("engine", "engine", "str"), ("text_only", "text_only", "bool"),
)
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class ApiError(Exception):
    """A 4xx answer: status and the one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _value(key: str, text: str, kind: str) -> Any:
    text = text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        noun = "a whole number" if kind == "int" else "a number"
        raise ApiError(400, f"{key} must be {noun}, got {text!r}") from None
    if kind == "bool":
        if text.lower() not in TRUE + FALSE:
            raise ApiError(400, f"{key} must be true or false, got {text!r}")
        return text.lower() in TRUE
    return text


def options_from(query: dict[str, str], spec: tuple[tuple[str, str, str], ...], allowed: tuple[str, ...] = ()) -> dict:
    """Keyword arguments from a query string by ``spec``; an unknown key is a 400 naming the known ones."""
    known = {key for key, _, _ in spec} | set(allowed)
    unknown = sorted(set(query) - known)
    if unknown:
        raise ApiError(400, f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    out: dict[str, Any] = {}
    for key, keyword, kind in spec:
        if key in query and (query[key].strip() or kind == "bool"):
            out[keyword] = _value(key, query[key], kind)
    return out


def _profiles(query: dict[str, str]) -> list[str]:
    return [p for p in (query.get("profile") or "").split(",") if p.strip()]


class Api:
    """The routes, with the last searches kept for the plot and the explanation of a row."""

    def __init__(self) -> None:
        self._results: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.routes: dict[str, Callable[[dict[str, str]], Any]] = {
            "/api/recommend": self.recommend, "/api/table": self.table, "/api/curves": self.curves, "/api/explain": self.explain,
            "/api/model": self.model, "/api/gpus": self.gpus, "/api/models": self.models,
            "/api/options": self.options,
        }

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict | list]:
        """(HTTP status, JSON body) for one GET."""
        route = self.routes.get(path)
        if route is None:
            return 404, {"error": f"no such API route {path!r}; routes: {', '.join(sorted(self.routes))}"}
        try:
            return 200, route(query)
        except ApiError as exc:
            return exc.status, {"error": one_line(str(exc))}
        except ModelNotFoundError as exc:
            return 404, {"error": one_line(str(exc))}
        except GpurecError as exc:
            return 400, {"error": one_line(str(exc))}

    # -- searches ---------------------------------------------------------------------------------

    def _search(self, query: dict[str, str]):
        """The RecommendationResult of a query (kept for /api/curves and /api/explain)."""
        from gpurec_core.calibration import using_profiles
        from gpurec_core.queries import run_recommend

        model = (query.get("model") or "").strip()
        if not model:
            raise ApiError(400, "model is required: a bundled id (gpurec models), a Hugging Face id or a local path")
        kwargs = options_from({k: v for k, v in query.items() if k not in ("model", "top", "rank", "profile")},
                              RECOMMEND_PARAMS)
        key = json.dumps({k: v for k, v in sorted(query.items()) if k not in ("top", "rank")})
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
            with using_profiles(_profiles(query)):
                result = run_recommend(model, **kwargs)
            self._results[key] = result
            while len(self._results) > CACHE_SIZE:
                self._results.popitem(last=False)
            return result

    @staticmethod
    def _top(query: dict[str, str]) -> int:
        top = _value("top", query.get("top") or str(DEFAULT_TOP), "int")
        if top < 0:
            raise ApiError(400, f"top must be 0 (all) or more, got {top}")
        return top

    def recommend(self, query: dict[str, str]) -> dict:
        from gpurec_core.queries import recommend_json

        return recommend_json(self._search(query), self._top(query))

    def table(self, query: dict[str, str]) -> dict:
        from gpurec_core.formatting import columns, rows, verdict, why_not, workload_line

        result = self._search(query)
        top = self._top(query)
        shown = result.recommendations[: top or None]
        slos = result.workload.get("ttft_slo_ms") is not None or result.workload.get("itl_slo_ms") is not None
        cols = [c for c in columns(wide=True, slos=slos) if c.key != "why_not"]
        return {"verdict": verdict(result), "workload": workload_line(result), "notes": list(result.notes),
                "headers": [c.header for c in cols], "numeric": [c.numeric for c in cols],
                "rows": rows(shown, cols, bands=True), "why_not": [why_not(item) for item in shown]}

    def curves(self, query: dict[str, str]) -> dict:
        from gpurec_core.plotting import candidate_curve, pareto_front

        result = self._search(query)
        shown = result.recommendations[: min(self._top(query) or CURVES, CURVES)]
        curves = []
        for rank, item in enumerate(shown, 1):
            if not item.recommendation.model_fits or item.performance is None or item.performance.error:
                continue
            points = candidate_curve(item, result)
            curves.append({"rank": rank, "label": f"{item.recommendation.gpu_spec.name} {item.recommendation.layout}",
                           "points": [{"itl_ms": i, "tok_s_per_gpu": t, "concurrency": c} for i, t, c in points]})
        front = pareto_front([(p["itl_ms"], p["tok_s_per_gpu"]) for c in curves for p in c["points"]])
        return {"curves": curves, "pareto_front": [{"itl_ms": i, "tok_s_per_gpu": t} for i, t in front],
                "ttft_slo_ms": result.workload.get("ttft_slo_ms"), "itl_slo_ms": result.workload.get("itl_slo_ms")}

    def explain(self, query: dict[str, str]) -> dict:
        from gpurec_core.formatting import explain_text, legend

        result = self._search(query)
        rank = _value("rank", query.get("rank") or "1", "int")
        shown = len(result.recommendations[: self._top(query) or None])
        if not 1 <= rank <= shown:
            raise ApiError(400, f"rank must be between 1 and {shown} (the rows shown), got {rank}")
        item = result.recommendations[rank - 1]
        slos = result.workload.get("ttft_slo_ms") is not None or result.workload.get("itl_slo_ms") is not None
        text = explain_text(item, result.precision, result.model_id).strip("\n")
        return {"rank": rank, "text": text, "legend": legend(slos=slos)}

    # -- lookups ----------------------------------------------------------------------------------

    def model(self, query: dict[str, str]) -> dict:
        from gpurec_core.queries import model_report

        model = (query.get("model") or "").strip()
        if not model:
            raise ApiError(400, "model is required")
        kwargs = options_from({k: v for k, v in query.items() if k != "model"}, MODEL_PARAMS)
        return model_report(model, **kwargs)[3]

    @staticmethod
    def gpus(query: dict[str, str]) -> list:
        from gpurec_core.queries import gpus_json

        options_from(query, ())
        return gpus_json()

    @staticmethod
    def models(query: dict[str, str]) -> list:
        from gpurec_core.model_catalog import catalog_rows

        options_from(query, (), allowed=("q", "family"))
        return catalog_rows(query.get("q") or None, query.get("family") or None)

    @staticmethod
    def options(query: dict[str, str]) -> dict:
        from typing import get_args

        from gpurec_core.models import WeightPrecisionName
        from gpurec_core.plugins import list_engines, list_estimators

        options_from(query, ())
        return {"engines": [e.name for e in list_engines()],
                "estimators": [{"name": e.name, "usable": e.usable, "reason": None if e.usable else e.reason}
                               for e in list_estimators()],
                "precisions": list(get_args(WeightPrecisionName)), "sorts": list(SORTS),
                "frontends": list(FRONTENDS),
                "defaults": {"engine": DEFAULT_ENGINE, "frontend": FRONTENDS[0], "estimator": DEFAULT_ESTIMATOR,
                             "sort": SORTS[0], "top": DEFAULT_TOP}}


def parse_query(text: str) -> dict[str, str]:
    """A query string as {key: last value}; ``+`` and %-escapes decoded."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl(text, keep_blank_values=True))
