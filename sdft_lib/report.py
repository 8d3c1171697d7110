"""Progress messages. Every stage says what it builds, reuses or waits for through one logger,
``sdft_lib``, instead of a ``log=`` argument threaded through the calls.

A library stays silent until asked: the notebooks' first cell (``runtime.setup``) and the command
line (``python -m sdft_lib.cli``) call :func:`to_stdout`, which prints each message as a plain line.
``with quiet():`` silences a block (a chapter that reuses fifty runs need not list them), and
``logging.getLogger("sdft_lib")`` is there for anything else a user wants (a file, a level)."""

from __future__ import annotations

import contextlib
import logging
import sys

LOGGER = logging.getLogger("sdft_lib")


def say(message: str) -> None:
    """One progress message (``building ...``, ``reusing ...``)."""
    LOGGER.info(message)


class _Stdout(logging.Handler):
    """Each message as a line on the ``sys.stdout`` of the moment (a notebook cell's, pytest's)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stdout, flush=True)


def to_stdout() -> None:
    """Print the messages (once, however often it is called, and not again through a handler the
    root logger may have: a kernel's, a user's ``basicConfig``)."""
    if not any(isinstance(h, _Stdout) for h in LOGGER.handlers):
        LOGGER.addHandler(_Stdout())
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


@contextlib.contextmanager
def quiet():
    """No progress messages inside the block (warnings still show)."""
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


@contextlib.contextmanager
def collected():
    """The messages said inside the block, as a list that fills as they come (for tests and tools)."""
    messages: list[str] = []

    class _List(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler, level = _List(), LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)


def silence() -> None:
    """No progress messages from here on (:func:`to_stdout` turns them back on)."""
    LOGGER.setLevel(logging.WARNING)
