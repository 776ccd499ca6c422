"""The embedded runtime: a Celery worker and beat inside the serving process.

With the in-process broker (`memory://`) the worker must live in the same process as the
code that sends tasks, so `manage.py serve` starts one in a thread, with a thread pool, and
beat in another thread (django-celery-beat's DatabaseScheduler; EmbeddedService ignores
`beat_scheduler` from the config, so the scheduler class is passed explicitly). The same
functions work with a real broker, which is how the tests run a worker in-process.
"""

import logging
import threading

from celery.beat import EmbeddedService
from celery.worker import WorkController

from automation.celery import app

logger = logging.getLogger(__name__)


class EmbeddedRuntime:
    def __init__(self, *, concurrency=4, beat=True):
        self.concurrency = concurrency
        self.with_beat = beat
        self.worker = None
        self.beat = None
        self._thread = None

    def start(self):
        # WorkController rather than celery.apps.worker.Worker: the latter installs signal
        # handlers, which only the main thread may do (and the main thread is the server's).
        self.worker = WorkController(
            app=app,
            pool_cls="threads",
            concurrency=self.concurrency,
            loglevel="WARNING",
            hostname="embedded@localhost",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._thread = threading.Thread(target=self.worker.start, name="celery-worker", daemon=True)
        self._thread.start()
        if self.with_beat:
            self.beat = EmbeddedService(
                app,
                thread=True,
                scheduler_cls="django_celery_beat.schedulers:DatabaseScheduler",
            )
            self.beat.start()
        logger.info("embedded worker (%s threads) and beat started", self.concurrency)
        return self

    def stop(self):
        if self.beat is not None:
            self.beat.stop()
        if self.worker is not None:
            self.worker.stop(in_sighandler=False)
