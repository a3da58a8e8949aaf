"""GPUs added by users and plugins: what gpurec assumes for the figures they leave out (issue 13).

A custom GPU without ``architecture`` or ``interconnect`` used to get the roofline's default
efficiencies and its fallback link, silently: up to ~2.8x less throughput than the same figures
with them. Now :mod:`gpurec_core.gpu_assumptions` derives what can be derived, warns each
assumption once, and ``gpurec gpu NAME`` lists what was assumed and what is missing.
"""

import json
import subprocess
import sys
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpurec_core import GPUSpec, hookimpl, recommend_gpus
from gpurec_core.gpu_assumptions import (
    ASSUMED,
    COMPUTE_CAPABILITY_ARCHITECTURES,
    FP8_PER_BF16_SOURCE,
    GFX_ARCHITECTURES,
    NO_FP8,
    architecture_family,
    architecture_from,
    complete,
    missing_figures,
    pcie_gb_s,
    pcie_link_of,
)
from gpurec_core.plugins import gpu_catalog
from gpurec_toml_catalog import bundled_catalog_paths
from gpurec_toml_catalog.loader import load_catalog_file

# The H100 SXM's own figures (NVIDIA H100 datasheet: 3.35 TB/s, 989.4 dense BF16 TFLOPS; vLLM 0.19 reports
# 79.19 GiB) under another name, as a user would copy them from a datasheet: no architecture, no interconnect.
BARE = """
[[gpu]]
name = "LAB_X"
memory_gib = 79.19
bandwidth_tb_s = 3.35
bf16_tflops_dense = 989.4
compute_capability = "9.0"
"""
# The same GPU with the values gpurec assumes for LAB_X written out.
EXPLICIT = """
[[gpu]]
name = "LAB_Y"
memory_gib = 79.19
bandwidth_tb_s = 3.35
bf16_tflops_dense = 989.4
fp8_tflops_dense = 1978.8
compute_capability = "9.0"
architecture = "Hopper"
interconnect = "PCIe Gen5 x16"
interconnect_gb_s = 128
"""


def bundled_specs() -> list[GPUSpec]:
    """The bundled catalog files as read, before the catalog completes anything."""
    return [spec for path in bundled_catalog_paths() for spec in load_catalog_file(path, require_sources=True)]


@pytest.fixture
def lab_catalog(tmp_path, monkeypatch):
    (tmp_path / "bare.toml").write_text(BARE)
    (tmp_path / "explicit.toml").write_text(EXPLICIT)
    monkeypatch.setenv("GPUREC_GPU_CATALOG", f"{tmp_path / 'bare.toml'},{tmp_path / 'explicit.toml'}")
    return tmp_path


def catalog_warnings() -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gpu_catalog()
    return [str(w.message) for w in caught]


# -- the bundled catalog is complete ------------------------------------------------------------------

def test_bundled_gpus_come_out_unchanged():
    specs = bundled_specs()
    assert len(specs) >= 30
    for spec in specs:
        assert complete(spec) == (spec, []), spec.name


def test_bundled_gpus_in_the_catalog_carry_no_assumption():
    for spec in gpu_catalog().specs:
        if spec.provided_by == "toml-catalog":
            assert not any(s.startswith(ASSUMED) for s in spec.sources.values()), spec.name


# -- a custom GPU without architecture or interconnect ---------------------------------------------

def test_custom_gpu_gets_the_assumptions_warned_once(lab_catalog):
    messages = catalog_warnings()
    lab = [m for m in messages if m.startswith("LAB_X:")]
    assert len(lab) == len(set(lab)) == 3, messages
    assert any("assumed Hopper from compute_capability 9.0" in m for m in lab)
    assert any("assumed PCIe Gen5 x16, 128 GB/s" in m for m in lab)
    assert any("assumed 1978.8 = 2 x bf16_tflops_dense" in m for m in lab)
    assert not [m for m in messages if m.startswith("LAB_Y:")]  # complete: nothing to say
    assert catalog_warnings() == []  # the catalog is built once: no second round

    spec = gpu_catalog().get("LAB_X")
    assert (spec.architecture, spec.interconnect, spec.interconnect_gb_s) == ("Hopper", "PCIe Gen5 x16", 128)
    assert spec.fp8_tflops_dense == pytest.approx(1978.8) and spec.supports_fp8
    assert spec.confidence == "low"
    assert spec.sources["architecture"].startswith(ASSUMED)
    assert spec.sources["bandwidth_tb_s"].startswith("user catalog")  # given figures keep their source
    explicit = gpu_catalog().get("LAB_Y")
    assert explicit.confidence == "medium" and not any(s.startswith(ASSUMED) for s in explicit.sources.values())


