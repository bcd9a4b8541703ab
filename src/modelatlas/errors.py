"""Errors a user can cause.

Every error raised as :class:`UserError` (or a subclass) is printed by the CLI as one clear
message naming the file, field, URL or value that was wrong, and ends the command with a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A problem the user can fix: bad config, unknown name, unreachable endpoint, missing key."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n{self.hint}"


class NotFoundError(UserError):
    """An unknown name (slug, benchmark, run id), with did-you-mean suggestions."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known_list = list(known)
        close = difflib.get_close_matches(name, known_list, n=3, cutoff=0.5)
        if not close:
            close = [k for k in known_list if name.lower() in k.lower()][:3]
        hint = f"Did you mean: {', '.join(close)}?" if close else None
        super().__init__(f"Unknown {kind} '{name}'.", hint=hint)
        self.kind = kind
        self.name = name
        self.suggestions = close


class MissingDependencyError(UserError):
    """An optional Python package (or system program) that a feature needs is not installed."""

    def __init__(self, package: str, purpose: str, install: str) -> None:
        super().__init__(
            f"The package '{package}' is needed {purpose} but is not installed.",
            hint=f"Install it with: {install}",
        )
        self.package = package
