"""Put a target back as it was when an install fails or is interrupted.

Before the installer runs, each directory it may change (site-packages, the scripts directory)
is copied as hard links beside itself: no file data is copied, so this is quick even with torch
installed. pip and uv never write into an existing file: they move old files aside and write new
ones, so the links keep the old contents. Restoring swaps the copies back in.
"""

import os
import shutil
from pathlib import Path
from typing import List, Optional


def _link_tree(source: Path, destination: Path) -> None:
    for root, directories, files in os.walk(source):
        relative = Path(root).relative_to(source)
        target_root = destination / relative
        target_root.mkdir(parents=True, exist_ok=True)
        for name in files + [d for d in directories if (Path(root) / d).is_symlink()]:
            origin = Path(root) / name
            if origin.is_symlink():
                os.symlink(os.readlink(origin), target_root / name)
            else:
                try:
                    os.link(origin, target_root / name)
                except OSError:  # another filesystem, or links not allowed: copy this one
                    shutil.copy2(origin, target_root / name)
        directories[:] = [d for d in directories if not (Path(root) / d).is_symlink()]


class Snapshot:
    def __init__(self, directories: List[str]):
        # Nested paths (platlib inside purelib's parent, say) are covered by their outermost one.
        unique = sorted({str(Path(d)) for d in directories if d and Path(d).is_dir()}, key=len)
        self.directories: List[Path] = []
        for directory in unique:
            if not any(Path(directory).is_relative_to(kept) for kept in self.directories):
                self.directories.append(Path(directory))
        self.copies: List[Optional[Path]] = []

    def take(self) -> "Snapshot":
        for directory in self.directories:
            copy = directory.with_name(f".{directory.name}.torchup-{os.getpid()}")
            if copy.exists():
                shutil.rmtree(copy)
            _link_tree(directory, copy)
            self.copies.append(copy)
        return self

    def restore(self) -> None:
        for directory, copy in zip(self.directories, self.copies):
            aside = directory.with_name(f".{directory.name}.torchup-failed-{os.getpid()}")
            if directory.exists():
                directory.rename(aside)
            copy.rename(directory)
            shutil.rmtree(aside, ignore_errors=True)
        self.copies = []

    def discard(self) -> None:
        for copy in self.copies:
            shutil.rmtree(copy, ignore_errors=True)
        self.copies = []
