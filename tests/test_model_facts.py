"""One model-facts layer: the memory plan and the speed estimate describe the same deployment.

For every bundled model x TP in {1, 2, 4, 8} x its precisions (the checkpoint's own, an fp8 KV
cache, and for float checkpoints vLLM's runtime fp8 and a W4A16 export), the weights the vLLM
memory plan allocates (rotary cache aside) are the weights the roofline streams and holds, and
the KV bytes per token the plan sizes its pool with are the ones the roofline reads per step.
"""

from __future__ import annotations

import pytest

import gpurec_core
from gpurec_core.api import as_model
from gpurec_core.memory_math import GIB
from gpurec_core.models import Parallelism
from gpurec_core.resolve import list_catalog_models

from gpurec_capacity.planner import rope_cache_bytes
from gpurec_roofline.profile import build_profile

H100 = gpurec_core.get_gpu_spec("H100")
CATALOG = [entry["id"] for entry in list_catalog_models()]


def _precisions(arch):
    options = [(None, None), (None, "fp8")]
    if not arch.precision.is_quantized:
        options += [("fp8", None), ("int4", None)]
    return options


@pytest.mark.parametrize("model_id", CATALOG)
def test_memory_plan_and_roofline_use_the_same_bytes(model_id):
    arch = as_model(model_id)
    checked = 0
    for quantization, kv in _precisions(arch):
        precision = arch.resolve_precision(quantization, kv)
        for tp in (1, 2, 4, 8):
            plan = gpurec_core.plan_memory(arch, H100, tensor_parallel_size=tp, quantization=quantization,
                                           kv_cache_dtype=kv, max_model_len=4096)
            profile = build_profile(arch.config, arch.parameters, precision, H100, Parallelism(tensor_parallel_size=tp))
            held = plan.weights_gib * GIB - rope_cache_bytes(arch.config, precision)
            assert profile.weight_bytes_held == pytest.approx(held, rel=1e-9), (quantization, kv, tp)
            streamed = profile.dense_weight_bytes + profile.expert_weight_bytes
            assert streamed <= profile.weight_bytes_held * (1 + 1e-12)
            kv_roofline = profile.kv_bytes_per_token_full + profile.kv_bytes_per_token_window
            assert kv_roofline == pytest.approx(plan.kv_bytes_per_token, rel=1e-9), (quantization, kv, tp)
            checked += 1
    assert checked >= 8
