"""The decision, table-driven. Each case names the data rows it rests on (installer/plan/compatibility.json)
and, through them, their sources."""

import pytest

from installer.plan.data import load
from installer.plan.policy import Gpu, PlanError, PlanInputs, decide

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
        "2.15.0", "cpu",
        "releases[2.15].python (pypi-files)",
    ),
    (
        "driver too old for every CUDA build of 2.13: CPU",
        dict(torch="2.13", nvidia_driver="450.80.02", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")]),
        "2.13.0", "cpu",
        "nvidia_drivers.floors cuda 12 = 525.60.13, cuda 13 = 580 (minor-version-compat); releases[2.13].variants",
    ),
    (
        "the same driver still has a CUDA 11.8 build in 2.7",
        dict(torch="2.7", nvidia_driver="450.80.02", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")]),
        "2.7.1", "cu118",
        "nvidia_drivers.floors cuda 11 = 450.80.02; releases[2.7].variants has cu118",
    ),
    (
        "Pascal (GTX 1080 Ti, 6.1) left cu128/cu129 in 2.8: cu126",
        dict(torch="2.8", nvidia_driver="570.124.06", ccs=[("NVIDIA GeForce GTX 1080 Ti", "6.1")]),
        "2.8.0", "cu126",
        "cuda_arch_sets volta-blackwell (pascal-dropped-2.8), maxwell-hopper",
    ),
    (
        "Volta (V100, 7.0) left cu128 in 2.11 and is in no CUDA 13 build: cu126",
        dict(torch="2.11", nvidia_driver="580.95.05", ccs=[("Tesla V100-SXM2-16GB", "7.0")] * 2),
        "2.11.0", "cu126",
        "cuda_arch_sets turing-blackwell (volta-dropped-2.11)",
    ),
    (
        "Volta still in 2.10's cu128",
        dict(torch="2.10", nvidia_driver="570.124.06", ccs=[("Tesla V100-SXM2-16GB", "7.0")]),
        "2.10.0", "cu128",
        "cuda_arch_sets volta-blackwell (volta-blackwell-2.9)",
    ),
    (
        "Blackwell (RTX 5090, 12.0) needs cu128 or newer: 2.7's cu128",
        dict(torch="2.7", nvidia_driver="570.124.06", ccs=[("NVIDIA GeForce RTX 5090", "12.0")]),
        "2.7.1", "cu128",
        "cuda_arch_sets maxwell-blackwell vs maxwell-hopper",
    ),
    (
        "Blackwell has no build in 2.6: CPU",
        dict(torch="2.6", nvidia_driver="570.124.06", ccs=[("NVIDIA GeForce RTX 5090", "12.0")]),
        "2.6.0", "cpu",
        "releases[2.6].cuda_archs all maxwell-hopper",
    ),
    (
        "mixed GPUs (TITAN V 7.0 + RTX 5880 Ada 8.9) on driver 570: only cu126 serves both",
        dict(torch="2.13", nvidia_driver="570.86.15", ccs=[("NVIDIA TITAN V", "7.0"), ("NVIDIA RTX 5880 Ada Generation", "8.9")]),
        "2.13.0", "cu126",
        "maxwell-hopper (8.6 SASS runs on 8.9); cuda 13 floor 580",
    ),
    (
        "mixed GPUs on driver 590: CUDA 13 allowed by the driver, refused by the TITAN V",
        dict(torch="2.13", nvidia_driver="590.48.01", ccs=[("NVIDIA TITAN V", "7.0"), ("NVIDIA RTX 5880 Ada Generation", "8.9")]),
        "2.13.0", "cu126",
        "turing-blackwell-ptx (arch-matrix-2.12)",
    ),
    (
        "the H100 machine (driver 580.159.04, 9.0) on 2.11: cu130, what it runs",
        dict(torch="2.11", python="3.12", glibc="2.39", nvidia_driver="580.159.04", ccs=[("NVIDIA H100 80GB HBM3", "9.0")]),
        "2.11.0", "cu130",
        "turing-blackwell (h100-capture: torch 2.11.0+cu130 on that machine)",
    ),
    (
        "Windows floors are higher: 527.41 is below 528.33, so CUDA 11.8",
        dict(os="windows", glibc=None, torch="2.7", nvidia_driver="527.41", ccs=[("NVIDIA GeForce RTX 3080", "8.6")]),
        "2.7.1", "cu118",
        "nvidia_drivers.floors cuda 12 windows = 528.33",
    ),
    (
        "the same driver on Linux meets 525.60.13: cu128",
        dict(torch="2.7", nvidia_driver="527.41", ccs=[("NVIDIA GeForce RTX 3080", "8.6")]),
        "2.7.1", "cu128",
        "nvidia_drivers.floors cuda 12 linux = 525.60.13",
    ),
    (
        "Python 3.9: the 2.8 series",
        dict(python="3.9"),
        "2.8.0", "cpu",
        "releases[2.8].python 3.9–3.13, [2.9].python from 3.10 (pypi-files)",
    ),
    (
        "Python 3.15: only 2.15",
        dict(python="3.15"),
        "2.15.0", "cpu",
        "releases[2.15].python 3.11–3.15 (pypi-files)",
    ),
    (
        "macOS x86_64 ends at 2.2.2",
        dict(os="macos", arch="x86_64", glibc=None, macos="13.6"),
        "2.2.2", "default",
        "releases[2.2].variants macos-x86_64 (macos-x86-end)",
    ),
    (
        "macOS arm64 on macOS 13: 2.12 and newer need macOS 14",
        dict(os="macos", arch="arm64", glibc=None, macos="13.6"),
        "2.11.0", "default",
        "releases[2.12].platforms macos-arm64 14.0 (pypi-files)",
    ),
    (
        "glibc 2.17 (CentOS 7): 2.7 and newer need 2.28",
        dict(glibc="2.17", python="3.10"),
        "2.6.0", "cpu",
        "releases[2.7].platforms linux-x86_64 glibc 2.28 (pypi-files)",
    ),
    (
        "a Jetson (L4T 35.4.1) never gets a download.pytorch.org CUDA build",
        dict(arch="aarch64", torch="2.13", jetson="35.4.1", ccs=[("Orin (nvgpu)", None)], nvidia_driver="540.4.0"),
        "2.13.0", "cpu",
        "policy: Jetson boards need NVIDIA's Jetson wheels",
    ),
    (
        "GH200 (aarch64, 9.0) on 2.13: the newest CUDA build for aarch64",
        dict(arch="aarch64", torch="2.13", nvidia_driver="580.95.05", ccs=[("NVIDIA GH200 480GB", "9.0")]),
        "2.13.0", "cu132",
        "releases[2.13].cuda_archs_aarch64 ampere-blackwell-arm (arch-matrix-2.12)",
    ),
    (
        "MI300X (gfx942) on 2.13: rocm7.2",
        dict(torch="2.13", rocm_archs=("gfx942",) * 4),
        "2.13.0", "rocm7.2",
        "rocm_architectures rocm7.2 (uv-rocm)",
    ),
    (
        "Strix Halo (gfx1151) is in rocm7.2 only: 2.11 yes",
        dict(torch="2.11", rocm_archs=("gfx1151",)),
        "2.11.0", "rocm7.2",
        "rocm_architectures rocm7.2 gfx1151 (uv-rocm)",
    ),
    (
        "Strix Halo on 2.10 (rocm7.1): CPU",
        dict(torch="2.10", rocm_archs=("gfx1151",)),
        "2.10.0", "cpu",
        "rocm_architectures rocm7.1 lacks gfx1151 (uv-rocm)",
    ),
    (
        "an Arc A770 gets the XPU build",
        dict(torch="2.13", intel_gpus=("Intel(R) Arc(TM) A770 Graphics", "Intel(R) UHD Graphics 730"), intel_display_device=True),
        "2.13.0", "xpu",
        "releases[2.13].variants has xpu",
    ),
    (
        "integrated Intel graphics alone do not",
        dict(torch="2.13", intel_gpus=("Intel(R) UHD Graphics 730",), intel_display_device=True),
        "2.13.0", "cpu",
        "policy: XPU supports Arc and Data Center GPUs",
    ),
    (
        "free-threaded 3.13: 2.11 is the newest with cp313t wheels",
        dict(python="3.13", free_threaded=True),
        "2.11.0", "cpu",
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
        "GPU 0 (NVIDIA GeForce GTX 1080 Ti, compute capability 6.1) has no kernels in this build "
        "(sm_70, sm_75, sm_80, sm_86, sm_90, sm_100, sm_120, no PTX)"
    )


def test_minor_version_compatibility_is_said():
    result = decision(torch="2.7", nvidia_driver="527.41", ccs=[("NVIDIA GeForce RTX 3080", "8.6")])
    chosen = next(c for c in result.candidates if c.variant == "cu128")
    assert any("below CUDA 12.8's own 570.26" in note for note in chosen.notes)


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
    assert result.variant == "cu132"
    chosen = next(c for c in result.candidates if c.variant == "cu132")
    assert "compute capability unknown, not checked" in chosen.notes[0]


def test_explicit_variant_wins_and_says_what_it_overrides():
    result = decision(torch="2.13", variant="cu130")
    assert result.variant == "cu130"
    assert "cu130 was asked for although no NVIDIA GPU detected" in result.notes


def test_unverified_rows_are_visible():
    assert any("not verified" in note for note in decision(torch="2.8").notes)
    cu118 = next(c for c in decision(torch="2.7", nvidia_driver="570.124.06", ccs=[("RTX 3080", "8.6")]).candidates if c.variant == "cu118")
    assert any("not verified" in note for note in cu118.notes)


@pytest.mark.parametrize(
    "given, message",
    [
        (dict(torch="2.4", python="3.13"), "torch 2.4 has a wheel for Python 3.13 on Linux x86_64: 2.4.1 supports Python 3.8 to 3.12"),
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

    raw = json.loads(DATA_FILE_TEXT())
    sources = set(raw["sources"])
    for release in raw["releases"]:
        assert release["python"]["source"] in sources and release["platforms"]["source"] in sources
        assert release["variants_source"] in sources and release["companions_source"] in sources
        for table in ("cuda_archs", "cuda_archs_aarch64"):
            for variant, arch_set in release[table].items():
                assert arch_set in raw["cuda_arch_sets"], (release["version"], variant)
        cuda_variants = {v for key, vs in release["variants"].items() if key != "linux-aarch64" for v in vs if v.startswith("cu")}
        assert cuda_variants == set(release["cuda_archs"]), release["version"]
        arm_cuda = {v for v in release["variants"]["linux-aarch64"] if v.startswith("cu")}
        assert arm_cuda == set(release["cuda_archs_aarch64"]), release["version"]
        for variant in {v for vs in release["variants"].values() for v in vs if v.startswith("rocm")}:
            assert variant in {row["variant"] for row in raw["rocm_architectures"]}
    for row in raw["nvidia_drivers"]["floors"] + raw["nvidia_drivers"]["toolkits"] + raw["rocm_architectures"]:
        assert row["source"].split(" ")[0] in sources or row["source"].startswith(("not verified", "assumed"))
    for arch_set in raw["cuda_arch_sets"].values():
        assert arch_set["verified"] or "not verified" in arch_set["source"] or "inference" in arch_set["source"]


def DATA_FILE_TEXT():
    from installer.plan.data import DATA_FILE

    return DATA_FILE.read_text(encoding="utf-8")


def test_what_pypi_would_have_given_is_said_where_it_differs():
    cpu = decision(torch="2.13")
    assert "a plain `pip install torch==2.13.0` from PyPI would install the cu130 build, several GB of CUDA libraries" in cpu.notes
    gpu = decision(torch="2.13", nvidia_driver="580.95.05", ccs=[("NVIDIA A100-SXM4-80GB", "8.0")], variant="cu130")
    assert not any("from PyPI" in note for note in gpu.notes)
