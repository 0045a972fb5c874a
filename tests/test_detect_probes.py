"""Machine and accelerator probes over fake /sys, /proc and /etc roots, with fake tools on PATH made from fixtures."""

import time

import pytest

from tests.conftest import calls, fixture_text, isolated_env, replay_tool, write_tool
from torchup.installer.compat import load
from torchup.installer.detect import Accelerators, EnvironmentFacts, Facts, amd, apple_facts, intel, machine, nvidia
from torchup.installer.detect.report import apple_line
from torchup.installer.host import Host
from torchup.installer.status import Status

QUERY = f"--query-gpu={nvidia.QUERY_FIELDS} --format=csv,nounits"


def h100_machine(fake_root, tool_dir):
    fake_root.put_fixture("/sys/module/nvidia/version", "nvidia-h100-driver-580/sys-module-nvidia-version.txt")
    fake_root.put_fixture("/proc/driver/nvidia/version", "nvidia-h100-driver-580/proc-driver-nvidia-version.txt")
    replay_tool(
        tool_dir,
        "nvidia-smi",
        {
            QUERY: ("nvidia-h100-driver-580/nvidia-smi-query-gpu.csv", 0, "stdout"),
            "": ("nvidia-h100-driver-580/nvidia-smi.txt", 0, "stdout"),
        },
    )


def test_h100_driver_from_sys_gpus_from_query(fake_root, tool_dir):
    h100_machine(fake_root, tool_dir)
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert (facts.driver_version, facts.driver_source) == ("580.159.04", "/sys/module/nvidia/version")
    assert (facts.cuda_driver_version, facts.cuda_source) == ("13.0", "nvidia-smi")
    assert facts.kernel_module == "open"
    assert facts.gpus == [nvidia.NvidiaGpu(0, "NVIDIA H100 80GB HBM3", "9.0", 81559, "GPU-8be06dda-c9f4-d5c6-8fd7-749beafc1536")]
    assert facts.errors == []


def test_override_comes_first(fake_root, tool_dir):
    h100_machine(fake_root, tool_dir)
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir], TORCHUP_NVIDIA_DRIVER="535.104.05")))
    assert (facts.driver_version, facts.driver_source) == ("535.104.05", "TORCHUP_NVIDIA_DRIVER")
    assert facts.gpus[0].compute_capability == "9.0"


def test_invalid_override_is_ignored_with_a_reason(fake_root, tool_dir):
    h100_machine(fake_root, tool_dir)
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir], TORCHUP_NVIDIA_DRIVER="abc")))
    assert facts.driver_source == "/sys/module/nvidia/version"
    assert any("'abc': not a driver version" in entry for entry in facts.trail)


def test_proc_when_sys_is_absent(fake_root, tool_dir):
    fake_root.put_fixture("/proc/driver/nvidia/version", "collected/proc-driver-nvidia-version-550.144.03-open-x86_64.txt")
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert (facts.driver_version, facts.driver_source) == ("550.144.03", "/proc/driver/nvidia/version")
    assert facts.gpus == []
    assert "nvidia-smi: not found" in facts.trail


def test_nothing_nvidia_is_none(fake_root, tool_dir):
    assert nvidia.probe(Host(fake_root.path, isolated_env([tool_dir]))) is None


def test_hanging_nvidia_smi_costs_only_its_timeout(fake_root, tool_dir):
    fake_root.put_fixture("/sys/module/nvidia/version", "nvidia-h100-driver-580/sys-module-nvidia-version.txt")
    write_tool(tool_dir, "nvidia-smi", "import time\ntime.sleep(600)\n")
    started = time.monotonic()
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir]), timeout=0.5))
    elapsed = time.monotonic() - started
    assert facts.driver_version == "580.159.04"
    assert [error.message for error in facts.errors] == ["timed out after 0.5 s"]
    assert elapsed < 5  # query and table run side by side: one timeout, not two


def test_old_driver_without_compute_cap_falls_back_to_table_and_list(fake_root, tool_dir):
    replay_tool(
        tool_dir,
        "nvidia-smi",
        {
            QUERY: ("collected/nvidia-smi-err-compute_cap-not-valid-field.txt", 2, "stdout"),
            "": ("collected/nvidia-smi-470.63.01-legacy-layout.txt", 0, "stdout"),
            "-L": ("GPU 0: NVIDIA GeForce RTX 3080 Laptop GPU (UUID: GPU-1234)\n", 0, "stdout"),
        },
    )
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert (facts.driver_version, facts.driver_source, facts.cuda_driver_version) == ("470.63.01", "nvidia-smi", "11.4")
    assert facts.gpus == [nvidia.NvidiaGpu(0, "NVIDIA GeForce RTX 3080 Laptop GPU", None, None, "GPU-1234")]
    assert facts.errors == []
    assert "nvidia-smi: this driver cannot report compute capability" in facts.trail


