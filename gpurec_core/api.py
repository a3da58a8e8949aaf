"""Public entry points for one deployment: its memory plan and its performance estimate.

Both accept a model id or a :class:`ModelArchitecture`, and a GPU name or a :class:`GPUSpec`;
invalid options raise :class:`~gpurec_core.errors.WorkloadError` naming the option.
"""

from __future__ import annotations

import math
from typing import Optional, Union

from pydantic import ValidationError

from gpurec_core.errors import WorkloadError
from gpurec_core.models import (
    MAX_CONCURRENCY,
    MAX_REPLICAS,
    MAX_TOKENS,
    GPUSpec,
    MemoryPlan,
    Parallelism,
    PerformanceEstimate,
    Precision,
    Workload,
)
from gpurec_core.speculative import acceptance_note

ModelLike = Union[str, "ModelArchitecture"]  # noqa: F821
GPULike = Union[str, GPUSpec]


def as_model(model: ModelLike, hf_token: Optional[str] = None):
    """A ModelArchitecture for an id/path, or the object itself."""
    from gpurec_core.architecture import ModelArchitecture

    if isinstance(model, ModelArchitecture):
        return model
    if not isinstance(model, str) or not model.strip():
        raise WorkloadError(f"model must be a model id, a path or a ModelArchitecture, got {model!r}")
    return ModelArchitecture(model.strip(), hf_token=hf_token)


def as_gpu(gpu: GPULike) -> GPUSpec:
    """A GPUSpec for a name or alias, or the object itself."""
    if isinstance(gpu, GPUSpec):
        return _completed(gpu)
    if not isinstance(gpu, str) or not gpu.strip():
        raise WorkloadError(f"gpu must be a GPU name (see `gpurec gpus`) or a GPUSpec, got {gpu!r}")
    from gpurec_core.plugins import gpu_catalog

    return gpu_catalog().get(gpu.strip())


def _completed(spec: GPUSpec) -> GPUSpec:
    """A spec given as an object, with what it leaves out derived and said, as the catalog does for its own."""
    import warnings

    from gpurec_core.errors import PluginWarning
    from gpurec_core.gpu_assumptions import complete

    spec, assumptions = complete(spec)
    for sentence in assumptions:
        warnings.warn(sentence, PluginWarning, stacklevel=3)
    return spec


