#!/usr/bin/env python
"""Measured kernel rates per GPU, from NVIDIA's aiconfigurator tables: writes catalogs/engines/kernel_rates.toml.

    python scripts/kernel_rates.py --aiconfigurator PATH [--rev REV] [--out PATH]

PATH is a clone of https://github.com/ai-dynamo/aiconfigurator (a checkout, or a bare git directory, read at
REV, default HEAD). Its ``aic-core/src/aiconfigurator_core/systems/data/<system>/`` holds the latencies NVIDIA
measured for each engine's own kernels on each GPU (one parquet table per kernel family, engine and version).
Reading them needs ``pyarrow`` (``pip install pyarrow``); the generated file is plain TOML, and nothing that
gpurec ships or tests reads parquet or the clone.

For each GPU, these rates as fractions of the GPU's catalog peak (``gpurec gpu NAME``):

* ``gemm_<dtype>`` (bf16, fp8, fp4): dense GEMMs in their throughput regime, 2·m·n·k FLOPs / latency over the
  dense tensor peak of the dtype, for m (tokens) of 4,096 and 8,192 and n, k from 4,096 to 16,384: the
  prefill-sized GEMMs the roofline's compute term times. Smaller GEMMs carry fixed launch and tail costs,
  which the roofline counts apart (``kernels.per_layer_overhead_us``). fp8 pools per-tensor and
  128-block-scaled kernels; fp4 is NVFP4.
* ``attention_bf16``: causal context (prefill) attention, 4·b·h·d·s²/2 FLOPs / latency over the bf16 peak, for
  bf16 queries and KV cache, head size 128, no sliding window, s >= 4,096 and b·h >= 128 (enough blocks to
  fill every SM).
* ``decode_bandwidth_bf16``: bf16 GEMMs of 1-8 tokens against weights of 400 MB or more (larger than any
  of these GPUs' L2 caches), weight bytes / latency over the HBM bandwidth: a decode step's weight streaming.
* ``decode_attention_bandwidth_bf16``: decode (generation) attention over a bf16 KV cache of 200 MB or more
  per call, head size 128, no sliding window, KV bytes read / latency over the HBM bandwidth: a decode step's
  KV-cache reads (GPUs whose memory streams weights and KV at different shares of the datasheet figure).
* ``decode_mla_bandwidth_bf16``: MLA decode attention (DeepSeek's latent cache, 576 bf16 values per token and
  layer, absorbed form) with at most 16 heads per GPU, where a step reads more bytes than its FLOPs can hide
  (2 x 1,088 FLOPs per head and key against 1,152 bytes per key), 200 MB of latents or more per call: latent
  bytes read / latency over the HBM bandwidth. SGLang and TensorRT-LLM tables (vLLM records MLA only as a whole
  module with its projections).
* ``moe_decode_bandwidth``: the engines' fused MoE kernel at decode batches (1-64 tokens, balanced routing, no
  expert TP; bf16 and 128-block fp8 experts), the touched experts' weight bytes (E/ep experts each hit with
  probability 1 - (1 - k/E)^tokens) of 50 MB or more over latency and the HBM bandwidth: a decode step's expert
  streaming, which the grouped kernels reach a smaller share of than a dense GEMV.
* ``moe_prefill_<dtype>_<engine>`` (bf16 and 128-block fp8 experts; one key per engine, since each engine runs
  its own grouped MoE kernels and they move differently between GPUs): the engine's fused MoE kernel at prefill
  batches (4,096 and 8,192 tokens, balanced routing, no expert TP or EP), 2 x 3 x tokens x top-k x hidden x
  expert FFN FLOPs / latency over the dtype's dense peak, each shape at its fastest kernel the table lists, over
  the shapes that every GPU's table of that engine and dtype measures (so the GPUs' fractions are of the same
  GEMMs): the routed experts' rate in a prompt's step, which the roofline times at the engine's
  ``moe_compute_efficiency`` of the dense rate.
* ``allreduce_bus_bandwidth``: the engines' all-reduce (CUDA-graph mode where the table has both) of bf16
  messages growing from 8 to 64 MB on 2, 4 and 8 GPUs of one NVLink domain, as bus bandwidth (2 (n-1)/n x
  bytes over the added time) over the GPU's per-direction NVLink bandwidth (catalog interconnect_gb_s / 2).
  GPUs without NVLink are left out: their all-reduce runs over the host's PCIe topology, which the tables
  measure for one server (the L40S's falls from 19 GB/s on 2 GPUs to 2 GB/s on 8).

Per table the median over those shapes; per GPU the median over the engines (vLLM, SGLang, TensorRT-LLM), each
quantity from the newest version of an engine's table that measures it. The roofline carries its H100-fitted
efficiencies to other generations in proportion to these rates (``scaled_from`` in roofline.toml;
gpurec_roofline.constants). Deterministic for a given revision.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import pathlib
import statistics
import subprocess
import sys
from dataclasses import dataclass

from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gpurec_core.gpus import get_gpu_spec  # noqa: E402
from gpurec_roofline.constants import KERNEL_RATES_FILE  # noqa: E402

DATA = "aic-core/src/aiconfigurator_core/systems/data"
REPOSITORY = "https://github.com/ai-dynamo/aiconfigurator"
DEFAULT_OUT = ROOT / "catalogs" / "engines" / KERNEL_RATES_FILE

#: aiconfigurator's system directory -> the GPU in gpurec's catalog whose peaks the rates are fractions of.
SYSTEMS = {
    "h100_sxm": "H100", "h200_sxm": "H200", "b200_sxm": "B200", "gb200": "GB200", "b300_sxm": "B300",
    "gb300": "GB300", "a100_sxm": "A100", "l40s": "L40S", "rtx_pro_6000_server": "RTX_PRO_6000", "b60": "ARC_PRO_B60",
}
ENGINES = ("vllm", "sglang", "trtllm")
#: aiconfigurator's gemm_dtype -> (gpurec compute dtype, bytes per weight).
GEMM_DTYPES = {"bfloat16": ("bf16", 2.0), "fp8": ("fp8", 1.0), "fp8_block": ("fp8", 1.0), "nvfp4": ("fp4", 0.5625)}
PREFILL_TOKENS = (4096, 8192)
PREFILL_DIMS = (4096, 16384)
DECODE_TOKENS = (1, 2, 4, 8)
DECODE_MIN_WEIGHT_BYTES = 4e8
ATTENTION_MIN_SEQ = 4096
ATTENTION_MIN_BLOCKS = 128
DECODE_MIN_KV_BYTES = 2e8
MLA_LATENT_BYTES = 576 * 2  # kv_lora_rank 512 + rope 64, bf16: DeepSeek-V3's latent per token and layer
MLA_MAX_HEADS_PER_GPU = 16
ALLREDUCE_ELEMENTS = (4194304, 33554432)  # bf16 messages of 8 and 64 MB
MOE_DECODE_TOKENS = 64
MOE_MIN_BYTES = 5e7
MOE_WEIGHT_BYTES = {"bfloat16": 2.0, "fp8_block": 1.0}
MOE_PREFILL_TOKENS = (4096, 8192)
#: aiconfigurator's moe_dtype -> gpurec's compute dtype, for the prefill rates.
MOE_PREFILL_DTYPES = {"bfloat16": "bf16", "fp8_block": "fp8"}
#: The tables each quantity is read from: (family directory, file name).
TABLE_FILES = (("gemm", "gemm_perf.parquet"), ("attention", "context_attention_perf.parquet"),
               ("attention", "generation_attention_perf.parquet"), ("mla", "generation_mla_perf.parquet"),
               ("comm", "custom_allreduce_perf.parquet"), ("moe", "moe_perf.parquet"))


class Source:
    """Files of an aiconfigurator clone: a checkout or a bare git directory at one revision."""

    def __init__(self, path: pathlib.Path, rev: str):
        self.path, self.rev = path, rev
        self.checkout = (path / DATA).is_dir()
        if self.checkout:
            self.commit = self._git("rev-parse", "HEAD", cwd=path).strip() if (path / ".git").exists() else "unknown"
        else:
            self.commit = self._git("rev-parse", rev).strip()

    def _git(self, *args: str, cwd: pathlib.Path | None = None) -> str:
        cmd = ["git", *args] if cwd else ["git", f"--git-dir={self.path}", *args]
        return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout

    def files(self) -> list[str]:
        if self.checkout:
            return sorted(str(p.relative_to(self.path)) for p in (self.path / DATA).rglob("*.parquet"))
        return self._git("ls-tree", "-r", "--name-only", self.rev, DATA).split()

    def read(self, name: str):
        import pyarrow.parquet as pq

        if self.checkout:
            return pq.read_table(self.path / name).to_pydict()
        blob = subprocess.run(["git", f"--git-dir={self.path}", "show", f"{self.rev}:{name}"],
                              check=True, capture_output=True).stdout
        return pq.read_table(io.BytesIO(blob)).to_pydict()


@dataclass(frozen=True)
class Table:
    gpu: str
    file: str
    engine: str
    version: str
    name: str


def tables_by_engine(source: Source) -> dict[tuple[str, str, str], list[Table]]:
    """Every version of each engine's gemm, attention, MLA decode, all-reduce and MoE table, per GPU and
    file, newest first."""
    found: dict[tuple[str, str, str], list[Table]] = {}
    for name in source.files():
        parts = name[len(DATA) + 1:].split("/")
        if len(parts) != 5 or parts[0] not in SYSTEMS or parts[2] not in ENGINES:
            continue
        system, family, engine, version, file = parts
        if (family, file) in TABLE_FILES:
            found.setdefault((SYSTEMS[system], file, engine), []).append(
                Table(SYSTEMS[system], file, engine, version, name))
    return {key: sorted(tables, key=lambda t: Version(t.version), reverse=True) for key, tables in found.items()}


def share(amount: float, ms: float, peak: float) -> float:
    """``amount`` (FLOPs or bytes) done in ``ms`` milliseconds, as a fraction of ``peak`` (TFLOPS or TB/s)."""
    return amount / (ms * 1e-3) / 1e12 / peak


def gemm_rates(rows: dict, gpu) -> dict[str, list[float]]:
    """Per quantity, the achieved fractions of peak of every qualifying shape of one gemm table."""
    peaks = {"bf16": gpu.bf16_tflops_dense, "fp8": gpu.fp8_tflops_dense, "fp4": gpu.fp4_tflops_dense}
    out: dict[str, list[float]] = {}
    for dtype, m, n, k, ms in zip(rows["gemm_dtype"], rows["m"], rows["n"], rows["k"], rows["latency"]):
        if dtype not in GEMM_DTYPES or not ms or ms <= 0:
            continue
        ours, weight_bytes = GEMM_DTYPES[dtype]
        lo, hi = PREFILL_DIMS
        if m in PREFILL_TOKENS and lo <= n <= hi and lo <= k <= hi and peaks[ours]:
            out.setdefault(f"gemm_{ours}", []).append(share(2.0 * m * n * k, ms, peaks[ours]))
        if ours == "bf16" and m in DECODE_TOKENS and n * k * weight_bytes >= DECODE_MIN_WEIGHT_BYTES:
            moved = n * k * weight_bytes + 2.0 * m * (n + k)
            out.setdefault("decode_bandwidth_bf16", []).append(share(moved, ms, gpu.bandwidth_tb_s))
    return out


def attention_rates(rows: dict, gpu) -> dict[str, list[float]]:
    """Achieved fractions of the bf16 peak of every qualifying shape of one context-attention table."""
    fractions = []
    n = len(rows["latency"])
    window = rows.get("window_size", [0] * n)
    attn_dtype = rows.get("attn_dtype", ["bfloat16"] * n)
    for i in range(n):
        b, h, d, s, ms = (rows[c][i] for c in ("batch_size", "num_heads", "head_dim", "isl", "latency"))
        if (attn_dtype[i] != "bfloat16" or rows["kv_cache_dtype"][i] != "bfloat16" or window[i] or d != 128
                or s < ATTENTION_MIN_SEQ or b * h < ATTENTION_MIN_BLOCKS or not ms or ms <= 0):
            continue
        fractions.append(share(4.0 * b * h * d * s * s / 2, ms, gpu.bf16_tflops_dense))
    return {"attention_bf16": fractions} if fractions else {}


def decode_attention_rates(rows: dict, gpu) -> dict[str, list[float]]:
    """Achieved fractions of the HBM bandwidth of every qualifying shape of one generation-attention table."""
    fractions = []
    n = len(rows["latency"])
    window = rows.get("window_size", [0] * n)
    for i in range(n):
        b, kv_heads, d, ms = (rows[c][i] for c in ("batch_size", "num_key_value_heads", "head_dim", "latency"))
        kv_bytes = b * (rows["isl"][i] + rows["step"][i]) * kv_heads * d * 2 * 2.0  # K and V, 2 bytes each
        if rows["kv_cache_dtype"][i] != "bfloat16" or window[i] or d != 128 or kv_bytes < DECODE_MIN_KV_BYTES \
                or not ms or ms <= 0:
            continue
        fractions.append(share(kv_bytes, ms, gpu.bandwidth_tb_s))
    return {"decode_attention_bandwidth_bf16": fractions} if fractions else {}


def decode_mla_rates(rows: dict, gpu) -> dict[str, list[float]]:
    """Achieved fractions of the HBM bandwidth of every bandwidth-bound shape of one MLA decode table."""
    fractions = []
    for i in range(len(rows["latency"])):
        b, heads, tp, ms = (rows[c][i] for c in ("batch_size", "num_heads", "tp_size", "latency"))
        latent_bytes = b * (rows["isl"][i] + rows["step"][i]) * MLA_LATENT_BYTES
        if (rows["kv_cache_dtype"][i] != "bfloat16" or heads // tp > MLA_MAX_HEADS_PER_GPU
                or latent_bytes < DECODE_MIN_KV_BYTES or not ms or ms <= 0):
            continue
        fractions.append(share(latent_bytes, ms, gpu.bandwidth_tb_s))
    return {"decode_mla_bandwidth_bf16": fractions} if fractions else {}


def allreduce_rates(rows: dict, gpu) -> dict[str, list[float]]:
    """Bus bandwidth between 8 and 64 MB messages over the per-direction NVLink bandwidth, one value per GPU count."""
    if not (gpu.interconnect or "").lower().startswith("nvlink") or not gpu.interconnect_gb_s:
        return {}
    n = len(rows["latency"])
    graph = [("graph" in str(b)) for b in rows.get("backend", [""] * n)]
    use_graph = any(graph)
    latency: dict[tuple[int, int], list[float]] = {}
    for i in range(n):
        if (use_graph and not graph[i]) or rows["allreduce_dtype"][i] != "bfloat16":
            continue
        latency.setdefault((rows["num_gpus"][i], rows["message_size"][i]), []).append(rows["latency"][i])
    small, large = ALLREDUCE_ELEMENTS
    fractions = []
    for gpus in sorted({g for g, _ in latency}):
        if (gpus, small) not in latency or (gpus, large) not in latency:
            continue
        added_ms = statistics.median(latency[(gpus, large)]) - statistics.median(latency[(gpus, small)])
        if added_ms <= 0:
            continue
        bus_bytes = 2.0 * (gpus - 1) / gpus * (large - small) * 2.0  # ring volume of the added bf16 elements
        fractions.append(share(bus_bytes, added_ms, gpu.interconnect_gb_s / 2.0 / 1e3))  # per direction, TB/s
    return {"allreduce_bus_bandwidth": fractions} if fractions else {}


def moe_decode_rates(rows: dict, gpu) -> dict[str, list[float]]:
    """Touched expert bytes over latency and the HBM bandwidth, every decode-sized shape of one MoE table."""
    fractions = []
    for i in range(len(rows["latency"])):
        dtype, tokens, ms = rows["moe_dtype"][i], rows["num_tokens"][i], rows["latency"][i]
        if (dtype not in MOE_WEIGHT_BYTES or rows["distribution"][i] != "balanced" or rows["moe_tp_size"][i] != 1
                or tokens > MOE_DECODE_TOKENS or not ms or ms <= 0):
            continue
        experts, k, ep = rows["num_experts"][i], rows["topk"][i], rows["moe_ep_size"][i]
        touched = experts / ep * (1.0 - (1.0 - k / experts) ** tokens)
        read = touched * 3.0 * rows["hidden_size"][i] * rows["inter_size"][i] * MOE_WEIGHT_BYTES[dtype]
        if read >= MOE_MIN_BYTES:
            fractions.append(share(read, ms, gpu.bandwidth_tb_s))
    return {"moe_decode_bandwidth": fractions} if fractions else {}


def moe_prefill_shapes(rows: dict, gpu) -> dict[str, dict[tuple, float]]:
    """dtype -> shape -> achieved fraction of the dtype's dense peak at the shape's fastest kernel, every
    prefill-sized shape of one MoE table."""
    peaks = {"bf16": gpu.bf16_tflops_dense, "fp8": gpu.fp8_tflops_dense}
    out: dict[str, dict[tuple, float]] = {}
    for i in range(len(rows["latency"])):
        dtype, tokens, ms = rows["moe_dtype"][i], rows["num_tokens"][i], rows["latency"][i]
        ours = MOE_PREFILL_DTYPES.get(dtype)
        if (ours is None or not peaks[ours] or rows["distribution"][i] != "balanced" or rows["moe_tp_size"][i] != 1
                or rows["moe_ep_size"][i] != 1 or tokens not in MOE_PREFILL_TOKENS or not ms or ms <= 0):
            continue
        hidden, ffn, experts, k = (rows[c][i] for c in ("hidden_size", "inter_size", "num_experts", "topk"))
        fraction = share(2.0 * 3.0 * tokens * k * hidden * ffn, ms, peaks[ours])
        shape = (hidden, ffn, experts, k, tokens)
        shapes = out.setdefault(ours, {})
        shapes[shape] = max(shapes.get(shape, 0.0), fraction)
    return out


def moe_prefill(source: Source) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """GPU -> ``moe_prefill_<dtype>_<engine>`` -> [(table label, median fraction)] from the newest version of each
    engine's MoE table that measures prefill shapes, over the shapes every GPU's table of the engine measures."""
    per_engine: dict[tuple[str, str], dict[str, tuple[str, dict[tuple, float]]]] = {}
    for (gpu_name, file, engine), tables in tables_by_engine(source).items():
        if file != "moe_perf.parquet":
            continue
        gpu = get_gpu_spec(gpu_name)
        for table in tables:
            found = moe_prefill_shapes(source.read(table.name), gpu)
            for dtype, shapes in found.items():
                per_engine.setdefault((engine, dtype), {}).setdefault(gpu_name, (f"{table.engine} {table.version}", shapes))
    result: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for (engine, dtype), by_gpu in sorted(per_engine.items()):
        common = set.intersection(*(set(shapes) for _, shapes in by_gpu.values()))
        if not common:
            continue
        for gpu_name, (label, shapes) in by_gpu.items():
            value = statistics.median(shapes[s] for s in common)
            result.setdefault(gpu_name, {})[f"moe_prefill_{dtype}_{engine}"] = [(f"{label}, {len(common)} shapes", value)]
    return result


RATES_OF = {"gemm_perf.parquet": gemm_rates, "context_attention_perf.parquet": attention_rates,
            "generation_attention_perf.parquet": decode_attention_rates, "generation_mla_perf.parquet": decode_mla_rates,
            "custom_allreduce_perf.parquet": allreduce_rates, "moe_perf.parquet": moe_decode_rates}


def measure(source: Source) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """GPU -> quantity -> [(table label, median fraction)], one per engine: each quantity from the newest
    version of the engine's table that measures it (a newer collection may hold only some kernels)."""
    result: dict[str, dict[str, list[tuple[str, float]]]] = {}
    order = sorted(tables_by_engine(source).items(), key=lambda kv: (kv[0][0], kv[0][1], ENGINES.index(kv[0][2])))
    for (gpu_name, file, _), tables in order:
        gpu = get_gpu_spec(gpu_name)
        measured: set[str] = set()
        for table in tables:
            for quantity, fractions in RATES_OF[file](source.read(table.name), gpu).items():
                if quantity in measured:
                    continue
                measured.add(quantity)
                label = f"{table.engine} {table.version}, {len(fractions)} shapes"
                result.setdefault(gpu_name, {}).setdefault(quantity, []).append((label, statistics.median(fractions)))
    return result