def test_driver_library_mismatch_is_a_fact(fake_root, tool_dir):
    fake_root.put_fixture("/proc/driver/nvidia/version", "collected/proc-driver-nvidia-version-580.173.02-proprietary-mismatched.txt")
    replay_tool(tool_dir, "nvidia-smi", {"*": ("collected/nvidia-smi-err-driver-library-mismatch-580.178.txt", 18, "stdout")})
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert facts.driver_version == "580.173.02"
    assert [error.kind for error in facts.errors] == ["driver_library_mismatch"]


def test_no_devices_without_driver_files(fake_root, tool_dir):
    replay_tool(tool_dir, "nvidia-smi", {"*": ("collected/nvidia-smi-err-no-devices-were-found.txt", 6, "stdout")})
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert facts.driver_version is None
    assert [error.kind for error in facts.errors] == ["no_devices"]


def test_cuda_na_header_falls_back_to_cuda_driver_api(fake_root, tool_dir):
    """vGPU hosts print "CUDA Version: N/A"; then libcuda is asked, in a child process (none loads here)."""
    replay_tool(
        tool_dir,
        "nvidia-smi",
        {
            "": ("collected/nvidia-smi-550.54.10-cuda-version-na-vgpu-host-PARTIAL.txt", 0, "stdout"),
            QUERY: ("index, name, compute_cap\n0, NVIDIA GeForce GTX 1660, 7.5\n", 0, "stdout"),
        },
    )
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert facts.driver_version == "550.54.10"
    assert facts.cuda_driver_version is None
    assert "cuDriverGetVersion: libcuda did not load" in facts.trail


def test_unknown_table_layout_reads_q(fake_root, tool_dir):
    replay_tool(
        tool_dir,
        "nvidia-smi",
        {
            "": ("a table from a future driver\n", 0, "stdout"),
            "-q": ("nvidia-h100-driver-580/nvidia-smi-q.txt", 0, "stdout"),
            QUERY: ("nvidia-h100-driver-580/nvidia-smi-query-gpu.csv", 0, "stdout"),
        },
    )
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert (facts.driver_version, facts.driver_source, facts.cuda_driver_version) == ("580.159.04", "nvidia-smi -q", "13.0")


def test_jetson_l4t_is_never_a_driver_version(fake_root, tool_dir):
    fake_root.put_fixture("/proc/driver/nvidia/version", "collected/proc-driver-nvidia-version-jetson-r35.3.1-open-aarch64.txt")
    fake_root.put_fixture("/etc/nv_tegra_release", "collected/nv_tegra_release-r35.4.1-jetpack5.txt")
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert facts.driver_version is None
    assert facts.jetson == nvidia.TegraRelease("35.4.1", "t186ref")
    assert any("35.3.1 is a Jetson L4T release" in entry for entry in facts.trail)


def test_a_jetson_without_its_release_file_is_read_from_its_l4t_package(fake_root, tool_dir):
    """A Tegra device tree (nvidia,tegra234) and no /etc/nv_tegra_release: the version of nvidia-l4t-core."""
    fake_root.put("/proc/device-tree/compatible", "nvidia,p3768-0000+p3767-0005\x00nvidia,p3767-0005\x00nvidia,tegra234\x00")
    replay_tool(tool_dir, "dpkg-query", {"--showformat=${Version} --show nvidia-l4t-core": ("36.4.0-20240912212859", 0, "stdout")})
    facts = nvidia.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert facts.jetson == nvidia.TegraRelease("36.4.0", None)
    assert calls(tool_dir, "dpkg-query") == [["--showformat=${Version}", "--show", "nvidia-l4t-core"]]


def test_the_l4t_package_is_asked_only_on_a_tegra_soc(fake_root, tool_dir):
    fake_root.put("/proc/device-tree/compatible", "raspberrypi,5-model-b\x00brcm,bcm2712\x00")
    replay_tool(tool_dir, "dpkg-query", {"*": ("36.4.0-20240912212859", 0, "stdout")})
    assert nvidia.probe(Host(fake_root.path, isolated_env([tool_dir]))) is None
    assert calls(tool_dir, "dpkg-query") == []


