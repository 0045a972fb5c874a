"""``torchup bundle`` and ``install --bundle``: resolved for another machine, installed with every
other source hidden, refused when damaged or made for another machine."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, isolated_env, make_venv, serve_download_and_pypi
from tests.test_hardening import tree_digest

PY = "cp%d%d" % sys.version_info[:2]
HIDDEN = dict(PIP_CONFIG_FILE=os.devnull)  # no pip configuration: the bundle is the only source


def torchup(*args, env=None):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env or isolated_env(**HIDDEN), cwd=REPO, timeout=900)


@pytest.fixture
def cross_index(local_index, tmp_path):
    """Small real wheels for Linux aarch64 and Windows: torch's dependencies carry markers on
    platform_system, platform_machine and python_version, as CUDA torch's do."""
    from tests.conftest import make_wheel

    requires = ['linux-helper ; platform_system == "Linux"', 'arm-helper ; platform_machine == "aarch64"', 'old-helper ; python_version < "3.12"']
    torch_dir = local_index.root / "whl" / "cpu" / "torch"
    for tag in ("cp312-cp312-manylinux_2_28_aarch64", "cp312-cp312-win_amd64", f"{PY}-{PY}-manylinux_2_28_x86_64"):
        make_wheel(torch_dir, "torch", "2.13.0+cpu", requires=requires, tag=tag)
    local_index.add_listing("whl/cpu/torch", sorted(p.name for p in torch_dir.glob("*.whl")))
    for name, tags in (
        ("linux-helper", ["py3-none-any"]),
        ("arm-helper", ["py3-none-manylinux_2_28_aarch64"]),
        ("old-helper", ["py3-none-any"]),
        ("numpy", ["py3-none-any"]),
        ("scipy", ["py3-none-any"]),
    ):
        page = local_index.root / "pypi" / name
        for tag in tags:
            make_wheel(page, name, "1.0", tag=tag)
        local_index.add_listing(f"pypi/{name}", sorted(p.name for p in page.glob("*.whl")))
    return local_index


@pytest.mark.parametrize(
    "target, present, absent",
    [
        (
            ["--os", "linux", "--arch", "aarch64"],
            [
                "linux_helper-1.0-py3-none-any.whl",
                "arm_helper-1.0-py3-none-manylinux_2_28_aarch64.whl",
                "torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_aarch64.whl",
            ],
            ["old_helper", "win_amd64"],
        ),
        (["--os", "windows", "--arch", "x86_64"], ["torch-2.13.0+cpu-cp312-cp312-win_amd64.whl"], ["linux_helper", "arm_helper", "old_helper", "aarch64"]),
    ],
    ids=["linux-aarch64", "windows"],
)
def test_a_bundle_for_another_machine_holds_what_that_machine_needs(cross_index, tmp_path, target, present, absent):
    out = tmp_path / "bundle"
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=cross_index.url + "/pypi")
    result = torchup(
        "bundle", "-o", str(out), *target, "--python-version", "3.12", "--no-gpu", "--torch", "2.13", "--index-base", cross_index.url + "/whl", env=env
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.glob("*.whl"))
    for name in present:
        assert name in names, names
    assert not [name for name in names if any(part in name for part in absent)], names
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["target"]["python"] == "3.12" and manifest["plan"]["torch"] == "2.13.0+cpu"
    assert {f["name"] for f in manifest["files"]} == set(names) and all(len(f["sha256"]) == 64 for f in manifest["files"])
    assert (out / "pylock.toml").read_text().startswith("lock-version") or "lock-version" in (out / "pylock.toml").read_text()


class RealBundle:
    """torch 2.13.0+cpu, numpy and scipy for this machine, from a loopback index of the real wheels."""

    def __init__(self, where, wheelhouse):
        from tests.conftest import LocalIndex

        self.index = LocalIndex(where / "served")
        serve_download_and_pypi(self.index, sorted(wheelhouse.glob("*.whl")))
        self.out = where / "bundle"

    def make(self):
        env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=self.index.url + "/pypi")
        return torchup(
            "bundle", "-o", str(self.out), "--python", sys.executable, "--torch", "2.13", "--no-gpu", "--index-base", self.index.url + "/whl", env=env
        )


@pytest.fixture(scope="module")
def made(tmp_path_factory, wheelhouse):
    bundle = RealBundle(tmp_path_factory.mktemp("real-bundle"), wheelhouse)
    result = bundle.make()
    assert result.returncode == 0, result.stderr
    yield bundle
    bundle.index.close()


@pytest.fixture
def real_bundle(made):
    return made.out


