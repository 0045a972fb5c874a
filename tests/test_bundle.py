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
    # The build is the bundle's, and the plan says so: no --variant was given.
    assert f"[2/4] plan: torch 2.13.0+cpu from the bundle {real_bundle} (the build the bundle holds)" in result.stderr
    assert data["plan"]["reason"] == "the build the bundle holds" and "--variant" not in result.stderr
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


def test_only_the_files_the_manifest_lists_are_installed(real_bundle, tmp_path):
    """A higher version of a dependency dropped into a copied bundle (or left from an earlier one) never counts."""
    from tests.conftest import make_wheel

    bundle = copy_of(real_bundle, tmp_path)
    manifest = json.loads((bundle / "bundle.json").read_text())
    dependency = next(f for f in manifest["files"] if f["package"] == "filelock")
    planted = make_wheel(bundle, "filelock", "9999.0.0", files={"filelock/__init__.py": "raise SystemExit('planted code ran')\n"})
    venv = tmp_path / "venv"
    result = torchup("install", "--bundle", str(bundle), "--venv", str(venv), "--installer", "pip", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert f"left out, not in the bundle's manifest: {planted.name}" in result.stderr
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True).stdout
    from packaging.utils import canonicalize_name

    versions = {canonicalize_name(entry["name"]): entry["version"] for entry in json.loads(installed)}
    assert versions["filelock"] == dependency["version"]
    listed = {(canonicalize_name(f["package"]), f["version"]) for f in manifest["files"]}
    assert {(name, version) for name, version in versions.items() if name not in ("pip",)} <= listed
    command = json.loads(result.stdout)["commands"][-1]["argv"]
    assert "--require-hashes" in command and "--no-index" in command and str(bundle) not in " ".join(command)


def test_a_bundle_from_an_index_that_needs_credentials(wheelhouse, tmp_path):
    from tests.conftest import LocalIndex, serve_wheels
    from tests.test_hardening import AuthIndex

    wheels = sorted(wheelhouse.glob("*.whl"))
    served = tmp_path / "served"
    private = AuthIndex(served, "ci", "s3cr/et@42")
    mirror = LocalIndex(tmp_path / "mirror")
    try:
        serve_wheels(_Index(served), "whl/cpu", [w for w in wheels if w.name.startswith("torch-")])
        serve_wheels(mirror, "pypi", [w for w in wheels if not w.name.startswith("torch-")])
        out = tmp_path / "bundle"
        env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=mirror.url + "/pypi")
        base = f"http://ci:s3cr/et@42@127.0.0.1:{private.port}/whl"
        result = torchup("bundle", "-o", str(out), "--python", sys.executable, "--torch", "2.13", "--no-gpu", "--index-base", base, env=env)
        assert result.returncode == 0, result.stderr
        assert "s3cr" not in result.stdout + result.stderr
        for name in ("bundle.json", "pylock.toml"):
            assert "s3cr" not in (out / name).read_text()
        manifest = json.loads((out / "bundle.json").read_text())
        assert any(f["name"].startswith("torch-2.13.0+cpu") for f in manifest["files"])
        assert any(private.seen)  # the credentials went as basic auth (uv asks without them first, then with)
    finally:
        private.close()
        mirror.close()


class _Index:
    """``serve_wheels`` over a plain directory (the AuthIndex serves it)."""

    def __init__(self, root):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)


def test_a_bundle_from_the_pip_configuration_when_the_index_is_unreachable(cross_index, tmp_path):
    """The PyTorch index does not answer; the user's pip configuration holds the planned build: bundled from there, saying so."""
    from tests.conftest import make_wheel

    wheelhouse = tmp_path / "wheelhouse"
    make_wheel(wheelhouse, "torch", "2.13.0+cpu", tag=f"{PY}-{PY}-manylinux_2_28_x86_64")
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nindex-url = {cross_index.url}/pypi\nfind-links = {wheelhouse}\n")
    out = tmp_path / "bundle"
    env = isolated_env(PIP_CONFIG_FILE=str(config))
    result = torchup("bundle", "-o", str(out), "--python", sys.executable, "--torch", "2.13", "--no-gpu", "--index-base", "http://127.0.0.1:9/whl", env=env)
    assert result.returncode == 0, result.stderr
    assert f"torch 2.13.0+cpu is in {wheelhouse}, a source of your pip configuration" in result.stderr
    names = sorted(p.name for p in out.glob("*.whl"))
    assert f"torch-2.13.0+cpu-{PY}-{PY}-manylinux_2_28_x86_64.whl" in names and "numpy-1.0-py3-none-any.whl" in names


