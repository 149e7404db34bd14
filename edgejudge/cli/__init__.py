"""The ``edgejudge`` command line: thin wrappers over library functions, one module per command family."""

from edgejudge.cli.app import cli, main

__all__ = ["cli", "main"]
