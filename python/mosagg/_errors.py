"""The exceptions mosagg raises, one class per kind of failure.

Each carries the message the CLI would print after ``error:`` and the exit code the CLI
would end with, so a wrapper script can behave exactly like the binary.
"""

from __future__ import annotations

from typing import Optional


class MosaggError(Exception):
    """Any failure of a mosagg call. ``exit_code`` is what ``mosagg`` would exit with."""

    def __init__(
        self,
        message: str,
        *,
        exit_code: int = 1,
        path: Optional[str] = None,
        line: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.path = path
        self.line = line


class UsageError(MosaggError, ValueError):
    """A bad argument (unknown label, bad timestamp, colliding paths, bad SQL…); exit 2."""


class NoInputError(MosaggError, FileNotFoundError):
    """Nothing to work on: no input exists, or a table's file is missing; exit 2."""

    def __str__(self) -> str:
        return self.message


class InputError(MosaggError):
    """An input that cannot be read or is not valid: ``.path``, and ``.line`` (1-based)
    when the problem is on one line (``None`` for a file that cannot be read at all)."""


class FileError(MosaggError):
    """A file or folder mosagg had to read, create or write failed at the OS level."""


class BusyError(MosaggError):
    """Another mosagg run (in this process or another) is writing the same output."""


class ResourcesError(MosaggError):
    """The run needs more memory (``memory_limit``) or spill disk than it was given."""


class EngineError(MosaggError):
    """The query engine, Arrow or Parquet failed (e.g. a Parquet file that is not one)."""


class InternalError(MosaggError):
    """A check mosagg runs on its own results failed: a bug, never bad input."""


__all__ = [
    "BusyError",
    "EngineError",
    "FileError",
    "InputError",
    "InternalError",
    "MosaggError",
    "NoInputError",
    "ResourcesError",
    "UsageError",
]