def render(source: Source, measured: dict) -> str:
    lines = [
        "# Measured kernel rates per GPU: what each engine's own kernels reach, as fractions of the GPU's catalog peak.",
        "# GENERATED by `python scripts/kernel_rates.py --aiconfigurator <clone>`. Do not edit by hand: re-run the script",
        "# (its docstring defines every shape filter and statistic).",
        f"# Source: {REPOSITORY} @{source.commit} (Apache-2.0),",
        f"#   {DATA}/<system>/{{gemm,attention,mla,comm,moe}}/<engine>/<version>/",
        "#   {gemm_perf,context_attention_perf,generation_attention_perf,generation_mla_perf,custom_allreduce_perf,",
        "#   moe_perf}.parquet: NVIDIA's measured kernel latencies per GPU and engine version.",
        "# Per table: the median over the qualifying shapes; per GPU: the median over the engines, each quantity from the",
        "# newest version of an engine's table that measures it (listed under `tables`). `peaks` are the catalog figures",
        "# the fractions are of (tests check they still are).",
        "# Read by gpurec_roofline.constants: a generation entry of roofline.toml with `scaled_from` takes the fitted",
        "# generation's efficiencies times the ratio of these rates.",
        "",
        "schema_version = 1",
        "",
        "[meta]",
        f'repository = "{REPOSITORY}"',
        f'commit = "{source.commit}"',
        'licence = "Apache-2.0"',
        'generator = "scripts/kernel_rates.py"',
    ]
    for name in sorted(measured):
        gpu = get_gpu_spec(name)
        lines += ["", f"[gpus.{name}]"]
        for quantity in sorted(measured[name]):
            lines.append(f"{quantity} = {statistics.median(v for _, v in measured[name][quantity]):.4f}")
        peaks = [f"bf16 = {gpu.bf16_tflops_dense:g}"]
        peaks += [f"{d} = {getattr(gpu, f'{d}_tflops_dense'):g}" for d in ("fp8", "fp4") if getattr(gpu, f"{d}_tflops_dense")]
        peaks.append(f"bandwidth_tb_s = {gpu.bandwidth_tb_s:g}")
        lines.append(f"peaks = {{ {', '.join(peaks)} }}")
        lines.append(f"[gpus.{name}.tables]")
        for quantity in sorted(measured[name]):
            items = ", ".join(f'"{label}: {value:.4f}"' for label, value in measured[name][quantity])
            lines.append(f"{quantity} = [{items}]")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aiconfigurator", type=pathlib.Path, required=True,
                        help="a clone of ai-dynamo/aiconfigurator (checkout or bare git directory)")
    parser.add_argument("--rev", default="HEAD", help="revision of a bare git directory (default HEAD)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("pyarrow") is None:
        print("reading aiconfigurator's parquet tables needs pyarrow: pip install pyarrow", file=sys.stderr)
        return 2
    source = Source(args.aiconfigurator, args.rev)
    measured = measure(source)
    for gpu_name, quantities in moe_prefill(source).items():
        measured.setdefault(gpu_name, {}).update(quantities)
    text = render(source, measured)
    args.out.write_text(text)
    print(f"wrote {args.out} from {REPOSITORY} @{source.commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
