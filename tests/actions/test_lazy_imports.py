"""Provider SDKs load only when an action of theirs runs, never at startup.

Every product process (gunicorn workers, daphne, the Celery worker, beat) imports all action
modules through the registry, so an SDK imported at module level is carried by every one of
them; together they were megabytes per process. A fresh interpreter is needed to see what
start-up imports: this test process has long since imported everything.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

# twisted: daphne's server, which only the websocket process needs (not an installed app).
PROVIDER_SDKS = ["stripe", "pywebpush", "py_vapid", "twilio", "slack_sdk", "twisted"]

# What a product process does on start: set Django up (the actions app registers the built-in
# actions in ready()), load the URLconf with the admin and the API, the ASGI application,
# and the Celery tasks as a worker imports them.
START_UP = """
import json, sys
import django
django.setup()
import django.urls
django.urls.get_resolver().url_patterns
import automation.asgi
from automation import celery_app
celery_app.loader.import_default_modules()
from actions.registry import registry
print(json.dumps({
    "registered": sorted(action.key for action in registry),
    "loaded": sorted(name for name in sys.modules if name.partition(".")[0] in SDKS),
}))
"""


def test_no_provider_sdk_is_imported_at_start_up():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "automation.settings"}
    code = f"SDKS = {PROVIDER_SDKS!r}\n{START_UP}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The modules that hold these actions were imported (so the check means something)...
    assert {"stripe_charge", "send_push", "send_sms", "send_slack"} <= set(report["registered"])
    # ...and none of them pulled its SDK in.
    assert report["loaded"] == []
