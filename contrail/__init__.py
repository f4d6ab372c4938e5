"""Contrail: a production-shaped, multi-node development environment, fast to iterate on."""

__version__ = "0.1.0"

# Bumped when what a box contains or how it is labelled changes incompatibly; part of every input hash.
BOX_FORMAT = "1"