@pytest.mark.parametrize(
    "fixture, expected",
    [
        ("collected/nv_tegra_release-r36.4.0-jetpack6.txt", ("36.4.0", "generic")),
        ("collected/nv_tegra_release-r35.4.1-jetpack5.txt", ("35.4.1", "t186ref")),
        ("collected/nv_tegra_release-r32.6.1-jetpack4.txt", ("32.6.1", "t186ref")),
    ],
)
def test_the_doctor_reads_the_l4t_release_as_detection_does(fixture, expected):
    """The kit cannot import the tool: its reading of /etc/nv_tegra_release is checked against detection's."""
    from torchup.diagnostics import checks

    text = fixture_text(fixture)
    assert checks.parse_tegra_release(text) == expected
    assert tuple(nvidia.parse_tegra_release(text)) == expected


def test_wsl_finds_nvidia_smi_in_the_wsl_lib_dir(fake_root, tool_dir):
    wsl_lib = fake_root.path / "usr/lib/wsl/lib"
    replay_tool(
        wsl_lib,
        "nvidia-smi",
        {
            "": ("collected/nvidia-smi-wsl2-545.29.04-driver-546.17.txt", 0, "stdout"),
            QUERY: ("index, name, compute_cap\n0, NVIDIA GeForce RTX 3070 Ti, 8.6\n", 0, "stdout"),
        },
    )
    host = Host(fake_root.path, isolated_env([tool_dir]))
    assert nvidia.probe(host, wsl=False) is None
    facts = nvidia.probe(host, wsl=True)
    # WSL reports the Windows driver (546.17), not the tool's own version (545.29.04).
    assert (facts.driver_version, facts.cuda_driver_version) == ("546.17", "12.3")
    assert facts.gpus[0].compute_capability == "8.6"


def test_rocm_from_enumerator_with_version_file(fake_root, tool_dir):
    replay_tool(tool_dir, "rocm_agent_enumerator", {"*": ("collected/rocm_agent_enumerator-legacy-gfx000.txt", 0, "stdout")})
    fake_root.put("/opt/rocm/.info/version", "6.2.4-120\n")
    facts = amd.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert (facts.architectures, facts.source, facts.rocm_version) == (["gfx803", "gfx902"], "rocm_agent_enumerator", "6.2.4")


def test_rocm_falls_back_to_rocminfo_and_amd_smi(fake_root, tool_dir):
    replay_tool(tool_dir, "rocm_agent_enumerator", {"*": ("", 1, "stdout")})
    replay_tool(tool_dir, "rocminfo", {"*": ("collected/rocminfo-mi300x-x4-gfx942.txt", 0, "stdout")})
    replay_tool(tool_dir, "amd-smi", {"version": ("collected/amd-smi-version-rocm-6.1.0.txt", 0, "stdout")})
    replay_tool(
        tool_dir,
        "rocm-smi",
        {
            "": ("collected/rocm-smi-mi300x-x4-concise.txt", 0, "stdout"),
            "--showdriverversion": ("collected/rocm-smi-a-mi300x-x4-driver-6.7.0.txt", 0, "stdout"),
        },
    )
    facts = amd.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert (facts.architectures, facts.source, facts.rocm_version) == (["gfx942"] * 4, "rocminfo", "6.1.0")
    assert facts.gpu_names == ["AMD Instinct MI300X"] * 4
    assert facts.amdgpu_version == "6.7.0"


def test_rocm_override_skips_the_tools(fake_root, tool_dir):
    replay_tool(tool_dir, "rocm_agent_enumerator", {"*": ("gfx1100\n", 0, "stdout")})
    facts = amd.probe(Host(fake_root.path, isolated_env([tool_dir], TORCHUP_ROCM_ARCH="gfx90a")))
    assert (facts.architectures, facts.source) == (["gfx90a"], "TORCHUP_ROCM_ARCH")
    assert calls(tool_dir, "rocm_agent_enumerator") == []


def test_no_amd_tools_is_none(fake_root, tool_dir):
    assert amd.probe(Host(fake_root.path, isolated_env([tool_dir]))) is None


