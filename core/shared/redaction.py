"""Who a log line is about, without saying who, and what a database error says, without the
values it quotes.

A member's channel identity (a Telegram or VK user id, a WhatsApp phone number) appears in
logs only as a short keyed hash (`who`). The key is the installation's own secret
(`use_key`, called by every process at start-up), so one member has the same hash in every
process and after every restart and an operator can follow them through the logs; without the
key nobody can tell the phone number or user id behind it (a phone number has too few digits
for an unkeyed hash to hide it).

A database error quotes values in its message: PostgreSQL's `DETAIL:  Key (channel,
external_id)=(whatsapp, +7999…) already exists.`, `invalid input syntax for type integer:
"<the member's text>"`, asyncpg's `invalid input for query argument $1: '…'`. The statement's
parameters are hidden by the engine (core.db.database); `install_log_redaction` hides these
parts of the message in every log record that carries a database error, in whatever handler
formats it (the traceback included), and keeps what an operator needs: the error's kind, the
constraint, the column, the statement.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from core.db.failures import is_database_error

_key = secrets.token_bytes(32)

HIDDEN = "(hidden)"
# The value-bearing parts of PostgreSQL's and asyncpg's messages (identifiers are quoted too,
# but never after a colon at the end of a line).
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # DETAIL:  Key (channel, external_id)=(whatsapp, +7999…) already exists.
    (re.compile(r"^(\s*DETAIL:\s+Key \([^\n]*?\))=\([^\n]*\)", re.MULTILINE), rf"\1={HIDDEN}"),
    # DETAIL:  Failing row contains (…).  /  any other detail: it may quote a value.
    (re.compile(r"^(\s*DETAIL:)(?![^\n]*=\(hidden\))[^\n]*$", re.MULTILINE), rf"\1  {HIDDEN}"),
    # invalid input syntax for type integer: "…"  /  malformed array literal: "…"
    (re.compile(r':\s+"(?:[^"\n]|"")*"(?=[ \t]*$)', re.MULTILINE), f": {HIDDEN}"),
    # asyncpg encoding a parameter: invalid input for query argument $1: '…' (reason)
    (re.compile(r"(query argument \$\d+):[^\n]*"), rf"\1: {HIDDEN}"),
)


def use_key(key: bytes) -> None:
    """Hash with this key from now on (the installation's own, so every process hashes alike)."""
    global _key
    _key = key


def who(channel: str, user_id: object) -> str:
    """`telegram#3f9a1c0b7e`: the channel and a keyed hash of the identity on it."""
    identity = f"{channel}:{user_id}".encode()
    return f"{channel}#{hmac.new(_key, identity, hashlib.sha256).hexdigest()[:10]}"


def redact_database_text(text: str) -> str:
    """`text` (a database error's message, or a traceback that shows one) without the values
    the database quoted in it."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


_FORMATTER = logging.Formatter()
_installed: Callable[..., logging.LogRecord] | None = None


def redact_record(record: logging.LogRecord) -> None:
    """Hide what a database error quotes in this record: in its message when an argument is
    such an error, in its traceback when it carries one (rendered now, redacted, as
    `exc_text`, which every formatter then shows instead of rendering its own)."""
    args = record.args if isinstance(record.args, tuple) else ()
    if any(isinstance(arg, BaseException) and is_database_error(arg) for arg in args):
        record.msg = redact_database_text(record.getMessage())
        record.args = None
    exc_info = record.exc_info
    if exc_info and exc_info[1] is not None and is_database_error(exc_info[1]):
        record.exc_text = redact_database_text(_FORMATTER.formatException(exc_info))


def install_log_redaction() -> None:
    """From now on, every log record of this process goes through `redact_record` (once,
    whoever calls this again)."""
    global _installed
    if _installed is not None:
        return
    make = logging.getLogRecordFactory()

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made = make(*args, **kwargs)
        try:
            redact_record(made)
        except Exception:  # a record that cannot be redacted still gets logged, plainly
            made.msg, made.args, made.exc_info, made.exc_text = (
                f"(a log record of {made.name} could not be redacted)",
                None,
                None,
                None,
            )
        return made

    _installed = record
    logging.setLogRecordFactory(record)
