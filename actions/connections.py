"""Stored credentials as actions use them: find a connection, turn it into request auth,
record its use, and keep its secrets out of everything a run stores or logs.

A Connection's secrets decrypt only in memory, here, on the way to a provider. Whatever an
action keeps afterwards (its output, an error message, `last_error`) passes through
`scrub()` first, because providers echo credentials back more often than one would think
(an "invalid token: sk_live_..." error body, a debugging endpoint returning our headers).

HTTP connections (provider "http") authenticate one of three ways, set in `config["auth"]`:

* `basic`: `config["username"]` (or `secrets["username"]`) and `secrets["password"]`;
* `bearer`: `secrets["token"]`, sent as `Authorization: Bearer <token>`;
* `header`: `secrets["value"]` sent in the header named by `config["header"]`
  (default `X-API-Key`).
"""

import base64
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from django.utils import timezone
from requests.auth import AuthBase, HTTPBasicAuth

from automation.encryption import DecryptionError

from .models import Connection
from .registry import ActionError

REDACTED = "***"
AUTH_TYPES = ("basic", "bearer", "header")
DEFAULT_AUTH_HEADER = "X-API-Key"
# last_error is for people reading the connection page, not a log archive.
MAX_ERROR_LENGTH = 2000


def get_connection(name_or_id, provider) -> Connection:
    """The connection named (or numbered) `name_or_id`, which must be for `provider`."""
    if name_or_id in (None, ""):
        raise ActionError(f"connection: choose a {provider} connection", kind="invalid_config")
    try:
        # By name first: a connection named "5" wins over the connection with id 5.
        connection = Connection.objects.filter(name=str(name_or_id)).first()
        if connection is None and str(name_or_id).isdigit():
            connection = Connection.objects.filter(pk=int(name_or_id)).first()
    except DecryptionError:
        raise ActionError(
            f"connection '{name_or_id}': its secrets cannot be decrypted with the configured "
            "CONNECTION_ENCRYPTION_KEYS",
            kind="invalid_config",
        ) from None
    if connection is None:
        raise ActionError(f"connection: there is no connection '{name_or_id}'", kind="not_found")
    if connection.provider != provider:
        raise ActionError(
            f"connection '{connection.name}' is a {connection.get_provider_display()} "
            f"connection; this step needs a {Connection.Provider(provider).label} connection",
            kind="invalid_config",
        )
    return connection


def require_secret(connection, key) -> str:
    """One secret of a connection, or an error naming the missing field (never a value)."""
    value = connection.secrets.get(key)
    if not isinstance(value, str) or not value:
        raise ActionError(
            f"connection '{connection.name}' has no '{key}' secret set", kind="invalid_config"
        )
    return value


# -- HTTP auth --------------------------------------------------------------------------


class BasicAuth(HTTPBasicAuth):
    def redacted(self):
        return {"Authorization": f"Basic {REDACTED}"}


class BearerAuth(AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def redacted(self):
        return {"Authorization": f"Bearer {REDACTED}"}


class HeaderAuth(AuthBase):
    def __init__(self, header, value):
        self.header, self.value = header, value

    def __call__(self, request):
        request.headers[self.header] = self.value
        return request

    def redacted(self):
        return {self.header: REDACTED}


def auth_for(connection) -> AuthBase | None:
    """The requests auth of an HTTP connection (None when it sets no auth).

    Passed as `auth=` to the guarded client, which drops it on a redirect to another host.
    Each returned object has `redacted()`: the headers it sets, values shown as "***".
    """
    kind = (connection.config or {}).get("auth") or ""
    if not kind:
        return None
    if kind == "basic":
        username = connection.secrets.get("username") or connection.config.get("username")
        if not username:
            raise ActionError(
                f"connection '{connection.name}' has no username", kind="invalid_config"
            )
        return BasicAuth(username, require_secret(connection, "password"))
    if kind == "bearer":
        return BearerAuth(require_secret(connection, "token"))
    if kind == "header":
        header = connection.config.get("header") or DEFAULT_AUTH_HEADER
        return HeaderAuth(header, require_secret(connection, "value"))
    raise ActionError(
        f"connection '{connection.name}': unknown auth '{kind}' (one of {', '.join(AUTH_TYPES)})",
        kind="invalid_config",
    )


# -- keeping secrets out ------------------------------------------------------------------


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _strings(item)


def secret_values(connection) -> list[str]:
    """Every secret of a connection in the forms a provider might echo it: as stored,
    URL-encoded, and for basic auth the base64 credentials of the Authorization header."""
    if connection is None:
        return []
    secrets = connection.secrets
    values = set(_strings(secrets))
    values |= {quote(value, safe="") for value in values}
    password = secrets.get("password")
    username = secrets.get("username") or (connection.config or {}).get("username")
    if isinstance(password, str) and isinstance(username, str):
        values.add(base64.b64encode(f"{username}:{password}".encode()).decode())
    return sorted((v for v in values if v), key=len, reverse=True)


def _secret_list(secrets):
    if secrets is None:
        return []
    if isinstance(secrets, Connection):
        return secret_values(secrets)
    if isinstance(secrets, str):
        return [secrets] if secrets else []
    if isinstance(secrets, Mapping):
        secrets = list(_strings(secrets))
    # Longest first, so a secret containing another is replaced whole.
    return sorted({s for s in secrets if isinstance(s, str) and s}, key=len, reverse=True)


def scrub(text, secrets: Iterable[str] | Mapping | Connection | None) -> str:
    """`text` with every secret value replaced by "***"."""
    text = "" if text is None else str(text)
    for secret in _secret_list(secrets):
        text = text.replace(secret, REDACTED)
    return text


def scrub_value(value, secrets):
    """A JSON-like value (dicts, lists, strings) with secrets replaced in every string,
    keys included."""
    found = _secret_list(secrets)
    if not found:
        return value

    def clean(item):
        if isinstance(item, str):
            return scrub(item, found)
        if isinstance(item, Mapping):
            return {clean(k) if isinstance(k, str) else k: clean(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [clean(v) for v in item]
        return item

    return clean(value)


def mark_used(connection, error=None):
    """Record a use of the connection: when, and the error if it failed (scrubbed).

    Written with update() so the encrypted secrets are not re-saved, and a row deleted
    meanwhile is not resurrected.
    """
    if connection is None:
        return
    message = "" if error is None else scrub(getattr(error, "message", error), connection)
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        last_used_at=now, last_error=message[:MAX_ERROR_LENGTH]
    )
    connection.last_used_at, connection.last_error = now, message[:MAX_ERROR_LENGTH]
