"""The runner: advances one execution, one checkpointed step at a time.

Durability rule: a step's effects on the run (its StepRun, the variables it bound, the
tokens that say what runs next) commit in one transaction. A crash before that commit
loses the step in flight, which is redone on resume; a crash after it loses nothing. Local
record writes (transactional actions) commit inside that same transaction, so they happen
exactly once; external side effects happen at least once, with a deterministic idempotency
key (execution id + step path) for providers that honour one.

Checkpoints are written where durability needs them, not after every step: pure steps
(conditions, switches, loops, calculate, transform, record reads; every step in test mode)
only touch the run's own data, so their records are kept in memory and written with the
next checkpoint, which comes before any other step runs (a side effect, a write, a wait),
when the run ends or parks, and at least every WORKFLOW_CHECKPOINT_SECONDS or
WORKFLOW_CHECKPOINT_STEPS. A crash in between loses only pure work, which the resumed run
does again from the last checkpoint: nothing outside the run can tell.
"""

import contextvars
import datetime
import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..graph import Graph
from ..models import Execution, ExecutionVariable, StepRun, large_json, prepared
from ..signals import execution_status_changed, step_recorded
from .context import executing
from .nodes import HANDLERS
from .nodes.action import failure_from_exception
from .nodes.base import Step
from .outcome import Outcome, error_info
from .retry import backoff_seconds
from .scope import NODE_PREFIX, build_scope
from .state import ROOT, RunState

logger = logging.getLogger(__name__)

MAX_PARALLEL_THREADS = 8


@lru_cache(maxsize=512)
def compiled_graph(version_id, checksum):
    """Versions are immutable, so a version's graph is built once per process."""
    from ..models import WorkflowVersion

    return Graph(WorkflowVersion.objects.get(pk=version_id).definition)


def to_json_data(value):
    """What the database will give back: the run sees the same data before and after a
    resume (Decimal becomes a string, datetimes ISO 8601, tuples lists). Data that is JSON
    already is returned as it is, not copied (a 100,000-record query result is large)."""
    if is_plain_json(value):
        return value
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


_SCALARS = frozenset((str, int, float, bool, type(None)))


def is_plain_json(value):
    """Only dicts with string keys, lists and JSON scalars, all the way down.

    Exact types: a subclass (SafeString, an IntEnum) is not plain, so it is converted to
    its plain type. Plain loops: every step's input and output is walked, and this form is
    twice as fast as isinstance checks with all() over a generator."""
    stack = [value]
    pop, extend, scalars = stack.pop, stack.extend, _SCALARS
    while stack:
        item = pop()
        kind = type(item)
        if kind in scalars:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            extend(item.values())
        elif kind is list:
            extend(item)
        else:
            return False
    return True


