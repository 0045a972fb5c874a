"""pip and uv behind one small interface that only builds argv (as pypa/build and pipx do).

Both are driven as subprocesses with documented flags; torchup never imports or patches them.
"""

from typing import List, NamedTuple, Optional, Sequence, Tuple


class Sources(NamedTuple):
    """Where one install step may look for packages, as explicit flags (empty: the installer's own configuration)."""

    index_url: Optional[str] = None
    extra_index_urls: Tuple[str, ...] = ()
    find_links: Tuple[str, ...] = ()
    no_index: bool = False
    # A requirements file pinning every package with its hashes (a bundle's lock): nothing else may be installed.
    hashed_requirements: Optional[str] = None

    def flags(self) -> List[str]:
        argv: List[str] = []
        if self.no_index:
            argv.append("--no-index")
        elif self.index_url:
            argv += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            argv += ["--extra-index-url", url]
        for location in self.find_links:
            argv += ["--find-links", location]
        if self.hashed_requirements:
            argv += ["--require-hashes", "-r", self.hashed_requirements]
        return argv


class Pip(NamedTuple):
    python: str
    name: str = "pip"
    compile: bool = True  # pip compiles bytecode as it installs unless told not to

    def install_argv(self, packages: Sequence[str], sources: Sources, break_system_packages: bool = False) -> List[str]:
        argv = [self.python, "-m", "pip", "install", "--disable-pip-version-check"] + ([] if self.compile else ["--no-compile"]) + sources.flags()
        if break_system_packages:
            argv.append("--break-system-packages")
        return argv + list(packages)

    def bootstrap_argv(self) -> Optional[List[str]]:
        """ensurepip installs pip offline from the wheel the interpreter carries."""
        return [self.python, "-m", "ensurepip", "--upgrade", "--default-pip"]


class Uv(NamedTuple):
    uv: Tuple[str, ...]  # ("uv",) or (python, "-m", "uv")
    python: str
    name: str = "uv"
    compile: bool = True  # uv compiles nothing unless told to

    def install_argv(self, packages: Sequence[str], sources: Sources, break_system_packages: bool = False) -> List[str]:
        argv = list(self.uv) + ["pip", "install"] + (["--compile-bytecode"] if self.compile else []) + ["--python", self.python] + sources.flags()
        if break_system_packages:
            argv.append("--break-system-packages")
        return argv + list(packages)

    def bootstrap_argv(self) -> Optional[List[str]]:
        return None  # uv installs into an interpreter that has no pip
