"""Every recorded tool output in tests/fixtures, through the pure parser that reads it.

The expectations were read off each file by eye; SOURCES.md beside the files says where each came from.
"""

import filecmp
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, fixture_text
from torchup.installer.detect import amd, intel, machine, nvidia

# file -> (driver, tool version, CUDA field as printed, CUDA version parsed, GPU count, first GPU name, MIG devices)
SMI_TABLES = {
    "collected/nvidia-smi-396.24-no-cuda-version-PARTIAL.txt": ("396.24", "396.24", None, None, 1, "GeForce GTX 1070", 0),
    "collected/nvidia-smi-418.56-gtx1050-cuda10.1-PARTIAL.txt": ("418.56", "418.56", "10.1", "10.1", 1, "GeForce GTX 105...", 0),
    "collected/nvidia-smi-440.100-rtx2070-no-mig-row.txt": ("440.100", "440.100", "10.2", "10.2", 1, "GeForce RTX 207...", 0),
    "collected/nvidia-smi-450.66-driver-418.67-mismatch-PARTIAL.txt": ("418.67", "450.66", "10.1", "10.1", 1, "Tesla T4", 0),
    "collected/nvidia-smi-470.63.01-legacy-layout.txt": ("470.63.01", "470.63.01", "11.4", "11.4", 1, "NVIDIA GeForce ...", 0),
    "collected/nvidia-smi-520.61.05-rtx-a2000-legacy-layout.txt": ("520.61.05", "520.61.05", "11.8", "11.8", 1, "NVIDIA RTX A200...", 0),
    "collected/nvidia-smi-525.147.05-rtx-a2000-legacy-layout.txt": ("525.147.05", "525.147.05", "12.0", "12.0", 1, "NVIDIA RTX A200...", 0),
    "collected/nvidia-smi-535.161.07-gtx1050ti-89col-layout.txt": ("535.161.07", "535.161.07", "12.2", "12.2", 1, "NVIDIA GeForce GTX 1050 Ti", 0),
    "collected/nvidia-smi-550.120-rtx2000ada-two-part-version.txt": ("550.120", "550.120", "12.4", "12.4", 1, "NVIDIA RTX 2000 Ada Gene...", 0),
    "collected/nvidia-smi-550.127.05-gh200-aarch64.txt": ("550.127.05", "550.127.05", "12.4", "12.4", 1, "NVIDIA GH200 480GB", 0),
    "collected/nvidia-smi-550.127.05-v100-x8-multigpu.txt": ("550.127.05", "550.127.05", "12.4", "12.4", 8, "Tesla V100-SXM2-16GB", 0),
    "collected/nvidia-smi-550.54.10-cuda-version-na-vgpu-host-PARTIAL.txt": ("550.54.10", "550.54.10", "N/A", None, 1, "NVIDIA GeForce GTX 1660", 0),
    "collected/nvidia-smi-555.42.02-a100-sxm-x4.txt": ("555.42.02", "555.42.02", "12.5", "12.5", 4, "NVIDIA A100-SXM4-80GB", 0),
    "collected/nvidia-smi-560.35.03-rtx3090-x2.txt": ("560.35.03", "560.35.03", "12.6", "12.6", 2, "NVIDIA GeForce RTX 3090", 0),
    "collected/nvidia-smi-565.57.01-h100-sxm-x8.txt": ("565.57.01", "565.57.01", "12.7", "12.7", 8, "NVIDIA H100 80GB HBM3", 0),
    "collected/nvidia-smi-570.124.06-rtx5090.txt": ("570.124.06", "570.124.06", "12.8", "12.8", 1, "NVIDIA GeForce RTX 5090", 0),
    "collected/nvidia-smi-580.82.09-gtx960-580-layout.txt": ("580.82.09", "580.82.09", "13.0", "13.0", 1, "NVIDIA GeForce GTX 960", 0),
    "collected/nvidia-smi-580.95.05-rtx2000ada-580-layout.txt": ("580.95.05", "580.95.05", "13.0", "13.0", 1, "NVIDIA RTX 2000 Ada Gene...", 0),
    "collected/nvidia-smi-590.48.01-h100-mig-enabled.txt": ("590.48.01", "590.48.01", "13.1", "13.1", 1, "NVIDIA H100 80GB HBM3", 4),
    "collected/nvidia-smi-610.57.04-kmd-version-header.txt": ("610.57.04", "610.57.04", "13.3", "13.3", 1, "NVIDIA GeForce RTX 2080 ...", 0),
    "collected/nvidia-smi-jetson-orin-540.4.0-PARTIAL.txt": ("540.4.0", "540.4.0", "12.6", "12.6", 1, "Orin (nvgpu)", 0),
    "collected/nvidia-smi-windows-591.86-wddm.txt": ("591.86", "591.86", "13.1", "13.1", 1, "NVIDIA GeForce RTX 2080 ...", 0),
    "collected/nvidia-smi-wsl2-545.29.04-driver-546.17.txt": ("546.17", "545.29.04", "12.3", "12.3", 1, "NVIDIA GeForce RTX 3070 Ti", 0),
    "collected/nvidia-smi-wsl2-546.80-cuda-version-err-PARTIAL.txt": ("546.80", "545.46", "ERR!", None, 1, "NVIDIA GeForce RTX 3060 ...", 0),
    "nvidia-h100-driver-580/nvidia-smi.txt": ("580.159.04", "580.159.04", "13.0", "13.0", 1, "NVIDIA H100 80GB HBM3", 0),
}


