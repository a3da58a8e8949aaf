"""What gpurec assumes for a GPU whose catalog entry leaves figures out, each assumption stated once.

A user's TOML entry or a plugin's GPUSpec often gives memory, bandwidth and BF16 TFLOPS and stops.
The estimators then read fields it left empty: the roofline picks its efficiency fractions by
``architecture`` (an unknown one gets the conservative ``default`` entry) and times tensor-parallel
all-reduces over ``interconnect_gb_s`` (an empty one gets a PCIe-Gen4-class fallback link), and
the memory planner refuses an fp8 KV cache without ``fp8_tflops_dense``. Before this module an H100's
own figures given with ``compute_capability = "9.0"`` and nothing more ran 20% slower than the
bundled H100 on one GPU and up to ~2.8x slower at TP8, and nothing said why.

:func:`complete` fills what can be derived honestly and returns one sentence per assumption:

- ``architecture`` from ``compute_capability`` (NVIDIA's table, AMD's gfx ISA) or, failing that,
  from a product name whose family is unambiguous (``H100`` is Hopper);
- ``fp8_tflops_dense`` = 2 x ``bf16_tflops_dense`` on the architectures whose every datasheet
  has that ratio (Hopper, Ada Lovelace, Blackwell, CDNA 3, CDNA 4);
- ``manufacturer`` = AMD for a CDNA architecture when none was given (the default is NVIDIA);
- ``interconnect`` / ``interconnect_gb_s``: the PCIe x16 link of the architecture's generation
  (or of a ``"PCIe GenN xM"`` string given without a figure), bidirectional as vendors quote it.

``gpus_per_node`` is not among them: it has a documented default (8) and changes which layouts
are searched, not how fast a layout runs.

A derived figure gets ``sources[field] = "assumed: ..."`` and the spec's ``confidence`` drops to
``"low"``. What cannot be derived (NVLink bandwidth, FP8 on an unknown chip, INT8, FP4) is left
``None`` and its consequence is stated instead. A given figure is never overwritten; a complete
spec (every bundled GPU) comes back unchanged with no sentences.
"""

from __future__ import annotations

import re
from typing import Optional

from gpurec_core.models import GPUSpec, normalize_gpu_name

#: Prefix of every ``sources`` entry this module writes.
ASSUMED = "assumed: "

# -- architecture ---------------------------------------------------------------------------------

#: CUDA compute capability -> micro-architecture (the names the bundled catalog uses).
COMPUTE_CAPABILITY_ARCHITECTURES: dict[str, str] = {
    "7.0": "Volta", "7.2": "Volta",
    "7.5": "Turing",
    "8.0": "Ampere", "8.6": "Ampere", "8.7": "Ampere",
    "8.9": "Ada Lovelace",
    "9.0": "Hopper",
    "10.0": "Blackwell", "10.3": "Blackwell Ultra", "12.0": "Blackwell", "12.1": "Blackwell",
}
COMPUTE_CAPABILITY_SOURCE = ("NVIDIA CUDA C++ Programming Guide, 'Compute Capabilities' table, and "
                             "https://developer.nvidia.com/cuda-gpus")

#: AMD gfx ISA (held in ``compute_capability``) -> CDNA generation.
GFX_ARCHITECTURES: dict[str, str] = {
    "gfx908": "CDNA 1", "gfx90a": "CDNA 2", "gfx940": "CDNA 3", "gfx941": "CDNA 3", "gfx942": "CDNA 3",
    "gfx950": "CDNA 4",
}
GFX_SOURCE = "LLVM AMDGPU backend processor table https://llvm.org/docs/AMDGPUUsage.html"

