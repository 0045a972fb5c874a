"""``python -m installer`` from a source checkout: the command line, as ``python -m torchup`` runs it installed."""

from .entry import main

main()
