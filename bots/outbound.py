"""Sending to a member outside a conversation turn (notices, reminders, greetings): the
contract every channel's outbound `deliver` keeps, so the dispatcher needs no channel's SDK."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# Reasons an account is unreachable, shared by the channels and the dispatcher's records: the
# core's words, which the broadcasts and notices read back (core.members.activity).
from core.members.activity import BLOCKED as BLOCKED
from core.members.activity import NOT_CONNECTED as NOT_CONNECTED
from core.members.activity import WHATSAPP_WINDOW as WHATSAPP_WINDOW
from handlers.messages import Reply


class Outcome(StrEnum):
    # Every reply reached the platform.
    SENT = "sent"
    # This account cannot get it, now or later: the member blocked the bot, never allowed
    # the community's messages, or WhatsApp's 24-hour window is closed. Another of the
    # member's accounts may still do; retrying this one would not.
    UNREACHABLE = "unreachable"
    # Something that may pass: a network error, the platform's 5xx, a long rate limit.
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    # Why it was not sent ("blocked", "whatsapp_window", the platform's error), for the log
    # and the notice's record.
    detail: str = ""
    # For FAILED: how long the platform asked us to wait before trying again, if it said.
    retry_after: float | None = None

    @classmethod
    def sent(cls) -> Delivery:
        return cls(Outcome.SENT)

    @classmethod
    def unreachable(cls, reason: str) -> Delivery:
        return cls(Outcome.UNREACHABLE, reason)

    @classmethod
    def failed(cls, error: str, *, retry_after: float | None = None) -> Delivery:
        return cls(Outcome.FAILED, error, retry_after)


class Outbound(Protocol):
    async def send_outbound(
        self, external_id: str, replies: list[Reply], *, key: str, wait_rate_limit: bool = True
    ) -> Delivery:
        """Send `replies` to the account `external_id` of this channel, in order.

        `key` names what is sent (e.g. "notice:42"): channels that can de-duplicate sends
        (VK's random_id) derive their id from it, so a retry after a crash is not a duplicate.
        With `wait_rate_limit=False` a platform's "too many requests" comes back at once as
        FAILED with its retry_after (a broadcast's limiter then holds every sender), instead
        of being waited out here.
        """
        ...


class ManyOutbound(Outbound, Protocol):
    """A channel that can send the same replies to many of its accounts in one request."""

    # The most accounts one request may name.
    max_recipients: int

    async def send_outbound_many(
        self, external_ids: list[str], replies: list[Reply], *, key: str
    ) -> dict[str, Delivery]:
        """`send_outbound` (with `wait_rate_limit=False`) to each of `external_ids` at once:
        each one's delivery. A failure of the whole request fails every one of them."""
        ...