#: Product-name patterns (on :func:`normalize_gpu_name` keys) whose family is unambiguous.
NAME_ARCHITECTURES: tuple[tuple[str, str], ...] = (
    (r"^g?h(100|200|800|20)(?!\d)", "Hopper"),          # H100, H200, H800, H20, GH200
    (r"^g?b300(?!\d)", "Blackwell Ultra"),               # B300, GB300
    (r"^(g?b(100|200)|rtx50\d0)(?!\d)", "Blackwell"),    # B100, B200, GB200, RTX 50x0
    (r"^(l(4|20|40s?)|rtx40\d0|rtx6000ada)(?!\d)", "Ada Lovelace"),
    (r"^(a(100|800|40|30|16|10g?|2)|rtx30\d0|rtxa\d000)(?!\d)", "Ampere"),
    (r"^v100(?!\d)", "Volta"),
    (r"^(t4|rtx20\d0)(?!\d)", "Turing"),
    (r"^mi(210|250x?)(?!\d)", "CDNA 2"),
    (r"^mi(300[ax]?|325x)(?!\d)", "CDNA 3"),
    (r"^mi(350x?|355x)(?!\d)", "CDNA 4"),
)
NAME_SOURCE = ("the vendors' product families: NVIDIA architecture whitepapers (Volta, Turing, Ampere, "
               "Ada Lovelace, Hopper, Blackwell), AMD Instinct datasheets (CDNA 2, 3, 4)")


def architecture_family(architecture: Optional[str]) -> Optional[str]:
    """The canonical family of an architecture name ('ada' -> 'Ada Lovelace', 'CDNA3' -> 'CDNA 3'), or None."""
    key = re.sub(r"[^a-z0-9]", "", (architecture or "").lower())
    for prefix, family in (("blackwellultra", "Blackwell Ultra"), ("blackwell", "Blackwell"), ("hopper", "Hopper"),
                           ("ada", "Ada Lovelace"), ("ampere", "Ampere"), ("turing", "Turing"), ("volta", "Volta"),
                           ("cdna4", "CDNA 4"), ("cdna3", "CDNA 3"), ("cdna2", "CDNA 2"), ("cdna", "CDNA 1"),
                           ("tpuv6e", "TPU v6e"), ("tpuv5e", "TPU v5e"), ("xe2", "Xe2")):
        if key.startswith(prefix):
            return family
    return None


def _cuda_capability(text: str) -> str:
    """'9.0', 'sm_90', 'sm90a' -> '9.0'; anything else unchanged."""
    match = re.fullmatch(r"sm_?(\d+)(\d)[a-z]?", text)
    return f"{match.group(1)}.{match.group(2)}" if match else text


def architecture_from(spec: GPUSpec) -> Optional[tuple[str, str, str]]:
    """``(architecture, basis, source)`` from the compute capability or an unambiguous name, or None.

    ``basis`` is short ("compute_capability 9.0"); ``source`` cites the table used."""
    given = spec.compute_capability.strip()
    capability = _cuda_capability(given.lower())
    if capability in COMPUTE_CAPABILITY_ARCHITECTURES:
        arch = COMPUTE_CAPABILITY_ARCHITECTURES[capability]
        return arch, f"compute_capability {given}", f"compute_capability {given} is {arch} ({COMPUTE_CAPABILITY_SOURCE})"
    if capability in GFX_ARCHITECTURES:
        arch = GFX_ARCHITECTURES[capability]
        return arch, f"compute_capability {given}", f"{given} is {arch} ({GFX_SOURCE})"
    if given:
        return None  # an ISA we do not know: a name must not overrule it
    families = {family for name in (spec.name, *spec.aliases) for pattern, family in NAME_ARCHITECTURES
                if re.search(pattern, normalize_gpu_name(name))}
    if len(families) == 1:
        arch = families.pop()
        return arch, f"the name {spec.name!r}", f"{spec.name!r} is a {arch} product ({NAME_SOURCE})"
    return None


# -- FP8 --------------------------------------------------------------------------------------------

