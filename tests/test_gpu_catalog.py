"""The bundled GPU catalog and user TOML catalogs (figures checked against vendor datasheets)."""

from pathlib import Path

import pytest

from gpurec_core import get_gpu_spec, list_available_gpus
from gpurec_core.errors import CatalogError, GPUNotFoundError
from gpurec_core.plugins import gpu_catalog

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"
SEED_NAMES = ["A100", "A100_40GB", "B100", "B200", "H100", "H200", "L20", "L40", "L40S", "V100"]


def test_seed_names_all_present():
    names = list_available_gpus()
    for name in SEED_NAMES:
        assert name in names


def test_catalog_size_and_vendors():
    specs = gpu_catalog().specs
    assert len(specs) >= 30
    assert {"NVIDIA", "AMD", "Intel"} <= {s.manufacturer for s in specs}


def test_every_figure_has_a_source():
    from gpurec_toml_catalog.loader import _NUMERIC_FIELDS

    for spec in gpu_catalog().specs:
        for field in _NUMERIC_FIELDS:
            if getattr(spec, field) is not None:
                assert spec.sources.get(field), f"{spec.name}.{field} has no source"


def test_h100_datasheet_figures():
    # NVIDIA H100 SXM datasheet: 3.35 TB/s HBM3, 989 dense BF16 TFLOPS (1,979 with sparsity), NVLink 900 GB/s;
    # vLLM 0.19.0 start-up logs on H100 80GB report 79.19 GiB total.
    h100 = get_gpu_spec("H100")
    assert h100.memory_gb == pytest.approx(79.19)
    assert h100.bandwidth_tb_s == pytest.approx(3.35)
    assert h100.bf16_tflops_dense == pytest.approx(989.4, rel=0.01)
    assert h100.interconnect_gb_s == 900


def test_a100_is_80gb_sxm_and_a100_40gb_exists():
    # NVIDIA A100 datasheet: 80GB SXM 2,039 GB/s; 40GB SXM 1,555 GB/s.
    assert get_gpu_spec("A100").bandwidth_tb_s == pytest.approx(2.039)
    assert get_gpu_spec("A100_40GB").bandwidth_tb_s == pytest.approx(1.555)


def test_no_fp8_on_ampere():
    assert get_gpu_spec("A100").fp8_tflops_dense is None
    assert not get_gpu_spec("A100").supports_fp8


@pytest.mark.parametrize("alias", ["h100_sxm", "H100-80GB", "nvidia-h100", "h100"])
def test_aliases_case_insensitive(alias):
    assert get_gpu_spec(alias).name == "H100"


@pytest.mark.parametrize("written, name", [("MI300X OAM", "MI300X"), ("MI325X OAM", "MI325X"), ("mi355x-oam", "MI355X"),
                                           ("AMD Instinct MI355X", "MI355X")])
def test_amd_instinct_names_with_their_oam_form_factor(written, name):
    """AMD sells the MI300X, MI325X and MI355X as OAM modules (each entry's form_factor): the name with it finds them."""
    assert get_gpu_spec(written).name == name


@pytest.mark.parametrize("runner, name", [("b200-multinode", "B200"), ("h200-dgxc", "H200"), ("cluster:gb300-nv", "GB300"),
                                          ("mi355x-amds", "MI355X"), ("cluster:mi325x-tw", "MI325X"), ("h100-cw", "H100"),
                                          ("rtx6000pro-lat", "RTX_PRO_6000")])
def test_a_benchmark_campaigns_machine_name_finds_its_gpu(runner, name):
    """SemiAnalysis InferenceX names its runners by GPU and site (configs/nvidia-master.yaml, amd-master.yaml)."""
    assert get_gpu_spec(runner).name == name


@pytest.mark.parametrize("written, name", [("H200-SXM5-141GB", "H200"), ("B200-SXM6-180GB", "B200"), ("A100-80G", "A100"),
                                           ("8xH100", "H100"), ("H100x8", "H100"), ("8 x H200", "H200"),
                                           ("2xMI300X", "MI300X"), ("H100-94G", "H100_NVL")])
