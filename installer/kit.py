"""Where the kit that runs inside the target interpreter lives: the ``diagnostics`` folder beside
this package, in a source checkout (``installer/``, ``diagnostics/``) and installed
(``torchup/installer``, ``torchup/diagnostics``) alike. Its files are started by path in the
target; the tool imports only the list of checks from it, never a check's code."""

import importlib
import os

KIT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "diagnostics")
# The kit's package name beside this one's: torchup.diagnostics installed, diagnostics in a checkout
# (`python -m installer …`, where the checkout's root is on sys.path).
_PACKAGE = __package__.rpartition(".")[0]
KIT_PACKAGE = (_PACKAGE + "." if _PACKAGE else "") + "diagnostics"


def path(name: str) -> str:
    return os.path.join(KIT_DIR, name)


def checks():
    """The kit's ``checks`` module: the registry of the doctor's checks (ids, groups, titles)."""
    return importlib.import_module(KIT_PACKAGE + ".checks")