def test_a_real_bundle_installs_with_every_other_source_hidden(made, real_bundle, tmp_path):
    venv = tmp_path / "venv"
    result = torchup("install", "--bundle", str(real_bundle), "--venv", str(venv), "--installer", "pip", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "installed" and data["plan"]["torch"] == "2.13.0+cpu"
    autograd = "import torch; x = torch.ones(2, 2, requires_grad=True); ((x + 2) * (x + 2) * 3).mean().backward(); print(x.grad.tolist())"
    ran = subprocess.run([str(venv / "bin" / "python"), "-c", autograd], capture_output=True, text=True, timeout=300)
    assert ran.stdout.strip() == "[[4.5, 4.5], [4.5, 4.5]]", ran.stderr
    # Made again: every file is already there and right, so none is downloaded twice.
    again = made.make()
    assert again.returncode == 0, again.stderr
    files = len(json.loads((real_bundle / "bundle.json").read_text())["files"])
    assert again.stderr.count("already here, hash checked") == files and "downloaded" not in again.stderr


def copy_of(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    return copy


@pytest.mark.parametrize("damage", ["corrupt", "missing", "edited", "python-3.12"])
def test_a_damaged_or_foreign_bundle_is_refused_before_anything_changes(damage, real_bundle, tmp_path):
    bundle = copy_of(real_bundle, tmp_path)
    manifest = json.loads((bundle / "bundle.json").read_text())
    numpy = next(f["name"] for f in manifest["files"] if f["package"] == "numpy")
    if damage == "corrupt":
        with open(bundle / numpy, "r+b") as handle:
            handle.seek(100)
            handle.write(b"\0\0\0\0")
    elif damage == "missing":
        (bundle / numpy).unlink()
    elif damage == "edited":
        (bundle / "bundle.json").write_text((bundle / "bundle.json").read_text().replace('"torch": "2.13.0+cpu"', '"torch": "2.13.0+cu130"', 1))
    else:  # a bundle made for Python 3.12, on this 3.11 target: its manifest says so, and its digest agrees
        import hashlib

        manifest["target"]["python"] = "3.12"
        text = json.dumps(manifest, indent=2) + "\n"
        (bundle / "bundle.json").write_text(text)
        (bundle / "bundle.json.sha256").write_text(hashlib.sha256(text.encode()).hexdigest() + "\n")
    target = make_venv(tmp_path / "target", with_pip=True)
    before = tree_digest(tmp_path / "target")
    result = torchup("install", "--bundle", str(bundle), "--python", str(target), "--installer", "pip", "--yes")
    assert result.returncode == 1, result.stderr
    said = {
        "corrupt": f"{numpy} is damaged",
        "missing": f"{numpy} is missing from the bundle",
        "edited": "was changed after the bundle was made",
        "python-3.12": f"this bundle was made for another machine: the bundle is for Python 3.12, the target is Python {sys.version_info[0]}.{sys.version_info[1]}",
    }[damage]
    assert said in result.stderr and "nothing was installed" in result.stderr
    assert tree_digest(tmp_path / "target") == before


def test_a_directory_that_is_no_bundle_is_bad_input(tmp_path):
    result = torchup("install", "--bundle", str(tmp_path), "--venv", str(tmp_path / "v"), "--yes")
    assert result.returncode == 2
    assert result.stderr.startswith(f"torchup: error: --bundle {tmp_path}: not a bundle (no bundle.json)")
    assert not (tmp_path / "v").exists()


def test_a_bundle_from_the_targets_own_detect_document(cross_index, tmp_path):
    """Step 1 of the air-gapped flow: the target's `detect --json` names its platform and Python."""
    detected = torchup("detect", "--json", "--python", sys.executable)
    assert detected.returncode == 0, detected.stderr
    document = json.loads(detected.stdout)
    document["interpreter"]["version"] = "3.12.7"  # captured on another machine: a Linux aarch64 box with Python 3.12
    document["machine"]["arch"] = "aarch64"
    target = tmp_path / "target.json"
    target.write_text(json.dumps(document))
    out = tmp_path / "bundle"
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=cross_index.url + "/pypi")
    result = torchup("bundle", "-o", str(out), "--from-detect", str(target), "--torch", "2.13", "--index-base", cross_index.url + "/whl", env=env)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.glob("*.whl"))
    assert "torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_aarch64.whl" in names and "arm_helper-1.0-py3-none-manylinux_2_28_aarch64.whl" in names
    manifest = json.loads((out / "bundle.json").read_text())
    assert (manifest["target"]["os"], manifest["target"]["arch"], manifest["target"]["python"]) == ("linux", "aarch64", "3.12")
    bad = tmp_path / "not-detect.json"
    bad.write_text("{}")
    refused = torchup("bundle", "-o", str(out), "--from-detect", str(bad))
    assert refused.returncode == 2 and "not a `torchup detect --json` document" in refused.stderr
