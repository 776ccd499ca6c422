"""`manage.py bench`: the benchmark of issue 6 (the scenarios live in the `bench` package).

    python manage.py bench [SCENARIO ...] [--quick] [--json FILE] [--database sqlite|postgres|both]
                             [--profile DIR]

Prints a table (median and spread over several rounds, after a warm-up, with the target and
whether it is met) and writes the same as JSON. Every scenario runs on databases of its own,
never on the project's database.
"""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Benchmark the engine, the triggers and the whole system against issue 6's targets."

    def add_arguments(self, parser):
        from bench import SCENARIOS

        parser.add_argument(
            "scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)}"
        )
        parser.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes)")
        parser.add_argument("--json", dest="json_path", metavar="FILE", help="write the report")
        parser.add_argument(
            "--database",
            choices=("sqlite", "postgres", "both"),
            help="default: both; with --quick, each scenario's first (mostly SQLite)",
        )
        parser.add_argument(
            "--profile",
            metavar="DIR",
            help=(
                "write profiles into DIR: pyinstrument of each in-process scenario, py-spy "
                "of a web process under the webhook load (slows them down)"
            ),
        )

    def handle(self, *args, scenarios, quick, json_path, database, profile, **options):
        from bench import runner

        try:
            report = runner.run(
                scenarios, quick=quick, database=database, json_path=json_path, profile=profile
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(report.table())
        if json_path:
            self.stdout.write(f"\nJSON written to {json_path}")
        if any(result.error for result in report.results):
            raise CommandError("some scenarios failed; see the table and the JSON")