def test_intel_display_device_on_pci_with_sycl_names(fake_root, tool_dir):
    for slot, vendor, device_class, device in (
        ("0000:00:02.0", "0x8086", "0x030000", "0x4680"),  # Intel iGPU
        ("0000:03:00.0", "0x8086", "0x030000", "0x56a0"),  # Arc A770
        ("0000:00:1f.3", "0x8086", "0x040380", "0x7ad0"),  # Intel audio: not a display device
        ("0000:01:00.0", "0x10de", "0x030000", "0x2684"),  # NVIDIA
    ):
        fake_root.put(f"/sys/bus/pci/devices/{slot}/vendor", vendor + "\n")
        fake_root.put(f"/sys/bus/pci/devices/{slot}/class", device_class + "\n")
        fake_root.put(f"/sys/bus/pci/devices/{slot}/device", device + "\n")
    replay_tool(tool_dir, "sycl-ls", {"*": ("collected/sycl-ls-linux-arc-a770.txt", 0, "stdout")})
    facts = intel.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert facts.pci_devices == ["8086:4680", "8086:56a0"] and facts.device_ids == ["4680", "56a0"]
    assert facts.gpu_names == ["Intel(R) Arc(TM) A770 Graphics", "Intel(R) UHD Graphics 730"]
    assert facts.kernel_drivers == {} and facts.level_zero is None


def test_an_arc_b580_with_its_kernel_driver_and_the_level_zero_driver(fake_root, tool_dir):
    """An Arc B580 (8086:e20b) bound to xe, and Level Zero's GPU driver where Ubuntu's libze-intel-gpu1 puts it."""
    slot = "/sys/bus/pci/devices/0000:03:00.0"
    for name, value in (("vendor", "0x8086"), ("class", "0x030000"), ("device", "0xe20b")):
        fake_root.put(f"{slot}/{name}", value + "\n")
    (fake_root.path / "sys/bus/pci/drivers/xe").mkdir(parents=True)
    (fake_root.path / slot.lstrip("/") / "driver").symlink_to("../../../bus/pci/drivers/xe")
    fake_root.put("/usr/lib/x86_64-linux-gnu/libze_intel_gpu.so.1", "")
    facts = intel.probe(Host(fake_root.path, isolated_env([tool_dir])))
    assert facts.device_ids == ["e20b"] and facts.kernel_drivers == {"8086:e20b": "xe"}
    assert facts.level_zero == "/usr/lib/x86_64-linux-gnu/libze_intel_gpu.so.1"
    assert load().intel_family("e20b").name == "Arc B-series (Battlemage)"


def test_machine_facts_from_the_h100_root(fake_root, tool_dir):
    fake_root.put_fixture("/etc/os-release", "nvidia-h100-driver-580/etc-os-release.txt")
    fake_root.put("/proc/sys/kernel/osrelease", "6.18.44-fc-v657-gpu\n")
    fake_root.put("/proc/cpuinfo", "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx avx2 fma avx512f\n")
    fake_root.put("/.dockerenv", "")
    platform = {"system": "Linux", "machine": "x86_64", "libc": "glibc", "libc_version": "2.39"}
    facts = machine.probe(Host(fake_root.path, isolated_env([tool_dir])), platform, str(fake_root.path))
    assert facts.distribution.id == "ubuntu"
    assert (facts.kernel, facts.libc_version, facts.container, facts.wsl) == ("6.18.44-fc-v657-gpu", "2.39", "docker", None)
    assert facts.cpu.isa_flags == ["avx", "avx2", "fma", "avx512f"]
    assert str(fake_root.path) in facts.resources.disk_free_bytes
    assert facts.resources.memory_total_bytes > 0


def test_wsl_and_container_signals():
    assert machine.parse_wsl("5.15.153.1-microsoft-standard-WSL2") == "WSL2"
    assert machine.parse_wsl("4.4.0-19041-Microsoft") == "WSL1"
    assert machine.parse_wsl("6.1.0-18-amd64") is None
    assert machine.parse_cgroup_container("0::/kubepods/besteffort/pod1234/abcd\n") == "kubernetes"
    assert machine.parse_cgroup_container("12:pids:/docker/0123abcd\n") == "docker"
    assert machine.parse_cgroup_container("0::/init.scope\n") is None


