"""Errors every package raises for bad user input."""


class UsageError(Exception):
    """Bad input from the user (a flag, a path, a spec): `devrobot` prints one line, exits 2."""
