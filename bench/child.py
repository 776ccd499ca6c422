"""One scenario on one database, in a process of its own: `python -m bench.child`.

The parent (bench.runner) has prepared the database and set DATABASE_URL (and the broker)
in this process's environment; this sets Django up on it, runs the scenario's `run(bench)`
and writes its figures, notes, skip reason or error as JSON to `--out`.
"""

import argparse
import importlib
import json
import signal
import sys
import traceback


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("scenario")
    parser.add_argument("database")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", metavar="DIR", help="write profiles here")
    args = parser.parse_args(argv)
    # Terminated (a timeout in the parent): unwind, so that `finally` stops product processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import django

    django.setup()

    from .harness import Bench, Skip

    module = importlib.import_module(f"bench.{args.scenario}")
    bench = Bench(scenario=args.scenario, database=args.database, quick=args.quick)
    outcome = {"skipped": "", "error": ""}
    bench.profile_dir = args.profile or ""
    try:
        # Scenarios that drive the product's processes profile those (py-spy) themselves.
        if args.profile and getattr(module, "IN_PROCESS", True):
            _profiled(module.run, bench, args.profile)
        else:
            module.run(bench)
    except Skip as exc:
        outcome["skipped"] = str(exc)
    except Exception:
        outcome["error"] = traceback.format_exc()
    outcome["metrics"] = [metric.to_json() for metric in bench.metrics]
    outcome["notes"] = bench.notes
    with open(args.out, "w") as out:
        json.dump(outcome, out)
    return 1 if outcome["error"] else 0


def _profiled(function, bench, directory):
    """Run under pyinstrument (a statistical profiler: a little overhead, whole stacks)."""
    from pathlib import Path

    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        function(bench)
    finally:
        profiler.stop()
        path = Path(directory) / f"profile-{bench.scenario}-{bench.database}.txt"
        path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        bench.note(f"profile written to {path}")


if __name__ == "__main__":
    raise SystemExit(main())