#: Dense FP8 TFLOPS / dense BF16 TFLOPS, per architecture family whose every datasheet has it.
FP8_PER_BF16 = 2.0
FP8_PER_BF16_SOURCE = {
    "Hopper": "NVIDIA H100 datasheet (BF16 1,979 / FP8 3,958 TFLOPS with sparsity); H200, H20 the same ratio",
    "Ada Lovelace": "NVIDIA L40S datasheet (BF16 733 / FP8 1,466 TFLOPS with sparsity); Ada whitepaper, L4, RTX 4090 the same ratio",
    "Blackwell": "NVIDIA DGX B200 datasheet (FP8 72 PF / BF16 36 PF per 8 GPUs with sparsity); RTX PRO 6000 the same ratio",
    "Blackwell Ultra": "NVIDIA HGX B300 (FP8 4,500 / BF16 2,250 dense, aiconfigurator-core 0.12.0 b300_sxm.yaml)",
    "CDNA 3": "AMD Instinct MI300X datasheet (BF16 1,307.4 / FP8 2,614.9 dense TFLOPS)",
    "CDNA 4": "AMD Instinct MI355X datasheet (BF16 2.5 / FP8 5.0 dense PFLOPS)",
}
#: Families without FP8 tensor units: no FP8 figure is the right answer, not a gap.
NO_FP8 = {
    "Volta": "V100 datasheet", "Turing": "T4 datasheet", "Ampere": "A100 datasheet",
    "CDNA 1": "MI100 datasheet", "CDNA 2": "MI250X datasheet",
    "TPU v5e": "Google Cloud TPU v5e docs (bf16 and int8 only)", "TPU v6e": "Google Cloud TPU v6e docs (bf16 and int8 only)",
    "Xe2": "ai-dynamo/aiconfigurator systems/b60.yaml: the Arc Pro B60 has no native FP8 matrix unit "
           "(FP8 runs at the BF16 rate)",
}


# -- interconnect -----------------------------------------------------------------------------------

#: PCIe generation -> GB/s per lane per direction (8, 16, 32, 64 GT/s; 128b/130b and 1b/1b FLIT encodings).
PCIE_GB_S_PER_LANE = {3: 1.0, 4: 2.0, 5: 4.0, 6: 8.0}
PCIE_SOURCE = "PCI-SIG PCI Express Base Specification 3.0-6.0 signalling rates (8/16/32/64 GT/s per lane)"
PCIE_LANES = 16

#: Family -> (PCIe generation of its cards' host link, the datasheet that says so).
PCIE_GENERATION = {
    "Volta": (3, "NVIDIA V100 datasheet: PCIe 32 GB/s"),
    "Turing": (3, "NVIDIA T4 datasheet: PCIe Gen3 x16"),
    "Ampere": (4, "NVIDIA A100 datasheet: PCIe Gen4 64 GB/s"),
    "Ada Lovelace": (4, "NVIDIA L40S datasheet: PCIe Gen4 x16 64 GB/s bidirectional"),
    "Hopper": (5, "NVIDIA H100 datasheet: PCIe Gen5 128 GB/s"),
    "Blackwell": (5, "NVIDIA RTX PRO 6000 Blackwell datasheet: PCIe Gen5 x16 (B300 hosts use Gen6: Gen5 is the lower)"),
    "Blackwell Ultra": (5, "NVIDIA HGX B300: PCIe Gen6 to the host NICs; Gen5, the lower figure, is assumed"),
    "CDNA 2": (4, "AMD Instinct MI250X datasheet: PCIe Gen4 x16"),
    "CDNA 3": (5, "AMD Instinct MI300X datasheet: PCIe Gen5 x16 128 GB/s"),
    "CDNA 4": (5, "AMD Instinct MI355X datasheet: PCIe Gen5 x16"),
}
#: Generation assumed when the architecture is unknown: the oldest one current data-centre cards ship with.
PCIE_GENERATION_UNKNOWN = 4


def pcie_gb_s(generation: int, lanes: int = PCIE_LANES) -> float:
    """Bidirectional PCIe bandwidth, GB/s, as vendors quote it: 2 directions x lanes x GB/s per lane.

    Gen4 x16 = 2 x 16 x 2 = 64 GB/s (32 each way); Gen5 x16 = 128 GB/s (PCI-SIG rates, rounded as
    the A100 and H100 datasheets round them)."""
    return 2.0 * lanes * PCIE_GB_S_PER_LANE[generation]


