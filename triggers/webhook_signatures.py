"""Standard Webhooks signatures: signing secrets, signing, and verifying a request.

The scheme (https://www.standardwebhooks.com): a secret is `whsec_` + base64 of random bytes;
a request carries `webhook-id`, `webhook-timestamp` (seconds since the epoch) and
`webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, so that a sender can sign with several secrets while one is rotated.

Why not the `standardwebhooks` package's `verify()`: it decodes the body as text (the HMAC must
cover the raw bytes, and a body that is not UTF-8 raises UnicodeDecodeError), it lets
malformed headers escape as ValueError or binascii.Error (a signature without a comma, bad
base64), and it checks one secret per call. Here every malformed input is a `SignatureError`
with a short reason, every configured secret and every `v1` signature is tried, and each
comparison is constant-time. Signatures made by that package's signer verify here (the tests
say so).
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets as random_secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
SECRET_BYTES = 32
# The spec's bounds on a secret's decoded length.
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64
TOLERANCE_SECONDS = 5 * 60
VERSION = "v1"

_DIGITS = re.compile(r"[0-9]{1,15}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class SignatureError(ValueError):
    """A request's signature (or a secret) is missing, malformed, stale or wrong."""


def generate_secret() -> str:
    """A new signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode()


def decode_secret(secret) -> bytes:
    """The key bytes of a `whsec_...` secret; SignatureError when it is not one."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise SignatureError(f"a secret starts with '{SECRET_PREFIX}'")
    key = _b64decode(secret[len(SECRET_PREFIX) :])
    if key is None:
        raise SignatureError("a secret is 'whsec_' followed by base64")
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise SignatureError(
            f"a secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(key)}"
        )
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,...` signature of a message (what a sender puts in `webhook-signature`)."""
    digest = _digest(decode_secret(secret), _signed_content(msg_id, str(timestamp), body))
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def verify(
    body: bytes,
    headers: Mapping,
    secrets: Iterable[str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a request against the secrets; returns its `webhook-id`.

    `headers` may use any case for its names. Raises SignatureError, and nothing else, when the
    headers are missing or malformed, the timestamp is more than `tolerance` seconds away from
    `now`, or no `v1` signature matches any of the secrets.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise SignatureError("the body must be bytes")
    fields = _lower(headers)
    msg_id = _header(fields, "webhook-id")
    timestamp = _header(fields, "webhook-timestamp")
    candidates = _signatures(_header(fields, "webhook-signature"))
    _check_timestamp(timestamp, time.time() if now is None else now, tolerance)
    keys = _keys(secrets)
    content = _signed_content(msg_id, timestamp, bytes(body))
    for key in keys:
        expected = _digest(key, content)
        for candidate in candidates:
            if hmac.compare_digest(expected, candidate):
                return msg_id
    raise SignatureError("no signature matches")


# -- parts ------------------------------------------------------------------------------------


def _lower(headers):
    try:
        return {str(name).lower(): value for name, value in headers.items()}
    except (AttributeError, TypeError) as exc:
        raise SignatureError("the headers are not a mapping") from exc


def _header(fields, name):
    value = fields.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")  # HTTP header bytes, as WSGI decodes them
    if not isinstance(value, str) or not value.strip():
        raise SignatureError(f"missing {name} header")
    return value


def _signatures(header):
    """The decoded `v1` signatures; others (`v1a`, future versions) are not ours to check."""
    found = []
    for item in header.split():
        version, comma, encoded = item.partition(",")
        if not comma or version != VERSION:
            continue
        digest = _b64decode(encoded)
        if digest is not None:
            found.append(digest)
    if not found:
        raise SignatureError("webhook-signature holds no v1 signature")
    return found


def _check_timestamp(timestamp, now, tolerance):
    if not _DIGITS.fullmatch(timestamp):
        raise SignatureError("webhook-timestamp is not a whole number of seconds")
    skew = int(timestamp) - now
    if skew < -tolerance:
        raise SignatureError("webhook-timestamp is too old")
    if skew > tolerance:
        raise SignatureError("webhook-timestamp is in the future")


def _keys(secrets):
    keys = []
    for secret in secrets or ():
        try:
            keys.append(decode_secret(secret))
        except SignatureError:
            continue  # one bad stored secret must not lock out the good ones
    if not keys:
        raise SignatureError("no usable signing secret")
    return keys


def _signed_content(msg_id, timestamp, body):
    try:
        return f"{msg_id}.{timestamp}.".encode() + body
    except UnicodeEncodeError as exc:
        raise SignatureError("webhook-id is not text") from exc


def _digest(key, content):
    return hmac.new(key, content, hashlib.sha256).digest()


def _b64decode(text):
    """Standard base64 with or without its padding; None when it is not base64."""
    if not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
