"""Workflows, their immutable versions, executions and step runs."""

from .execution import Execution, ExecutionVariable, StepRun
from .workflow import Workflow, WorkflowVersion

__all__ = ["Execution", "ExecutionVariable", "StepRun", "Workflow", "WorkflowVersion"]
