"""The decision, table-driven. Each case names the data rows it rests on (installer/compat/compatibility.json)
and, through them, their sources."""

import pytest

from torchup.installer.compat import Build, load
from torchup.installer.plan.policy import Gpu, PlanError, PlanInputs, decide, runs_here

DATA = load()


def inputs(**given):
    given.setdefault("os", "linux")
    given.setdefault("arch", "x86_64")
    given.setdefault("python", "3.11")
    given.setdefault("glibc", "2.36")
    gpus = given.pop("ccs", ())
    given["gpus"] = tuple(Gpu(i, name, cc) for i, (name, cc) in enumerate(gpus))
    return PlanInputs(**given)


def decision(**given):
    return decide(DATA, inputs(**given))


def rejection(result, variant):
    return next(c.reason for c in result.candidates if c.variant == variant)


# (case, inputs, expected release, expected variant, data rows the expectation rests on)
CASES = [
    (
        "no GPU: the CPU build of the newest release that fits",
        dict(),
        "2.15.0",
        "cpu",
        "releases[2.15].python (pypi-files)",
    ),
    (
        "driver too old for every CUDA build of 2.13: CPU",
        dict(torch="2.13", nvidia_driver="450.80.02", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")]),
        "2.13.0",
        "cpu",
        "nvidia_drivers.floors cuda 12 = 525.60.13, cuda 13 = 580 (minor-version-compat); releases[2.13].variants",
    ),
    (
        "the same driver still has a CUDA 11.8 build in 2.7",
        dict(torch="2.7", nvidia_driver="450.80.02", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")]),
        "2.7.1",
        "cu118",
        "nvidia_drivers.floors cuda 11 = 450.80.02; releases[2.7].variants has cu118",
    ),
    (
        "Pascal (GTX 1080 Ti, 6.1) left cu128/cu129 in 2.8: cu126",
        dict(torch="2.8", nvidia_driver="570.124.06", ccs=[("NVIDIA GeForce GTX 1080 Ti", "6.1")]),
        "2.8.0",
        "cu126",
        "cuda_arch_sets volta-blackwell (pascal-dropped-2.8), maxwell-hopper",
    ),
    (
        "Volta (V100, 7.0) left cu128 in 2.11 and is in no CUDA 13 build: cu126",
        dict(torch="2.11", nvidia_driver="580.95.05", ccs=[("Tesla V100-SXM2-16GB", "7.0")] * 2),
        "2.11.0",
        "cu126",
        "cuda_arch_sets turing-blackwell (volta-dropped-2.11)",
    ),
    (
        "Volta still in 2.10's cu128",
        dict(torch="2.10", nvidia_driver="570.124.06", ccs=[("Tesla V100-SXM2-16GB", "7.0")]),
        "2.10.0",
        "cu128",
        "cuda_arch_sets volta-blackwell (volta-blackwell-2.9)",
    ),
    (
        "Blackwell (RTX 5090, 12.0) needs cu128 or newer: 2.7's cu128",
        dict(torch="2.7", nvidia_driver="570.124.06", ccs=[("NVIDIA GeForce RTX 5090", "12.0")]),
        "2.7.1",
        "cu128",
        "cuda_arch_sets maxwell-blackwell vs maxwell-hopper",
    ),
    (
        "Blackwell has no build in 2.6: CPU",
        dict(torch="2.6", nvidia_driver="570.124.06", ccs=[("NVIDIA GeForce RTX 5090", "12.0")]),
        "2.6.0",
        "cpu",
        "releases[2.6].cuda_archs all maxwell-hopper",
    ),
    (
        "mixed GPUs (TITAN V 7.0 + RTX 5880 Ada 8.9) on driver 570: only cu126 serves both",
        dict(torch="2.13", nvidia_driver="570.86.15", ccs=[("NVIDIA TITAN V", "7.0"), ("NVIDIA RTX 5880 Ada Generation", "8.9")]),
        "2.13.0",
        "cu126",
        "maxwell-hopper (8.6 SASS runs on 8.9); cuda 13 floor 580",
    ),
    (
        "mixed GPUs on driver 590: CUDA 13 allowed by the driver, refused by the TITAN V",
        dict(torch="2.13", nvidia_driver="590.48.01", ccs=[("NVIDIA TITAN V", "7.0"), ("NVIDIA RTX 5880 Ada Generation", "8.9")]),
        "2.13.0",
        "cu126",
        "turing-blackwell-ptx (arch-matrix-2.12)",
    ),
    (
        "the H100 machine (driver 580.159.04, 9.0) on 2.11: cu130, what it runs",
        dict(torch="2.11", python="3.12", glibc="2.39", nvidia_driver="580.159.04", ccs=[("NVIDIA H100 80GB HBM3", "9.0")]),
        "2.11.0",
        "cu130",
        "turing-blackwell (h100-capture: torch 2.11.0+cu130 on that machine)",
    ),
    (
        "Windows floors are higher: 527.41 is below 528.33, so CUDA 11.8",
        dict(os="windows", glibc=None, torch="2.7", nvidia_driver="527.41", ccs=[("NVIDIA GeForce RTX 3080", "8.6")]),
        "2.7.1",
        "cu118",
        "nvidia_drivers.floors cuda 12 windows = 528.33",
    ),
    (
        "the same driver on Linux meets 525.60.13, but fully supports only CUDA 11.8 (520.61.05): cu118",
        dict(torch="2.7", nvidia_driver="527.41", ccs=[("NVIDIA GeForce RTX 3080", "8.6")]),
        "2.7.1",
        "cu118",
        "nvidia_drivers.floors cuda 12 linux = 525.60.13; nvidia_drivers.toolkits 11.8 = 520.61.05, 12.6 = 560.28.03 (toolkit-drivers)",
    ),
    (
        "Python 3.9: the 2.8 series",
        dict(python="3.9"),
        "2.8.0",
        "cpu",
        "releases[2.8].python 3.9–3.13, [2.9].python from 3.10 (pypi-files)",
    ),
    (
        "Python 3.15: only 2.15",
        dict(python="3.15"),
        "2.15.0",
        "cpu",
        "releases[2.15].python 3.11–3.15 (pypi-files)",
    ),
    (
        "macOS x86_64 ends at 2.2.2",
        dict(os="macos", arch="x86_64", glibc=None, macos="13.6"),
        "2.2.2",
        "default",
        "releases[2.2].variants macos-x86_64 (macos-x86-end)",
    ),
    (
        "macOS arm64 on macOS 13: 2.12 and newer need macOS 14",
        dict(os="macos", arch="arm64", glibc=None, macos="13.6"),
        "2.11.0",
        "default",
        "releases[2.12].platforms macos-arm64 14.0 (pypi-files)",
    ),
    (
        "glibc 2.17 (CentOS 7): 2.7 and newer need 2.28",
        dict(glibc="2.17", python="3.10"),
        "2.6.0",
        "cpu",
        "releases[2.7].platforms linux-x86_64 glibc 2.28 (pypi-files)",
    ),
    (
        "a Jetson (L4T 35.4.1) never gets a download.pytorch.org CUDA build",
        dict(arch="aarch64", torch="2.13", jetson="35.4.1", ccs=[("Orin (nvgpu)", None)], nvidia_driver="540.4.0"),
        "2.13.0",
        "cpu",
        "policy: Jetson boards need NVIDIA's Jetson wheels",
    ),
    (
        "GH200 (aarch64, 9.0) on 2.13, driver 580.95.05: the newest CUDA build for aarch64 it supports fully",
        dict(arch="aarch64", torch="2.13", nvidia_driver="580.95.05", ccs=[("NVIDIA GH200 480GB", "9.0")]),
        "2.13.0",
        "cu130",
        "releases[2.13].cuda_archs_aarch64 ampere-blackwell-arm (arch-matrix-2.12)",
    ),
    (
        "MI300X (gfx942) on 2.13: rocm7.2",
        dict(torch="2.13", rocm_archs=("gfx942",) * 4),
        "2.13.0",
        "rocm7.2",
        "rocm_architectures rocm7.2 (uv-rocm)",
    ),
    (
        "Strix Halo (gfx1151) is in rocm7.2 only: 2.11 yes",
        dict(torch="2.11", rocm_archs=("gfx1151",)),
        "2.11.0",
        "rocm7.2",
        "rocm_architectures rocm7.2 gfx1151 (uv-rocm)",
    ),
    (
        "Strix Halo on 2.10 (rocm7.1): CPU",
        dict(torch="2.10", rocm_archs=("gfx1151",)),
        "2.10.0",
        "cpu",
        "rocm_architectures rocm7.1 lacks gfx1151 (uv-rocm)",
    ),
    (
        "an Arc A770 (8086:56a0) beside integrated graphics gets the XPU build",
        dict(torch="2.13", intel_gpus=("4680", "56a0"), intel_driver=True),
        "2.13.0",
        "xpu",
        "releases[2.13].variants has xpu; intel_gpus Arc A-series 56a0 xpu 2.6 (pciids; xpu-2.6, xpu-2.7)",
    ),
    (
        "integrated Intel graphics (8086:4680) alone do not",
        dict(torch="2.13", intel_gpus=("4680",), intel_driver=True),
        "2.13.0",
        "cpu",
        "intel_gpus: 4680 in no family",
    ),
    (
        "an Arc B580 (8086:e20b), no --torch: the newest release's XPU build",
        dict(intel_gpus=("e20b",), intel_driver=True),
        "2.15.0",
        "xpu",
        "intel_gpus Arc B-series e20b xpu linux 2.7 (pciids, xpu-2.7); releases[2.15] xpu (not verified)",
    ),
    (
        "an Arc B580 with --torch 2.6: Battlemage was validated from 2.7, so the CPU build",
        dict(torch="2.6", intel_gpus=("e20b",), intel_driver=True),
        "2.6.0",
        "cpu",
        "intel_gpus Arc B-series xpu linux 2.7 (xpu-2.6: 'Arc B-series graphics not supported')",
    ),
    (
        "an Arc B580 without Level Zero's GPU driver: the CPU build, and what to install",
        dict(torch="2.13", intel_gpus=("e20b",), intel_driver=False),
        "2.13.0",
        "cpu",
        "intel_gpus.driver libze_intel_gpu.so.1 (intel-gpu-driver)",
    ),
    (
        "Data Center GPU Max 1550 (8086:0bd5) on 2.5: its first XPU build",
        dict(torch="2.5", intel_gpus=("0bd5",), intel_driver=True),
        "2.5.1",
        "xpu",
        "intel_gpus Data Center GPU Max xpu linux 2.5 (xpu-2.5); releases[2.5] xpu (xpu-2.5)",
    ),
    (
        "RTX 3090 (8.6) on driver 570, no --torch: 2.15's builds need 580, so 2.14.1's CUDA 12.6 build",
        dict(nvidia_driver="570.86.15", ccs=[("NVIDIA GeForce RTX 3090", "8.6")]),
        "2.14.1",
        "cu126",
        "releases[2.15].platforms.linux-x86_64.builds cu130/cu132 only (cuda12-last-2.14); nvidia_drivers.floors cuda 13 = 580",
    ),
    (
        "H100 on driver 580, no --torch: the newest release, CUDA 13.0, which 580.159.04 supports fully",
        dict(nvidia_driver="580.159.04", ccs=[("NVIDIA H100 80GB HBM3", "9.0")]),
        "2.15.0",
        "cu130",
        "releases[2.15].platforms.linux-x86_64.builds; nvidia_drivers.toolkits 13.0 = 580.65.06, 13.2 = 595.45.04 (toolkit-drivers)",
    ),
    (
        "B300 (10.3) on driver 580.95: CUDA 13.0, fully supported, not 13.2 under minor-version compatibility",
        dict(nvidia_driver="580.95", ccs=[("NVIDIA B300", "10.3")]),
        "2.15.0",
        "cu130",
        "cuda_arch_sets turing-blackwell-ptx sm_100 (arch-matrix-2.12); nvidia_drivers.toolkits 13.0 = 580.65.06, 13.2 = 595.45.04",
    ),
    (
        "GB10 / DGX Spark (12.1, aarch64) on driver 580.95: CUDA 13.0, fully supported",
        dict(arch="aarch64", nvidia_driver="580.95", ccs=[("NVIDIA GB10", "12.1")]),
        "2.15.0",
        "cu130",
        "cuda_arch_sets ampere-blackwell-arm sm_120 (arch-matrix-2.12, thor-sbsa); nvidia_drivers.toolkits 13.0 = 580.65.06",
    ),
    (
        "B300 on driver 595.58.03: CUDA 13.2, now fully supported",
        dict(nvidia_driver="595.58.03", ccs=[("NVIDIA B300", "10.3")]),
        "2.15.0",
        "cu132",
        "nvidia_drivers.toolkits 13.2 = 595.45.04 (toolkit-drivers)",
    ),
    (
        "RTX 3090 on driver 550.54.15 with --torch 2.14: no build is fully supported (12.6 needs 560.28.03), so cu126 under minor-version compatibility",
        dict(torch="2.14", nvidia_driver="550.54.15", ccs=[("NVIDIA GeForce RTX 3090", "8.6")]),
        "2.14.1",
        "cu126",
        "nvidia_drivers.floors cuda 12 = 525.60.13; nvidia_drivers.toolkits 12.6 = 560.28.03",
    ),
    (
        "P100 (6.0) with --torch 2.7: Linux cu128 has no Pascal kernels, cu126 does",
        dict(torch="2.7", nvidia_driver="570.124.06", ccs=[("Tesla P100-PCIE-16GB", "6.0")]),
        "2.7.1",
        "cu126",
        "releases[2.7].platforms.linux-x86_64.builds.cu128 = turing-blackwell-ptx (corridorkey-141, cu128-dropped-maxwell-volta)",
    ),
    (
        "GTX 1080 (6.1) with --torch 2.7 on Windows: Windows cu128 keeps Pascal",
        dict(os="windows", glibc=None, torch="2.7", nvidia_driver="576.02", ccs=[("NVIDIA GeForce GTX 1080", "6.1")]),
        "2.7.1",
        "cu128",
        "releases[2.7].platforms.windows-x86_64.builds.cu128 = maxwell-blackwell-win (corridorkey-141)",
    ),
    (
        "V100 (7.0) with --torch 2.7 on Linux: cu126, not cu128",
        dict(torch="2.7", nvidia_driver="570.124.06", ccs=[("Tesla V100-SXM2-16GB", "7.0")]),
        "2.7.1",
        "cu126",
        "cuda_arch_sets turing-blackwell-ptx (cu128-dropped-maxwell-volta)",
    ),
    (
        "GH200 (aarch64, 9.0) with --torch 2.9 on driver 570: CUDA 12.8, which it supports fully (12.9 needs 575.51.03)",
        dict(arch="aarch64", torch="2.9", nvidia_driver="570.133.20", ccs=[("NVIDIA GH200 480GB", "9.0")]),
        "2.9.1",
        "cu128",
        "releases[2.9].platforms.linux-aarch64.builds (uv-17380, openral-167); CUDA 13 floor 580",
    ),
    (
        "GB200 (aarch64, 10.0) with --torch 2.9 on driver 580: cu130",
        dict(arch="aarch64", torch="2.9", nvidia_driver="580.95.05", ccs=[("NVIDIA GB200", "10.0")]),
        "2.9.1",
        "cu130",
        "releases[2.9].platforms.linux-aarch64.builds.cu130 = ampere-blackwell-arm (arch-matrix-2.12)",
    ),
    (
        "GH200 with --torch 2.11: aarch64 CUDA builds exist there too (PyPI's own aarch64 wheel is CUDA 13.0)",
        dict(arch="aarch64", torch="2.11", nvidia_driver="580.95.05", ccs=[("NVIDIA GH200 480GB", "9.0")]),
        "2.11.0",
        "cu130",
        "releases[2.11].platforms.linux-aarch64.builds (pypi-metadata, aarch64-cuda)",
    ),
    (
        "RTX 5090 (12.0) on driver 575 with --torch 2.13: cu129 runs where CUDA 13 cannot",
        dict(torch="2.13", nvidia_driver="575.57.08", ccs=[("NVIDIA GeForce RTX 5090", "12.0")]),
        "2.13.0",
        "cu129",
        "releases[2.13].platforms.linux-x86_64.builds.cu129 (cu129-in-use, not verified)",
    ),
    (
        "Tesla K80 (3.7) on driver 470: the newest release whose CUDA 11.8 build still has sm_37 with cuDNN 8",
        dict(nvidia_driver="470.256.02", ccs=[("Tesla K80", "3.7")]),
        "2.3.1",
        "cu118",
        "cuda_arch_sets kepler-hopper (builder-cuda) for 2.0-2.3; maxwell-hopper from 2.4 (cudnn9-support)",
    ),
    (
        "Radeon RX 7900 XTX (gfx1100), no --torch: a ROCm build, not CPU",
        dict(rocm_archs=("gfx1100",)),
        "2.15.0",
        "rocm7.14",
        "releases[2.15].platforms.linux-x86_64.builds rocm7.14 (assumed from 2.14, not verified); rocm_architectures",
    ),
    (
        "gfx1100 on 2.14: both ROCm builds are published, the newer wins",
        dict(torch="2.14", rocm_archs=("gfx1100",)),
        "2.14.1",
        "rocm7.14",
        "releases[2.14].platforms.linux-x86_64.builds rocm7.2, rocm7.14 (rocm-2.14)",
    ),
    (
        "Jetson Thor (L4T 38.2, cc 11.0): the SBSA CUDA 13.0 build",
        dict(arch="aarch64", jetson="38.2", ccs=[("NVIDIA Thor", "11.0")]),
        "2.15.0",
        "cu130",
        "jetson l4t_from 38.0 (thor-sbsa); cuda_arch_sets ampere-blackwell-arm has 11.0",
    ),
    (
        "Jetson Orin on JetPack 6.1 (L4T 36.4, Python 3.10): NVIDIA's Jetson build for that JetPack",
        dict(arch="aarch64", python="3.10", glibc="2.35", jetson="36.4.0", ccs=[("Orin (nvgpu)", "8.7")]),
        "2.5.0",
        "jp61",
        "jetson l4t_from 36.4 wheel jp61 (tensorrt-3453, jetson-install)",
    ),
    (
        "JetPack 6.2.1 (L4T 36.4.7) is the same JetPack 6 line: the same wheel",
        dict(arch="aarch64", python="3.10", jetson="36.4.7"),
        "2.5.0",
        "jp61",
        "jetson l4t_from 36.4, l4t_to 37.0 (jetson-l4t-map)",
    ),
    (
        "Xavier on JetPack 5.1.2 (L4T 35.4.1, Python 3.8): NVIDIA's 2.1.0a0 wheel",
        dict(arch="aarch64", python="3.8", jetson="35.4.1", ccs=[("Xavier", "7.2")]),
        "2.1.0",
        "jp512",
        "jetson l4t_from 35.4 wheel jp512 (jetson-containers-pytorch)",
    ),
    (
        "Jetson Orin on JetPack 6.1 with Python 3.11: NVIDIA builds for 3.10 alone, so the CPU build",
        dict(arch="aarch64", python="3.11", jetson="36.4", ccs=[("Orin (nvgpu)", "8.7")]),
        "2.15.0",
        "cpu",
        "jetson l4t_from 36.4 python 3.10 (jetson-l4t-map)",
    ),
    (
        "JetPack 4 (L4T 32.7.1) with Python 3.8: NVIDIA published no torch 2 for it, so the CPU build",
        dict(arch="aarch64", python="3.8", jetson="32.7.1"),
        "2.4.1",
        "cpu",
        "jetson l4t_from 32.0 last (jetson-containers-pytorch, jetson-forum-72048)",
    ),
    (
        "an L4T release torchup does not know (37.1): the CPU build, and what exists",
        dict(arch="aarch64", python="3.10", jetson="37.1"),
        "2.14.1",
        "cpu",
        "jetson: no row covers 37.x (l4t_to 37.0)",
    ),
    (
        "--variant cu128 without --torch: the newest release that has it",
        dict(variant="cu128"),
        "2.11.0",
        "cu128",
        "releases[2.12].platforms.linux-x86_64.builds has no cu128",
    ),
    (
        "--variant rocm6.4 without --torch",
        dict(variant="rocm6.4"),
        "2.9.1",
        "rocm6.4",
        "releases[2.9].platforms.linux-x86_64.builds rocm6.4",
    ),
    (
        "--with torchvision,torchaudio without --torch: 2.15, with companions that declare it (ABI stable)",
        dict(with_packages=("torchvision", "torchaudio")),
        "2.15.0",
        "cpu",
        "companion_releases torchvision 0.29.2 torch>=2.14 (vision-0.29.2), torchaudio 2.11.1 torch>=2.11 (audio-2.11.1)",
    ),
    (
        "--with torchvision on Python 3.9: the 2.8 series, with its own torchvision",
        dict(python="3.9", with_packages=("torchvision",)),
        "2.8.0",
        "cpu",
        "releases[2.8].companions torchvision 0.23.0; companion_releases 0.23.0 torch==2.8.0 (companion-metadata)",
    ),
    (
        "Python 3.13 with --torch 2.5 on Linux x86_64: cp313 wheels exist there",
        dict(python="3.13", torch="2.5"),
        "2.5.1",
        "cpu",
        "releases[2.5].python max 3.13 (pypi-files)",
    ),
    (
        "free-threaded 3.13: 2.11 is the newest with cp313t wheels",
        dict(python="3.13", free_threaded=True),
        "2.11.0",
        "cpu",
        "releases[2.11].python.free_threaded, [2.12] has 3.14 only (pypi-files)",
    ),
]


@pytest.mark.parametrize("case, given, release, variant, rows", CASES, ids=[case[0] for case in CASES])
def test_decision(case, given, release, variant, rows):
    result = decision(**given)
    assert (result.release.version, result.variant) == (release, variant), result.variant_reason


def test_too_old_driver_names_what_would_change_it():
    result = decision(torch="2.13", nvidia_driver="450.80.02", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")])
    assert rejection(result, "cu126") == "driver 450.80.02 is older than 525.60.13, the minimum for CUDA 12.x"
    assert "an NVIDIA driver 580 or newer would allow cu132" in result.variant_reason
    assert "torch 2.7.1 has a build for it (cu118): --torch 2.7" in result.variant_reason


def test_unsupported_gpu_is_named_with_the_build_list():
    result = decision(torch="2.8", nvidia_driver="570.124.06", ccs=[("NVIDIA GeForce GTX 1080 Ti", "6.1")])
    assert rejection(result, "cu128") == (
        "GPU 0 (NVIDIA GeForce GTX 1080 Ti, compute capability 6.1) has no kernels in this build (sm_70, sm_75, sm_80, sm_86, sm_90, sm_100, sm_120, no PTX)"
    )


def test_minor_version_compatibility_is_said():
    result = decision(torch="2.7", nvidia_driver="527.41", ccs=[("NVIDIA GeForce RTX 3080", "8.6")])
    chosen = next(c for c in result.candidates if c.variant == "cu128")
    assert any("below CUDA 12.8's own 570.26" in note for note in chosen.notes)


def test_an_intel_gpu_is_judged_by_its_pci_id_release_os_and_driver():
    assert rejection(decision(torch="2.6", intel_gpus=("e20b",), intel_driver=True), "xpu") == (
        "Arc B-series (Battlemage): Arc B580, B570, Arc Pro B50, B60 (8086:e20b) is validated for the XPU build from torch 2.7 on Linux"
    )
    no_driver = decision(torch="2.13", intel_gpus=("e20b",), intel_driver=False)
    assert rejection(no_driver, "xpu").endswith(
        "needs Level Zero's GPU driver (libze_intel_gpu.so.1), which is not installed: "
        "Intel's GPU driver: on Ubuntu, sudo apt install libze-intel-gpu1 libze1 intel-opencl-icd (Intel's page for other systems)"
    )
    assert "sudo apt install libze-intel-gpu1" in no_driver.variant_reason  # the plan says what to install
    assert rejection(decision(os="windows", glibc=None, torch="2.13", intel_gpus=("0bd5",), intel_driver=True), "xpu") == (
        "Data Center GPU Max (Ponte Vecchio): Data Center GPU Max 1100, 1550 (8086:0bd5) is not among the GPUs PyTorch validates for the XPU build on Windows"
    )
    assert rejection(decision(torch="2.13", intel_gpus=("4680",), intel_driver=True), "xpu") == (
        "the Intel display device 8086:4680 is none of the GPUs PyTorch validates for the XPU build (Arc, Core Ultra graphics, Data Center GPU Max)"
    )
    flex = decision(torch="2.13", intel_gpus=("56c0",), intel_driver=True)
    assert flex.variant == "cpu" and "Data Center GPU Flex (Arctic Sound-M)" in rejection(flex, "xpu")
    another = next(c for c in decision(torch="2.13", intel_gpus=("e20b",)).candidates if c.variant == "xpu")
    assert another.accepted and another.notes == ("the Intel GPU driver is not checked on another machine: the XPU build needs libze_intel_gpu.so.1",)


def test_a_jetson_board_is_told_what_exists_for_it():
    orin = decision(arch="aarch64", python="3.10", jetson="36.4")
    assert orin.chosen.reason == "NVIDIA's wheel for JetPack 6.1 and 6.2 for Orin, CUDA 12.6, Python 3.10"
    assert orin.release.wheel.url.endswith("/jp/v61/pytorch/torch-2.5.0a0+872d972e41.nv24.08.17622132-cp310-cp310-linux_aarch64.whl")
    assert orin.notes[0].startswith("jp61: it needs libcusparseLt (libcusparseLt.so.0), which JetPack 6 does not install")
    python = decision(arch="aarch64", python="3.11", jetson="36.4")
    assert rejection(python, "cu130") == "a Jetson board on L4T 36.4 (JetPack 6.1 and 6.2 for Orin) needs NVIDIA's Jetson wheels, not this index's"
    assert (
        "NVIDIA's wheel for JetPack 6.1 and 6.2 for Orin is torch 2.5.0a0+872d972e41.nv24.08 for Python 3.10 alone; "
        "for the GPU, plan and install with python3.10 (this Python is 3.11)"
    ) in python.notes
    asked = decision(arch="aarch64", python="3.10", jetson="36.4", torch="2.14")
    assert asked.variant == "cpu" and any("--torch asked for a download.pytorch.org build instead" in note for note in asked.notes)
    jetpack4 = decision(arch="aarch64", python="3.8", jetson="32.7.1")
    assert (
        "JetPack 4 for Nano, TX2 and Xavier (L4T 32.7.1): NVIDIA's last wheels for it are torch 1.10.0 and 1.11.0a0 for Python 3.6 (CUDA 10.2), "
        "and torch 2 needs CUDA 11 or newer, so the CPU build"
    ) in jetpack4.notes
    unknown = decision(arch="aarch64", python="3.10", jetson="37.1")
    assert rejection(unknown, "cu130") == "L4T 37.1 is not a Jetson release torchup knows"
    assert unknown.notes[0].startswith(
        "L4T 37.1 is not a Jetson release torchup knows; the known ones start at L4T 32.0 (JetPack 4 for Nano, TX2 and Xavier), "
    )
    # A release is a version: 37 is 37.0, where JetPack 6's rows end; a major newer than the newest
    # row's is a JetPack the data does not know yet, not that row's.
    for release, board in (("37", None), ("38", "JetPack 7 for Jetson Thor"), ("39.2", "JetPack 7.2 for Thor and Orin"), ("40", None), ("99", None)):
        known = DATA.jetson_release(release)
        assert (known.name if known else None) == board, release
    unverified = decision(arch="aarch64", python="3.10", jetson="36.3.0")
    assert unverified.variant == "jp60" and not unverified.chosen.verified
    assert unverified.chosen.notes[0].startswith("not verified: https://docs.nvidia.com/deeplearning/frameworks/install-pytorch-jetson-platform/index.html")


def test_jetson_alone_plans_linux_aarch64():
    from torchup.installer.plan import Overrides, make_plan

    plan = make_plan(None, Overrides(jetson="36.4", python_version="3.10", offline=True))
    assert (plan.inputs.os, plan.inputs.arch, plan.variant) == ("linux", "aarch64", "jp61")
    assert plan.sources["arch"] == plan.sources["os"] == "--jetson"
    assert plan.packages == ["torch @ " + plan.decision.release.wheel.url] and plan.pins == ["torch==2.5.0a0+872d972e41.nv24.08"]
    assert plan.index_url == "https://developer.download.nvidia.com/compute/redist/jp/v61/pytorch/"


def test_minor_version_compatibility_is_taken_only_where_nothing_is_fully_supported_and_said():
    """The rule: prefer the newest build the driver supports fully (driver >= that toolkit's own,
    nvidia_drivers.toolkits); take one that needs minor-version compatibility only where no build of
    the release is fully supported; say what is limited (nvidia_drivers.minor_version_limits) and
    which driver lifts it."""
    b300 = decision(nvidia_driver="580.95", ccs=[("NVIDIA B300", "10.3")])
    assert b300.variant_basis == "the newest build the driver supports fully"
    limited = next(c for c in b300.candidates if c.variant == "cu132")
    assert limited.accepted and limited.full_support_driver == "595.45.04"
    assert next(c for c in b300.candidates if c.variant == "cu130").full_support_driver is None
    note = next(note for note in b300.notes if "minor-version" in note)
    assert note.startswith("cu132 was not chosen: on driver 580.95 it would run under CUDA minor-version compatibility, where PTX built by the newer toolkit")
    assert "cudaErrorCallRequiresNewerDriver (https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html)" in note
    assert note.endswith("driver 595.45.04 or newer runs it fully")
    only_limited = decision(torch="2.14", nvidia_driver="550.54.15", ccs=[("NVIDIA GeForce RTX 3090", "8.6")])
    note = next(note for note in only_limited.notes if "minor-version" in note)
    assert note.startswith("cu126 runs on driver 550.54.15 under CUDA minor-version compatibility, as no build of this release is fully supported by it: ")
    assert note.endswith("driver 560.28.03 or newer lifts that")
    fully = decision(nvidia_driver="595.58.03", ccs=[("NVIDIA B300", "10.3")])
    assert not any("minor-version" in note for note in fully.notes)


def test_ptx_needs_the_toolkit_driver_and_is_linux_only():
    future = [("a GPU newer than any build", "13.0")]
    assert rejection(decision(torch="2.13", nvidia_driver="580.10", ccs=future), "cu130").endswith(
        "would run through PTX, which needs driver 580.65.06 or newer (CUDA 13.0)"
    )
    result = decision(torch="2.13", nvidia_driver="595.58.03", ccs=future)
    assert result.variant == "cu132"
    assert any("runs through PTX 12.0" in note for c in result.candidates for note in c.notes)
    windows = decision(os="windows", glibc=None, torch="2.13", nvidia_driver="595.58", ccs=future)
    assert windows.variant == "cpu"


def test_unknown_compute_capability_is_accepted_with_a_note():
    result = decision(torch="2.13", nvidia_driver="580.95.05", ccs=[("NVIDIA GeForce RTX 3080 Laptop GPU", None)])
    assert result.variant == "cu130"
    chosen = next(c for c in result.candidates if c.variant == "cu130")
    assert "compute capability unknown, not checked" in chosen.notes[0]


def test_explicit_variant_wins_and_says_what_it_overrides():
    result = decision(torch="2.13", variant="cu130")
    assert result.variant == "cu130"
    assert "cu130 was asked for although no NVIDIA GPU detected" in result.notes


def test_unverified_rows_are_visible():
    assert any("not verified" in note for note in decision(torch="2.8").notes)
    rocm = next(c for c in decision(rocm_archs=("gfx1100",)).candidates if c.variant == "rocm7.14")
    assert rocm.notes == ("the architectures of rocm7.14 are not verified", "not verified: assumed from 2.14 ('2.14 less CUDA 12.6'); not confirmed for 2.15")
    arm = next(c for c in decision(arch="aarch64", torch="2.7", nvidia_driver="570.124.06", ccs=[("GH200", "9.0")]).candidates if c.variant == "cu128")
    assert arm.accepted and not arm.verified
    assert "the GPU architectures of this build are not verified (https://github.com/pytorch/pytorch/issues/160162" in arm.notes[-2]


def test_a_driver_too_old_for_the_newest_release_says_what_it_would_need():
    result = decision(nvidia_driver="570.86.15", ccs=[("NVIDIA GeForce RTX 3090", "8.6")])
    blocker = "driver 570.86.15 is older than 580, the minimum for CUDA 13.x"
    assert result.release_reason == f"the newest release with a build for this machine's GPU (torch 2.15.0: {blocker})"
    assert f"torch 2.15.0 has no build for this machine's GPU ({blocker}) → 2.14.1+cu126" in result.notes


def test_amd_reasons_name_the_architecture_not_nvidia():
    result = decision(torch="2.0", rocm_archs=("gfx1100",))
    assert result.variant == "cpu"
    assert result.variant_reason == "no release matching --torch 2.0 has a GPU build that fits: gfx1100 is not among the GPU architectures of rocm5.4.2"
    windows = decision(os="windows", glibc=None, rocm_archs=("gfx1100",))
    assert windows.variant_reason == "no release has a GPU build that fits: torch 2.15.0 has no ROCm build for Windows x86_64"


def test_a_companion_is_planned_with_the_torch_release_it_was_built_for_or_declares():
    """Every release's pins (releases[].companions) against companion_releases: built for that
    release, or declaring a range that holds it; load() refuses any other pairing."""
    for release in DATA.releases:
        for name, version in release.companions.items():
            row = DATA.companion(name, version)
            assert row.works_with(release.version), (release.version, name, version)
    older = decision(torch="2.13", with_packages=("torchvision", "torchaudio"))
    assert older.release.companions == {"torchvision": "0.28.0", "torchaudio": "2.11.1"}
    assert older.notes[0] == (
        "torchaudio 2.11.1 (built for torch 2.11.0; it declares torch>=2.11): upstream declares it works with torch 2.13.0 "
        "(https://github.com/pytorch/audio/releases/tag/v2.11.1)"
    )
    assert not any("torchvision 0.28.0" in note for note in older.notes)  # built for 2.13 itself: nothing to explain


def test_companions_missing_for_the_asked_release_name_the_releases_that_have_them():
    data = DATA._replace(releases=[r._replace(companions=dict(r.companions, torchaudio=None)) if r.parsed >= (2, 12) else r for r in DATA.releases])
    with pytest.raises(PlanError) as raised:
        decide(data, inputs(torch="2.13", with_packages=("torchaudio",)))
    assert raised.value.message == "--with torchaudio: no torchaudio release matches torch 2.13.0"
    assert raised.value.hint.startswith("torch releases with a torchaudio: 2.11.0, 2.10.0, 2.9.1")


def test_windows_python_3_13_has_no_2_5_wheel():
    with pytest.raises(PlanError) as raised:
        decision(os="windows", glibc=None, python="3.13", torch="2.5")
    assert raised.value.message == "torch 2.5 has no wheel for Python 3.13 on Windows x86_64: 2.5.1 supports Python 3.9 to 3.12"


@pytest.mark.parametrize(
    "given, message",
    [
        (dict(torch="2.4", python="3.13"), "torch 2.4 has no wheel for Python 3.13 on Linux x86_64: 2.4.1 supports Python 3.8 to 3.12"),
        (dict(torch="2.x"), "--torch 2.x: not a version or a version range (e.g. 2.7, 2.7.1, '>=2.5,<2.8')"),
        (dict(torch="1.13"), "--torch 1.13: no such release series"),
        (dict(torch=">=9"), "--torch >=9: no known release matches"),
        (dict(torch="2.13", variant="rocm6.4"), "--variant rocm6.4: torch 2.13.0 has no such build for Linux x86_64"),
        (dict(python="3.7"), "no torch release has a wheel for Python 3.7 on Linux x86_64: 2.15.0 supports Python 3.11 to 3.15"),
    ],
)
def test_bad_requests(given, message):
    with pytest.raises(PlanError) as raised:
        decision(**given)
    assert raised.value.message == message
    assert raised.value.hint


def test_python_outside_range_names_the_releases_that_fit():
    with pytest.raises(PlanError) as raised:
        decision(torch="2.4", python="3.13")
    assert raised.value.hint.startswith("releases that do: 2.15.0, 2.14.1, 2.13.0")
    assert raised.value.hint.endswith("2.5.1")


def test_every_row_names_a_known_source():
    import json
    import re

    from torchup.installer.compat import DATA_FILE

    with open(DATA_FILE, encoding="utf-8") as handle:
        raw = json.load(handle)
    sources = set(raw["sources"])

    def named(text):
        return [key for key in re.findall(r"[a-z0-9][a-z0-9.-]*", text) if key in sources]

    for release in raw["releases"]:
        assert release["python"]["source"] in sources and release["companions_source"] in sources
        assert release["pypi_default"]["source"] in sources
        for platform, row in release["platforms"].items():
            assert row["source"] and set(row["source"]) <= sources, (release["version"], platform)
            for build, arch_set in row["builds"].items():
                # A CUDA build names its architectures; no other build has any.
                assert (arch_set in raw["cuda_arch_sets"]) if build.startswith("cu") else arch_set is None, (release["version"], platform, build)
                if build.startswith("rocm"):
                    assert build in {r["variant"] for r in raw["rocm_architectures"]}
            assert set(row.get("unverified", {})) <= set(row["builds"])
    for row in raw["nvidia_drivers"]["floors"] + raw["nvidia_drivers"]["toolkits"] + raw["rocm_architectures"] + raw["jetson"]:
        assert named(row["source"]) or row["source"].startswith(("not verified", "assumed")), row
    for arch_set in raw["cuda_arch_sets"].values():
        assert named(arch_set["source"]), arch_set
        assert arch_set["verified"] != arch_set["source"].startswith("not verified"), arch_set


def test_sources_are_public_addresses():
    """What the plan cites must be reachable by anyone: a URL, never a note or file of this project."""
    from torchup.installer.compat import load

    for key, text in DATA.sources.items():
        assert text.split(" — ")[0].startswith("https://") or "https://" in text, key
        assert "research" not in text and "tests/" not in text and "anchors" not in text, key
    assert (
        DATA.cite("arch-matrix-2.12; corridorkey-141 (Linux)")
        == "https://github.com/pytorch/pytorch/pull/182849, https://github.com/nikopueringer/CorridorKey/pull/141"
    )
    # An address that ends a source's sentence is cited without the sentence's own "." or ":".
    for key in DATA.sources:
        assert all(not url.endswith((".", ":")) for url in DATA.cite(key).split(", ")), key
    assert load() is DATA


def test_what_pypi_would_have_given_is_said_where_it_differs():
    cpu = decision(torch="2.13")
    assert "a plain `pip install torch==2.13.0` from PyPI would install the cu130 build, several GB of CUDA libraries" in cpu.notes
    gpu = decision(torch="2.13", nvidia_driver="580.95.05", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")], variant="cu130")
    assert not any("from PyPI" in note for note in gpu.notes)
    # PyPI's 2.14.1 wheel requires cuda-toolkit 13.0.3, its 2.15.0 wheel 13.2.2; aarch64 wheels are CUDA builds from 2.11.
    assert "a plain `pip install torch==2.14.1` from PyPI would install the cu130 build, several GB of CUDA libraries" in decision(torch="2.14").notes
    assert any("torch==2.15.0` from PyPI would install the cu132 build" in note for note in decision().notes)
    assert any("torch==2.11.0` from PyPI would install the cu130 build" in note for note in decision(arch="aarch64", torch="2.11").notes)
    assert not any("from PyPI" in note for note in decision(arch="aarch64", torch="2.10").notes)


@pytest.mark.parametrize(
    "version, variant, given, expected",
    [
        ("2.7.1", "cu118", dict(nvidia_driver="450.80.02", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")]), True),
        (
            "2.13.0",
            "cu130",
            dict(nvidia_driver="570.124.06", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")]),
            "driver 570.124.06 is older than 580, the minimum for CUDA 13.x",
        ),
        (
            "2.7.0",
            "cu128",
            dict(nvidia_driver="570.124.06", ccs=[("Tesla V100-SXM2-16GB", "7.0")]),
            "GPU 0 (Tesla V100-SXM2-16GB, compute capability 7.0) has no kernels in this build (sm_75, sm_80, sm_86, sm_90, sm_100, sm_120 + PTX 12.0)",
        ),
        ("1.13.1", "cu117", dict(nvidia_driver="570.124.06"), None),  # a release the data does not know
        ("2.15.0", "cu126", dict(nvidia_driver="570.124.06"), None),  # a build 2.15 does not publish
        ("2.13.0", "rocm7.2", dict(os="windows", rocm_archs=("gfx942",)), None),  # nor does Windows
    ],
)
def test_runs_here_judges_one_build_of_one_release(version, variant, given, expected):
    """The question a bundle and a locked project ask: does this exact build run on this machine?"""
    candidate = runs_here(DATA, inputs(**given), version, Build.parse(variant))
    if expected is None:
        assert candidate is None
    elif expected is True:
        assert candidate.accepted, candidate.reason
    else:
        assert (candidate.accepted, candidate.reason) == (False, expected)


@pytest.mark.parametrize(
    "given, release_basis, newer_lost, variant_basis, asked_misfit",
    [
        (
            dict(python="3.12", nvidia_driver="570.86.15", ccs=[(None, "8.6")]),
            "the newest release with a build for this machine's GPU",
            "torch 2.15.0: driver 570.86.15 is older than 580, the minimum for CUDA 13.x",
            "the newest build that fits",
            None,
        ),
        (
            dict(torch="2.7", variant="cu118"),
            "the newest release matching --torch 2.7 with a cu118 build for Python 3.11 on Linux x86_64",
            None,
            "asked for with --variant",
            "cu118 was asked for although no NVIDIA GPU detected",
        ),
        (
            dict(torch="2.13", nvidia_driver="450.80.02", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")]),
            "the newest release matching --torch 2.13 with a wheel for Python 3.11 on Linux x86_64",
            None,
            "no release matching --torch 2.13 has a GPU build that fits: driver 450.80.02 is older than 580, the minimum for CUDA 13.x; "
            "an NVIDIA driver 580 or newer would allow cu132; torch 2.7.1 has a build for it (cu118): --torch 2.7",
            None,
        ),
    ],
)
def test_each_reason_is_kept_once_and_whole_where_one_line_needs_it(given, release_basis, newer_lost, variant_basis, asked_misfit):
    """The text shows the parts apart (the table and the notes say the rest); the JSON document and
    install's progress line get each reason whole."""
    result = decision(**given)
    assert (result.release_basis, result.newer_lost, result.variant_basis, result.asked_misfit) == (release_basis, newer_lost, variant_basis, asked_misfit)
    assert result.release_reason == release_basis + (f" ({newer_lost})" if newer_lost else "")
    fits = result.chosen.accepted and result.build.accelerated
    assert result.variant_reason == (f"{variant_basis}: {result.chosen.reason}" if fits else variant_basis)
    assert asked_misfit is None or asked_misfit in result.notes


def test_a_gpu_is_labelled_by_what_is_known_of_it():
    assert Gpu(0, None, "8.6").label() == "GPU 0 (compute capability 8.6)"
    assert Gpu(1, "NVIDIA L4", "8.9").label() == "GPU 1 (NVIDIA L4, compute capability 8.9)"
    assert Gpu(2, "NVIDIA GeForce RTX 3080 Laptop GPU", None).label() == "GPU 2 (NVIDIA GeForce RTX 3080 Laptop GPU)"
    assert DATA.gpu_family("8.9") == "Ada: RTX 40, L4, L40" and DATA.gpu_family("9.9") is None and DATA.gpu_family(None) is None


@pytest.mark.parametrize(
    "lines, allowed",
    [
        (["torch<=2.14.1"], "<=2.14.1"),
        (["Torch >= 2.4, <3", "torch[opt] (<=2.13.0)"], "<3,<=2.13.0,>=2.4"),
        (["torch==2.12.1+cu126"], "==2.12.1"),  # the release limits the plan; the build is pip's to refuse
        # Left to pip: a marker, a URL, a line pip could not read, a line that limits nothing.
        (['torch<2.5 ; python_version < "3.0"', "torch @ https://example.org/torch.whl", "torch (<=2", "torch<=2.13 junk", "torch"], None),
    ],
)
def test_the_torch_releases_a_pip_constraint_file_allows(lines, allowed):
    from types import SimpleNamespace

    from torchup.installer.detect.target_facts import ConstraintLine, Pip, PipConfig
    from torchup.installer.plan import pip_torch_constraint

    facts = SimpleNamespace(pip=Pip(config=PipConfig(torch_constraints=[ConstraintLine("/etc/pip/caps.txt", line) for line in lines])))
    assert pip_torch_constraint(facts) == ((allowed, ["/etc/pip/caps.txt"]) if allowed else (None, []))