def worker_id():
    """Who holds a lease: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim_on_creation(execution):
    """Make a new (unsaved) execution `running`, leased to this thread: the caller runs it
    here, so the row is born claimed instead of claimed by a second write. Should this
    process die first, the lease expires and the sweeper hands the run to a worker."""
    execution.start()
    execution.lease_owner = worker_id()
    execution.lease_expires_at = timezone.now() + datetime.timedelta(
        seconds=settings.WORKFLOW_LEASE_SECONDS
    )
    execution.claimed_on_creation = True  # for the first Runner of this very instance


class Runner:
    """Advances one execution. `take_over=True` claims it even from a live lease (an
    operator's explicit resume); otherwise a running execution is claimed only once its
    lease has expired."""

    def __init__(self, execution, *, take_over=False):
        self.execution = execution
        self.take_over = take_over
        self.owner = worker_id()
        self.lease_seconds = settings.WORKFLOW_LEASE_SECONDS
        version = execution.version
        self.definition = version.definition
        self.graph = compiled_graph(version.pk, version.checksum)
        self.tz = ZoneInfo(self.definition.get("timezone") or settings.TIME_ZONE)
        self.limits = {**settings.WORKFLOW_LIMITS, **(self.definition.get("settings") or {})}
        self.is_test = execution.is_test
        self.state = (
            RunState(execution.state)
            if execution.state
            else RunState.initial(self.graph.entry_nodes)
        )
        self._elapsed_base = float((execution.state or {}).get("elapsed", 0))
        # A run no worker has claimed yet has no variables: no query for them.
        self.variables = (
            dict(execution.variables.values_list("name", "value")) if execution.state else {}
        )
        self._dirty = set()
        self._removed = set()
        self._pending = []  # StepRuns recorded since the last checkpoint, not yet written
        # What succeeded in this runner, so a caller that ran the whole run here (a webhook
        # answering on completion) need not read it back.
        self.ran_from_start = not execution.state
        self._outputs = {}
        self._last_succeeded = None
        self._segment_started = time.monotonic()
        self._checkpointed_at = self._segment_started

    @staticmethod
    def now():
        return timezone.now()

    # -- the loop ---------------------------------------------------------------------------

    def run(self, *, deadline=None):
        """Run until the execution finishes or parks; with a `deadline` (time.monotonic()),
        stop after the step that passes it and hand the rest to a worker."""
        if not self._enter():
            return self.execution
        try:
            while self.execution.status == Execution.Status.RUNNING:
                if deadline is not None and time.monotonic() > deadline:
                    self._hand_over()
                    break
                ready = self._ready_tokens()
                if not ready:
                    if not self.state.tokens:
                        self._finish(lambda: self.execution.complete())
                    elif not self._wait_for_next():
                        break
                    continue
                if self._limit_exceeded():
                    break
                self._advance(ready)
        except ExecutionInterrupted:
            # Cancelled (or taken over) by someone else: their word stands.
            self.execution.refresh_from_db()
        return self.execution

    def _enter(self):
        """Claim the execution and move it into `running`, or say there is nothing to do."""
        execution = self.execution
        status = execution.status
        now = self.now()
        claim = Q(pk=execution.pk, status=status)
        if status in (Execution.Status.PENDING, Execution.Status.RETRYING):
            execution.start()
        elif status == Execution.Status.WAITING:
            if execution.resume_at and execution.resume_at > now:
                return False
            execution.resume()
        elif status == Execution.Status.RUNNING:
            if self._born_claimed(now):
                self._announce()
                return True
            # Resuming a run whose worker died: only once its lease has run out.
            if not self.take_over:
                claim &= Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
        else:
            return False
        execution.lease_owner = self.owner
        execution.lease_expires_at = now + datetime.timedelta(seconds=self.lease_seconds)
        # Compare-and-set on what was read: of two workers waking the same run, one wins.
        claimed = Execution.objects.filter(claim).update(
            status=execution.status,
            started_at=execution.started_at,
            resume_at=execution.resume_at,
            state=self.state.to_json(),
            lease_owner=execution.lease_owner,
            lease_expires_at=execution.lease_expires_at,
        )
        if not claimed:
            return False
        self._announce()
        return True

    def _born_claimed(self, now):
        """Created by claim_on_creation in this thread and not yet run: already ours."""
        execution = self.execution
        born = execution.__dict__.pop("claimed_on_creation", False)
        return born and execution.lease_owner == self.owner and execution.lease_expires_at > now

    def _hand_over(self):
        """Give the lease up at once so that a worker (or the sweeper) carries on."""
        from ..services import dispatch

        with transaction.atomic():
            self.execution.lease_expires_at = self.now()
            self._save(renew=False)
            dispatch(self.execution)

    def _ready_tokens(self):
        now = self.now()
        return [t for t in self.state.tokens if not t.get("ready_at") or _at(t["ready_at"]) <= now]

    def _wait_for_next(self):
        """Sleep through a short wait; park the run as `waiting` for a long one.

        Returns True when the loop should go on.
        """
        earliest = min(_at(t["ready_at"]) for t in self.state.tokens)
        remaining = (earliest - self.now()).total_seconds()
        if remaining <= settings.WORKFLOW_INLINE_WAIT_SECONDS:
            self._flush()  # what ran so far is kept (and shown live) while this one waits
            time.sleep(max(0.0, remaining))
            if self.now() >= earliest:
                return True
        self._finish(lambda: self.execution.wait(earliest))
        return False

    def _limit_exceeded(self):
        execution = self.execution
        if execution.steps_total >= int(self.limits["max_steps"]):
            message = f"the run took more than max_steps ({self.limits['max_steps']}) steps"
        elif self._elapsed() > float(self.limits["timeout_seconds"]):
            message = f"the run took longer than timeout_seconds ({self.limits['timeout_seconds']})"
        else:
            return False
        self._finish(lambda: execution.fail(error_info("limit", message, None)))
        return True

    def _elapsed(self):
        """Seconds spent running (not waiting), across resumes."""
        return self._elapsed_base + (time.monotonic() - self._segment_started)

    # -- steps ------------------------------------------------------------------------------

    def _advance(self, ready):
        if self._pending and not all(self._is_pure(token) for token in ready):
            self._flush()  # the run's state is durable before anything leaves it
        if len(ready) == 1:
            results = [self._execute(ready[0])]
        else:
            # Parallel branches overlap in time: their node work runs side by side; the
            # checkpoints then commit one at a time.
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_THREADS, len(ready))) as pool:
                futures = [
                    pool.submit(contextvars.copy_context().run, self._execute_in_thread, token)
                    for token in ready
                ]
                results = [future.result() for future in futures]
        for token, (outcome, started_at, clock) in zip(ready, results, strict=True):
            if self.execution.status != Execution.Status.RUNNING:
                break
            self._checkpoint(token, outcome, started_at, clock)

    def _execute_in_thread(self, token):
        try:
            return self._execute(token)
        finally:
            connections.close_all()  # this thread's connections only

    def _execute(self, token):
        started_at, clock = self.now(), time.perf_counter()
        if "delay" in token:
            until = token["delay"]["until"]
            return Outcome(output={"waited_until": until}), started_at, clock
        node = self.graph.nodes[token["node"]]
        step = Step(run=self, node=node, token=token, variables=self._scope(token))
        try:
            # Dates without a zone (a filter's "2026-11-19") mean the workflow's local time.
            with executing(self.execution), timezone.override(self.tz):
                outcome = HANDLERS[node["type"]].execute(step)
        except Exception as exc:  # a bug in a handler fails the step, not the worker
            logger.exception("node %s of %s crashed", node["id"], self.execution.public_id)
            outcome = failure_from_exception(exc, node["id"], {})
        return outcome, started_at, clock

    def _scope(self, token):
        loop_layer = {}
        for _, block in self.state.block_chain(token["block"]):
            if block["kind"] == "loop":
                items = self.variables[block["items"]]
                loop_layer.setdefault(block["item_variable"], items[block["index"]])
                loop_layer.setdefault("loop", {"index": block["index"], "count": block["count"]})
        now = self.now().astimezone(self.tz)
        workflow = self.execution.workflow
        builtins = {
            "now": now.isoformat(),
            "today": now.date().isoformat(),
            "workflow": {"id": workflow.public_id, "name": workflow.name},
            "execution": {"id": self.execution.public_id},
        }
        return build_scope(
            loop_layer=loop_layer,
            variables=self.variables,
            trigger_data=self.execution.trigger_data,
            error=token.get("error"),
            builtins=builtins,
        )

    # -- checkpoints ------------------------------------------------------------------------

    def _is_pure(self, token):
        if "delay" in token:
            return False  # finishing a delay updates the step it parked on
        node = self.graph.nodes[token["node"]]
        return HANDLERS[node["type"]].is_pure(node, is_test=self.is_test)

    def _checkpoint(self, token, outcome, started_at, clock):
        node = self.graph.nodes[token["node"]]
        path = token["prefix"] + node["id"]
        if self._deferrable(token, outcome):
            self._apply(token, node, path, outcome, started_at, clock)
            if self._checkpoint_due():
                self._flush()
            return
        with transaction.atomic():
            if outcome.perform is not None:
                outcome = self._perform(outcome, node)
            self._apply(token, node, path, outcome, started_at, clock)
            self._save()
            if self.execution.status != Execution.Status.RUNNING:
                self._announce()

    def _deferrable(self, token, outcome):
        """A pure step that succeeded and neither waits nor ends the run."""
        return (
            outcome.status in (StepRun.Status.SUCCEEDED, StepRun.Status.SKIPPED)
            and outcome.perform is None
            and outcome.wait_until is None
            and outcome.stop is None
            and self._is_pure(token)
        )

    def _checkpoint_due(self):
        return (
            len(self._pending) >= settings.WORKFLOW_CHECKPOINT_STEPS
            or time.monotonic() - self._checkpointed_at >= settings.WORKFLOW_CHECKPOINT_SECONDS
        )

    def _flush(self):
        """Write what the run did since its last checkpoint."""
        if self._pending or self._dirty or self._removed:
            with transaction.atomic():
                self._save()

    def _write_pending(self):
        if not self._pending:
            return
        steps, self._pending = self._pending, []
        # One INSERT for them all; the live log still gets one message per step.
        large_json.bulk_create(StepRun, steps)
        execution = self.execution
        transaction.on_commit(lambda: _announce_steps(execution, steps))

    def _perform(self, outcome, node):
        try:
            # A savepoint: a failed write leaves nothing behind.
            with transaction.atomic(), executing(self.execution), timezone.override(self.tz):
                output, bind = outcome.perform()
        except Exception as exc:
            failed = failure_from_exception(exc, node["id"], outcome.retry_policy or {})
            failed.input = outcome.input
            return failed
        outcome.output, outcome.bind, outcome.perform = output, bind, None
        return outcome

    def _apply(self, token, node, path, outcome, started_at, clock):
        """Record the step and move the token; returns the StepRun written."""
        attempt = token.get("attempt", 1)
        if outcome.wait_until is not None and not self.is_test:
            step = self._record(token, node, path, attempt, "running", outcome, started_at, None)
            self._write_pending()  # the token refers to this step by its id
            token["ready_at"] = outcome.wait_until.isoformat()
            token["delay"] = {"until": outcome.wait_until.isoformat(), "step": step.pk}
            return step
        if outcome.wait_until is not None:  # test mode does not wait, it says it would
            outcome.output = {"would_wait_until": outcome.wait_until.isoformat()}
        if "delay" in token:
            return self._finish_delay(token, node, path, outcome, clock)
        if outcome.status == "failed":
            return self._apply_failure(token, node, path, attempt, outcome, started_at, clock)
        self._as_json(outcome)
        step = self._record(token, node, path, attempt, outcome.status, outcome, started_at, clock)
        self._bind(node["id"], outcome)
        self._move_on(token, node, outcome)
        return step

    @staticmethod
    def _as_json(outcome):
        """Convert the output once: the step record, `nodes.<id>` and the named outputs then
        share one copy (a 100,000-record query result is large)."""
        original = outcome.output
        outcome.output = to_json_data(original)
        outcome.bind = {
            name: outcome.output if value is original else to_json_data(value)
            for name, value in outcome.bind.items()
        }

    def _apply_failure(self, token, node, path, attempt, outcome, started_at, clock):
        policy = outcome.retry_policy or {}
        error = {**outcome.error, "path": path, "attempt": attempt}
        outcome.error = error
        # A retried execution goes on counting attempts where the failed one stopped.
        tries = attempt - token.get("attempt_base", 0)
        if outcome.retryable and tries < int(policy.get("max_attempts", 1)):
            step = self._record(token, node, path, attempt, "retrying", outcome, started_at, clock)
            token["attempt"] = attempt + 1
            wait = backoff_seconds(policy, tries)
            token["ready_at"] = (self.now() + datetime.timedelta(seconds=wait)).isoformat()
            return step
        step = self._record(token, node, path, attempt, "failed", outcome, started_at, clock)
        on_error = node.get("on_error", "fail") if node["type"] == "action" else "fail"
        if on_error == "continue":
            self._move_on(token, node, Outcome(label=None))
        elif on_error == "error_branch":
            token["error"] = {k: error[k] for k in ("type", "message", "node", "path")}
            self._move_on(token, node, Outcome(label="error"))
        else:
            # The token stays where it failed: retrying the execution resumes right here.
            self.execution.fail(error)
        return step

    def _finish_delay(self, token, node, path, outcome, clock):
        delay = token.pop("delay")
        token.pop("ready_at", None)
        step = StepRun.objects.get(pk=delay["step"])
        step.status = StepRun.Status.SUCCEEDED
        step.output = outcome.output
        step.finished_at = self.now()
        step.duration_ms = (step.finished_at - step.started_at).total_seconds() * 1000
        step.save(update_fields=["status", "output", "finished_at", "duration_ms"])
        execution = self.execution
        transaction.on_commit(lambda: _announce_steps(execution, [step]))
        self.execution.steps_completed += 1
        self._bind(node["id"], outcome)
        self._move_on(token, node, outcome)
        return step

    def _record(self, token, node, path, attempt, status, outcome, started_at, clock):
        finished = clock is not None
        step = StepRun(
            execution=self.execution,
            node_id=node["id"],
            node_type=node["type"],
            path=path,
            attempt=attempt,
            status=status,
            input=to_json_data(outcome.input),
            output=outcome.output if status == "succeeded" else to_json_data(outcome.output),
            error=outcome.error,
            started_at=started_at,
            finished_at=self.now() if finished else None,
            duration_ms=(time.perf_counter() - clock) * 1000 if finished else None,
        )
        self._pending.append(step)
        if attempt == 1:
            self.execution.steps_total += 1
        if status in (StepRun.Status.SUCCEEDED, StepRun.Status.SKIPPED):
            self.execution.steps_completed += 1
        return step

    def output_of(self, node_id=None):
        """The output of `node_id`'s last successful visit in this runner (without one: of
        the last step that succeeded); None when it did not succeed here."""
        node_id = node_id or self._last_succeeded
        return self._outputs.get(node_id)

    def _bind(self, node_id, outcome):
        """Outputs already converted by _as_json."""
        if outcome.status == StepRun.Status.SUCCEEDED:
            self._outputs[node_id], self._last_succeeded = outcome.output, node_id
        self._set(NODE_PREFIX + node_id, outcome.output)
        for name, value in outcome.bind.items():
            self._set(name, value)

    def _set(self, name, value):
        self.variables[name] = value
        self._dirty.add(name)
        self._removed.discard(name)

    def _unset(self, name):
        self.variables.pop(name, None)
        self._dirty.discard(name)
        self._removed.add(name)

    def _save(self, *, renew=True):
        """The checkpoint: inside a transaction, write the pending steps, the variables
        that changed and the run's state."""
        self._write_pending()
        self._checkpointed_at = time.monotonic()
        execution = self.execution
        if execution.status in (Execution.Status.COMPLETED, Execution.Status.CANCELLED):
            # Variables serve a resume or a retry; a finished run has neither to come.
            self._dirty, self._removed = set(), set()
        for names in _write_groups(self._dirty, self.variables):
            large_json.bulk_create(
                ExecutionVariable,
                [
                    ExecutionVariable(execution=execution, name=name, value=self.variables[name])
                    for name in names
                ],
                update_conflicts=True,
                unique_fields=["execution", "name"],
                update_fields=["value"],
            )
        if self._removed:
            # Delete signals are connected for every model (the triggers app's), so Django
            # loads the rows before deleting them: not their values, which can be a
            # 100,000-record collection.
            execution.variables.filter(name__in=self._removed).only("pk").delete()
        self._dirty, self._removed = set(), set()
        state = self.state.to_json()
        state["elapsed"] = self._elapsed()
        execution.state = state
        now = self.now()
        if execution.status != Execution.Status.RUNNING:
            execution.lease_owner, execution.lease_expires_at = "", None
        elif renew and (execution.lease_expires_at - now).total_seconds() < self.lease_seconds / 2:
            # Renewed with the checkpoint it rides on: no query of its own.
            execution.lease_expires_at = now + datetime.timedelta(seconds=self.lease_seconds)
        # Conditional on the row still being ours and `running`: a run cancelled or taken
        # over meanwhile is not overwritten, and this checkpoint rolls back instead.
        changed = prepared.update(
            Execution,
            router.db_for_write(Execution),
            {"id": execution.pk, "status": Execution.Status.RUNNING, "lease_owner": self.owner},
            {
                "status": execution.status,
                "state": state,
                "steps_total": execution.steps_total,
                "steps_completed": execution.steps_completed,
                "error": execution.error,
                "resume_at": execution.resume_at,
                "completed_at": execution.completed_at,
                "lease_owner": execution.lease_owner,
                "lease_expires_at": execution.lease_expires_at,
            },
        )
        if not changed:
            raise ExecutionInterrupted(execution.public_id)

    def _finish(self, transition):
        """Change the execution's status (complete, wait, fail) in its own checkpoint."""
        with transaction.atomic():
            transition()
            self._save()
            self._announce()

    def _announce(self):
        execution = self.execution
        transaction.on_commit(
            lambda: execution_status_changed.send(sender=Execution, execution=execution)
        )

    # -- moving tokens ----------------------------------------------------------------------

    def _move_on(self, token, node, outcome):
        if outcome.stop is not None:
            return self._stop(node, *outcome.stop)
        if outcome.loop_items is not None:
            return self._enter_loop(token, node, outcome.loop_items)
        if outcome.branches is not None:
            return self._fork(token, node, outcome.branches)
        if not outcome.follow:
            return self._end_path(token)
        return self._follow(token, self.graph.successors(node["id"], outcome.label))

    def _follow(self, token, targets):
        block = self.state.blocks[token["block"]]
        targets = [t for t in targets if not _closes(block, t)]
        if not targets:
            return self._end_path(token)
        for extra in targets[1:]:
            self.state.add_token(extra, token["block"], token["prefix"], error=token.get("error"))
        token["node"] = targets[0]
        token["attempt"] = 1
        token.pop("ready_at", None)
        token.pop("attempt_base", None)
        return None

    def _end_path(self, token):
        self.state.remove_token(token)
        self._path_ended(token["block"])

    def _path_ended(self, block_id):
        block = self.state.blocks[block_id]
        block["active"] -= 1
        if block["active"] == 0 and block["kind"] != ROOT:
            self._block_done(block_id, block)

    def _block_done(self, block_id, block):
        if block["kind"] == "loop":
            block["index"] += 1
            if block["index"] < block["count"]:
                prefix = f"{block['prefix']}{block['node']}[{block['index']}]/"
                self.state.add_token(block["entry"], block_id, prefix)
                return
            self._unset(block["items"])
            targets = self.graph.loop_exits(block["node"])
        else:
            targets = [block["join"]] if block.get("join") else []
        del self.state.blocks[block_id]
        self._resume_parent(block["parent"], block["prefix"], targets)

    def _resume_parent(self, parent_id, prefix, targets):
        """The path that entered a loop or parallel node continues after it."""
        parent = self.state.blocks[parent_id]
        for target in targets:
            if not _closes(parent, target):
                self.state.add_token(target, parent_id, prefix)
        self._path_ended(parent_id)

    def _enter_loop(self, token, node, items):
        entry = self.graph.loop_entry(node["id"])
        if not items or entry is None:
            return self._follow(token, self.graph.loop_exits(node["id"]))
        self.state.remove_token(token)  # its path is suspended in the loop's block
        block_id = self.state.add_block(
            "loop",
            token["block"],
            node=node["id"],
            entry=entry,
            index=0,
            count=len(items),
            item_variable=node.get("item_variable") or "item",
            prefix=token["prefix"],
        )
        self.state.blocks[block_id]["items"] = f"__loop.{block_id}"
        # Rendered from the run's variables, the definition or the trigger data, all JSON
        # already: stored as they are, not copied (a 100,000-item collection is large).
        self._set(f"__loop.{block_id}", items)
        self.state.add_token(entry, block_id, f"{token['prefix']}{node['id']}[0]/")
        return None

    def _fork(self, token, node, branches):
        join = self.graph.join_of(node["id"])
        if not branches:
            return self._follow(token, [join] if join else [])
        self.state.remove_token(token)
        block_id = self.state.add_block(
            "parallel", token["block"], node=node["id"], join=join, prefix=token["prefix"]
        )
        for index, entry in enumerate(branches):
            self.state.add_token(entry, block_id, f"{token['prefix']}{node['id']}.{index}/")
        return None

    def _stop(self, node, status, reason):
        self.state.tokens = []
        self.state.blocks = {ROOT: {"kind": ROOT, "active": 0}}
        if status == "failed":
            self.execution.fail(error_info("stopped", reason or "stopped", node["id"]))
        else:
            self.execution.complete()


LARGE_VALUE_ITEMS = 1000


def _write_groups(names, variables):
    """The small variables in one INSERT; each large one (a query result, a loop's items)
    in its own, so that only one of their JSON texts is in memory at a time."""
    small, large = [], []
    for name in names:
        value = variables[name]
        is_large = isinstance(value, list | dict) and len(value) >= LARGE_VALUE_ITEMS
        (large if is_large else small).append(name)
    groups = [[name] for name in large]
    return [small, *groups] if small else groups


def _announce_steps(execution, steps):
    for step in steps:
        step_recorded.send(sender=StepRun, execution=execution, step=step)


class ExecutionInterrupted(Exception):
    """The execution's row left `running` under the runner (e.g. it was cancelled)."""


def _closes(block, target):
    """An edge to the join (parallel) or back to the loop node ends a path in the block."""
    if block["kind"] == "parallel":
        return target == block.get("join")
    if block["kind"] == "loop":
        return target == block["node"]
    return False


def _at(value):
    return parse_datetime(value)


def run_execution(execution, *, take_over=False, deadline=None):
    """Advance an execution (a model instance) as far as it can go now."""
    return Runner(execution, take_over=take_over).run(deadline=deadline)
