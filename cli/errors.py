"""The one place a refusal becomes what the operator reads and the shell's exit status.

A `LoyaltyError` exits with its own `exit_code` (the kind's, from core.shared.errors); names the
operator typed that do not exist as such (a card code, a job) and commands that do not say one
thing to do are usage errors, 2, like argparse's own. A database that cannot be reached
(refused, unknown host, timed out, wrong password, no such database, an unopenable file) is
named, without its password, and exits 1: never a traceback; so is one that has not been
migrated (no such table or column), with the command that sets it up.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from types import TracebackType

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

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


UNREACHABLE = 1
# Where a connection error comes from when it is the database's (an OSError from a socket
# is the database's only if it was raised under one of these).
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3")


def database_unreachable(error: BaseException) -> bool:
    """Whether `error` is the database driver failing to connect (or losing the connection),
    not a refusal nor a bug."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        # The driver's own error is the adapter's cause (asyncpg's, under SQLAlchemy's).
        cause: BaseException | None = error.orig
        while cause is not None:
            if _is_connection_error(cause):
                return True
            cause = cause.__cause__
        return False
    return _is_connection_error(error) and _raised_under_database(error.__traceback__)


def _is_connection_error(error: BaseException | None) -> bool:
    if error is None:
        return False
    if isinstance(error, (OSError, TimeoutError)):
        return True
    if isinstance(error, sqlite3.OperationalError):
        return "unable to open" in str(error)
    # asyncpg's own, without importing it here (the driver is optional).
    kind = type(error)
    return kind.__module__.startswith("asyncpg") and kind.__name__ in _ASYNCPG_CONNECTION_ERRORS


_ASYNCPG_CONNECTION_ERRORS = frozenset(
    {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "ConnectionRejectionError",
        "ClientCannotConnectError",
        "InvalidAuthorizationSpecificationError",
        "InvalidPasswordError",
        "InvalidCatalogNameError",
        "TooManyConnectionsError",
        "InternalClientError",
    }
)


def _raised_under_database(traceback: TracebackType | None) -> bool:
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.split(".", 1)[0] in _DATABASE_MODULES:
            return True
        traceback = traceback.tb_next
    return False


def database_not_set_up(error: BaseException) -> bool:
    """Whether `error` is a query meeting a database without this program's tables (never
    migrated: a command run against an empty or wrong database) or columns (migrated by an
    older version of the program)."""
    if not isinstance(error, DBAPIError):
        return False
    cause: BaseException | None = error.orig
    while cause is not None:
        if isinstance(cause, sqlite3.OperationalError) and str(cause).startswith(
            ("no such table", "no such column")
        ):
            return True
        kind = type(cause)
        if kind.__module__.startswith("asyncpg") and kind.__name__ in (
            "UndefinedTableError",
            "UndefinedColumnError",
        ):
            return True
        cause = cause.__cause__
    return False


def report_not_set_up(database_url: str) -> int:
    print(
        f"The database at {shown_url(database_url)}{_where(database_url)} is not set up for "
        "this version of the program: run `python main.py migrate` (or point DATABASE_URL at "
        "the shop's database)",
        file=sys.stderr,
    )
    return UNREACHABLE


def _where(database_url: str) -> str:
    """An SQLite file's place on disk, when the URL names it relative to the folder the
    command runs in (the likeliest reason a command finds no tables: another folder)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return ""
    path = url.database
    if not url.drivername.startswith("sqlite") or not path or os.path.isabs(path):
        return ""
    return f" ({os.path.abspath(path)})"


def report_unreachable(database_url: str) -> int:
    print(f"Cannot reach the database at {shown_url(database_url)}", file=sys.stderr)
    return UNREACHABLE


def shown_url(database_url: str) -> str:
    """The URL as an operator may read it in a terminal or a log: no password in it."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return "(the DATABASE_URL given)"
    return url._replace(password=None).render_as_string(hide_password=False)


def exit_code(error: LoyaltyError) -> int:
    """`error.exit_code`, read from the class's kind: `kind` is a class attribute by contract,
    and an instance attribute of that name (the event kind of UnknownEventKind) must not
    change how the shell sees the refusal."""
    return EXIT_CODES[type(error).kind]
