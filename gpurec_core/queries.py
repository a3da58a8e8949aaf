"""What the CLI and the web page ask of the library, as plain functions with the CLI's option names:
one recommendation (``gpurec recommend``), one model report (``gpurec model --json``) and the GPU
list (``gpurec gpus --json``). Both front ends call these, so a flag and a form field mean the same."""

from __future__ import annotations

from typing import Any, Callable, Optional

from gpurec_core.errors import WorkloadError

SORTS = ("rank", "cost", "performance")
#: The defaults of `gpurec recommend --engine / --estimator` (and of the web form).
DEFAULT_ENGINE, DEFAULT_ESTIMATOR = "vllm", "roofline"
#: Rows shown by default (`gpurec recommend --top`, the web table).
DEFAULT_TOP = 15


def precision_of(precision: Optional[str], dtype: Optional[str]) -> Optional[str]:
    """``dtype`` names the precision of an unquantized checkpoint; with ``precision`` it must agree."""
    from gpurec_core.memory_math import dtype_name

    if dtype is None or dtype.strip().lower() == "auto":
        return precision
    dtype = dtype_name(dtype)
    if dtype not in ("bf16", "fp16", "fp32"):
        raise WorkloadError(f"--dtype {dtype!r:.40} is not a float dtype (bf16, fp16, fp32); a quantized format goes "
                            "in --precision")
    if precision is not None and precision != dtype:
        raise WorkloadError(f"--dtype {dtype} and --precision {precision} conflict: give one")
    return dtype


def check_tensor_parallel(model: str, tensor_parallel_size: int, engine: str) -> None:
    """``-tp N`` the model cannot run: one line naming the rule and the sizes it can run."""
    from gpurec_core.api import as_model, check_positive
    from gpurec_core.memory_math import tensor_parallel_problems

    check_positive("tensor_parallel_size", tensor_parallel_size)
    arch = as_model(model)
    problems = tensor_parallel_problems(arch.config, tensor_parallel_size, engine)
    if problems:
        sizes = ", ".join(str(t) for t in arch.possible_tensor_parallel_sizes(engine))
        raise WorkloadError(f"-tp {tensor_parallel_size} is impossible for {arch.model_id}: {'; '.join(problems)}; "
                            f"it runs at tensor-parallel sizes {sizes}")


def names(text: Optional[str]) -> Optional[list[str]]:
    """A comma-separated list of names, or None when none was given; a WorkloadError when the text names
    nothing ('' or ','), which would otherwise silently mean every GPU of the catalog."""
    if text is None:
        return None
    found = [g.strip() for g in text.split(",") if g.strip()]
    if not found:
        raise WorkloadError(f"{text!r:.40} names no GPU: give a comma-separated list such as H100,H200 (leave the "
                            "option out for every GPU of the catalog)")
    return found


def run_recommend(model: str, *, input_length: int = 1024, output_length: int = 512, context_length: int = 2048,
                  batch_size: int = 1, precision: Optional[str] = None, dtype: Optional[str] = None,
                  kv_cache_dtype: Optional[str] = None, gpu_memory_utilization: float = 0.9,
                  tensor_parallel_size: Optional[int] = None, max_tensor_parallel: Optional[int] = None,
                  pipeline_parallel_size: Optional[int] = None, max_gpus: Optional[int] = None,
                  gpus: Optional[str] = None, disaggregated: bool = False, prefill_gpus: Optional[str] = None,
                  decode_gpus: Optional[str] = None, engine: str = DEFAULT_ENGINE, estimator: str = DEFAULT_ESTIMATOR,
                  ttft_slo_ms: Optional[float] = None, itl_slo_ms: Optional[float] = None,
                  target_tok: Optional[float] = None, target_rps: Optional[float] = None, text_only: bool = False,
                  no_performance: bool = False, fitting_only: bool = False, sort: str = "rank",
                  progress: Optional[Callable[[int, int], None]] = None, frontend: str = "engine",
                  speculative_tokens: int = 0, acceptance_length: Optional[float] = None):
    """``gpurec recommend``'s search with its options (``gpus``, ``prefill_gpus``, ``decode_gpus``:
    comma-separated names); the result sorted as ``sort`` asks and, with ``tensor_parallel_size``, only
    that TP size."""
    from gpurec_core.recommend import recommend_gpus

    if sort not in SORTS:
        raise WorkloadError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    precision = precision_of(precision, dtype)
    if tensor_parallel_size is not None:
        check_tensor_parallel(model, tensor_parallel_size, engine)
        if max_tensor_parallel is not None and tensor_parallel_size > max_tensor_parallel:
            raise WorkloadError(f"-tp {tensor_parallel_size} and --max-tensor-parallel {max_tensor_parallel} "
                                "conflict: give one")
    result = recommend_gpus(
        model, input_length=input_length, output_length=output_length, precision=precision,
        context_length=context_length, batch_size=batch_size, gpu_memory_utilization=gpu_memory_utilization,
        max_tensor_parallel=tensor_parallel_size or max_tensor_parallel,
        estimate_performance_flag=not no_performance, max_gpus=max_gpus, gpus=names(gpus), kv_cache_dtype=kv_cache_dtype,
        engine=engine, estimator=estimator, ttft_slo_ms=ttft_slo_ms, itl_slo_ms=itl_slo_ms,
        target_throughput_tokens_per_sec=target_tok, target_requests_per_sec=target_rps,
        pipeline_parallel=pipeline_parallel_size, include_non_fitting=not fitting_only, progress=progress,
        text_only=text_only, disaggregated=disaggregated, prefill_gpus=names(prefill_gpus),
        decode_gpus=names(decode_gpus), frontend=frontend, speculative_tokens=speculative_tokens,
        acceptance_length=acceptance_length)
    if tensor_parallel_size:
        kept = [r for r in result if r.recommendation.tensor_parallel_size == tensor_parallel_size]
        if not kept and result.recommendations:
            result.notes += (f"no GPU searched runs TP{tensor_parallel_size} within one node "
                             f"(at most {max(r.recommendation.gpu_spec.gpus_per_node for r in result)} GPUs per node)",)
        result = result._derive(kept)
    {"cost": result.sort_by_cost, "performance": result.sort_by_performance, "rank": result.rank}[sort]()
    return result


