"""The task queue every worker task travels through: one broker per process, built from the
settings' Redis URL (nothing global).

With Redis, a task travels through a Redis stream (`RedisStreamBroker`, acknowledged delivery,
retried with backoff) to whichever worker takes it, and schedules live in Redis
(`ListRedisScheduleSource`). On the embedded default (no Redis), `InMemoryBroker` runs a task
right there, in the process that sent it, and schedules are the tasks' labels.

Tasks register on `TaskQueue.broker` under a name of their own (`loyalty.<what>`): the
scheduled jobs in scheduler.py; deliveries (broadcasts, webhooks) beside it, the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskiq import AsyncBroker, InMemoryBroker, ScheduleSource, SmartRetryMiddleware
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import ListRedisScheduleSource, RedisStreamBroker

TASK_PREFIX = "loyalty."
SCHEDULE_KEY_PREFIX = "loyalty:schedule"
QUEUE = "loyalty:jobs"
CONSUMER_GROUP = "loyalty-jobs"
# A failed task is tried again: a database that was briefly away costs a minute, not a run.
RETRIES = 3
RETRY_DELAY_SECONDS = 60
# At most this many tasks run at once in one worker.
WORKER_CONCURRENCY = 4
# A task that a dead worker took is handed to another one after this long unacknowledged.
REDELIVER_AFTER_MS = 30 * 60 * 1000


@dataclass(frozen=True)
class TaskQueue:
    broker: AsyncBroker
    source: ScheduleSource
    # True with Redis: schedules and the queue are shared by every process.
    distributed: bool

    @classmethod
    def build(cls, redis_url: str = "") -> TaskQueue:
        if not redis_url:
            broker = InMemoryBroker(max_async_tasks=WORKER_CONCURRENCY)
            return cls(broker=broker, source=LabelScheduleSource(broker), distributed=False)
        source = ListRedisScheduleSource(redis_url, prefix=SCHEDULE_KEY_PREFIX)
        stream = RedisStreamBroker(
            redis_url,
            queue_name=QUEUE,
            consumer_group_name=CONSUMER_GROUP,
            # Messages sent before a worker first started are still delivered to it.
            consumer_id="0",
            idle_timeout=REDELIVER_AFTER_MS,
            # A few tasks a minute: a bounded stream, never an ever-growing key.
            maxlen=10_000,
        ).with_middlewares(
            SmartRetryMiddleware(
                default_retry_count=RETRIES,
                default_delay=RETRY_DELAY_SECONDS,
                use_jitter=True,
                schedule_source=source,
            )
        )
        return cls(broker=stream, source=source, distributed=True)
