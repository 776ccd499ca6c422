"""The durable, step-at-a-time workflow engine.

`Runner(execution).run()` advances an execution until it completes, fails, or has to wait.
Each step runs its node, then one database transaction records the StepRun, the variables
the step changed and what runs next, so a crashed worker loses at most the step in flight
and a resumed run never repeats a completed step.
"""

from .runner import Runner, run_execution

__all__ = ["Runner", "run_execution"]
