"""Signals sent after a checkpoint commits; live logs (Channels) listen to them.

Sent only after the transaction commits, so a listener never announces a step that a
rollback then erased.
"""

from django.dispatch import Signal

# kwargs: execution (Execution), step (StepRun)
step_recorded = Signal()
# kwargs: execution (Execution)
execution_status_changed = Signal()
