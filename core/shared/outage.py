"""A background loop's view of a dependency that went away (Redis, the database): said once
when it starts and once when it ends, never once per attempt, and retried after a growing
pause so that a long outage costs neither a flood of log lines nor a busy loop."""

from __future__ import annotations

import logging
import time

from core.db.failures import is_infrastructure_failure

# The first pause after a failure, and the longest one.
FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 30.0


class Outage:
    """One loop's outage of one dependency: `failed` on each failed attempt (the pause before
    the next one), `recovered` after each one that worked."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        first: float = FIRST_PAUSE_SECONDS,
        longest: float = LONGEST_PAUSE_SECONDS,
    ) -> None:
        self.what = what
        self._log = logger
        self._first = first
        self._longest = longest
        self._pause = first
        self._since: float | None = None
        self.failures = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> float:
        """Note a failed attempt; the seconds to wait before the next one. The first failure
        of an outage is logged at ERROR (with the traceback when it is no infrastructure
        failure, so a bug shows where it is), the following ones not at all."""
        self.failures += 1
        if self._since is None:
            self._since = time.monotonic()
            self._pause = self._first
            self._log.error(
                "%s failed (%s); retrying with backoff until it works again",
                self.what,
                describe(error),
                exc_info=None if infrastructure(error) else error,
            )
        else:
            self._pause = min(self._pause * 2, self._longest)
        return self._pause

    def recovered(self) -> None:
        """Note an attempt that worked: the end of the outage, if there was one."""
        if self._since is None:
            return
        lasted = time.monotonic() - self._since
        self._log.warning(
            "%s works again after %.1f s (%d failed attempts)", self.what, lasted, self.failures
        )
        self._since = None
        self._pause = self._first
        self.failures = 0


def describe(error: BaseException) -> str:
    """What an operator may read of an error: its type, and the message of a connection error
    (a host and port, never a member's data); a database error's own message may quote the
    statement's values, so only the types of it and of its cause are named."""
    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        return describe(error.exceptions[0])
    kind = type(error).__name__
    if isinstance(error, (OSError, TimeoutError)) or type(error).__module__.startswith("redis"):
        return f"{kind}: {error}"
    cause = getattr(error, "orig", None) or error.__cause__
    if cause is not None and cause is not error:
        return f"{kind} from {type(cause).__name__}"
    return kind


def infrastructure(error: BaseException) -> bool:
    """Whether `error` says a dependency (Redis, the database) cannot be reached or did not
    answer in time, as opposed to a refusal or a bug: an outage to wait out. The drivers'
    errors are known in one place, core.db.failures; a group is one when all its parts are."""
    if isinstance(error, BaseExceptionGroup):
        return all(infrastructure(inner) for inner in error.exceptions)
    return is_infrastructure_failure(error)