def pcie_link_of(interconnect: str) -> Optional[tuple[int, int]]:
    """``(generation, lanes)`` of a 'PCIe Gen5 x16' / 'PCIe 4.0 x8' string (x16 when no lanes), or None."""
    match = re.search(r"pci[- ]?e\s*(?:gen\s*)?([3-6])(?:\.0)?(?:\s*x\s*(\d+))?", interconnect.lower())
    if not match:
        return None
    lanes = int(match.group(2)) if match.group(2) else PCIE_LANES
    return (int(match.group(1)), lanes) if lanes in (1, 2, 4, 8, 16) else None


# -- consequences of what stays missing --------------------------------------------------------------

#: Field -> what gpurec does without it (shown by ``gpurec gpu NAME`` and in warnings).
CONSEQUENCES: dict[str, str] = {
    "memory_gib": "required: no memory plan without it",
    "bandwidth_tb_s": "the roofline estimator cannot estimate this GPU (it raises an error naming the field)",
    "bf16_tflops_dense": "bf16/fp16 matmuls are timed at the fp32 `tflops` figure (non-tensor: 67 vs 989 "
                         "TFLOPS on H100); without that either, the roofline estimator refuses the GPU",
    "architecture": "the roofline estimator uses its conservative [efficiency.default] fractions "
                    "(catalogs/engines/roofline.toml), slower than every listed generation's",
    "fp8_tflops_dense": "fp8 models compute at bf16 speed and an fp8 KV cache is refused (no FP8 unit assumed)",
    "fp4_tflops_dense": "nvfp4/mxfp4 models compute at bf16 speed",
    "int8_tops_dense": "W8A8-int8 models compute at bf16 speed",
    "interconnect_gb_s": "the roofline estimator times all-reduces over its fallback link (roofline.toml "
                         "fallback_link_gb_s_per_direction, PCIe Gen4 class): tensor parallelism looks slow",
    "price_usd_per_hour": "no dated price: the cost is estimated from the bandwidth, or unknown",
}


def missing_figures(spec: GPUSpec) -> list[tuple[str, str]]:
    """``(field, consequence)`` for each figure an estimator, the memory planner or the search reads that
    ``spec`` lacks, after :func:`complete`. A chip family without a unit (Ampere's FP8) is listed too:
    the consequence is the same."""
    missing = []
    for field, consequence in CONSEQUENCES.items():
        value = spec.bf16_tflops if field == "bf16_tflops_dense" else getattr(spec, field)
        if value is None:
            missing.append((field, consequence))
    return missing


def assumed_figures(spec: GPUSpec) -> list[tuple[str, object, str]]:
    """``(field, value, assumption)`` for each figure :func:`complete` filled in."""
    return [(field, getattr(spec, field), source[len(ASSUMED):]) for field, source in spec.sources.items()
            if source.startswith(ASSUMED)]


# -- completion -----------------------------------------------------------------------------------


class _Completion:
    """The fields filled, their ``assumed:`` sources and the sentences of one :func:`complete` call."""

    def __init__(self, spec: GPUSpec) -> None:
        self.spec = spec
        self.update: dict[str, object] = {}
        self.sources: dict[str, str] = {}
        self.sentences: list[str] = []

    def assume(self, field: str, value: object, source: str, sentence: Optional[str]) -> None:
        """Fill ``field`` with ``value``, sourced ``assumed: source``; say ``sentence`` (None: said with another field)."""
        self.update[field] = value
        self.sources[field] = ASSUMED + source
        if sentence:
            self.say(sentence)

    def say(self, sentence: str) -> None:
        self.sentences.append(f"{self.spec.name}: {sentence}")


