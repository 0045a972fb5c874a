"""compatibility.json is checked when it is loaded: each broken copy of the real file fails with
the file and the row named, instead of loading and failing later inside a plan."""

import json

import pytest

from torchup.installer.compat import DATA_FILE, CompatibilityDataError, load


def release(raw, version):
    return next(row for row in raw["releases"] if row["version"] == version)


def linux(raw, version="2.15.0"):
    return release(raw, version)["platforms"]["linux-x86_64"]


def advisory(raw, ident):
    return next(row for row in raw["advisories"] if row["id"] == ident)


def rocm_row(raw, variant):
    return next(row for row in raw["rocm_architectures"] if row["variant"] == variant)


# (what is broken, how, the message load() gives)
BROKEN = [
    (
        "a new CUDA major without its driver floor",
        lambda raw: linux(raw)["builds"].update(cu140="turing-blackwell-ptx"),
        "releases[2.15.0].platforms[linux-x86_64].builds[cu140]: CUDA 14 has no nvidia_drivers.floors row",
    ),
    (
        "a CUDA build naming an architecture set that does not exist",
        lambda raw: linux(raw)["builds"].update(cu132="hopper-rubin"),
        "releases[2.15.0].platforms[linux-x86_64].builds[cu132]: its architecture set 'hopper-rubin' is not in cuda_arch_sets",
    ),
    (
        "a build name torchup cannot parse",
        lambda raw: linux(raw)["builds"].update(cuda13=None),
        "releases[2.15.0].platforms[linux-x86_64].builds[cuda13]: not a build name torchup knows (cpu, xpu, default, cuXYZ, rocmX.Y)",
    ),
    (
        "a ROCm build without its architectures",
        lambda raw: linux(raw)["builds"].update({"rocm7.20": None}),
        "releases[2.15.0].platforms[linux-x86_64].builds[rocm7.20]: rocm7.20 has no rocm_architectures row",
    ),
    (
        "an architecture set on a CPU build",
        lambda raw: linux(raw)["builds"].update(cpu="turing-blackwell"),
        "releases[2.15.0].platforms[linux-x86_64].builds[cpu]: only a CUDA build names an architecture set, not 'turing-blackwell'",
    ),
    (
        "a platform torchup does not know",
        lambda raw: release(raw, "2.15.0")["platforms"].update({"linux-riscv64": {"builds": {"cpu": None}, "source": ["pypi-files"]}}),
        "releases[2.15.0].platforms[linux-riscv64]: not a platform torchup knows (linux-x86_64, linux-aarch64, windows-x86_64, macos-arm64, macos-x86_64)",
    ),
    (
        "a platform row citing a source that is not in sources",
        lambda raw: linux(raw)["source"].append("rocm-2.15"),
        "releases[2.15.0].platforms[linux-x86_64].source: 'rocm-2.15' is not a key of sources",
    ),
    (
        "an unverified note for a build the row does not list",
        lambda raw: linux(raw)["unverified"].update(cu131="assumed"),
        "releases[2.15.0].platforms[linux-x86_64].unverified[cu131]: not a build of this platform",
    ),
    (
        "PyPI's default build not among the release's builds",
        lambda raw: release(raw, "2.15.0")["pypi_default"].update({"linux-x86_64": "cu129"}),
        "releases[2.15.0].pypi_default[linux-x86_64]: 'cu129' is not a build of this release for linux-x86_64",
    ),
    (
        "a Python version that does not parse",
        lambda raw: release(raw, "2.14.1")["python"].update(min="3.x"),
        "releases[2.14.1].python.min: '3.x' is not a version X.Y",
    ),
    (
        "a Python range upside down",
        lambda raw: release(raw, "2.14.1")["python"].update(min="3.15"),
        "releases[2.14.1].python: min 3.15 is above max 3.14",
    ),
    (
        "a release version that is not X.Y.Z",
        lambda raw: release(raw, "2.14.1").update(version="2.14"),
        "releases[14].version: '2.14' is not a release version X.Y.Z",  # the row is named by its place when its version is what is broken
    ),
    (
        "the same release twice",
        lambda raw: raw["releases"].append(dict(release(raw, "2.13.0"))),
        "releases[2.13.0]: a second row for this release",
    ),
    (
        "an architecture set citing an unknown source",
        lambda raw: raw["cuda_arch_sets"]["ampere-hopper-arm"].update(source="arch-matrix-2.13"),
        "cuda_arch_sets[ampere-hopper-arm].source: 'arch-matrix-2.13' is not a key of sources",
    ),
    (
        "an architecture set marked verified whose source says it is not",
        lambda raw: raw["cuda_arch_sets"]["pascal-blackwell-win"].update(verified=True),
        "cuda_arch_sets[pascal-blackwell-win]: 'verified' is true, and its source says 'not verified'",
    ),
    (
        "a compute capability that does not parse",
        lambda raw: raw["cuda_arch_sets"]["turing-blackwell-ptx"].update(ptx="sm_120"),
        "cuda_arch_sets[turing-blackwell-ptx].ptx: 'sm_120' is not a compute capability X.Y",
    ),
    (
        "a driver floor without its Linux driver",
        lambda raw: raw["nvidia_drivers"]["floors"][1].pop("linux"),
        "nvidia_drivers.floors[1]: 'linux' is missing",
    ),
    (
        "a second floor for one CUDA major",
        lambda raw: raw["nvidia_drivers"]["floors"].append(dict(raw["nvidia_drivers"]["floors"][2])),
        "nvidia_drivers.floors[3]: a second row for CUDA 13",
    ),
    (
        "a ROCm row without any source",
        lambda raw: rocm_row(raw, "rocm7.2").update(source="uv"),
        "rocm_architectures[rocm7.2].source: 'uv' is not a key of sources",
    ),
    (
        "a gfx name that is not one",
        lambda raw: rocm_row(raw, "rocm7.2")["gfx"].append("MI300X"),
        "rocm_architectures[rocm7.2].gfx: 'MI300X' is not an AMD gfx architecture",
    ),
    (
        "a Jetson release that does not parse",
        lambda raw: raw["jetson"][0].update(l4t_from="thirty-eight"),
        "jetson[0].l4t_from: 'thirty-eight' is not a dotted version",
    ),
    (
        "a Jetson board on the SBSA builds without its CUDA",
        lambda raw: raw["jetson"][0].update(cuda=None),
        "jetson[0]: a board that runs the SBSA builds must name the CUDA its driver provides",
    ),
    (
        "a Jetson wheel for another Python than its JetPack's",
        lambda raw: raw["jetson"][2].update(python="3.12"),
        "jetson[2].wheel.url: not a Linux aarch64 wheel for Python 3.12 (cp312)",
    ),
    (
        "a Jetson row on NVIDIA's wheels that names none and says nothing of what exists",
        lambda raw: raw["jetson"][7].pop("last"),
        "jetson[7]: a board on NVIDIA's wheels names the wheel torchup plans, or says what NVIDIA published for it ('last')",
    ),
    (
        "a Jetson row that ends before it starts",
        lambda raw: raw["jetson"][2].update(l4t_to="36.0"),
        "jetson[2].l4t_to: 36.0 is not after l4t_from 36.4",
    ),
    (
        "a Jetson wheel listed as a build of a release",
        lambda raw: release(raw, "2.15.0")["platforms"]["linux-aarch64"]["builds"].update(jp61=None),
        "releases[2.15.0].platforms[linux-aarch64].builds[jp61]: NVIDIA's Jetson wheels are no build of a release: they belong in the jetson rows",
    ),
    (
        "a source with no public address",
        lambda raw: raw["sources"].update({"mps-notes": "Apple's Metal notes, read 2026-11-27"}),
        "sources[mps-notes]: holds no https:// address: every source must be public",
    ),
    (
        "a source on a private host",
        lambda raw: raw["sources"].update({"mps-notes": "https://localhost/notes.html"}),
        "sources[mps-notes]: https://localhost/notes.html is not a public https:// address",
    ),
    (
        "a GPU family under a compute capability that does not parse",
        lambda raw: raw["gpu_families"]["by_compute_capability"].update(sm_89="Ada"),
        "gpu_families.by_compute_capability[sm_89]: 'sm_89' is not a compute capability X.Y",
    ),
    (
        "the GPU families without their source",
        lambda raw: raw["gpu_families"].update(source="nvidia"),
        "gpu_families.source: 'nvidia' is not a key of sources",
    ),
    (
        "a release pinning a companion the data has no row for",
        lambda raw: release(raw, "2.15.0")["companions"].update(torchvision="0.30.0"),
        "releases[2.15.0].companions[torchvision]: torchvision 0.30.0 has no companion_releases row",
    ),
    (
        "a release paired with a companion built for another release that declares no range holding it",
        lambda raw: release(raw, "2.13.0")["companions"].update(torchvision="0.29.0"),
        "releases[2.13.0].companions[torchvision]: torchvision 0.29.0 was built for torch 2.14.0 and declares torch==2.14.0, not 2.13.0",
    ),
    (
        "a companion row whose torch range does not parse",
        lambda raw: raw["companion_releases"]["torchvision"]["0.29.1"].update(torch="~=2.14"),
        "companion_releases[torchvision][0.29.1].torch: '~=2.14' is not a range of torch releases (==2.14.0, >=2.14, <2.6.0, joined by commas)",
    ),
    (
        "a companion row without the torch release it was built for",
        lambda raw: raw["companion_releases"]["torchaudio"]["2.11.1"].pop("built_for"),
        "companion_releases[torchaudio][2.11.1]: 'built_for' is missing",
    ),
    (
        "a companion torchup does not plan",
        lambda raw: raw["companion_releases"].update(torchtext={}),
        "companion_releases[torchtext]: not a companion torchup plans (torchvision, torchaudio)",
    ),
    (
        "an advisory whose fixed release lies in the range it affects",
        lambda raw: advisory(raw, "PYSEC-2025-41").update(fixed="2.5.0"),
        "advisories[PYSEC-2025-41].fixed: 2.5.0 is in the range it is said to fix (<=2.5.1)",
    ),
    (
        "an advisory id no scanner reports",
        lambda raw: advisory(raw, "PYSEC-2025-41").update(id="TORCH-2025-1"),
        "advisories[7].id: 'TORCH-2025-1' is not an advisory id (PYSEC-…, GHSA-…, CVE-…)",
    ),
    (
        "an advisory range that does not parse",
        lambda raw: advisory(raw, "PYSEC-2025-189").update(affected="<=2.6.0-NA"),
        "advisories[PYSEC-2025-189].affected: '<=2.6.0-NA' is not a range of torch releases (<2.6.0, <=2.6.0, ==2.6.0, joined by commas)",
    ),
    (
        "an advisory citing no source",
        lambda raw: advisory(raw, "PYSEC-2026-139").update(source="osv"),
        "advisories[PYSEC-2026-139].source: 'osv' is not a key of sources",
    ),
    (
        "the same advisory twice",
        lambda raw: raw["advisories"].append(dict(advisory(raw, "PYSEC-2026-139"))),
        "advisories[33].id: PYSEC-2026-139 has a row already",
    ),
    (
        "minor-version compatibility without its limits",
        lambda raw: raw["nvidia_drivers"]["minor_version_limits"].update(limits=[]),
        "nvidia_drivers.minor_version_limits.limits: must list, in words, what minor-version compatibility limits",
    ),
    (
        "a schema this torchup does not read",
        lambda raw: raw.update(schema=2),
        "schema: 2: this torchup reads schema 1",
    ),
]


