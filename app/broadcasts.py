"""The broadcasts service as the operator's commands and the engine get it: one place that
says which audience answers segments (the segments context).

No messenger is imported here: commands that only store or report (create, status, pause)
start without any SDK. Sending is wired in app/broadcast_sending.py.
"""

from __future__ import annotations

from core.broadcasts.attribution import Attribution
from core.broadcasts.audience import Audience, SegmentAudience
from core.broadcasts.broadcasts import Broadcasts
from core.program import LoyaltyProgram


def audience(program: LoyaltyProgram) -> Audience:
    return SegmentAudience(program.segments)


def broadcasts(program: LoyaltyProgram) -> Broadcasts:
    return Broadcasts(program.db, program.clock, program.rules, audience(program))


def attribution(program: LoyaltyProgram) -> Attribution:
    return Attribution(program.db, program.clock)
