"""``python -m torchup``: the command line."""

import os
import sys

# `python -m` puts the current directory first on sys.path: nothing of it may be imported, by
# torchup or by anything it imports (a json.py there would run with torchup's rights).
sys.path[:] = [entry for entry in sys.path if entry not in ("", os.getcwd())]

from torchup.installer.entry import main  # noqa: E402  (after the path is cleaned)

main()
