"""The bundled compatibility data (compatibility.json beside this file), as small typed views.

The JSON is the reviewed artefact: every row names a key of its "sources" map, and rows
whose facts are inferred rather than read from a source say ``"verified": false``.
"""

import json
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from packaging.version import Version

DATA_FILE = Path(__file__).resolve().parent / "compatibility.json"


def version_tuple(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


class ArchSet(NamedTuple):
    name: str
    sass: List[Tuple[int, int]]
    ptx: Optional[Tuple[int, int]]
    ptx_os: List[str]
    verified: bool
    source: str

    def describe(self) -> str:
        built = ", ".join(f"sm_{major}{minor}" for major, minor in self.sass)
        return built + (f" + PTX {self.ptx[0]}.{self.ptx[1]}" if self.ptx else ", no PTX")


class Release(NamedTuple):
    series: str
    version: str
    python_min: Tuple[int, int]
    python_max: Tuple[int, int]
    free_threaded: List[str]
    platforms: Dict[str, dict]
    variants: Dict[str, List[str]]
    variants_verified: bool
    pypi_default_linux: Optional[str]
    cuda_archs: Dict[str, str]
    cuda_archs_aarch64: Dict[str, str]
    companions: Dict[str, Optional[str]]
    note: Optional[str]

    @property
    def parsed(self) -> Version:
        return Version(self.version)


class DriverFloor(NamedTuple):
    cuda_major: int
    linux: str
    windows: str
    source: str


class ToolkitDriver(NamedTuple):
    cuda: Tuple[int, int]
    linux: Optional[str]
    windows: Optional[str]
    source: str


class RocmArchs(NamedTuple):
    variant: str
    gfx: List[str]
    verified: bool
    source: str


class Compatibility(NamedTuple):
    sources: Dict[str, str]
    releases: List[Release]  # newest first
    arch_sets: Dict[str, ArchSet]
    driver_floors: Dict[int, DriverFloor]
    toolkit_drivers: List[ToolkitDriver]
    rocm: Dict[str, RocmArchs]
    default_index_base: str
    pypi_index: str

    def release(self, version: str) -> Optional[Release]:
        return next((release for release in self.releases if release.version == version), None)

    def toolkit_driver(self, cuda: Tuple[int, int]) -> Optional[ToolkitDriver]:
        """The full-feature driver row of the newest toolkit not newer than ``cuda``."""
        rows = [row for row in self.toolkit_drivers if row.cuda <= cuda]
        return max(rows, key=lambda row: row.cuda) if rows else None


def _cc(text: str) -> Tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@lru_cache(maxsize=None)
def load(path: Path = DATA_FILE) -> Compatibility:
    raw = json.loads(path.read_text(encoding="utf-8"))
    releases = [
        Release(
            series=row["series"],
            version=row["version"],
            python_min=version_tuple(row["python"]["min"]),
            python_max=version_tuple(row["python"]["max"]),
            free_threaded=row["python"]["free_threaded"],
            platforms={key: value for key, value in row["platforms"].items() if key != "source"},
            variants=row["variants"],
            variants_verified=row["variants_verified"],
            pypi_default_linux=row["pypi_default_linux"],
            cuda_archs=row["cuda_archs"],
            cuda_archs_aarch64=row["cuda_archs_aarch64"],
            companions=row["companions"],
            note=row.get("note"),
        )
        for row in raw["releases"]
    ]
    releases.sort(key=lambda release: release.parsed, reverse=True)
    arch_sets = {
        name: ArchSet(name, [_cc(cc) for cc in row["sass"]], _cc(row["ptx"]) if row["ptx"] else None, row.get("ptx_os", []), row["verified"], row["source"])
        for name, row in raw["cuda_arch_sets"].items()
    }
    drivers = raw["nvidia_drivers"]
    return Compatibility(
        sources=raw["sources"],
        releases=releases,
        arch_sets=arch_sets,
        driver_floors={row["cuda_major"]: DriverFloor(row["cuda_major"], row["linux"], row["windows"], row["source"]) for row in drivers["floors"]},
        toolkit_drivers=[ToolkitDriver(_cc(row["cuda"]), row["linux"], row["windows"], row["source"]) for row in drivers["toolkits"]],
        rocm={row["variant"]: RocmArchs(row["variant"], row["gfx"], row["verified"], row["source"]) for row in raw["rocm_architectures"]},
        default_index_base=raw["index"]["default_base"],
        pypi_index=raw["index"]["pypi"],
    )


def cuda_of(variant: str) -> Optional[Tuple[int, int]]:
    """``cu128`` -> (12, 8); None for cpu, rocm, xpu and default."""
    if not variant.startswith("cu") or not variant[2:].isdigit():
        return None
    digits = variant[2:]
    return int(digits[:-1]), int(digits[-1])


def rocm_of(variant: str) -> Optional[Tuple[int, ...]]:
    return version_tuple(variant[4:]) if variant.startswith("rocm") else None
