"""``torchup bundle``: everything an air-gapped machine needs, resolved for it (see ``installer.bundle``)."""

import json
from typing import NamedTuple, Optional

from ..errors import TorchupError
from ..outcome import Outcome


class Options(NamedTuple):
    output: str
    from_detect: Optional[str]  # a `torchup detect --json` file captured on the target
    python: Optional[str]
    overrides: "object"  # plan.Overrides


class Bundled(Outcome):
    def __init__(self, made):
        self.made = made

    def as_data(self) -> dict:
        from ..outcome import SCHEMA

        made = self.made
        return {
            "schema": SCHEMA,
            "directory": str(made.directory),
            "platform": made.target.uv_platform(),
            "python": made.target.python,
            "torch": made.torch,
            "files": [item._asdict() for item in made.files],
        }

    def render_text(self, verbose: bool = False) -> str:
        made = self.made
        return (
            f"Bundle for {made.target.uv_platform()}, Python {made.target.python}: torch {made.torch} in {made.directory}\n"
            f"  on the target: torchup install --bundle {made.directory}\n"
        )


def read_detect_document(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise TorchupError(f"--from-detect {path}: not a JSON file ({error})", hint="on the target: torchup detect --json > target.json") from None


def run(context, options: Options) -> Bundled:
    from ..bundle import make

    document = read_detect_document(options.from_detect) if options.from_detect else None
    return Bundled(make(context, options.output, document, options.python, options.overrides))
