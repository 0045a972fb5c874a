"""For maintainers: what the package indexes say that installer/compat/compatibility.json does not.

    .venv/bin/python tools/refresh_compat.py [--index-base URL] [--pypi URL] [--variant NAME]... [--timeout S]

Reads ``<index-base>/<variant>/torch/`` for every build the data knows (or each ``--variant``),
and PyPI's JSON API for torch, torchvision and torchaudio, then prints each difference: new
releases and builds, builds the data lists that the index lacks, Python ranges, the CUDA build
PyPI's own wheel depends on, torchvision and torchaudio releases the data lacks, and the
companion each torch release gets. It changes nothing: a person reviews each
line, finds its source and edits the data. Exit status: 0 no difference, 1 differences, 2 a
source could not be read.
"""

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from torchup.installer.compat import DATA_FILE, Compatibility, VersionRange, load
from torchup.installer.plan import index

PLATFORM_PATTERNS = (
    (re.compile(r"^(many|musl)?linux.*_x86_64$"), "linux-x86_64"),
    (re.compile(r"^(many|musl)?linux.*_aarch64$"), "linux-aarch64"),
    (re.compile(r"^win_amd64$"), "windows-x86_64"),
    (re.compile(r"^macosx_.*_arm64$"), "macos-arm64"),
    (re.compile(r"^macosx_.*_x86_64$"), "macos-x86_64"),
)
# PyPI's torch wheel names its CUDA through the packages it requires: the toolkit meta-package
# from 2.11 (cuda-toolkit[...]==13.0.2), the per-library runtime packages before it.
COMPANIONS = ("torchvision", "torchaudio")
CUDA_REQUIREMENTS = ("cuda-toolkit", "nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime-cu11", "nvidia-cuda-runtime")


class Wheel(NamedTuple):
    version: Version  # with its local tag, e.g. 2.15.0+cu130
    python: Tuple[int, int]
    free_threaded: bool
    platform: str


def parse_wheel(filename: str) -> Optional[Wheel]:
    """A torch wheel's release, Python and platform; None for anything else (sdists, other tags)."""
    try:
        _, version, _, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    for tag in tags:
        python = re.fullmatch(r"cp(\d)(\d+)", tag.interpreter)
        platform = next((name for pattern, name in PLATFORM_PATTERNS if pattern.match(tag.platform)), None)
        if python and platform:
            return Wheel(version, (int(python.group(1)), int(python.group(2))), tag.abi.endswith("t"), platform)
    return None


def cuda_build(requires_dist: Iterable[str]) -> str:
    """The build a wheel is, from its Requires-Dist: ``cu130`` for cuda-toolkit==13.0.2; ``cpu`` with no CUDA requirement."""
    for line in requires_dist or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name in CUDA_REQUIREMENTS:
            pinned = next((spec.version for spec in requirement.specifier if spec.operator == "=="), None)
            if pinned:
                major, minor = pinned.split(".")[:2]
                return f"cu{major}{minor}"
    return "cpu"


class Differences:
    def __init__(self):
        self.lines: List[str] = []

    def add(self, mark: str, text: str) -> None:
        self.lines.append(f"{mark} {text}")


