"""``torchup install``: numpy, scipy and the planned torch into the target, verified (see ``installer.install``)."""

import os
from typing import NamedTuple

from ..errors import TorchupError
from ..outcome import Outcome


class Options(NamedTuple):
    target: "object"  # install.Options: where, with what, from which sources
    overrides: "object"  # plan.Overrides


class Installed(Outcome):
    def __init__(self, result):
        self.result = result

    def as_data(self) -> dict:
        return self.result.as_data()

    def render_text(self, verbose: bool = False) -> str:
        from ..install import render_text

        return render_text(self.result)

    def step_summary(self):
        from ..install import render_markdown

        return None if self.result.status == "dry-run" else render_markdown(self.result)


def check(options) -> None:
    """The install options that cannot go together, or name nothing, said before any work."""
    if options.venv is not None and not options.venv.strip():
        raise TorchupError("--venv '': an empty path", hint="name the venv's directory: torchup install --venv .venv")
    if options.bundle is not None:
        if options.find_links or options.no_index:
            raise TorchupError("--bundle: a bundle is the only source: give --bundle alone, without --find-links or --no-index")
        if not os.path.isfile(os.path.join(options.bundle, "bundle.json")):
            raise TorchupError(f"--bundle {options.bundle}: not a bundle (no bundle.json)", hint="make one on a connected machine: torchup bundle -o DIR")
    if options.no_index and not options.find_links:
        raise TorchupError("--no-index needs --find-links DIR: with no index, a wheelhouse is the only source")
    for directory in options.find_links:
        if not os.path.isdir(directory):
            raise TorchupError(f"--find-links {directory}: not a directory", hint="a directory of wheels: pip download -d DIR …")


def run(context, options: Options) -> Installed:
    """``options.target`` as ``check`` passed them (the command line checks before it asks to go on)."""
    from .. import install

    return Installed(install.install(context, options.target, options.overrides))