@pytest.mark.parametrize("name", sorted(SMI_TABLES))
def test_smi_table(name):
    driver, tool, cuda_field, cuda, count, first, mig = SMI_TABLES[name]
    table = nvidia.parse_smi_table(fixture_text(name))
    assert (table.driver_version, table.tool_version, table.cuda_field, table.cuda_version) == (driver, tool, cuda_field, cuda)
    assert len(table.gpus) == count
    assert table.gpus[0].name == first
    assert [gpu.index for gpu in table.gpus] == list(range(count))
    assert table.mig_devices == mig


def test_smi_table_reads_memory_of_every_gpu():
    table = nvidia.parse_smi_table(fixture_text("collected/nvidia-smi-550.127.05-v100-x8-multigpu.txt"))
    assert {gpu.memory_mib for gpu in table.gpus} == {16384}
    jetson = nvidia.parse_smi_table(fixture_text("collected/nvidia-smi-jetson-orin-540.4.0-PARTIAL.txt"))
    assert jetson.gpus[0].memory_mib is None  # "Not Supported" on Jetson


# file -> (kind, first line of the message)
SMI_ERRORS = {
    "collected/nvidia-smi-err-compute_cap-not-valid-field.txt": "query_field_unsupported",
    "collected/nvidia-smi-err-couldnt-communicate-driver-not-loaded.txt": "driver_not_loaded",
    "collected/nvidia-smi-err-driver-library-mismatch-570.124.txt": "driver_library_mismatch",
    "collected/nvidia-smi-err-driver-library-mismatch-580.178.txt": "driver_library_mismatch",
    "collected/nvidia-smi-err-no-devices-were-found.txt": "no_devices",
    "collected/nvidia-smi-err-nvml-unknown-error-container.txt": "nvml_unknown_error",
}


@pytest.mark.parametrize("name", sorted(SMI_ERRORS))
def test_smi_errors(name):
    text = fixture_text(name)
    error = nvidia.parse_smi_error(text)
    assert error.kind == SMI_ERRORS[name]
    assert error.message == text.strip().splitlines()[0].strip()
    assert nvidia.parse_smi_table(text) is None


def test_table_is_no_error():
    assert nvidia.parse_smi_error(fixture_text("nvidia-h100-driver-580/nvidia-smi.txt")) is None


