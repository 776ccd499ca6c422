"""Encryption at rest for stored secrets (connection credentials, webhook secrets).

Keys are Fernet keys of their own, never SECRET_KEY, listed newest first in
CONNECTION_ENCRYPTION_KEYS: the newest encrypts, every listed key decrypts, so a key can be
rotated (add a new one in front, run `manage.py rotate_encryption_keys`, then drop the old).
An embedded install with no key configured gets one generated into var/, like SECRET_KEY.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _configured_keys():
    keys = list(settings.CONNECTION_ENCRYPTION_KEYS)
    if keys:
        return keys
    key_file = settings.BASE_DIR / "var" / "encryption_key"
    if not key_file.exists():
        key_file.parent.mkdir(exist_ok=True)
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return [key_file.read_text().strip()]


@lru_cache(maxsize=1)
def _fernet():
    try:
        return MultiFernet([Fernet(key) for key in _configured_keys()])
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"CONNECTION_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}"
        ) from None


def reset_keys():
    """Forget the cached keys (after the settings changed, e.g. in tests)."""
    _fernet.cache_clear()


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a stored secret cannot be decrypted with the configured keys"
        ) from None


def reencrypt(token: str) -> str:
    """The same secret, encrypted with the newest key."""
    return _fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """Text kept encrypted in the database and plain in Python."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value  # an empty secret stays empty (a NOT NULL column must get "" back)
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value in (None, "") else encrypt(value)
