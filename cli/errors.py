"""The one place a refusal becomes what the operator reads and the shell's exit status.

A `LoyaltyError` exits with its own `exit_code` (the kind's, from core.shared.errors); names the
operator typed that do not exist as such (a card code, a job) and commands that do not say one
thing to do are usage errors, 2, like argparse's own.
"""

from __future__ import annotations

import sys

from cli.command import UsageError
from core.jobs import UnknownJob
from core.shared.cards import InvalidCardCode
from core.shared.errors import EXIT_CODES, LoyaltyError, MemberNotFound

USAGE = 2

# The first row whose type matches speaks; None: the error's own exit_code.
MESSAGES: tuple[tuple[type[Exception], str, int | None], ...] = (
    (UsageError, "{error}", USAGE),
    (UnknownJob, "No job named {error}; see `main.py jobs list`", USAGE),
    (InvalidCardCode, "Not a valid card code: {error}", USAGE),
    (MemberNotFound, "No member with card {error}", None),
    (LoyaltyError, "Refused: {error}", None),
)
# What main.py catches: every type above.
REFUSALS: tuple[type[Exception], ...] = tuple(kind for kind, _, _ in MESSAGES)


def report(error: Exception) -> int:
    """Print the refusal on stderr; the exit status."""
    for kind, message, status in MESSAGES:
        if isinstance(error, kind):
            print(message.format(error=error), file=sys.stderr)
            if status is not None:
                return status
            return exit_code(error) if isinstance(error, LoyaltyError) else 1
    raise TypeError(f"not a refusal: {error!r}") from error


def exit_code(error: LoyaltyError) -> int:
    """`error.exit_code`, read from the class's kind: `kind` is a class attribute by contract,
    and an instance attribute of that name (the event kind of UnknownEventKind) must not
    change how the shell sees the refusal."""
    return EXIT_CODES[type(error).kind]
