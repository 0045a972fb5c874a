"""The built wheel carries every package and data file, so an installed torchup works like the checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_contents(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    built = next(tmp_path.glob("torchup-*.whl"))
    names = set(zipfile.ZipFile(built).namelist())
    expected = {
        path.relative_to(REPO).as_posix()
        for pattern in ("installer/**/*.py", "installer/**/*.json", "diagnostics/**/*.py")
        for path in REPO.glob(pattern)
    }
    assert expected <= names, sorted(expected - names)
    assert not any(name.startswith("tests/") for name in names)
