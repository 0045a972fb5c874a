"""The project tools ``torchup project`` writes for and checks, registered by name: each is one
module in ``project/`` (``project/uv.py``, …) whose ``TOOL`` implements ``project.tool.ProjectTool``.

To add one, write its module and its test, and add its name here. Only the names are read at
start-up (the command line's ``--tool`` choices), so that ``--help`` loads none of the modules,
which need tomlkit; ``get`` loads one when a command uses it.
"""

import importlib
from typing import List

NAMES = ("uv", "poetry", "pdm")


def get(name: str):
    """The tool called ``name`` (one of ``NAMES``): its module's ``TOOL``."""
    if name not in NAMES:
        raise KeyError(f"{name}: not a project tool torchup knows ({', '.join(NAMES)})")
    return importlib.import_module(f".project.{name}", __package__).TOOL


def every() -> List:
    return [get(name) for name in NAMES]
