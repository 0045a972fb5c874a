"""``python -m torchup``: the command line."""

from torchup.installer.cli import main

main()