def fetch_json(url: str, timeout: float) -> Optional[dict]:
    """The document at ``url``; None when the server says it has none (404)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "torchup-refresh"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise index.IndexUnreachable(f"{url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise index.IndexUnreachable(f"{url}: {getattr(error, 'reason', error)}") from None


def python_span(wheels: List[Wheel]) -> str:
    found = sorted({wheel.python for wheel in wheels if not wheel.free_threaded})
    return f"{found[0][0]}.{found[0][1]}–{found[-1][0]}.{found[-1][1]}" if found else "none"


def compare_index(data: Compatibility, base: str, variants: List[str], timeout: float, out: Differences) -> None:
    """The download index's builds per release and platform, against the data's."""
    seen: Dict[Tuple[str, str], Dict[str, List[Wheel]]] = {}  # (public version, platform) -> build -> wheels
    fetched = []
    for variant in variants:
        try:
            names = index.fetch_listing(f"{base}/{variant}", "torch", timeout)
        except index.IndexUnreachable as error:
            out.add("?", f"{base}/{variant}/torch/ could not be read: {error}")
            continue
        fetched.append(variant)
        for wheel in filter(None, map(parse_wheel, names)):
            if wheel.version.local != variant.replace(".", ""):
                continue
            seen.setdefault((wheel.version.public, wheel.platform), {}).setdefault(variant, []).append(wheel)
    known = {release.version: release for release in data.releases}
    newest = Version(data.releases[0].version)
    for (version, platform), builds in sorted(seen.items(), key=lambda item: (Version(item[0][0]), item[0][1])):
        release = known.get(version)
        if release is None:
            if Version(version) > newest:
                out.add("+", f"torch {version} on {platform}: a new release on the index, builds {', '.join(sorted(builds))}")
            continue
        row = release.platforms.get(platform)
        listed = {build.name for build in row.builds} if row else set()
        for variant, wheels in sorted(builds.items()):
            if variant not in listed:
                out.add("+", f"torch {version} on {platform}: build {variant} is on the index (Python {python_span(wheels)}), not in the data")
            elif row and python_span(wheels) != _data_span(release, row):
                out.add("~", f"torch {version} on {platform} ({variant}): Python {python_span(wheels)} on the index, {_data_span(release, row)} in the data")
    for release in data.releases:
        for platform, row in release.platforms.items():
            for build in row.builds:
                if build.name in fetched and build.name not in seen.get((release.version, platform), {}):
                    out.add("-", f"torch {release.version} on {platform}: build {build.name} is in the data, not on the index")


def _data_span(release, row) -> str:
    return f"{release.python_min[0]}.{release.python_min[1]}–{row.python_max[0]}.{row.python_max[1]}"


def compare_pypi(data: Compatibility, pypi: str, timeout: float, out: Differences) -> None:
    document = fetch_json(f"{pypi}/pypi/torch/json", timeout)
    if document is None:
        raise index.IndexUnreachable(f"{pypi}/pypi/torch/json: not found")
    releases = {version: [parse_wheel(f["filename"]) for f in files] for version, files in document["releases"].items()}
    newest = Version(data.releases[0].version)
    for version in sorted(releases, key=_version_or_zero):
        if _version_or_zero(version) > newest and not Version(version).is_prerelease and any(releases[version]):
            out.add("+", f"torch {version} is on PyPI, not in the data")
    for release in data.releases:
        wheels = [w for w in releases.get(release.version, []) if w]
        if not wheels:
            out.add("-", f"torch {release.version} is in the data, not on PyPI")
            continue
        for platform, row in release.platforms.items():
            here = [w for w in wheels if w.platform == platform]
            if here and python_span(here) != _data_span(release, row):
                out.add("~", f"torch {release.version} on {platform}: Python {python_span(here)} on PyPI, {_data_span(release, row)} in the data")
            if not here and row.build("default"):
                out.add("-", f"torch {release.version} on {platform}: no PyPI wheel, though the data plans PyPI's default build there")
        free = sorted({f"{w.python[0]}.{w.python[1]}" for w in wheels if w.free_threaded})
        if free != sorted(release.free_threaded):
            out.add(
                "~",
                f"torch {release.version}: free-threaded Python {', '.join(free) or 'none'} on PyPI, {', '.join(release.free_threaded) or 'none'} in the data",
            )
        _compare_pypi_default(release, pypi, document, timeout, out)


def _compare_pypi_default(release, pypi: str, document: dict, timeout: float, out: Differences) -> None:
    """The CUDA build PyPI's Linux x86_64 wheel requires, from the release's own metadata."""
    if document["info"]["version"] == release.version:
        info = document["info"]
    else:
        own = fetch_json(f"{pypi}/pypi/torch/{release.version}/json", timeout)
        if own is None:
            return
        info = own["info"]
    found = cuda_build(info.get("requires_dist") or [])
    expected = release.pypi_default.get("linux-x86_64")
    if expected is None or expected.name != found:
        out.add("~", f"torch {release.version}: PyPI's Linux x86_64 wheel is the {found} build, the data says {expected.name if expected else 'nothing'}")


def torch_requirement(requires_dist: Iterable[str]) -> Optional[str]:
    """What a torchvision or torchaudio release's metadata requires of torch (``==2.14.0``, ``>=2.14``); None where it names no version."""
    for line in requires_dist or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name == "torch" and requirement.specifier:
            return ",".join(sorted(str(spec) for spec in requirement.specifier))
    return None