def test_spellings_no_alias_lists_find_the_gpu(written, name):
    """A GPU count in the name is the deployment's; SXM5/SXM6 is the entry's SXM form (HGX H200 and B200 boards
    are SXM5/SXM6 modules); a memory size in G is GB."""
    assert get_gpu_spec(written).name == name


@pytest.mark.parametrize("written", ["A100-PCIE-40GB", "H100-94G-pcie", "8xH100-pcie-40g"])
def test_loose_spellings_keep_every_other_qualifier(written):
    """No A100 PCIe 40GB is in the catalog: it is refused, never read as the 80GB PCIe or the 40GB SXM part."""
    with pytest.raises(GPUNotFoundError, match="unknown GPU"):
        get_gpu_spec(written)


@pytest.mark.parametrize("written", ["H100-foo-pcie", "H100-site-94gb", "B200-lab-hbm3e"])
def test_a_hardware_qualifier_is_never_dropped_as_a_site_tag(written):
    """H100 PCIe and H100 NVL (94 GB) are other GPUs than the H100 SXM: a name that ends in a qualifier gpurec does
    not know is refused, with near names, rather than read as the SXM part."""
    with pytest.raises(GPUNotFoundError, match="unknown GPU"):
        get_gpu_spec(written)


@pytest.mark.parametrize("system, name", [("h100_sxm", "H100"), ("h200_sxm", "H200"), ("b200_sxm", "B200"),
                                           ("b300_sxm", "B300"), ("gb200", "GB200"), ("gb300", "GB300"),
                                           ("a100_sxm", "A100"), ("l40s", "L40S"),
                                           ("rtx_pro_6000_server", "RTX_PRO_6000")])
def test_aiconfigurator_system_names_find_the_gpu(system, name):
    """aiconfigurator-core's systems/<name>.yaml and its silicon data name GPUs this way."""
    assert get_gpu_spec(system).name == name


def test_mi300x_by_lower_case():
    # AMD Instinct MI300X: 192 GB HBM3, 5.3 TB/s.
    spec = get_gpu_spec("mi300x")
    assert spec.manufacturer == "AMD"
    assert spec.bandwidth_tb_s == pytest.approx(5.3)


def test_unknown_gpu_suggests():
    with pytest.raises(GPUNotFoundError, match="H100"):
        get_gpu_spec("H1000")


def test_user_catalog_adds_gpu(monkeypatch):
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(FIXTURES / "custom_gpu.toml"))
    assert get_gpu_spec("lab-card-96").name == "LAB_CARD"
    assert "LAB_CARD" in list_available_gpus()


def test_user_catalog_override_is_reported(monkeypatch):
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(FIXTURES / "override_h100.toml"))
    with pytest.warns(UserWarning, match="H100.*overridden"):
        spec = get_gpu_spec("H100")
    assert spec.memory_gb == 79.0
    assert "overrides H100" in spec.notes


def test_schema_error_names_file_entry_field(monkeypatch):
    path = FIXTURES / "bad_type.toml"
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(path))
    with pytest.raises(CatalogError) as info:
        list_available_gpus()
    message = str(info.value)
    assert str(path) in message and "BROKEN" in message and "memory_gib" in message


def test_invalid_toml_is_catalog_error(monkeypatch):
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(FIXTURES / "not_toml.toml"))
    with pytest.raises(CatalogError, match="not valid TOML"):
        list_available_gpus()


