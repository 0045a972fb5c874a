"""torchup: take a machine to a working PyTorch, and prove it works."""

__version__ = "0.1.0"