QUERIES = {
    "collected/nvidia-smi-query-gpu-compute_cap-570.86.15-2gpu.csv": [
        nvidia.NvidiaGpu(0, "NVIDIA TITAN V", "7.0"),
        nvidia.NvidiaGpu(1, "NVIDIA RTX 5880 Ada Generation", "8.9"),
    ],
    "nvidia-h100-driver-580/nvidia-smi-query-gpu.csv": [
        nvidia.NvidiaGpu(0, "NVIDIA H100 80GB HBM3", "9.0", 81559, "GPU-8be06dda-c9f4-d5c6-8fd7-749beafc1536"),
    ],
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_smi_query(name):
    assert nvidia.parse_smi_query(fixture_text(name)) == QUERIES[name]


def test_smi_query_without_units_or_header_noise():
    text = "index, name, compute_cap, memory.total [MiB]\n0, NVIDIA A100-SXM4-80GB, 8.0, 81920\n1, NVIDIA A100-SXM4-80GB, [N/A], 81920\n"
    gpus = nvidia.parse_smi_query(text)
    assert [(g.compute_capability, g.memory_mib) for g in gpus] == [("8.0", 81920), (None, 81920)]


LISTS = {
    "collected/nvidia-smi-L-590.48.01-h100-mig.txt": (["NVIDIA H100 80GB HBM3"], 4),
    "nvidia-h100-driver-580/nvidia-smi-L.txt": (["NVIDIA H100 80GB HBM3"], 0),
}


@pytest.mark.parametrize("name", sorted(LISTS))
def test_smi_list(name):
    gpus, mig = nvidia.parse_smi_list(fixture_text(name))
    assert ([gpu.name for gpu in gpus], mig) == LISTS[name]
    assert all(gpu.uuid.startswith("GPU-") for gpu in gpus)


VERSIONS = {
    "collected/nvidia-smi-version-590.48.01.txt": ("590.48.01", "13.1"),
    "collected/nvidia-smi-version-610.57.04-kmd.txt": ("610.57.04", "13.3"),
    "nvidia-h100-driver-580/nvidia-smi-q.txt": ("580.159.04", "13.0"),
}


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_smi_key_value_versions(name):
    assert tuple(nvidia.parse_smi_versions(fixture_text(name))) == VERSIONS[name]


PROC_VERSIONS = {
    "collected/proc-driver-nvidia-version-375.74-proprietary.txt": ("375.74", "proprietary", "x86_64"),
    "collected/proc-driver-nvidia-version-384.98-proprietary.txt": ("384.98", "proprietary", "x86_64"),
    "collected/proc-driver-nvidia-version-460.39-proprietary.txt": ("460.39", "proprietary", "x86_64"),
    "collected/proc-driver-nvidia-version-525.60.11-open-archlinux.txt": ("525.60.11", "open", "x86_64"),
    "collected/proc-driver-nvidia-version-550.120-proprietary-aarch64.txt": ("550.120", "proprietary", "aarch64"),
    "collected/proc-driver-nvidia-version-550.144.03-open-aarch64.txt": ("550.144.03", "open", "aarch64"),
    "collected/proc-driver-nvidia-version-550.144.03-open-x86_64.txt": ("550.144.03", "open", "x86_64"),
    "collected/proc-driver-nvidia-version-555.58-open-localized-date.txt": ("555.58", "open", "x86_64"),
    "collected/proc-driver-nvidia-version-565.57.01-open-x86_64.txt": ("565.57.01", "open", "x86_64"),
    "collected/proc-driver-nvidia-version-580.173.02-proprietary-mismatched.txt": ("580.173.02", "proprietary", "x86_64"),
    "collected/proc-driver-nvidia-version-jetson-r35.3.1-open-aarch64.txt": ("35.3.1", "open", "aarch64"),
    "nvidia-h100-driver-580/proc-driver-nvidia-version.txt": ("580.159.04", "open", "x86_64"),
}


@pytest.mark.parametrize("name", sorted(PROC_VERSIONS))
def test_proc_driver_version(name):
    assert tuple(nvidia.parse_proc_driver_version(fixture_text(name))) == PROC_VERSIONS[name]


def test_sys_module_version():
    assert nvidia.parse_sys_module_version(fixture_text("nvidia-h100-driver-580/sys-module-nvidia-version.txt")) == "580.159.04"
    assert nvidia.parse_sys_module_version("not a version\n") is None


TEGRA = {
    "collected/nv_tegra_release-r32.5.1-tx2.txt": ("32.5.1", "t186ref"),
    "collected/nv_tegra_release-r32.6.1-jetpack4.txt": ("32.6.1", "t186ref"),
    "collected/nv_tegra_release-r35.4.1-jetpack5.txt": ("35.4.1", "t186ref"),
    "collected/nv_tegra_release-r36.4.0-jetpack6.txt": ("36.4.0", "generic"),
}


@pytest.mark.parametrize("name", sorted(TEGRA))
def test_tegra_release(name):
    assert tuple(nvidia.parse_tegra_release(fixture_text(name))) == TEGRA[name]


def test_nvcc_version():
    assert nvidia.parse_nvcc_version(fixture_text("nvidia-h100-driver-580/nvcc-version.txt")) == "13.0"


def test_cuda_driver_api_version_matches_the_h100_capture():
    # torch-cuda-facts.txt recorded cuDriverGetVersion 13000 on the machine whose nvidia-smi says CUDA 13.0.
    facts = fixture_text("nvidia-h100-driver-580/torch-cuda-facts.txt")
    recorded = next(line.split()[1] for line in facts.splitlines() if line.startswith("cuDriverGetVersion"))
    assert nvidia.parse_cuda_driver_api_version(f"0 {recorded}") == "13.0"
    assert nvidia.parse_cuda_driver_api_version("0 12040") == "12.4"
    assert nvidia.parse_cuda_driver_api_version("100 0") is None  # CUDA_ERROR_NO_DEVICE


def test_rocm_agent_enumerator():
    assert amd.parse_rocm_agent_enumerator(fixture_text("collected/rocm_agent_enumerator-legacy-gfx000.txt")) == ["gfx803", "gfx902"]
    assert amd.parse_rocm_agent_enumerator(fixture_text("collected/rocm_agent_enumerator-mi300x-x8.txt")) == ["gfx942"] * 8


def test_rocminfo():
    assert amd.parse_rocminfo(fixture_text("collected/rocminfo-mi300x-x4-gfx942.txt")) == ["gfx942"] * 4


def test_amd_smi_version():
    assert amd.parse_amd_smi_version(fixture_text("collected/amd-smi-version-rocm-6.1.0.txt")) == "6.1.0"
    assert amd.parse_amd_smi_version(fixture_text("collected/amd-smi-version-with-amdgpu-6.10.10.txt")) is None


def test_rocm_smi():
    assert amd.parse_rocm_smi_names(fixture_text("collected/rocm-smi-mi300x-x4-concise.txt")) == ["AMD Instinct MI300X"] * 4
    assert amd.parse_rocm_smi_driver(fixture_text("collected/rocm-smi-a-mi300x-x4-driver-6.7.0.txt")) == "6.7.0"


def test_sycl_ls():
    assert intel.parse_sycl_ls(fixture_text("collected/sycl-ls-linux-arc-a770.txt")) == [
        "Intel(R) Arc(TM) A770 Graphics",
        "Intel(R) UHD Graphics 730",
    ]
    assert intel.parse_sycl_ls(fixture_text("collected/sycl-ls-windows-legacy-ext-oneapi.txt")) == ["Intel(R) Iris(R) Xe Graphics"]


def test_os_release():
    assert machine.parse_os_release(fixture_text("nvidia-h100-driver-580/etc-os-release.txt")) == machine.Distribution("ubuntu", "24.04", "Ubuntu 24.04.3 LTS")


def test_cpuinfo_flags_and_model():
    cpu = machine.parse_cpuinfo("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse sse2 avx f16c avx2 fma avx512f avx512bw\n")
    assert cpu.model == "Intel(R) Xeon(R) Processor"
    assert cpu.isa_flags == ["avx", "avx2", "fma", "avx512f", "avx512bw"]


def test_collect_env_cross_check():
    """PyTorch's collect_env on the H100 machine and torchup's parsers agree on the driver and GPU."""
    collect_env = fixture_text("nvidia-h100-driver-580/torch-collect-env.txt")
    table = nvidia.parse_smi_table(fixture_text("nvidia-h100-driver-580/nvidia-smi.txt"))
    assert f"Nvidia driver version: {table.driver_version}" in collect_env
    assert f"GPU 0: {table.gpus[0].name}" in collect_env
    query = nvidia.parse_smi_query(fixture_text("nvidia-h100-driver-580/nvidia-smi-query-gpu.csv"))
    assert "capability (9, 0)" in fixture_text("nvidia-h100-driver-580/torch-cuda-facts.txt")
    assert query[0].compute_capability == "9.0"


# Files no parser reads, and why. Everything else in tests/fixtures must be claimed above.
NOT_PARSED = {
    "nvidia-h100-driver-580/ldconfig-p-cuda.txt": "the libraries torch loads are checked by doctor from inside torch",
    "nvidia-h100-driver-580/ls-dev-nvidia.txt": "device nodes do not change which wheel fits",
    "nvidia-h100-driver-580/ldd-version.txt": "the probe asks os.confstr for glibc, as packaging does, not ldd",
    "nvidia-h100-driver-580/SOURCES.md": "provenance",
    "collected/SOURCES.md": "provenance",
    "torchup-h100/SOURCES.md": "provenance",
    "pypi-json/SOURCES.md": "provenance",
    "nccl/SOURCES.md": "provenance",
}
DOCTOR_MESSAGES = "torch-"  # PyTorch's own warnings and errors: classified by doctor's tests


def test_every_fixture_is_claimed():
    claimed = set(SMI_TABLES) | set(SMI_ERRORS) | set(QUERIES) | set(LISTS) | set(VERSIONS) | set(PROC_VERSIONS) | set(TEGRA)
    source = "".join(test.read_text(encoding="utf-8") for test in Path(__file__).parent.glob("test_*.py"))
    unclaimed = []
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(FIXTURES).as_posix()
        if name in claimed or name in NOT_PARSED or path.name.startswith(DOCTOR_MESSAGES):
            continue
        if f'"{name}"' not in source:
            unclaimed.append(name)
    assert unclaimed == []


def test_fixtures_match_the_shared_originals():
    """tests/fixtures is a copy of ../shared/fixtures, so a fresh checkout tests alone; keep them in step."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    if not shared.is_dir():
        pytest.skip("no ../shared/fixtures beside this checkout")
    for original in shared.rglob("*"):
        if original.is_file():
            copy = FIXTURES / original.relative_to(shared)
            assert copy.is_file(), f"{copy} is missing: copy it from {original}"
            assert filecmp.cmp(original, copy, shallow=False), f"{copy} differs from {original}"


def test_query_torchup_runs_as_recorded_on_the_h100():
    gpus = nvidia.parse_smi_query(fixture_text("torchup-h100/nvidia-smi-query-gpu-nounits.csv"))
    assert [(g.name, g.compute_capability, g.memory_mib) for g in gpus] == [("NVIDIA H100 80GB HBM3", "9.0", 81559)]
