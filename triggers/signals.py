"""Model signals -> the event outbox: every save and delete of a registered record type
writes its events in the same transaction as the change.

How a change is seen: when a registered record is loaded or constructed (`post_init`), the
values of its tracked fields (whitelisted fields and single relations, by attname; nothing
else, so loading is cheap) are kept on the instance; `post_save` compares them with the
values just saved, writes the events (`created`, `updated` when a tracked field changed,
and the named events the catalog recognises, e.g. `invoice.sent`), and takes the snapshot
again. A save that changes no tracked field emits nothing: no workflow could see the
difference, and a no-op save must not feed a loop. `pre_delete` serialises the record as it
was (its relations are still there); `post_delete` writes the `deleted` event.

Saves and deletes of registered models run inside `transaction.atomic()`. In autocommit
Django sends `post_save` after the row has been committed, so an event written there would
commit on its own: a crash in between would lose it, and a failing event write could not
undo the business write. `connect()` therefore wraps `save()` and `delete()` of each
registered model class (once per class, see `instrument`) in
`transaction.atomic(savepoint=False)`, which costs nothing inside an existing transaction
and makes the business row and its events commit together in autocommit. The events are
dispatched after that commit (`triggers.outbox`); a rolled-back change fires nothing.
`refresh_from_db()` is wrapped too, so that reloaded values become the new "before".

The receivers listen to every model and look the sender up in the record registry, so a
model registered after this app is ready (a customer's own, from its AppConfig.ready) is
watched too; its `save()` is wrapped when its first instance is created. Writes that skip
signals (`QuerySet.update()`, `bulk_create()`) emit through `triggers.outbox`. Raw saves
(fixture loading) emit nothing.
"""

import functools

from django.db import router, transaction
from django.db.models.signals import post_delete, post_init, post_save, pre_delete

from workflows.records import registry

from . import catalog, outbox
from .catalog import Change

SNAPSHOT = "_event_snapshot"
DELETED_RECORD = "_event_deleted_record"
_WRAPPED = "_saves_with_events"


def connect():
    post_init.connect(_snapshot_on_init, dispatch_uid="triggers.events.init")
    post_save.connect(_emit_on_save, dispatch_uid="triggers.events.save")
    pre_delete.connect(_serialise_on_delete, dispatch_uid="triggers.events.pre_delete")
    post_delete.connect(_emit_on_delete, dispatch_uid="triggers.events.delete")
    for record_type in registry:
        instrument(record_type.model)


def instrument(model):
    """Wrap the model's save() and delete() in a transaction, and make refresh_from_db()
    take the snapshot again (idempotent: once per class)."""
    for name, wrap in (("save", _atomic), ("delete", _atomic), ("refresh_from_db", _refreshing)):
        method = getattr(model, name)
        if not getattr(method, _WRAPPED, False):
            setattr(model, name, wrap(method))


def _atomic(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            return method(self, *args, **kwargs)

    setattr(wrapper, _WRAPPED, True)
    return wrapper


def _refreshing(method):
    """Values reloaded from the database are the new "before": without this, a refreshed
    record would later report someone else's committed change as its own. A deferred field
    is loaded through here too, so it becomes known when first read."""

    @functools.wraps(method)
    def wrapper(self, using=None, fields=None, **kwargs):
        result = method(self, using=using, fields=fields, **kwargs)
        record_type = _record_type(type(self))
        if record_type is not None:
            current = snapshot(record_type, self)
            if fields is not None:
                wanted = set(fields)
                reloaded = {
                    t.attname
                    for t in catalog.tracked_fields(record_type)
                    if {t.name, t.attname} & wanted
                }
                current = {name: value for name, value in current.items() if name in reloaded}
            self.__dict__[SNAPSHOT] = {**self.__dict__.get(SNAPSHOT, {}), **current}
        return result

    setattr(wrapper, _WRAPPED, True)
    return wrapper


# model -> (its record type, the attnames to snapshot): post_init runs for every instance
# loaded, so it must not rebuild this each time.
_watched: dict[type, tuple[object, tuple[str, ...]]] = {}


def _record_type(model):
    concrete = model._meta.concrete_model
    return registry.for_model(concrete) if registry.is_registered(concrete) else None


def _attnames(model, record_type):
    cached = _watched.get(model)
    if cached is None or cached[0] is not record_type:  # first use, or registered anew
        attnames = tuple(tracked.attname for tracked in catalog.tracked_fields(record_type))
        cached = _watched[model] = (record_type, attnames)
        if not getattr(model.save, _WRAPPED, False):
            instrument(model)  # registered after connect()
    return cached[1]


def snapshot(record_type, instance):
    """The tracked values as they are on the instance now (deferred fields left out)."""
    values = instance.__dict__
    attnames = _attnames(type(instance), record_type)
    return {attname: values[attname] for attname in attnames if attname in values}


def _snapshot_on_init(sender, instance, **kwargs):
    record_type = _record_type(sender)
    if record_type is not None:
        instance.__dict__[SNAPSHOT] = snapshot(record_type, instance)


def _emit_on_save(sender, instance, created, raw, using, update_fields, **kwargs):
    record_type = _record_type(sender)
    if record_type is None or raw:
        return
    tracked = catalog.tracked_fields(record_type)
    before = instance.__dict__.get(SNAPSHOT, {})
    after = snapshot(record_type, instance)
    if created:
        change = Change("created", instance, new={t.name: after.get(t.attname) for t in tracked})
    else:
        saved = set(update_fields) if update_fields is not None else None
        change = Change.between(instance, tracked, before, after, only=saved)
        if saved is not None:
            # Only the listed fields were written; the others keep the values last known.
            written = {t.attname for t in tracked if {t.name, t.attname} & saved}
            after = {**before, **{name: after[name] for name in written if name in after}}
    instance.__dict__[SNAPSHOT] = after
    if created or change.old:
        outbox.count_change(record_type, instance, change, using=using)


def _serialise_on_delete(sender, instance, using, **kwargs):
    record_type = _record_type(sender)
    if record_type is not None:
        instance.__dict__[DELETED_RECORD] = record_type.to_json(instance)


def _emit_on_delete(sender, instance, using, **kwargs):
    record_type = _record_type(sender)
    if record_type is None:
        return
    record = instance.__dict__.pop(DELETED_RECORD, None)
    values = snapshot(record_type, instance)
    tracked = catalog.tracked_fields(record_type)
    old = {t.name: values[t.attname] for t in tracked if t.attname in values}
    change = Change("deleted", instance, old=old)
    outbox.count_change(record_type, instance, change, record=record, using=using)
