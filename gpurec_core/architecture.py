"""ModelArchitecture: one resolved model and the facts derived from its config.

Resolution is offline first (``gpurec_core.resolve``); precision comes from the
``infer_precision`` hook; parameter counts from safetensors metadata when the Hub gave them,
otherwise from the config (``gpurec_core.param_count``); weight and KV bytes from
``gpurec_core.memory_math``. Memory is in GiB (2**30 bytes), including the seed's ``*_gb`` names.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any, Optional

from gpurec_core.model_config import ModelConfig

GIB = 1024**3

_TORCH_DTYPE_OF = {"fp32": "torch.float32", "fp16": "torch.float16", "bf16": "torch.bfloat16"}


class ModelArchitecture:
    """A language model, resolved offline first: local path, bundled catalog, HF cache, then the Hub.

    >>> model = ModelArchitecture("Qwen/Qwen3-32B")      # doctest: +SKIP
    >>> model.num_parameters_billions                    # doctest: +SKIP
    32.76
    """

    def __init__(self, model_id: str, hf_token: Optional[str] = None, *, revision: Optional[str] = None) -> None:
        from gpurec_core.resolve import resolve_model

        self._resolved = resolve_model(model_id, hf_token=hf_token, revision=revision)
        self.config: ModelConfig = ModelConfig.from_hf_config(self._resolved.config, self._resolved.hf_quant_config)
        self._lock = threading.Lock()
        self._precision = None
        self.towers  # a malformed vision / audio config fails here, naming its field

    @classmethod
    def from_config(cls, config: dict[str, Any], model_id: str = "custom/model",
                    hf_quant_config: Optional[dict[str, Any]] = None) -> "ModelArchitecture":
        """Build from a config.json dict already in hand (tests, fuzzing, notebooks)."""
        from gpurec_core.errors import ModelConfigError
        from gpurec_core.resolve import ResolvedModel

        if not isinstance(model_id, str) or not model_id.strip():
            raise ModelConfigError(f"model_id must be a non-empty string such as 'acme/my-model', got {model_id!r:.80}")
        self = cls.__new__(cls)
        self.config = ModelConfig.from_hf_config(config, hf_quant_config)  # validates config first
        self._resolved = ResolvedModel(model_id=model_id, source="path", config=config,
                                       hf_quant_config=hf_quant_config, safetensors_params=None, location="<dict>")
        self._lock = threading.Lock()
        self._precision = None
        self.towers  # a malformed vision / audio config fails here, naming its field
        return self

    # -- identity ---------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """Full id, e.g. 'Qwen/Qwen3-32B' (the catalog's spelling when found there)."""
        return self._resolved.model_id

    @property
    def model_name(self) -> str:
        """The name after the organisation, e.g. 'Qwen3-32B'."""
        return self.model_id.rstrip("/").split("/")[-1]

    @property
    def resolution_note(self) -> Optional[str]:
        """How the name was matched when not as typed (a variant's config stands in), else None."""
        return self._resolved.note

    @property
    def source(self) -> str:
        """Where the config came from: 'path', 'catalog', 'hf-cache' or 'hub'."""
        return self._resolved.source

    def __repr__(self) -> str:
        return f"ModelArchitecture({self.model_id!r}, source={self.source!r})"

    # -- parameters -------------------------------------------------------------------------
    @cached_property
    def parameters(self):
        """Parameter breakdown computed from the config (``gpurec_core.param_count``)."""
        from gpurec_core.param_count import count_parameters

        return count_parameters(self.config)

    @cached_property
    def towers(self):
        """Vision / audio towers and projector of a multimodal checkpoint (``gpurec_core.towers``);
        all zero for a text-only model."""
        from gpurec_core.towers import tower_parameters

        return tower_parameters(self._resolved.config)

    @property
    def num_parameters(self) -> int:
        """Total parameters of the checkpoint: exact from safetensors metadata when known, else computed
        from the config (the language model plus any vision / audio towers and projector)."""
        exact = self._resolved.safetensors_params
        if exact:
            return int(sum(exact.values()))
        return int(self.parameters.total + self.towers.total)

    @property
    def num_parameters_billions(self) -> float:
        return round(self.num_parameters / 1e9, 2)

    @property
    def active_parameters(self) -> int:
        """Parameters one token passes through (MoE: routed experts counted k of n)."""
        return int(self.parameters.active_per_token)

    # -- architecture facts -----------------------------------------------------------------
    @property
    def attention_kind(self) -> str:
        """'MHA', 'GQA', 'MQA' or 'MLA', with '+hybrid' when some layers are linear attention or Mamba."""
        return self.config.attention_kind + ("+hybrid" if self.config.is_hybrid else "")

    @property
    def is_moe(self) -> bool:
        return self.config.is_moe

    # -- precision (from the infer_precision hook) ------------------------------------------
    @property
    def precision(self):
        """The inferred :class:`gpurec_core.Precision` (cached): the infer_precision hook's reading of the
        config, or, for an export planned with its base model's config, the format its name gives."""
        if self._precision is None:
            with self._lock:
                if self._precision is None:
                    from gpurec_core.plugins import infer_precision

                    self._precision = self._as_export(infer_precision(self))
        return self._precision

    def _as_export(self, inferred):
        """``inferred`` re-stored in the format of the export this model stands for (its name's suffix,
        :func:`gpurec_core.catalog_names.export_format`): the same path as ``precision=``, said in the source."""
        export = self._resolved.export_format
        if export is None:
            return inferred
        from gpurec_core.memory_math import apply_precision_overrides, assumed_export_storage

        planned = apply_precision_overrides(self, inferred, export.weight, export.kv_cache_dtype)
        if planned.weight == inferred.weight and planned.weight_bytes_per_param == inferred.weight_bytes_per_param:
            source = f"{inferred.source}; {self.model_id}: {export.describe()}"  # the base's own format
        else:
            source = f"{self.model_id}: {export.describe()}, stored as a typical export: {assumed_export_storage(export.weight)}"
        return planned.model_copy(update={"what_if_note": None, "source": source})

    @property
    def is_quantized(self) -> bool:
        return self.precision.is_quantized

    @property
    def inferred_precision_name(self) -> str:
        """'fp32', 'fp16', 'bf16', 'fp8', 'int8', 'int4', 'nvfp4' or 'mxfp4'."""
        return self.precision.weight

    @property
    def inferred_dtype(self) -> str:
        """'torch.bfloat16' style for float checkpoints, else the quantized precision name ('int4')."""
        return _TORCH_DTYPE_OF.get(self.precision.weight, self.precision.weight)

    @property
    def inferred_kv_cache_dtype(self) -> str:
        """KV-cache dtype, torch style for float ('torch.bfloat16'), else 'fp8'."""
        return _TORCH_DTYPE_OF.get(self.precision.kv_cache_dtype, self.precision.kv_cache_dtype)

    def resolve_precision(self, precision: Optional[str] = None, kv_cache_dtype: Optional[str] = None):
        """The inferred precision with the user's overrides applied (``precision='fp8'`` ...)."""
        from gpurec_core.memory_math import apply_precision_overrides

        return apply_precision_overrides(self, self.precision, precision, kv_cache_dtype)

    # -- the seed's memory methods (GiB) ----------------------------------------------------
    def model_memory_gb(self, precision: Optional[str] = None) -> float:
        """Weights in GiB at the inferred precision (or ``precision``), scales included."""
        from gpurec_core.memory_math import weights_bytes

        return weights_bytes(self.config, self.parameters, self.resolve_precision(precision)) / GIB

    def kv_cache_memory_gb(self, context_length: int = 1, batch_size: int = 1) -> float:
        """KV cache in GiB for ``batch_size`` sequences of ``context_length`` tokens, on one GPU."""
        return self.get_kv_cache_detail(context_length, batch_size).total_gib

    def total_memory_gb(self, context_length: int = 1, batch_size: int = 1, precision: Optional[str] = None) -> float:
        """Weights plus KV cache, GiB (no engine overheads; see ``plan_memory`` for those)."""
        return self.model_memory_gb(precision) + self.kv_cache_memory_gb(context_length, batch_size)

    def max_context_length(self) -> int:
        """The longest context the model supports (max_position_embeddings)."""
        return int(self.config.max_position_embeddings)

    def possible_tensor_parallel_sizes(self, engine: str = "vllm") -> list[int]:
        """Tensor-parallel sizes the engine accepts for this model (divisibility rules), cached per engine."""
        config = self.config
        cache = self.__dict__.get("_tp_sizes")
        if cache is None or cache[0] is not config:  # first call, or the config was replaced
            cache = self.__dict__["_tp_sizes"] = (config, {})
        sizes = cache[1].get(engine)
        if sizes is None:
            from gpurec_core.memory_math import valid_tensor_parallel_sizes

            sizes = cache[1].setdefault(engine, tuple(valid_tensor_parallel_sizes(config, engine=engine)))
        return list(sizes)

    def get_kv_cache_detail(self, context_length: int = 1, batch_size: int = 1):
        """KV-cache breakdown (per-token bytes by layer kind, totals) at this context and batch."""
        from gpurec_core.memory_math import kv_cache_detail

        return kv_cache_detail(self.config, self.precision, context_length=context_length, batch_size=batch_size)