def _build(kind, what: str, **fields):
    """Construct a pydantic value, turning a validation error into a WorkloadError naming the option."""
    try:
        return kind(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a check of the whole value (its message names the field)
            raise WorkloadError(f"invalid {what} option: {first['msg'].removeprefix('Value error, ')}") from None
        field = ".".join(str(p) for p in first["loc"])
        value = first.get("input")
        raise WorkloadError(f"invalid {what} option {field}={value!r}: {first['msg']}") from None


def check_positive(name: str, value, *, allow_none: bool = False, integer: bool = True,
                   maximum: Optional[float] = None) -> None:
    """Raise WorkloadError naming option ``name`` unless ``value`` is a positive (finite) int or number."""
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    what = "integer" if integer else "number"
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or value <= 0:
        raise WorkloadError(f"{name} must be a positive {what}, got {value!r}")
    if maximum is not None and value > maximum:
        raise WorkloadError(f"{name} must be at most {maximum:,}, got {value!r}")


def check_estimator(estimator: str) -> str:
    """The estimator name, checked against every plugin's ``list_estimators`` before any work is done.

    Raises WorkloadError when it is not a name at all, and EstimatorUnavailableError when no plugin
    lists it (near matches suggested) or it is listed as unusable here (with the plugin's reason), so
    a typo or a missing package is one clear error rather than an error on every candidate.
    """
    from gpurec_core.errors import EstimatorUnavailableError, did_you_mean
    from gpurec_core.plugins import list_estimators

    if not isinstance(estimator, str) or not estimator.strip():
        raise WorkloadError(f"estimator must be an estimator name such as 'roofline' (`gpurec estimators` lists them), "
                            f"got {estimator!r:.80}")
    infos = {info.name: info for info in list_estimators()}
    info = infos.get(estimator)
    if info is None:
        raise EstimatorUnavailableError(
            f"no estimator named {estimator!r}.{did_you_mean(estimator, infos)} `gpurec estimators` lists them")
    if not info.usable:
        raise EstimatorUnavailableError(f"estimator {estimator!r} cannot run here: {info.reason or 'no reason given'}")
    return estimator


def check_engine(engine: str) -> str:
    """The engine's own name for ``engine`` (its name or an alias, any case: 'TRT-LLM' is trtllm), checked
    against every plugin's ``list_engines`` (near names suggested)."""
    from gpurec_core.plugins import engine_info

    return engine_info(engine).name


def check_layout(engine: str, parallelism: Parallelism) -> Parallelism:
    """``parallelism``, unless the engine does not run one of its kinds of parallelism (WorkloadError)."""
    from gpurec_core.plugins import engine_info

    info = engine_info(engine)
    for kind, size, runs in (("pipeline", parallelism.pipeline_parallel_size, info.pipeline_parallel),
                             ("expert", parallelism.expert_parallel_size, info.expert_parallel),
                             ("data", parallelism.data_parallel_size, info.data_parallel)):
        if size > 1 and not runs:
            raise WorkloadError(f"engine {engine!r} does not run {kind} parallelism (size {size}); "
                                f"set it to 1 or choose another engine (`gpurec engines` lists what each runs)")
    tp, ep, dp = (parallelism.tensor_parallel_size, parallelism.expert_parallel_size,
                  parallelism.data_parallel_size)
    if ep > tp and ep != tp * dp and (tp * dp) % ep == 0:
        # MoE TP within each EP group (TensorRT-LLM moe_tensor_parallel_size x moe_expert_parallel_size =
        # the attention ranks): every rank holds 1 / (tp x dp) of the experts, as in wide EP
        return parallelism.model_copy(update={"expert_parallel_size": tp * dp})
    if ep > tp and ep != tp * dp:
        raise WorkloadError(
            f"expert_parallel_size {ep} is larger than tensor_parallel_size {tp}: the experts then span the "
            f"attention data-parallel ranks (wide EP), so it must equal tensor_parallel_size x data_parallel_size "
            f"({tp} x {dp} = {tp * dp}); set data_parallel_size={ep // tp if ep % tp == 0 else '?'} or "
            f"expert_parallel_size <= {tp}")
    return parallelism


def layout_notes(expert_parallel_size: int, parallelism: Parallelism) -> tuple[str, ...]:
    """What an estimate says when :func:`check_layout` read ``expert_parallel_size`` as MoE TP x EP."""
    ep, ranks = expert_parallel_size, parallelism.expert_parallel_size
    if ep == ranks or ep <= parallelism.tensor_parallel_size:
        return ()
    return (f"expert_parallel_size {ep} over {ranks} attention ranks (tensor x data parallel): each expert is also "
            f"split {ranks // ep}-way within its EP group (TensorRT-LLM moe_tensor_parallel_size x "
            f"moe_expert_parallel_size = {ranks // ep} x {ep}); planned as the experts sharded over all {ranks} ranks "
            f"(the same expert weights and FLOPs per GPU), with the expert exchange of wide EP over {ranks} ranks",)


def planned_layout(model, engine: str, tensor_parallel_size: int = 1, pipeline_parallel_size: int = 1,
                   expert_parallel_size: int = 1, data_parallel_size: int = 1,
                   precision: Optional[Precision] = None) -> tuple[Parallelism, tuple[str, ...]]:
    """The layout planned for the sizes asked, and the notes that say where it differs from them.

    1. :func:`check_layout`: the engine runs each kind of parallelism; EP between TP and TP x DP is
       MoE TP x EP over the attention ranks (:func:`layout_notes`).
    2. :func:`attention_data_parallel`: a MoE model whose attention or widths a TP size cannot split
       runs those GPUs as attention data parallelism with the experts over every rank.
    3. An EP size that does not divide the experts leaves some ranks one more
       (:func:`gpurec_core.model_facts.experts_on_fullest_rank`), said in a note.

    ``precision``: the resolved precision (a what-if precision is not held to the checkpoint's
    quantization groups). ``data_parallel_size`` counts attention DP ranks of one engine instance,
    whose MoE layers span all of them whatever EP size is given: vLLM flattens the MoE's TP across
    the DP ranks when EP is off (vllm/model_executor/layers/fused_moe/config.py
    ``FusedMoEParallelConfig.make``, ``flatten_tp_across_dp``), SGLang's MoE spans ``--tp`` under
    ``--enable-dp-attention`` and TensorRT-LLM's moe_tp x moe_ep is the world size; planned as EP
    over every rank (the same expert weights and FLOPs per GPU). A dense model's DP ranks are replicas.
    """
    requested = make_parallelism(tensor_parallel_size, pipeline_parallel_size, expert_parallel_size, data_parallel_size)
    parallelism = check_layout(engine, requested)
    notes = list(layout_notes(requested.expert_parallel_size, parallelism))
    ranks = parallelism.tensor_parallel_size * parallelism.data_parallel_size
    if model.config.is_moe and parallelism.data_parallel_size > 1 and parallelism.expert_parallel_size < ranks:
        parallelism = parallelism.model_copy(update={"expert_parallel_size": ranks})
        notes = [f"{parallelism.data_parallel_size} attention DP ranks of one engine share the experts: its MoE layers "
                 f"span all {ranks} GPUs (vLLM flattens the MoE's TP across DP ranks, SGLang's MoE spans --tp under "
                 f"--enable-dp-attention, TensorRT-LLM's moe_tp x moe_ep is the world size); planned as EP {ranks}"]
    wide = attention_data_parallel(model, engine, parallelism, precision)
    if wide is not None:
        parallelism, note = wide
        notes = [note]
    experts, ep = model.config.num_experts or 0, parallelism.expert_parallel_size
    if experts and ep > 1 and experts % ep and ep <= experts:
        from gpurec_core.model_facts import experts_on_fullest_rank

        notes.append(f"{experts} experts over {ep} EP ranks: {experts % ep} ranks hold "
                     f"{experts_on_fullest_rank(experts, ep)} and the others {experts // ep} (vLLM "
                     f"determine_expert_map; TensorRT-LLM's MoE load balancer slots and SGLang's redundant "
                     f"experts fill the same slots); planned for a fullest rank")
    return parallelism, tuple(notes)


def attention_data_parallel(model, engine: str, parallelism: Parallelism,
                            precision: Optional[Precision] = None) -> Optional[tuple[Parallelism, str]]:
    """The wide-EP layout of ``parallelism``'s GPUs, with its note, when its TP size cannot split a MoE
    model (query heads, KV heads or widths: :func:`gpurec_core.memory_math.tensor_parallel_problems`)
    but one attention rank per GPU can; None otherwise.

    Engines serve such a model on that many GPUs with attention data parallelism and the experts over
    every rank: TensorRT-LLM ``enable_attention_dp`` (attention TP 1, the MoE over all ranks),
    SGLang ``--enable-dp-attention --dp N``, vLLM ``--data-parallel-size N --enable-expert-parallel``.
    DeepSeek's 128 heads on 36 GB200s, say, cannot be split 36 ways but run as 36 attention ranks.
    Dense models and engines without expert or data parallelism keep the refusal.
    """
    from gpurec_core.memory_math import tensor_parallel_problems
    from gpurec_core.plugins import engine_info

    tp, ep = parallelism.tensor_parallel_size, parallelism.expert_parallel_size
    cfg = model.config
    if tp <= 1 or parallelism.data_parallel_size > 1 or not cfg.is_moe:
        return None
    info = engine_info(engine)
    if not (info.data_parallel and info.expert_parallel):
        return None
    own = precision is None or precision.what_if_note is None
    problems = tensor_parallel_problems(cfg, tp, engine, ep, own)
    if not problems or tensor_parallel_problems(cfg, 1, engine, tp, own) or tp > (cfg.num_experts or 0):
        return None
    wide = parallelism.model_copy(update={"tensor_parallel_size": 1, "data_parallel_size": tp,
                                          "expert_parallel_size": tp})
    return wide, (f"tensor_parallel_size={tp} cannot split this model ({problems[0]}); engines run {tp} GPUs of a "
                  f"MoE model as attention data parallelism with the experts over every rank (TensorRT-LLM "
                  f"enable_attention_dp, SGLang --enable-dp-attention --dp {tp}, vLLM --data-parallel-size {tp} "
                  f"--enable-expert-parallel): planned as {tp} attention ranks of TP 1 with EP {tp}")


def with_notes(result, *notes: Optional[str]):
    """``result`` (a plan or an estimate) with the ``notes`` it does not carry yet appended (empty ones skipped)."""
    extra = tuple(dict.fromkeys(n for n in notes if n and n not in result.notes))
    return result.model_copy(update={"notes": (*result.notes, *extra)}) if extra else result


def make_parallelism(tensor_parallel_size: int = 1, pipeline_parallel_size: int = 1,
                     expert_parallel_size: int = 1, data_parallel_size: int = 1) -> Parallelism:
    return _build(Parallelism, "parallelism", tensor_parallel_size=tensor_parallel_size,
                  pipeline_parallel_size=pipeline_parallel_size, expert_parallel_size=expert_parallel_size,
                  data_parallel_size=data_parallel_size)


def plan_memory(
    model: ModelLike,
    gpu: GPULike,
    *,
    tensor_parallel_size: int = 1,
    pipeline_parallel_size: int = 1,
    expert_parallel_size: int = 1,
    data_parallel_size: int = 1,
    max_model_len: Optional[int] = None,
    gpu_memory_utilization: float = 0.9,
    dtype: Optional[str] = None,
    quantization: Optional[str] = None,
    kv_cache_dtype: Optional[str] = None,
    max_num_batched_tokens: Optional[int] = None,
    max_num_seqs: Optional[int] = None,
    engine: str = "vllm",
    hf_token: Optional[str] = None,
    text_only: bool = False,
    speculative_tokens: int = 0,
) -> MemoryPlan:
    """Per-GPU memory plan of one deployment, in the engine's own accounting (GiB, rank 0).

    ``dtype`` ('bf16', 'fp16', 'fp32') and ``quantization`` ('fp8', ...) are vLLM's runtime
    options: they change the precision the checkpoint is served in. ``max_model_len`` defaults
    to the model's maximum context. ``text_only``: serve a multimodal checkpoint without its
    vision / audio towers (vLLM ``--language-model-only``). ``data_parallel_size``: attention
    data-parallel ranks; with ``expert_parallel_size = tensor_parallel_size x data_parallel_size``
    (wide EP) each GPU holds 1/ep of the experts. The plan is one DP rank's GPU: its KV pool and
    activations serve that rank's requests. ``speculative_tokens`` > 0: the engine also loads the
    draft module of MTP / EAGLE speculative decoding and its KV cache
    (:func:`gpurec_core.model_facts.draft_module`).
    """
    check_positive("max_model_len", max_model_len, allow_none=True, maximum=MAX_TOKENS)
    arch = as_model(model, hf_token)
    spec = as_gpu(gpu)
    engine = check_engine(engine)
    precision = arch.resolve_precision(quantization or dtype, kv_cache_dtype)
    parallelism, notes = planned_layout(arch, engine, tensor_parallel_size, pipeline_parallel_size,
                                        expert_parallel_size, data_parallel_size, precision)
    context = max_model_len if max_model_len is not None else arch.max_context_length()
    workload = _build(Workload, "workload", input_length=max(1, min(context, 1024)), output_length=1,
                      max_model_len=context, gpu_memory_utilization=gpu_memory_utilization,
                      max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs, precision=precision,
                      text_only=bool(text_only), speculative_tokens=speculative_tokens)
    from gpurec_core.plugins import estimate_memory

    plan = estimate_memory(arch, spec, parallelism, workload, engine)
    return with_notes(plan, arch.resolution_note, precision.assumed, *notes,
                      draft_note(arch, precision, parallelism, spec, workload))


def draft_note(arch, precision: Precision, parallelism: Parallelism, gpu: GPUSpec, workload: Workload) -> str:
    """What a memory plan with speculative decoding holds for the draft module ('' without it)."""
    if not workload.speculative_tokens:
        return ""
    from gpurec_core.model_facts import draft_module, facts_for

    draft = draft_module(facts_for(arch, precision, parallelism, gpu, workload.text_only))
    return (f"speculative decoding: the draft module is planned as one mean decoder layer of the model "
            f"({draft.weight_bytes / 2**30:.2f} GiB per GPU of the last stage) and its KV cache "
            f"({draft.kv_bytes_per_token:,.0f} bytes per token more; gpurec_core.model_facts.draft_module)")


def estimate_performance(
    model: ModelLike,
    gpu: GPULike,
    *,
    tensor_parallel_size: int = 1,
    pipeline_parallel_size: int = 1,
    expert_parallel_size: int = 1,
    data_parallel_size: int = 1,
    input_length: int,
    output_length: int,
    concurrency: Union[int, str] = 1,
    precision: Optional[str] = None,
    kv_cache_dtype: Optional[str] = None,
    max_model_len: Optional[int] = None,
    gpu_memory_utilization: float = 0.9,
    max_num_batched_tokens: Optional[int] = None,
    max_num_seqs: Optional[int] = None,
    engine: str = "vllm",
    estimator: str = "roofline",
    hf_token: Optional[str] = None,
    text_only: bool = False,
    frontend: str = "engine",
    speculative_tokens: int = 0,
    acceptance_length: Optional[float] = None,
    num_prompts: Optional[int] = None,
) -> PerformanceEstimate:
    """Serving performance of one deployment at ``concurrency`` users in a closed loop.

    ``concurrency="max"`` estimates the saturation point: the largest concurrency the KV pool
    holds at ``input_length + output_length`` tokens per request. ``max_num_batched_tokens`` and
    ``max_num_seqs`` are the engine's token budget per step and cap on running requests (vLLM's
    names; TensorRT-LLM's max_num_tokens and max_batch_size, SGLang's chunked_prefill_size and
    max_running_requests); None keeps the engine's defaults.

    ``data_parallel_size`` DP ranks share the users evenly and each has its own KV pool; for a MoE
    model with ``expert_parallel_size = tensor_parallel_size x data_parallel_size`` the ranks share
    the experts (wide EP: vLLM ``--data-parallel-size N --enable-expert-parallel``, SGLang
    ``--enable-dp-attention``, TensorRT-LLM ``enable_attention_dp``).

    ``frontend``: what takes the requests, the engine's own server (``"engine"``, what gpurec's launch
    lines start) or NVIDIA Dynamo's frontend (``"dynamo"``); it changes the time a request spends
    outside the engine's steps, so TTFT (gpurec_core.models.Frontend).

    ``speculative_tokens``: draft tokens per request per step of MTP / EAGLE speculative decoding
    (vLLM ``num_speculative_tokens``, SGLang ``--speculative-num-steps``), ``acceptance_length`` the
    tokens a request advances per step on average (None: gpurec_core.speculative's default, noted).

    ``num_prompts``: to compare with a measured benchmark run, the requests it sent in all
    (``vllm bench serve --num-prompts``); its first ``concurrency`` requests arrive at once, so the
    reported mean TTFT holds that start-up burst in ``concurrency / num_prompts`` of its requests
    (None: a long run, the estimator's assumption; gpurec_core.models.Workload).
    """
    arch = as_model(model, hf_token)
    spec = as_gpu(gpu)
    engine = check_engine(engine)
    check_estimator(estimator)
    resolved = arch.resolve_precision(precision, kv_cache_dtype)
    parallelism, notes = planned_layout(arch, engine, tensor_parallel_size, pipeline_parallel_size,
                                        expert_parallel_size, data_parallel_size, resolved)
    base = dict(input_length=input_length, output_length=output_length, max_model_len=max_model_len,
                gpu_memory_utilization=gpu_memory_utilization, max_num_batched_tokens=max_num_batched_tokens,
                max_num_seqs=max_num_seqs, precision=resolved, text_only=bool(text_only), frontend=frontend,
                speculative_tokens=speculative_tokens, acceptance_length=acceptance_length, num_prompts=num_prompts)
    workload = _build(Workload, "workload", concurrency=1, **base)
    from gpurec_core.plugins import estimate_memory, estimate_performance as _estimate

    memory = estimate_memory(arch, spec, parallelism, workload, engine)
    if concurrency == "max":
        per_rank = int(memory.kv_cache_tokens // max(1, workload.input_length + workload.output_length))
        users = max(1, per_rank * parallelism.data_parallel_size)
        users = min(users, MAX_CONCURRENCY)
        workload = _build(Workload, "workload", concurrency=users, **base)
    else:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise WorkloadError(f"concurrency must be a positive integer or 'max', got {concurrency!r}")
        workload = _build(Workload, "workload", concurrency=concurrency, **base)
    estimate = _estimate(arch, spec, parallelism, workload, memory, estimator)
    return with_notes(estimate, arch.resolution_note, resolved.assumed, resolved.what_if_note, *notes,
                      acceptance_note(speculative_tokens, acceptance_length, estimator))


def estimate_disaggregated(
    model: ModelLike,
    prefill_gpu: GPULike,
    decode_gpu: Optional[GPULike] = None,
    *,
    input_length: int,
    output_length: int,
    concurrency: int = 1,
    prefill_workers: int = 1,
    prefill_tensor_parallel_size: int = 1,
    prefill_data_parallel_size: int = 1,
    prefill_expert_parallel_size: int = 1,
    prefill_max_batch: Optional[int] = None,
    decode_workers: int = 1,
    decode_tensor_parallel_size: int = 1,
    decode_data_parallel_size: int = 1,
    decode_expert_parallel_size: int = 1,
    decode_max_batch: Optional[int] = None,
    precision: Optional[str] = None,
    kv_cache_dtype: Optional[str] = None,
    gpu_memory_utilization: float = 0.9,
    engine: str = "vllm",
    estimator: str = "roofline",
    kv_link: str = "auto",
    hf_token: Optional[str] = None,
    text_only: bool = False,
    frontend: str = "engine",
    speculative_tokens: int = 0,
    acceptance_length: Optional[float] = None,
    num_prompts: Optional[int] = None,
) -> PerformanceEstimate:
    """Serving performance of a disaggregated deployment: ``prefill_workers`` engine instances of one
    layout on ``prefill_gpu`` and ``decode_workers`` on ``decode_gpu`` (default: the same GPU), each
    request's KV cache shipped between them, ``concurrency`` users in a closed loop.

    Each pool's ``*_data_parallel_size`` and ``*_expert_parallel_size`` work as in
    :func:`estimate_performance` (EP = TP x DP is wide EP within a worker; a worker's attention-DP
    ranks of a MoE model share its experts, :func:`planned_layout`). ``kv_link``: 'nvlink',
    'network' or 'auto'. The estimate's ``breakdown`` has the prefill wait, the prefill, the KV
    transfer and the decode step; its ``notes`` the link and the pool that limits throughput.
    ``frontend`` as in :func:`estimate_performance` (``"dynamo"`` for NVIDIA Dynamo's router in front),
    ``speculative_tokens`` / ``acceptance_length`` (the decode pool drafts and verifies) and
    ``num_prompts`` (a measured run's request count).
    """
    from gpurec_core.models import DisaggregatedDeployment, Pool
    from gpurec_core.plugins import estimate_disaggregated as _estimate, estimate_memory

    arch = as_model(model, hf_token)
    engine = check_engine(engine)
    check_estimator(estimator)
    if kv_link not in ("auto", "nvlink", "network"):
        raise WorkloadError(f"kv_link must be 'auto', 'nvlink' or 'network', got {kv_link!r:.40}")
    resolved = arch.resolve_precision(precision, kv_cache_dtype)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise WorkloadError(f"concurrency must be a positive integer, got {concurrency!r:.40}")
    workload = _build(Workload, "workload", input_length=input_length, output_length=output_length,
                      concurrency=concurrency, gpu_memory_utilization=gpu_memory_utilization, precision=resolved,
                      text_only=bool(text_only), frontend=frontend, speculative_tokens=speculative_tokens,
                      acceptance_length=acceptance_length, num_prompts=num_prompts)
    pools, plans, layout_text = [], [], []
    for role, gpu, workers, tp, dp, ep, batch in (
            ("prefill", prefill_gpu, prefill_workers, prefill_tensor_parallel_size, prefill_data_parallel_size,
             prefill_expert_parallel_size, prefill_max_batch),
            ("decode", decode_gpu if decode_gpu is not None else prefill_gpu, decode_workers,
             decode_tensor_parallel_size, decode_data_parallel_size, decode_expert_parallel_size, decode_max_batch)):
        check_positive(f"{role}_workers", workers, maximum=MAX_REPLICAS)
        check_positive(f"{role}_max_batch", batch, allow_none=True, maximum=MAX_CONCURRENCY)
        parallelism, notes = planned_layout(arch, engine, tp, 1, ep, dp, resolved)
        layout_text += [f"{role} pool: {note}" for note in notes]
        pool = _build(Pool, f"{role} pool", role=role, gpu=as_gpu(gpu), parallelism=parallelism, workers=workers,
                      max_batch=batch)
        pools.append(pool)
        plans.append(estimate_memory(arch, pool.gpu, parallelism, workload, engine))
    deployment = _build(DisaggregatedDeployment, "disaggregated deployment", prefill=pools[0], decode=pools[1],
                        engine=engine, kv_link=kv_link)
    estimate = _estimate(arch, deployment, workload, plans[0], plans[1], estimator)
    return with_notes(estimate, arch.resolution_note, resolved.assumed, *layout_text,
                      acceptance_note(speculative_tokens, acceptance_length, estimator))
