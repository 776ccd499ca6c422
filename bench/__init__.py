"""The benchmark: `python manage.py bench [SCENARIO ...] [--quick] [--json FILE]`.

One module per scenario (`engine`, `events`, `webhook`, `latency`, `schedules`, `scale`,
`api`); each says in its docstring what it measures, with which database and broker, and
why. `harness` holds rounds, medians, spreads and the report; `databases` makes the
benchmark's own databases; `processes` starts the product as separate processes;
`runner` runs each scenario in a subprocess of its own (`child`). The targets are those of
issue 6, for a 2-core machine.
"""

SCENARIOS = ("engine", "events", "webhook", "latency", "schedules", "scale", "api")
