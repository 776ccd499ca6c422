"""Fixtures that run the whole product, in the embedded and the distributed mode."""

import pytest
from django.db import connection

from tests.conftest import require

from .harness import REDIS_BROKER, REDIS_LAYER, Product, redis_available

MODES = [
    pytest.param("embedded", id="embedded"),
    pytest.param("distributed", id="distributed", marks=pytest.mark.distributed),
]


@pytest.fixture(params=MODES)
def mode(request):
    if request.param == "distributed":
        require(connection.vendor == "postgresql", "PostgreSQL (distributed mode)")
        require(redis_available(), "Redis at 127.0.0.1:6379")
    return request.param


@pytest.fixture
def product_env(subprocess_env):
    return subprocess_env


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def product(request, mode, product_env, tmp_path):
    """The product running in `mode`; the test process sends tasks the way that mode does."""
    from automation.celery import app

    if mode == "distributed":
        import redis

        for url in (REDIS_BROKER, REDIS_LAYER):
            redis.Redis.from_url(url).flushdb()
    running = Product(mode, product_env, tmp_path)
    # This process is "another process" of the product: no eager tasks. In distributed mode
    # its messages reach the workers over Redis; in embedded mode they cannot reach the
    # serving process, whose sweeps find the work in the database.
    previous = app.conf.broker_url
    app.conf.task_always_eager = False
    app.conf.broker_url = REDIS_BROKER if mode == "distributed" else "memory://localhost/"
    app._pool = None
    try:
        yield running.start()
    finally:
        running.stop()
        app.conf.broker_url = previous
        app._pool = None
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            print(running.logs())  # noqa: T201 - pytest shows it with the failure
