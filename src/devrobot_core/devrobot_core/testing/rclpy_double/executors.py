"""Fake `rclpy.executors` and `rclpy.signals`, run on the test's Graph.

rclpy's signal handler (installed by `rclpy.init()` unless told `SignalHandlerOptions.NO`)
shuts every context down, then calls the handler that was installed before it when that one is
a Python function (for SIGINT: Python's, which raises KeyboardInterrupt); a default or ignored
previous handler is not called, so a SIGTERM only shuts the context down (rclpy
`signal_handler.cpp`). The executors execute one ready callback per `spin_once()`, taken from
one wait's worth of work in rclpy's order (see `Graph.ready_callbacks`); when nothing is ready,
the graph's idle hook stands in for the time that would pass.
"""

from __future__ import annotations

import signal
from enum import IntEnum


class ExternalShutdownException(Exception):
    """`rclpy.executors.ExternalShutdownException`: the context was shut down while spinning."""


class SignalHandlerOptions(IntEnum):
    """`rclpy.signals.SignalHandlerOptions` (same names and values as rclpy's enum)."""

    NO = 0
    SIGINT = 1
    SIGTERM = 2
    ALL = 3


def _signals_of(options) -> tuple:
    chosen = {SignalHandlerOptions.NO: (), SignalHandlerOptions.SIGINT: (signal.SIGINT,),
              SignalHandlerOptions.SIGTERM: (signal.SIGTERM,),
              SignalHandlerOptions.ALL: (signal.SIGINT, signal.SIGTERM)}
    return chosen[SignalHandlerOptions(options)]


def install_rclpy_handlers(graph, options) -> None:
    """What `rclpy.init()` does to the process's signal table."""
    graph.rclpy_previous_handlers = {}
    for signum in _signals_of(options):
        previous = graph.signal_handlers[signum]

        def handler(number, frame, previous=previous):
            graph.initialized = False  # rclpy::shutdown_contexts()
            if callable(previous) and previous not in (signal.SIG_DFL, signal.SIG_IGN):
                previous(number, frame)
        graph.rclpy_previous_handlers[signum] = previous
        graph.signal_handlers[signum] = handler


def uninstall_rclpy_handlers(graph) -> None:
    for signum, previous in getattr(graph, 'rclpy_previous_handlers', {}).items():
        graph.signal_handlers[signum] = previous
    graph.rclpy_previous_handlers = {}


class SingleThreadedExecutor:
    """`rclpy.executors.SingleThreadedExecutor` on the graph (callbacks run in the caller)."""

    def __init__(self, *, context=None):
        from .runtime import current_graph
        self.graph = current_graph()
        self._nodes: list = []
        self._work: list = []
        self._is_shutdown = False

    def add_node(self, node) -> bool:
        if node in self._nodes:
            return False
        self._nodes.append(node)
        return True

    def remove_node(self, node) -> None:
        if node in self._nodes:
            self._nodes.remove(node)

    def get_nodes(self) -> list:
        return list(self._nodes)

    def spin_once(self, timeout_sec: float | None = None) -> None:
        """Execute one ready callback; with nothing ready, the graph idles once instead."""
        if not self.graph.initialized:
            raise ExternalShutdownException()
        if not self._work:
            self._work = self.graph.ready_callbacks(self._nodes)
        if not self._work:
            self.graph.idle()
            return
        self.graph.run(self._work.pop(0))

    def spin(self) -> None:
        while self.graph.initialized and not self._is_shutdown:
            self.spin_once()

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        self._is_shutdown = True
        return True


class MultiThreadedExecutor(SingleThreadedExecutor):
    """Runs callbacks one after another here; the order of a real multi-threaded one may vary."""

    def __init__(self, num_threads: int | None = None, *, context=None):
        super().__init__(context=context)