def test_custom_gpu_runs_as_fast_as_the_same_figures_given_explicitly(lab_catalog):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = recommend_gpus("Qwen/Qwen3-8B", batch_size=64, max_tensor_parallel=2, gpus=["LAB_X", "LAB_Y", "H100"])
    speed = {(r.recommendation.gpu_spec.name, r.recommendation.tensor_parallel_size):
             r.performance.throughput_tokens_per_sec for r in result}
    for tp in (1, 2):
        assert speed["LAB_X", tp] == pytest.approx(speed["LAB_Y", tp], rel=1e-9)
    # One GPU needs no link: with the H100's own datasheet figures LAB_X is an H100 (before: ~20% slower).
    assert speed["LAB_X", 1] == pytest.approx(speed["H100", 1], rel=1e-9)
    # Two need one: the assumed PCIe Gen5 is slower than the H100's NVLink 4, and the warning says so.
    assert speed["LAB_X", 2] < speed["H100", 2]


def run_cli(*args, env):
    import os

    return subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True,
                          env={**os.environ, "GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1", **env})


def test_gpu_command_lists_assumed_and_missing(lab_catalog):
    env = {"GPUREC_GPU_CATALOG": str(lab_catalog / "bare.toml"), "COLUMNS": "200"}
    result = run_cli("gpu", "LAB_X", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {a["field"] for a in data["assumed"]} == {"architecture", "fp8_tflops_dense", "interconnect",
                                                     "interconnect_gb_s"}
    assert all(a["assumption"] for a in data["assumed"])
    assert {m["field"] for m in data["missing"]} == {"fp4_tflops_dense", "int8_tops_dense", "price_usd_per_hour"}
    assert result.stderr.count("gpurec: warning: LAB_X: no architecture given, assumed Hopper") == 1
    table = run_cli("gpu", "LAB_X", env=env)
    assert "assumed by gpurec" in table.stdout and "missing" in table.stdout and "PCIe Gen5 x16" in table.stdout


def test_gpu_command_on_a_bundled_gpu_assumes_nothing():
    data = json.loads(run_cli("gpu", "A100", "--json", env={}).stdout)
    assert data["assumed"] == []
    # The A100 has no FP8 unit (A100 datasheet): missing, and the consequence says what follows.
    assert "fp8_tflops_dense" in {m["field"] for m in data["missing"]}


def test_a_plugins_gpu_is_completed_too(register_plugin):
    class Lab:
        @hookimpl
        def provide_gpu_specs(self):
            return [GPUSpec(name="LAB_P", memory_gib=96, bandwidth_tb_s=4.0, bf16_tflops_dense=1307.4,
                            compute_capability="gfx942", manufacturer="AMD")]

    register_plugin(Lab(), "lab-plugin")
    messages = catalog_warnings()
    spec = gpu_catalog().get("LAB_P")
    assert spec.architecture == "CDNA 3" and spec.interconnect_gb_s == 128
    assert spec.fp8_tflops_dense == pytest.approx(2614.8)  # MI300X datasheet: 2,614.9 dense FP8
    assert spec.provided_by == "lab-plugin"
    assert sum(m.startswith("LAB_P:") for m in messages) == 3


# -- what is derived, and from what ----------------------------------------------------------------

def test_compute_capability_table_agrees_with_the_bundled_catalog():
    # Every bundled GPU's compute_capability maps to its own architecture (CUDA Programming Guide; LLVM AMDGPU).
    checked = 0
    for spec in bundled_specs():
        table = {**COMPUTE_CAPABILITY_ARCHITECTURES, **GFX_ARCHITECTURES}
        if spec.compute_capability in table:
            assert architecture_family(table[spec.compute_capability]) == architecture_family(spec.architecture), spec.name
            checked += 1
    assert checked >= 30


def test_product_names_never_contradict_the_bundled_architecture():
    for spec in bundled_specs():
        bare = spec.model_copy(update={"architecture": None, "compute_capability": ""})
        derived = architecture_from(bare)
        if derived is not None:
            assert architecture_family(derived[0]) == architecture_family(spec.architecture), spec.name
    assert architecture_from(GPUSpec(name="H800", memory_gib=79))[0] == "Hopper"
    assert architecture_from(GPUSpec(name="LAB_CARD", memory_gib=96)) is None


def test_fp8_is_twice_bf16_on_every_bundled_gpu_of_the_fp8_families():
    # NVIDIA H100 datasheet 1,979 / 3,958 (sparse); L40S 733 / 1,466 (sparse); DGX B200 36 / 72 PF per 8 GPUs
    # (sparse); AMD MI300X 1,307.4 / 2,614.9 dense; MI355X 2.5 / 5.0 PF dense. L40S rounds to 2.025.
    checked = 0
    for spec in bundled_specs():
        if architecture_family(spec.architecture) in FP8_PER_BF16_SOURCE:
            assert spec.fp8_tflops_dense / spec.bf16_tflops_dense == pytest.approx(2.0, rel=0.015), spec.name
            checked += 1
        if architecture_family(spec.architecture) in NO_FP8:
            assert spec.fp8_tflops_dense is None, spec.name
    assert checked >= 20


def test_pcie_figures_follow_the_pci_sig_rates():
    # PCI-SIG: 8 / 16 / 32 GT/s per lane; vendors quote x16 bidirectional: V100 datasheet "PCIe 32 GB/s",
    # A100 "PCIe Gen4 64 GB/s", H100 "PCIe Gen5 128 GB/s".
    assert (pcie_gb_s(3), pcie_gb_s(4), pcie_gb_s(5)) == (32, 64, 128)
    assert pcie_link_of("PCIe 4.0 x8") == (4, 8) and pcie_link_of("NVLink 4") is None
    for spec in bundled_specs():  # every bundled PCIe card's figure is what its link string gives
        if spec.interconnect and spec.interconnect.startswith("PCIe"):
            assert pcie_gb_s(*pcie_link_of(spec.interconnect)) == spec.interconnect_gb_s, spec.name


def test_what_cannot_be_derived_is_said_not_guessed():
    spec, sentences = complete(GPUSpec(name="LAB_CARD", memory_gib=96, bandwidth_tb_s=5.0, bf16_tflops_dense=1000,
                                       interconnect="NVLink 4"))
    assert spec.architecture is None and spec.fp8_tflops_dense is None and spec.interconnect_gb_s is None
    text = " ".join(sentences)
    assert "set architecture" in text and "fp8 KV cache is refused" in text and "set interconnect_gb_s" in text
    assert spec.confidence == "low"
    assert {field for field, _ in missing_figures(spec)} >= {"architecture", "fp8_tflops_dense", "interconnect_gb_s"}
    # Ampere has no FP8 unit (A100 datasheet): nothing to say about it.
    _, ampere = complete(GPUSpec(name="LAB_A", memory_gib=40, bf16_tflops_dense=312, compute_capability="8.0",
                                 interconnect_gb_s=64))
    assert ampere == ["LAB_A: no architecture given, assumed Ampere from compute_capability 8.0"]


H100_FIGURES = {"architecture": "Ampere", "compute_capability": "9.0", "fp8_tflops_dense": 1000.0,
                "interconnect": "NVLink 4", "interconnect_gb_s": 900.0, "bf16_tflops_dense": 989.4,
                "confidence": "high"}


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from(sorted(H100_FIGURES))))
def test_a_given_figure_is_never_overwritten(fields):
    spec = GPUSpec(name="LAB_H", memory_gib=79.19, **{f: H100_FIGURES[f] for f in fields})
    completed, sentences = complete(spec)
    for field in fields - {"confidence"}:
        assert getattr(completed, field) == H100_FIGURES[field]
    assert complete(completed)[0] == completed  # a second pass adds nothing
    if not sentences:
        assert completed is spec


def test_many_incomplete_gpus_do_not_flood_the_terminal(tmp_path, monkeypatch):
    from gpurec_core.gpu_catalog import GPUS_WARNED_BY_NAME

    entries = [f'[[gpu]]\nname = "CARD_{i}"\nmemory_gib = 80\ncompute_capability = "8.0"\ninterconnect_gb_s = 64\n'
               for i in range(GPUS_WARNED_BY_NAME + 5)]
    (tmp_path / "many.toml").write_text("\n".join(entries))
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(tmp_path / "many.toml"))
    messages = catalog_warnings()
    # Each CARD_i: Ampere from 8.0, and no bf16 figure (two sentences); then one line counts the other five.
    assert len(messages) == 2 * GPUS_WARNED_BY_NAME + 1
    assert messages[-1].startswith("5 more GPUs have figures gpurec assumed or lacks")
    assert gpu_catalog().get("CARD_24").architecture == "Ampere"  # completed all the same
