"""Where the kit that runs inside the target interpreter lives: the ``diagnostics`` folder beside
this package, in a source checkout (``installer/``, ``diagnostics/``) and installed
(``torchup/installer``, ``torchup/diagnostics``) alike. Its files are started by path, never imported here."""

import os

KIT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "diagnostics")


def path(name: str) -> str:
    return os.path.join(KIT_DIR, name)