def test_kubernetes_and_podman(fake_root):
    assert machine.detect_container(Host(fake_root.path, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"})) == "kubernetes"
    fake_root.put("/run/.containerenv", "")
    assert machine.detect_container(Host(fake_root.path, {})) == "podman"


def test_apple_silicon_brand_string_from_sysctl(fake_root, tool_dir):
    replay_tool(tool_dir, "sysctl", {"-n machdep.cpu.brand_string": ("collected/sysctl-machdep-cpu-brand_string-apple-m1-pro.txt", 0, "stdout")})
    platform = {"system": "Darwin", "machine": "arm64", "mac_version": "14.5"}
    facts = machine.probe(Host(fake_root.path, isolated_env([tool_dir])), platform, None)
    assert facts.cpu.model == "Apple M1 Pro"
    assert apple_facts(facts) == ("Apple M1 Pro", "14.5")
    # Whether MPS is there is the compatibility data's judgement (macOS 12.3 or newer), made where it is shown.
    assert load().mps_available(apple_facts(facts).macos) is True
    older = apple_facts(facts._replace(mac_version="12.1"))
    assert load().mps_available(older.macos) is False
    shown = apple_line(older)
    assert (shown.status, shown.text) == ("warn", "Apple M1 Pro, macOS 12.1: MPS needs macOS 12.3 or newer")
    document = Facts(1, "python3", facts, None, None, None, Accelerators(None, None, None, older), EnvironmentFacts({}, [], None), {}).as_data()
    assert document["accelerators"]["apple"] == {"chip": "Apple M1 Pro", "macos": "12.1", "mps_supported": False}


def test_driver_libraries_on_ld_library_path_are_not_reported(fake_root, tmp_path):
    """As on the H100 machine: the container runtime puts libcuda and NVML on LD_LIBRARY_PATH; that is normal."""
    from torchup.installer.detect import environment_facts

    driver_dir, runtime_dir = tmp_path / "nvidia-lib64", tmp_path / "cuda-lib"
    for directory, names in ((driver_dir, ["libcuda.so.1", "libnvidia-ml.so.1"]), (runtime_dir, ["libcudart.so.12", "libcudnn.so.9"])):
        directory.mkdir()
        for name in names:
            (directory / name).write_text("")
    env = {"LD_LIBRARY_PATH": f"{driver_dir}:{runtime_dir}", "CUDA_VISIBLE_DEVICES": ""}
    facts = environment_facts(Host("/", env), None)
    assert facts.cuda_library_dirs == [str(runtime_dir)]
    assert facts.variables == {"CUDA_VISIBLE_DEVICES": ""}


def test_memory_and_cores_from_proc(fake_root, tool_dir):
    fake_root.put("/proc/meminfo", "MemTotal:       16318480 kB\nMemFree:         1000000 kB\nMemAvailable:   12000000 kB\n")
    fake_root.put("/proc/cpuinfo", "".join(f"processor\t: {n}\nphysical id\t: 0\nsiblings\t: 4\ncore id\t\t: {n // 2}\nflags\t\t: avx2\n\n" for n in range(4)))
    facts = machine.probe(Host(fake_root.path, isolated_env([tool_dir])), {"system": "Linux", "machine": "x86_64"}, None)
    assert (facts.resources.memory_total_bytes, facts.resources.memory_available_bytes) == (16318480 * 1024, 12000000 * 1024)
    assert facts.cpu.physical_cores == 2
    assert machine.physical_cores("processor\t: 0\nBogoMIPS\t: 50.00\n") is None  # Arm kernels often omit it


def test_the_report_names_a_boards_jetpack_and_what_runs_there():
    from torchup.installer.detect.report import jetson_line

    assert jetson_line("36.4.0").text == "Jetson board, L4T 36.4.0 (JetPack 6.1 and 6.2 for Orin)"
    assert jetson_line("36.4.0").detail == "NVIDIA's own wheel, torch 2.5.0a0+872d972e41.nv24.08 for Python 3.10"
    assert jetson_line("38.2").detail == "download.pytorch.org's Linux aarch64 CUDA 13.0 builds run there"
    assert jetson_line("37.0").status is Status.WARN


def test_the_report_names_each_intel_device_by_its_family_and_the_missing_driver():
    from torchup.installer.detect.report import intel_lines

    facts = intel.IntelFacts(["8086:4680", "8086:e20b"], [], {"8086:e20b": "xe"}, None)
    lines = intel_lines(facts)
    assert lines[0].text == "Intel display device: 8086:4680" and lines[0].detail.startswith("not a GPU PyTorch's XPU build validates")
    assert lines[1].text == "Intel GPU: Arc B-series (Battlemage): Arc B580, B570, Arc Pro B50, B60 (8086:e20b), kernel driver xe"
    assert (lines[2].status, lines[2].text) == (Status.WARN, "no Level Zero GPU driver (libze_intel_gpu.so.1): the XPU build needs it")
