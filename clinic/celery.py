"""The Celery application: configured from Django settings (namespace CELERY_)."""

import os

from celery import Celery
from celery.exceptions import WorkerShutdown
from celery.signals import worker_ready, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_shutting_down.connect
def stop_polling_at_once(sig, how, exitcode, **kwargs):
    """On a warm shutdown over a polling broker, stop consuming now.

    Runs in the worker's main process, inside its SIGTERM/SIGINT handler. A
    broker without an event loop (the `filesystem://` default of `make run`)
    is consumed by a blocking loop that notices the stop flag only after two
    more 2-second polls, so the worker took 4-6 s to exit: longer than the
    5 s honcho waits before SIGKILL on Ctrl-C. Raising here ends that wait
    and Celery completes the same warm shutdown (pool drained, beat stopped).

    Only when no task is received or running: a task in the main thread (the
    solo pool) is never interrupted, the worker then stops as Celery does by
    default. Brokers with an event loop (Redis) stop within a second anyway.
    """
    from celery.worker import state

    if how != "Warm" or state.active_requests or state.reserved_requests:
        return
    with app.connection_for_read() as connection:  # not connected: only its transport class
        if connection.transport.implements.asynchronous:
            return
    raise WorkerShutdown(exitcode)


@worker_ready.connect
def dispatch_once_at_start(sender, **kwargs):
    """Run every beat-scheduled job once as the worker starts.

    Rows that fell due while no worker ran go out at once instead of a minute
    later, and /healthz sees a dispatcher run right away.
    """
    for entry in app.conf.beat_schedule.values():
        sender.app.send_task(entry["task"])