def test_missing_user_file(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUREC_GPU_CATALOG", str(tmp_path / "nope.toml"))
    with pytest.raises(CatalogError, match="does not exist"):
        list_available_gpus()


def test_several_user_files(monkeypatch):
    import os

    monkeypatch.setenv("GPUREC_GPU_CATALOG", os.pathsep.join([str(FIXTURES / "custom_gpu.toml"), str(FIXTURES / "override_h100.toml")]))
    with pytest.warns(UserWarning):
        names = list_available_gpus()
    assert "LAB_CARD" in names


@pytest.mark.parametrize("name, bf16, bandwidth, marketed", [
    # Google Cloud TPU docs (v5e, v6e pages), as ../shared/data/gpus/gpu_specs.csv quotes them
    ("TPU v5e", 197, 0.819, 16),
    ("Trillium", 918, 1.638, 32),
])
def test_tpus_are_in_the_catalog_with_their_published_figures(name, bf16, bandwidth, marketed):
    import warnings

    from gpurec_core.api import as_gpu

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FP8 unit is a known fact of the generation, not a gap to warn about
        spec = as_gpu(name)
    assert (spec.bf16_tflops_dense, spec.bandwidth_tb_s, spec.memory_marketing_gb) == (bf16, bandwidth, marketed)
    assert spec.manufacturer == "Google" and spec.fp8_tflops_dense is None


@pytest.mark.parametrize("written, name, bandwidth, bf16", [
    # ai-dynamo/aiconfigurator systems/a30.yaml: 933 GB/s, 165 dense BF16 TFLOPS
    ("NVIDIA A30", "A30", 0.933, 165),
    # NVIDIA A40 datasheet: 696 GB/s; BF16 with FP32 accumulate 149.7 (299.4 with sparsity)
    ("A40", "A40", 0.696, 149.7),
    # A800: the A100 80GB SXM's 2,039 GB/s and 312 BF16 with NVLink cut to 400 GB/s (nvidia-smi name A800-SXM4-80GB)
    ("A800-SXM4-80GB", "A800", 2.039, 312),
    # NVIDIA RTX Blackwell whitepaper: RTX 5090 1,792 GB/s, BF16 with FP32 accumulate 209.5 dense
    ("GeForce RTX 5090", "RTX_5090", 1.792, 209.5),
    # NVIDIA DGX Spark: 273 GB/s LPDDR5x; BF16 derived from its 1 PFLOP sparse FP4 (500 dense / 4)
    ("DGX Spark", "GB10", 0.273, 125),
    # Intel's vLLM blog (vllm.ai/blog/2025-11-11-intel-arc-pro-b): 456 GB/s; aiconfigurator b60.yaml 98.3 BF16
    ("Intel Arc Pro B60", "ARC_PRO_B60", 0.456, 98.3),
    # AMD CDNA 3 whitepaper, Table 2: MI300A 5.3 TB/s, 980.6 dense BF16 (1,961.2 with sparsity)
    ("Instinct MI300A", "MI300A", 5.3, 980.6),
])
def test_workstation_consumer_and_edge_parts_with_their_published_figures(written, name, bandwidth, bf16):
    import warnings

    from gpurec_core.api import as_gpu

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every figure an estimate needs is given or known absent: nothing assumed
        spec = as_gpu(written)
    assert (spec.name, spec.bandwidth_tb_s, spec.bf16_tflops_dense) == (name, bandwidth, bf16)


def test_mi300x_fp32_is_its_vector_figure_not_fp64():
    # ROCm docs, MI300 microarchitecture, 'Peak-performance capabilities of the MI300X': Vector FP32 163.4 TFLOPS
    # (256 FLOPS/clock/CU), Vector FP64 81.7.
    assert get_gpu_spec("MI300X").tflops == pytest.approx(163.4)
    assert get_gpu_spec("MI325X").tflops == pytest.approx(163.4)


def test_blackwell_workstation_and_edge_parts_take_the_rtx_pro_6000s_kernel_rates():
    from gpurec_roofline.constants import load_constants

    constants = load_constants()
    # compute capability 12.x (developer.nvidia.com/cuda-gpus): the RTX PRO 6000's tensor cores, not the B200's 10.0
    for name in ("RTX_5090", "RTX_5080", "GB10"):
        assert constants.generation_of(get_gpu_spec(name)) == constants.generation_of(get_gpu_spec("RTX_PRO_6000"))
    assert constants.generation_of(get_gpu_spec("B200")) != constants.generation_of(get_gpu_spec("RTX_5090"))


def test_arc_pro_b60_runs_at_its_own_measured_kernel_rates_within_its_datasheet():
    from gpurec_roofline.constants import load_constants

    efficiency = load_constants().efficiency_for(get_gpu_spec("ARC_PRO_B60"))
    assert "bandwidth_efficiency" in efficiency.derived and "kv_read_ratio" in efficiency.derived
    # aiconfigurator's vLLM 0.20.0 tables of the B60 read a decode step's KV cache at 0.93 of its 456 GB/s, more
    # than the H100's 0.81: scaled from Hopper's fitted share that would pass the datasheet, so it stops there.
    assert max(efficiency.read_shares().values()) <= 1.0
