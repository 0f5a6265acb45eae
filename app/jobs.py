"""Every scheduled job the program runs, known without building the channels.

The core's jobs (core/jobs.py) need only the program. Delivering notices needs the channels,
so its body is handed in by whoever has them (the runtime, or `main.py jobs run` opening one
for that job alone), while its name and schedule are written once, here: `jobs list` prints
the whole schedule without importing a messenger SDK.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.jobs import Every, Job, JobRunner, job_runner
from core.program import LoyaltyProgram

DISPATCH_NOTICES = "dispatch_notices"
# Notices one dispatch run (the scheduled `dispatch_notices` job, an operator's) sends at most.
NOTICE_JOB_BATCH = 100

SEND_BROADCASTS = "send_broadcasts"

# Delivers up to that many pending notices through the channels; its report is the result.
DeliverNotices = Callable[[int], Awaitable[object]]
# Sends every due broadcast (scheduled ones whose time came, quiet-hours waits that ended).
SendBroadcasts = Callable[[], Awaitable[object]]


def scheduled_jobs(
    program: LoyaltyProgram, deliver_notices: DeliverNotices, send_broadcasts: SendBroadcasts
) -> JobRunner:
    """The core's jobs, delivering notices (the notices' leases keep it safe next to the
    live dispatcher) and sending broadcasts (each recipient claimed by one worker), in the
    order `jobs list` shows them."""

    async def dispatch_notices() -> object:
        return await deliver_notices(NOTICE_JOB_BATCH)

    return job_runner(
        program,
        [
            Job(DISPATCH_NOTICES, Every.MINUTE, dispatch_notices),
            Job(SEND_BROADCASTS, Every.MINUTE, send_broadcasts),
        ],
    )
