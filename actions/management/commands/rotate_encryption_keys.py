"""Re-encrypt every stored secret with the newest key of CONNECTION_ENCRYPTION_KEYS.

Rotation: put a new key in front of the list (the old ones stay, so everything still
decrypts), deploy, run this command, then drop the old key. Safe to run again: a value the
newest key already encrypts is left as it is. A value that no configured key decrypts is
reported and left alone (the command then fails, so a rotation cannot silently lose data).

Values are read and written as stored ciphertext (never decrypted into a model and saved),
and each write is conditional on the ciphertext being unchanged, so a secret someone saves
while the command runs is not overwritten with the old one.
"""

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from actions.models import Connection
from automation.encryption import reencrypt
from triggers.models import WebhookSecret

ENCRYPTED_FIELDS = [(Connection, "secret_data"), (WebhookSecret, "secret")]


def _newest_key():
    keys = list(settings.CONNECTION_ENCRYPTION_KEYS)
    # No configured keys: the single generated key in var/ encrypts everything already.
    return Fernet(keys[0]) if keys else None


def rotate(model, field, newest):
    """Counts for one encrypted column: rotated, current, unreadable."""
    counts = {"rotated": 0, "current": 0, "unreadable": 0}
    # Cast to a plain TextField: the raw ciphertext, without the field's decryption.
    stored = (
        model._default_manager.annotate(raw=Cast(field, output_field=TextField()))
        .exclude(raw="")
        .exclude(raw__isnull=True)
        .values_list("pk", "raw")
    )
    for pk, token in stored.iterator():
        if newest is not None:
            try:
                newest.decrypt(token.encode())
                counts["current"] += 1
                continue
            except InvalidToken:
                pass
        elif token:
            counts["current"] += 1
            continue
        try:
            fresh = reencrypt(token)
        except (InvalidToken, ValueError):
            counts["unreadable"] += 1
            continue
        updated = (
            model._default_manager.annotate(raw=Cast(field, output_field=TextField()))
            .filter(pk=pk, raw=token)
            .update(**{field: Value(fresh, output_field=TextField())})
        )
        counts["rotated" if updated else "current"] += 1
    return counts


class Command(BaseCommand):
    help = "Re-encrypt stored connection and webhook secrets with the newest encryption key."

    def handle(self, *args, **options):
        newest = _newest_key()
        unreadable = 0
        for model, field in ENCRYPTED_FIELDS:
            counts = rotate(model, field, newest)
            unreadable += counts["unreadable"]
            self.stdout.write(
                f"{model._meta.label}.{field}: {counts['rotated']} re-encrypted, "
                f"{counts['current']} already current, {counts['unreadable']} unreadable"
            )
        if unreadable:
            raise CommandError(
                f"{unreadable} stored secret(s) cannot be decrypted with any configured key"
            )
