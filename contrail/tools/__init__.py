"""Thin wrappers over external programs, one module each; every failure becomes a ContrailError."""
