"""``python -m installer`` from a source checkout: the command line, as ``python -m torchup`` runs it installed."""

from .cli import main

main()