def test_a_failing_resolution_is_one_line_naming_the_step(tmp_path):
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/pypi")
    argv = [
        "bundle",
        "-o",
        str(tmp_path / "b"),
        "--python",
        sys.executable,
        "--torch",
        "2.13",
        "--no-gpu",
        "--offline",
        "--index-base",
        "http://127.0.0.1:9/whl",
    ]
    result = torchup(*argv, env=env)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("torchup: error:")]
    assert len(lines) == 1 and lines[0].startswith("torchup: error: resolving for x86_64-manylinux"), result.stderr
    assert "Connection refused" in lines[0] or "connect" in lines[0].lower(), lines[0]


@pytest.mark.parametrize("planted", ["bundle.json", "pylock.toml", "the directory"])
def test_a_planted_link_in_the_output_folder_is_an_error_not_a_write_through_it(planted, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("mine\n")
    out = tmp_path / "bundle"
    if planted == "the directory":
        os.symlink(tmp_path, out)
    else:
        out.mkdir()
        os.symlink(victim, out / planted)
    result = torchup("bundle", "-o", str(out), "--python", sys.executable, "--torch", "2.13", "--no-gpu", "--offline")
    assert result.returncode == 2, result.stderr
    assert "symbolic link" in result.stderr.splitlines()[0]
    assert victim.read_text() == "mine\n"


def test_the_readme_signing_recipe_tells_a_forged_manifest(real_bundle, tmp_path):
    """The digest is a checksum: a forged manifest with its digest recomputed passes it. The README's
    OpenSSH recipe is what tells them apart; run here exactly as written there."""
    import hashlib
    import shutil

    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen (OpenSSH) is not installed")
    bundle = copy_of(real_bundle, tmp_path)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "you@example.com", "-f", str(key)], check=True)
    (tmp_path / "allowed_signers").write_text("you@example.com " + (tmp_path / "id_ed25519.pub").read_text())
    subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", "torchup-bundle", str(bundle / "bundle.json")], check=True, capture_output=True)

    def verify():
        with open(bundle / "bundle.json", "rb") as manifest:
            argv = [
                "ssh-keygen",
                "-Y",
                "verify",
                "-f",
                "allowed_signers",
                "-I",
                "you@example.com",
                "-n",
                "torchup-bundle",
                "-s",
                str(bundle / "bundle.json.sig"),
            ]
            return subprocess.run(argv, stdin=manifest, capture_output=True, cwd=tmp_path).returncode

    assert verify() == 0
    forged = (bundle / "bundle.json").read_text().replace('"torch": "2.13.0+cpu"', '"torch": "2.13.0+cu130"', 1)
    (bundle / "bundle.json").write_text(forged)
    (bundle / "bundle.json.sha256").write_text(hashlib.sha256(forged.encode()).hexdigest() + "\n")
    from torchup.installer.bundle import read_bundle

    assert read_bundle(bundle)["plan"]["torch"] == "2.13.0+cu130"  # the checksum cannot tell
    assert verify() != 0  # the signature can


def test_a_detect_document_with_an_intel_gpu_plans_for_that_gpu():
    from torchup.installer.bundle import overrides_from_detect

    document = {
        "machine": {"os": "Linux", "arch": "x86_64", "libc": "glibc", "libc_version": "2.39"},
        "interpreter": {"version": "3.12.3"},
        "accelerators": {"intel": {"pci_devices": ["8086:4680", "8086:e20b"]}},
    }
    described = overrides_from_detect(document)
    assert described["intel_gpu"] == ("4680", "e20b") and described["no_gpu"] is False
