"""The one exception of the explorer's requests."""


class ExplorerError(Exception):
    """A request the explorer cannot answer (unknown bag or step, no model); says why."""
