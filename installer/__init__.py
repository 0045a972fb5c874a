"""torchup's tool side: the command line and everything it runs in torchup's own process."""

__version__ = "0.2.0"