def recommend_json(result, top: int) -> dict[str, Any]:
    """``gpurec recommend --json`` (schema: docs/recommend.schema.json), the first ``top`` rows (0: all)."""
    data = result.to_dict()
    data["recommendations"] = data["recommendations"][: top or None]
    return data


def model_report(model: str, *, gpu: str = "H100", tensor_parallel_size: int = 1, pipeline_parallel_size: int = 1,
                 max_model_len: Optional[int] = None, gpu_memory_utilization: float = 0.9,
                 dtype: Optional[str] = None, quantization: Optional[str] = None,
                 kv_cache_dtype: Optional[str] = None, max_num_batched_tokens: Optional[int] = None,
                 max_num_seqs: Optional[int] = None, engine: str = "vllm", text_only: bool = False,
                 speculative_tokens: int = 0):
    """``gpurec model``: (the model, its facts, the memory plan of one layout, the ``--json`` payload)."""
    from gpurec_core.api import as_model, plan_memory

    arch = as_model(model)
    plan = plan_memory(arch, gpu, tensor_parallel_size=tensor_parallel_size,
                       pipeline_parallel_size=pipeline_parallel_size, max_model_len=max_model_len,
                       gpu_memory_utilization=gpu_memory_utilization, dtype=dtype, quantization=quantization,
                       kv_cache_dtype=kv_cache_dtype, max_num_batched_tokens=max_num_batched_tokens,
                       max_num_seqs=max_num_seqs, engine=engine, text_only=text_only,
                       speculative_tokens=speculative_tokens)
    facts = {
        "model_id": arch.model_id, "source": arch.source, "model_type": arch.config.model_type,
        "num_parameters": arch.num_parameters, "active_parameters": arch.active_parameters,
        "attention": arch.attention_kind, "layers": arch.config.num_hidden_layers,
        "layer_kinds": arch.config.num_layers_of, "moe": arch.is_moe,
        "experts": arch.config.num_experts, "experts_per_token": arch.config.num_experts_per_tok,
        "precision": arch.precision.model_dump(), "max_context_length": arch.max_context_length(),
        "possible_tensor_parallel_sizes": arch.possible_tensor_parallel_sizes(engine),
        "parameter_breakdown": arch.parameters.model_dump(),
    }
    if arch.resolution_note:
        facts["resolved_as"] = arch.resolution_note
    if arch.towers.total:
        facts["multimodal_towers"] = {"vision": arch.towers.vision, "audio": arch.towers.audio,
                                      "projector": arch.towers.projector, "loaded": not text_only}
    payload = {"model": facts, "memory_plan": plan.model_dump(), "gpu": gpu,
               "tensor_parallel_size": tensor_parallel_size, "pipeline_parallel_size": pipeline_parallel_size}
    return arch, facts, plan, payload


def gpus_json() -> list[dict[str, Any]]:
    """``gpurec gpus --json``: every GPU of the catalog (bundled, user TOML files and plugins)."""
    from gpurec_core.plugins import gpu_catalog

    return [spec.model_dump(by_alias=False) for spec in gpu_catalog().specs]
