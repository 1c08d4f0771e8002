"""User-facing errors. The CLI prints them as one line on stderr and exits with code 2."""

from __future__ import annotations

# the longest message a DataError prints (values echoed into it are cut)
MAX_MESSAGE = 400


class LmrecError(Exception):
    """A mistake in the user's input (file, option, config) rather than a bug in lmrec."""


class DataError(LmrecError, ValueError):
    """Bad input data; the message names the file, the line/row and the field when they are known."""

    def __init__(
        self,
        message: str,
        *,
        file: object | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"row {self.line}: "
        what = f"field '{self.field}': " if self.field is not None else ""
        message = self.message
        if len(message) > MAX_MESSAGE:  # a long value echoed into the message: one readable line
            message = f"{message[: MAX_MESSAGE - 40]}... ({len(message):,} characters)"
        return f"{where}{what}{message}"


class ConfigError(LmrecError, ValueError):
    """An invalid model or component configuration (unknown option, wrong type)."""


class MissingDependencyError(LmrecError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class LmrecWarning(UserWarning):
    """Something the user should know that does not stop the run (the CLI prints it as one line)."""
