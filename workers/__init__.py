"""The task queue (taskiq; on Redis when REDIS_URL is set, else in-process).

broker.py     one TaskQueue per process: the broker tasks travel through, and the schedules
scheduler.py  the core's scheduled jobs registered as tasks, fired on their schedules, worked

A new kind of background work (a broadcast's deliveries, an outbound webhook's) is a module
here that registers its tasks on the process's `TaskQueue.broker`, as scheduler.py does.
"""
