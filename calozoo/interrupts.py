"""Ctrl-C and SIGTERM stop a long command at once, but never in the middle of writing a file.

A ``KeyboardInterrupt`` raised while HDF5 runs one of h5py's callbacks is swallowed there (the
run then finishes as if nothing happened), and one raised half-way through a rename can leave a
temporary file behind. So, while :func:`handle_signals` is active, the signal handlers raise at
once except inside :func:`protected` blocks (a batch being written, a file being closed and
moved into place), where the signal is remembered and raised as soon as the block ends.

>>> with handle_signals():          # doctest: +SKIP
...     with protected():
...         writer.write(batch)      # a Ctrl-C here takes effect right after the write
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Terminated", "handle_signals", "protected"]


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``): stops a command the way Ctrl-C does (exit status 143)."""


_pending: list[BaseException] = []
_depth = 0


def _raise_or_defer(exception: BaseException) -> None:
    if _depth:
        _pending.append(exception)
        return
    raise exception


def _on_sigint(signum, frame) -> None:
    _raise_or_defer(KeyboardInterrupt())


def _on_sigterm(signum, frame) -> None:
    _raise_or_defer(Terminated())


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Install the handlers for SIGINT and SIGTERM for the block (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def protected() -> Iterator[None]:
    """A block a signal must not cut in two: its interrupt is raised when the block ends."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending:
            exception = _pending.pop(0)
            _pending.clear()
            raise exception