def compare_companions(data: Compatibility, pypi: str, timeout: float, out: Differences) -> None:
    """Each torchvision and torchaudio release on PyPI that the data lacks, and for each torch
    release the newest companion that declares it works with it, against the data's pin."""
    for name in COMPANIONS:
        document = fetch_json(f"{pypi}/pypi/{name}/json", timeout)
        if document is None:
            raise index.IndexUnreachable(f"{pypi}/pypi/{name}/json: not found")
        known = data.companion_releases.get(name, {})
        oldest = min((Version(version) for version in known), default=Version("0"))
        declared = {version: row.torch for version, row in known.items()}
        published = [v for v, files in document["releases"].items() if files and not _version_or_zero(v).is_prerelease and _version_or_zero(v) >= oldest]
        for version in sorted(set(published) - set(known), key=Version):
            info = document["info"] if version == document["info"]["version"] else (fetch_json(f"{pypi}/pypi/{name}/{version}/json", timeout) or {}).get("info")
            requirement = torch_requirement((info or {}).get("requires_dist") or [])
            said = f"it declares torch{requirement}" if requirement else "its torch requirement was not read"
            out.add("+", f"{name} {version} is on PyPI ({said}), not in companion_releases")
            declared_range = VersionRange.parse(requirement) if requirement else None
            if declared_range:
                declared[version] = declared_range
        for release in data.releases:
            fitting = [version for version, torch in declared.items() if torch.contains(release.version)]
            newest = max(fitting, key=Version) if fitting else None
            listed = release.companions.get(name)
            if newest and newest != listed:
                out.add("~", f"torch {release.series}: {name} {newest} on PyPI, {listed or 'none'} in the data")


def _version_or_zero(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_FILE, help="the compatibility data to check (default: the bundled file)")
    parser.add_argument("--index-base", help="the download index's root (default: the data's, https://download.pytorch.org/whl)")
    parser.add_argument("--pypi", default="https://pypi.org", help="PyPI's root, serving /pypi/<project>/json (default: %(default)s)")
    parser.add_argument("--variant", action="append", default=[], help="read only this build's listing; repeatable (default: every build the data knows)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one request may take")
    options = parser.parse_args(argv)
    data = load(options.data)
    index_base = options.index_base or data.default_index_base
    variants = options.variant or [name for name in data.known_builds() if name != "default"]
    out = Differences()
    try:
        compare_index(data, index_base.rstrip("/"), variants, options.timeout, out)
        compare_pypi(data, options.pypi.rstrip("/"), options.timeout, out)
        compare_companions(data, options.pypi.rstrip("/"), options.timeout, out)
    except index.IndexUnreachable as error:
        print(f"refresh_compat: error: {error}", file=sys.stderr)
        return 2
    for line in out.lines:
        print(line)
    unread = sum(line.startswith("?") for line in out.lines)
    print(f"{len(out.lines) - unread} differences" + (f", {unread} listings not read" if unread else ""))
    return 1 if out.lines else 0


if __name__ == "__main__":
    sys.exit(main())
