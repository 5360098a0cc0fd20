"""Errors of the generation API, in a module of their own so the sampler can raise them without
importing the generator (which imports the sampler). Re-exported by :mod:`generator`."""

from __future__ import annotations

from ..motion.protocol import ErrorCode


class GenerationError(Exception):
    """A request the model cannot serve; ``code`` is a :class:`protocol.ErrorCode` value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Cancelled(GenerationError):
    """The caller's ``should_stop()`` said stop; raised between sampling steps."""

    def __init__(self, message: str = "generation was cancelled") -> None:
        super().__init__(ErrorCode.CANCELLED, message)
