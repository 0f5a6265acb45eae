"""What the broadcasts context refuses."""

from __future__ import annotations

from core.shared.errors import InvalidInput, NotFound, Refused


class InvalidBroadcast(InvalidInput):
    """A broadcast file that cannot be used; the message names the field and why."""

    code = "broadcast_invalid"


class SendAtPassed(InvalidBroadcast):
    """A `send_at` already past when the broadcast is created: it would go at once, which
    the file's author did not mean (a date copied from an old file, a wrong year)."""

    code = "broadcast_send_at_past"


class TriggerCannotFire(InvalidBroadcast):
    """A standing rule whose trigger nothing in the program can ever set off (points short
    of the next tier with no tiers, of a reward with no reward): it would wait for ever."""

    code = "broadcast_trigger_cannot_fire"


class BroadcastNotFound(NotFound):
    code = "broadcast_not_found"

    def __init__(self, broadcast_id: int) -> None:
        super().__init__(f"no broadcast {broadcast_id}")


class BroadcastRefused(Refused):
    """The broadcast cannot do that in its state (send a cancelled one, resume a done one)."""

    code = "broadcast_refused"
