"""Check the fields of a ``quantization_config`` (config.json) or ``hf_quant_config.json`` that gpurec reads.

Both are kept verbatim on :class:`~gpurec_core.model_config.ModelConfig`, and the precision and
tensor-parallel rules read them (``gpurec_capacity.precision``, ``gpurec_core.memory_math``). This
module checks, once and at parse time, every field those readers use, so that a wrongly typed or
impossible value (``"bits": "four"``, ``"weight_block_size": 1.5``, ``"group_size": -7``) is a
:class:`~gpurec_core.errors.ModelConfigError` naming the field, never a crash inside a plugin.
Fields gpurec does not read are left alone.
"""

from __future__ import annotations

from typing import Any, Optional

from gpurec_core.errors import ModelConfigError

#: Largest quantization bit width (a 16-bit "quantized" weight is already unusual).
MAX_BITS = 16
#: Largest quantization group or block dimension; real groups are 16 to 128, blocks 128x128.
MAX_GROUP = 1 << 20

_STRING_FIELDS = ("quant_method", "quant_algo", "format", "kv_cache_quant_algo", "moe_quant_algo")
_BITS_FIELDS = ("bits", "w_bit")
_GROUP_FIELDS = ("group_size", "q_group_size")
_FLAG_FIELDS = ("zero_point", "load_in_4bit", "load_in_8bit", "sym")
_MODULE_LIST_FIELDS = ("ignore", "exclude_modules", "modules_to_not_convert", "ignored_layers")


class _Checker:
    def __init__(self, label: str, model_type: str) -> None:
        self.label = label
        self.model_type = model_type

    def fail(self, path: str, requirement: str, value: Any) -> ModelConfigError:
        return ModelConfigError(
            f"{self.label} field '{path if path.isprintable() else repr(path)[1:-1]}' {requirement}, "
            f"got {value!r:.120} (model_type {self.model_type}); "
            "fix or remove it"
        )

    def obj(self, value: Any, path: str) -> Optional[dict[str, Any]]:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(path, "must be a JSON object", value)
        return value

    def string(self, value: Any, path: str) -> None:
        if value is not None and not isinstance(value, str):
            raise self.fail(path, "must be a string", value)

    def integer(self, value: Any, path: str, minimum: int, maximum: int) -> None:
        if value is None:
            return
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(path, f"must be an integer from {minimum} to {maximum:,}", value)

    def flag(self, value: Any, path: str) -> None:
        if value is not None and not isinstance(value, bool):
            raise self.fail(path, "must be true or false", value)

    def strings(self, value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, "must be a list of strings (module names or patterns)", value)

    def block(self, value: Any, path: str) -> None:
        """``weight_block_size`` / ``block_structure``: null or [rows, cols] of positive integers."""
        if value is None or value == []:
            return
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self.fail(path, "must be a list of two positive integers such as [128, 128]", value)
        for i, dim in enumerate(value):
            self.integer(dim, f"{path}[{i}]", 1, MAX_GROUP)

    def weights(self, value: Any, path: str) -> None:
        """A compressed-tensors ``weights`` (or ``input_activations``) quantization args object."""
        spec = self.obj(value, path)
        if spec is None:
            return
        self.integer(spec.get("num_bits"), f"{path}.num_bits", 1, MAX_BITS)
        self.integer(spec.get("group_size"), f"{path}.group_size", -1, MAX_GROUP)
        self.string(spec.get("type"), f"{path}.type")
        self.string(spec.get("strategy"), f"{path}.strategy")
        self.flag(spec.get("symmetric"), f"{path}.symmetric")
        self.block(spec.get("block_structure"), f"{path}.block_structure")

    def section(self, q: dict[str, Any], prefix: str) -> None:
        """The flat fields shared by quantization_config and hf_quant_config's ``quantization``."""
        for name in _STRING_FIELDS:
            self.string(q.get(name), prefix + name)
        for name in _BITS_FIELDS:
            self.integer(q.get(name), prefix + name, 1, MAX_BITS)
        for name in _GROUP_FIELDS:
            self.integer(q.get(name), prefix + name, -1, MAX_GROUP)
        for name in _FLAG_FIELDS:
            self.flag(q.get(name), prefix + name)
        for name in _MODULE_LIST_FIELDS:
            self.strings(q.get(name), prefix + name)
        self.block(q.get("weight_block_size"), prefix + "weight_block_size")
        producer = q.get("producer")
        if producer is not None and not isinstance(producer, (str, dict)):
            raise self.fail(prefix + "producer", "must be a string or an object", producer)
        if isinstance(producer, dict):
            self.string(producer.get("name"), prefix + "producer.name")
        scheme = q.get("kv_cache_scheme")
        if isinstance(scheme, dict):
            self.weights(scheme, prefix + "kv_cache_scheme")
        else:
            self.string(scheme, prefix + "kv_cache_scheme")
        groups = self.obj(q.get("config_groups"), prefix + "config_groups") or {}
        for name, group in groups.items():
            path = f"{prefix}config_groups.{name}"
            group = self.obj(group, path) or {}
            self.strings(group.get("targets"), path + ".targets")
            self.weights(group.get("weights"), path + ".weights")
        layers = self.obj(q.get("quantized_layers"), prefix + "quantized_layers") or {}
        for pattern, spec in layers.items():
            path = f"{prefix}quantized_layers.{pattern}"
            spec = self.obj(spec, path) or {}
            self.string(spec.get("quant_algo"), path + ".quant_algo")
            self.integer(spec.get("group_size"), path + ".group_size", 0, MAX_GROUP)


def check_quantization_config(q: Optional[dict[str, Any]], model_type: str) -> None:
    """Raise ModelConfigError naming the field when config.json's ``quantization_config`` is malformed."""
    if q is not None:
        _Checker("config.json", model_type).section(q, "quantization_config.")


def check_hf_quant_config(hq: Optional[dict[str, Any]], model_type: str) -> None:
    """Raise ModelConfigError naming the field when ``hf_quant_config.json`` (ModelOpt) is malformed."""
    if hq is None:
        return
    checker = _Checker("hf_quant_config.json", model_type)
    checker.section(hq, "")
    inner = checker.obj(hq.get("quantization"), "quantization")
    if inner is not None:
        checker.section(inner, "quantization.")