@pytest.mark.parametrize("what, breaking, message", BROKEN, ids=[case[0] for case in BROKEN])
def test_a_broken_copy_fails_to_load_naming_its_row(tmp_path, what, breaking, message):
    with open(DATA_FILE, encoding="utf-8") as handle:
        raw = json.load(handle)
    breaking(raw)
    copy = tmp_path / "compatibility.json"
    copy.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(CompatibilityDataError) as raised:
        load(copy)
    assert str(raised.value) == f"compatibility.json: {message}"
    assert isinstance(raised.value, ValueError)


def test_a_file_that_is_not_json_names_the_line(tmp_path):
    copy = tmp_path / "compatibility.json"
    copy.write_text('{\n  "schema": 1,\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(CompatibilityDataError, match=r"^compatibility.json: line 3: not JSON \("):
        load(copy)


def test_the_real_file_loads():
    data = load(DATA_FILE)
    assert {release.version for release in data.releases} >= {"2.0.1", "2.15.0"}
    assert set(data.driver_floors) == {11, 12, 13}


def test_known_builds_read_as_a_list_by_kind_then_newest_first():
    """What the hint of an unknown --variant lists: CPU, then CUDA, ROCm, XPU, each newest first."""
    from torchup.installer.compat import Build, BuildKind

    names = load().known_builds()
    builds = [Build.parse(name) for name in names]
    kinds = [build.kind for build in builds]
    assert kinds == sorted(kinds, key=list(BuildKind).index) and names[0] == "cpu"
    for kind in (BuildKind.CUDA, BuildKind.ROCM):
        versions = [build.version + (0,) * (3 - len(build.version)) for build in builds if build.kind is kind]
        assert versions == sorted(versions, reverse=True), kind
    assert names.index("rocm6.2.4") < names.index("rocm6.2")
