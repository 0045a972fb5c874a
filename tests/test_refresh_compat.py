"""tools/refresh_compat.py against recorded PyPI pages and index listings served on 127.0.0.1."""

import json
import shutil
import subprocess
import sys

from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
PAGES = {"torch": "pypi-json/torch.json", "torchvision": "pypi-json/torchvision.json", "torchaudio": "pypi-json/torchaudio.json"}


def serve_pypi(local_index, torch_document=None, **documents):
    """The recorded pages on 127.0.0.1, a project's replaced where its document is given."""
    if torch_document is not None:
        documents["torch"] = torch_document
    for project, recorded in PAGES.items():
        page = local_index.root / "pypi" / project
        page.mkdir(parents=True, exist_ok=True)
        if project in documents:
            (page / "json").write_text(json.dumps(documents[project]))
        else:
            shutil.copy(FIXTURES / recorded, page / "json")


def refresh(*args):
    return subprocess.run([sys.executable, str(REPO / "tools" / "refresh_compat.py"), *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def wheels(version, variant, pythons=("310", "311", "312", "313", "314"), platforms=("manylinux_2_28_x86_64", "manylinux_2_28_aarch64", "win_amd64")):
    return [f"torch-{version}+{variant}-cp{p}-cp{p}-{platform}.whl" for p in pythons for platform in platforms]


def test_recorded_pypi_agrees_with_the_data_but_for_what_it_reports(local_index):
    serve_pypi(local_index)
    local_index.add_listing("whl/cu126/torch", wheels("2.14.1", "cu126") + wheels("2.13.0", "cu126"))
    result = refresh("--index-base", f"{local_index.url}/whl", "--pypi", local_index.url, "--variant", "cu126", "--timeout", "10")
    lines = result.stdout.splitlines()
    # The recorded torchvision and torchaudio pages hold no release the data lacks, and each
    # torch release is pinned to the newest companion that declares it works with it.
    assert not any("torchvision" in line or "torchaudio" in line for line in lines), lines
    # Every release but 2.13 and 2.14 lacks a cu126 listing here: each is named, none of the others.
    assert "- torch 2.12.1 on linux-x86_64: build cu126 is in the data, not on the index" in lines
    assert not any("2.13.0 on" in line or "2.14.1 on" in line for line in lines), lines
    assert result.returncode == 1, result.stderr
    assert lines[-1].endswith(" differences")


def test_new_releases_builds_and_python_ranges_are_reported(local_index, tmp_path):
    torch = json.loads((FIXTURES / PAGES["torch"]).read_text())
    torch["releases"]["2.16.0"] = [{"filename": "torch-2.16.0-cp312-cp312-manylinux_2_28_x86_64.whl"}]
    serve_pypi(local_index, torch)
    local_index.add_listing("whl/cu130/torch", wheels("2.15.0", "cu130", pythons=("311", "312", "313", "314", "315")) + wheels("2.15.1", "cu130"))
    local_index.add_listing("whl/cu133/torch", wheels("2.15.0", "cu133", pythons=("312",), platforms=("manylinux_2_28_x86_64",)))
    # Data as it was before PyPI's file list was read per platform: 2.5 with Python 3.13 everywhere.
    data = json.loads((REPO / "installer" / "compat" / "compatibility.json").read_text())
    release = next(r for r in data["releases"] if r["version"] == "2.5.1")
    for row in release["platforms"].values():
        row.pop("python_max", None)
    changed = tmp_path / "compatibility.json"
    changed.write_text(json.dumps(data))
    result = refresh(
        "--data",
        str(changed),
        "--index-base",
        f"{local_index.url}/whl",
        "--pypi",
        local_index.url,
        "--variant",
        "cu130",
        "--variant",
        "cu133",
        "--timeout",
        "10",
    )
    lines = result.stdout.splitlines()
    assert "+ torch 2.16.0 is on PyPI, not in the data" in lines
    assert "+ torch 2.15.1 on linux-aarch64: a new release on the index, builds cu130" in lines
    assert "+ torch 2.15.0 on linux-x86_64: build cu133 is on the index (Python 3.12–3.12), not in the data" in lines
    assert "~ torch 2.5.1 on windows-x86_64: Python 3.9–3.12 on PyPI, 3.9–3.13 in the data" in lines
    assert "~ torch 2.5.1 on linux-aarch64: Python 3.9–3.12 on PyPI, 3.9–3.13 in the data" in lines
    assert not any("2.5.1 on linux-x86_64" in line for line in lines)
    assert "- torch 2.15.0 on windows-x86_64: build cu130 is in the data, not on the index" not in lines
    assert result.returncode == 1


def test_an_unreadable_pypi_is_exit_2(local_index):
    result = refresh("--index-base", f"{local_index.url}/whl", "--pypi", "http://127.0.0.1:9", "--variant", "cpu", "--timeout", "5")
    assert result.returncode == 2
    assert result.stderr.startswith("refresh_compat: error: http://127.0.0.1:9/pypi/torch/json:")


def test_pypi_default_build_is_read_from_requires_dist():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from refresh_compat import cuda_build, parse_wheel
    finally:
        sys.path.remove(str(REPO / "tools"))
    info = json.loads((FIXTURES / PAGES["torch"]).read_text())["info"]
    assert (info["version"], cuda_build(info["requires_dist"])) == ("2.15.0", "cu132")
    assert cuda_build(['nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux" and platform_machine == "x86_64"']) == "cu128"
    assert cuda_build(["filelock", "sympy>=1.13.3"]) == "cpu"
    assert parse_wheel("torch-2.15.0-cp315-cp315t-win_amd64.whl").free_threaded
    assert parse_wheel("torch-2.15.0.tar.gz") is None


def test_a_companion_release_the_data_lacks_is_reported_with_the_pin_it_would_change(local_index):
    vision = json.loads((FIXTURES / PAGES["torchvision"]).read_text())
    vision["releases"]["0.30.0"] = [{"filename": "torchvision-0.30.0-cp312-cp312-manylinux_2_28_x86_64.whl"}]
    vision["info"] = {"name": "torchvision", "version": "0.30.0", "requires_dist": ["numpy", "torch==2.15.0"]}
    serve_pypi(local_index, torchvision=vision)
    local_index.add_listing("whl/cpu/torch", wheels("2.15.0", "cpu", pythons=("311", "312", "313", "314", "315")))
    result = refresh("--index-base", f"{local_index.url}/whl", "--pypi", local_index.url, "--variant", "cpu", "--timeout", "10")
    lines = result.stdout.splitlines()
    assert "+ torchvision 0.30.0 is on PyPI (it declares torch==2.15.0), not in companion_releases" in lines
    assert "~ torch 2.15: torchvision 0.30.0 on PyPI, 0.29.2 in the data" in lines
    assert not any("torch 2.14: torchvision" in line for line in lines)  # 0.30.0 declares 2.15.0 alone
    assert result.returncode == 1


def test_every_companion_release_in_the_recorded_listing_is_in_the_data():
    """The recorded PyPI listings (tests/fixtures/pypi-json) against the data's companion_releases:
    a torchvision or torchaudio release published for a torch release the data knows, and missing
    from the data, fails here until its row (with the torch it was built for) is added."""
    from packaging.version import Version

    from torchup.installer.compat import load

    data = load()
    for name in ("torchvision", "torchaudio"):
        known = data.companion_releases[name]
        oldest = min(Version(version) for version in known)
        recorded = json.loads((FIXTURES / PAGES[name]).read_text())["releases"]
        published = {v for v, files in recorded.items() if files and Version(v) >= oldest and not Version(v).is_prerelease}
        assert published - set(known) == set(), f"{name} releases on PyPI that compatibility.json lacks"
        assert recorded[max(known, key=Version)], f"{name}: the newest release in the data is not in the recorded listing"