def complete(spec: GPUSpec) -> tuple[GPUSpec, list[str]]:
    """``spec`` with the figures that can be derived filled in, and one sentence per assumption.

    Pure: never overwrites a given figure; a complete spec comes back as itself with ``[]``.
    Sentences read ``"LAB_X: no interconnect given, assumed PCIe Gen5 x16, 128 GB/s ..."``; the
    full citation of each derived figure is in ``sources[field]``.
    """
    done = _Completion(spec)
    architecture = spec.architecture
    if not architecture:
        derived = architecture_from(spec)
        if derived:
            architecture, basis, source = derived
            done.assume("architecture", architecture, source, f"no architecture given, assumed {architecture} from {basis}")
        else:
            done.say("no architecture given and none follows from compute_capability or the name: "
                     f"{CONSEQUENCES['architecture']}; set architecture")
    family = architecture_family(architecture)
    if (family or "").startswith("CDNA") and "manufacturer" not in spec.model_fields_set:
        done.assume("manufacturer", "AMD", f"{family} is AMD's Instinct architecture ({GFX_SOURCE})",
                    f"no manufacturer given, assumed AMD ({family} is AMD's; not GPUSpec's default, NVIDIA)")

    if spec.fp8_tflops_dense is None and family not in NO_FP8:
        if family in FP8_PER_BF16_SOURCE and spec.bf16_tflops_dense:
            fp8 = FP8_PER_BF16 * spec.bf16_tflops_dense
            rule = f"{FP8_PER_BF16:g} x bf16_tflops_dense, the dense FP8:BF16 ratio of {family} datasheets"
            done.assume("fp8_tflops_dense", fp8, f"{rule} ({FP8_PER_BF16_SOURCE[family]})",
                        f"no fp8_tflops_dense given, assumed {fp8:g} = {rule}")
        elif family in FP8_PER_BF16_SOURCE:
            done.say(f"no fp8_tflops_dense given, and no bf16_tflops_dense to derive it from: "
                     f"{CONSEQUENCES['fp8_tflops_dense']}; set both")
        else:
            done.say(f"no fp8_tflops_dense given: {CONSEQUENCES['fp8_tflops_dense']}; set it if the chip has FP8")

    if spec.bf16_tflops is None:
        done.say(f"no bf16_tflops_dense (or fp16_tflops_dense) given: {CONSEQUENCES['bf16_tflops_dense']}")

    if spec.interconnect_gb_s is None:
        _complete_interconnect(done, family)

    if not done.sentences:
        return spec, []
    update = {**done.update, "sources": {**spec.sources, **done.sources}, "confidence": "low"}
    return spec.model_copy(update=update), done.sentences


def _complete_interconnect(done: _Completion, family: Optional[str]) -> None:
    """Fill ``interconnect_gb_s`` from a PCIe string, or both fields from the architecture's PCIe generation."""
    spec = done.spec
    if spec.interconnect:
        link = pcie_link_of(spec.interconnect)
        if link is None:
            done.say(f"interconnect {spec.interconnect!r} has no interconnect_gb_s, and its bandwidth depends on the "
                     "link count (NVLink 4 is 900 GB/s on H100 SXM, 400 on H800): "
                     f"{CONSEQUENCES['interconnect_gb_s']}; set interconnect_gb_s")
            return
        generation, lanes = link
        gb_s = pcie_gb_s(generation, lanes)
        rule = f"{lanes} lanes x {PCIE_GB_S_PER_LANE[generation]:g} GB/s x 2 directions"
        done.assume("interconnect_gb_s", gb_s, f"{spec.interconnect!r}: {rule} ({PCIE_SOURCE})",
                    f"no interconnect_gb_s given, assumed {gb_s:g} GB/s for {spec.interconnect!r} ({rule})")
        return
    generation, basis = PCIE_GENERATION.get(family or "", (PCIE_GENERATION_UNKNOWN, None))
    gb_s = pcie_gb_s(generation)
    link_name = f"PCIe Gen{generation} x{PCIE_LANES}"
    whose = f"the host link of {family} cards" if basis else "architecture unknown"
    source = (f"{link_name}, {gb_s / 2:g} GB/s per direction = {gb_s:g} GB/s bidirectional ({PCIE_SOURCE}); "
              f"{basis or 'architecture unknown: the oldest generation current data-centre cards use'}")
    faster = re.search(r"sxm|oam|superchip|mezzanine", (spec.form_factor or "").lower())
    hint = f"its form factor {spec.form_factor!r} suggests a faster link: " if faster else ""
    done.assume("interconnect", link_name, source, None)
    done.assume("interconnect_gb_s", gb_s, source,
                f"no interconnect given, assumed {link_name}, {gb_s:g} GB/s bidirectional ({whose}); {hint}"
                "set interconnect_gb_s if the GPUs are linked by NVLink or Infinity Fabric")
