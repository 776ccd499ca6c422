"""`manage.py serve`: the whole product in one process (the embedded mode).

The ASGI server (daphne: HTTP, the admin, the API, webhooks and live-log websockets), a
Celery worker and beat, all in this process. With the default in-process broker this is the
only way the worker can see the tasks; with a real broker it is still a handy single-node
deployment (or use --no-worker and run `celery worker` / `celery beat` beside it).
"""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve the product with an embedded Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="serve only")
        parser.add_argument("--concurrency", type=int, default=4, help="worker threads")

    def handle(self, *args, host, port, no_worker, concurrency, **options):
        import asyncio

        from channels.routing import get_default_application
        from daphne.server import Server
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from automation.embedded import EmbeddedRuntime
        from workflows import live, services

        runtime = None
        if not no_worker:
            runtime = EmbeddedRuntime(concurrency=concurrency).start()

        def ready():
            # Live logs from worker threads go through the server's loop (see workflows.live).
            live.use_event_loop(asyncio.get_event_loop())
            if runtime is not None:
                # The in-process broker forgets everything on restart: whatever was pending
                # or running is found in the database and woken up now.
                woken = services.recover(pending_grace_seconds=0)
                if woken:
                    logger.warning("woke %s unfinished executions", woken)
            self.stdout.write(
                f"Serving on http://{host}:{port}/ "
                f"({'with' if runtime else 'without'} the embedded worker and beat; "
                f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
                f"broker {settings.CELERY_BROKER_URL.split('://')[0]})"
            )

        server = Server(
            application=ASGIStaticFilesHandler(get_default_application()),
            endpoints=[f"tcp:port={port}:interface={host}"],
            ready_callable=ready,
            verbosity=0,
        )
        try:
            server.run()
        finally:
            if runtime is not None:
                runtime.stop()
