"""Standard Webhooks signatures: what verifies, and what is refused with SignatureError only."""

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from triggers.webhook_signatures import (
    SignatureError,
    decode_secret,
    generate_secret,
    sign,
    verify,
)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()
BODY = b'{"invoice": 42, "amount": "1250.00"}'
MSG = "msg_2Lh8"


def package_signature(secret, msg_id=MSG, timestamp=NOW, body=BODY):
    """The reference signer from the `standardwebhooks` package."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode())


def headers(signature, msg_id=MSG, timestamp=NOW):
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def ours(secret=SECRET, msg_id=MSG, timestamp=NOW, body=BODY):
    return sign(secret, msg_id, timestamp, body)


VALID = [
    # (case, body, headers, configured secrets)
    ("our signer", BODY, headers(ours()), [SECRET]),
    ("the package's signer", BODY, headers(package_signature(SECRET)), [SECRET]),
    (
        "the package's signer, non-ASCII body",
        "é ✓".encode(),
        headers(package_signature(SECRET, body="é ✓".encode())),
        [SECRET],
    ),
    (
        "header names in any case",
        BODY,
        {"Webhook-Id": MSG, "WEBHOOK-TIMESTAMP": str(NOW), "Webhook-Signature": ours()},
        [SECRET],
    ),
    (
        "several signatures, the valid one last",
        BODY,
        headers(f"v1,{base64.b64encode(b'x' * 32).decode()} {ours(OTHER)} {ours()}"),
        [SECRET],
    ),
    ("unknown versions are skipped", BODY, headers(f"v1a,abc v2,{ours()[3:]} {ours()}"), [SECRET]),
    (
        "malformed signatures beside a valid one",
        BODY,
        headers(f"garbage v1, v1,!!!! ,,, {ours()}"),
        [SECRET],
    ),
    ("rotation: signed with the old secret", BODY, headers(ours(OTHER)), [SECRET, OTHER]),
    ("rotation: signed with the new secret", BODY, headers(ours()), [SECRET, OTHER]),
    ("a broken stored secret beside a good one", BODY, headers(ours()), ["whsec_!!", SECRET]),
    ("unpadded base64 signature", BODY, headers(ours().rstrip("=")), [SECRET]),
    ("exactly 5:00 old", BODY, headers(ours(timestamp=NOW - 300), timestamp=NOW - 300), [SECRET]),
    ("4:59 old", BODY, headers(ours(timestamp=NOW - 299), timestamp=NOW - 299), [SECRET]),
    ("4:59 ahead", BODY, headers(ours(timestamp=NOW + 299), timestamp=NOW + 299), [SECRET]),
    ("binary body", b"\xff\x00\xfe", headers(ours(body=b"\xff\x00\xfe")), [SECRET]),
    ("empty body", b"", headers(ours(body=b"")), [SECRET]),
]


@pytest.mark.parametrize(
    ("body", "request_headers", "secrets"),
    [case[1:] for case in VALID],
    ids=[case[0] for case in VALID],
)
def test_valid_signatures_verify(body, request_headers, secrets):
    assert verify(body, request_headers, secrets, now=NOW) == MSG


REFUSED = [
    # (case, body, headers, secrets, reason in the message)
    ("wrong secret", BODY, headers(ours(OTHER)), [SECRET], "no signature matches"),
    ("tampered body", BODY + b" ", headers(ours()), [SECRET], "no signature matches"),
    ("tampered id", BODY, headers(ours(), msg_id="msg_other"), [SECRET], "no signature matches"),
    ("tampered timestamp", BODY, headers(ours(), timestamp=NOW - 1), [SECRET], "no signature"),
    ("5:01 old", BODY, headers(ours(timestamp=NOW - 301), timestamp=NOW - 301), [SECRET], "old"),
    (
        "5:01 ahead",
        BODY,
        headers(ours(timestamp=NOW + 301), timestamp=NOW + 301),
        [SECRET],
        "future",
    ),
    ("no headers at all", BODY, {}, [SECRET], "missing webhook-id"),
    (
        "no id",
        BODY,
        {"webhook-timestamp": str(NOW), "webhook-signature": ours()},
        [SECRET],
        "webhook-id",
    ),
    ("empty id", BODY, headers(ours(), msg_id=""), [SECRET], "webhook-id"),
    ("blank id", BODY, headers(ours(), msg_id="   "), [SECRET], "webhook-id"),
    (
        "no timestamp",
        BODY,
        {"webhook-id": MSG, "webhook-signature": ours()},
        [SECRET],
        "webhook-timestamp",
    ),
    (
        "no signature",
        BODY,
        {"webhook-id": MSG, "webhook-timestamp": str(NOW)},
        [SECRET],
        "webhook-signature",
    ),
    ("empty signature", BODY, headers(""), [SECRET], "webhook-signature"),
    ("signature without a comma", BODY, headers(ours().replace(",", "")), [SECRET], "no v1"),
    ("version only", BODY, headers("v1,"), [SECRET], "no v1"),
    ("a lone comma", BODY, headers(","), [SECRET], "no v1"),
    ("bad base64", BODY, headers("v1,@@@not*base64@@@"), [SECRET], "no v1"),
    ("base64 with a wrong length", BODY, headers("v1,abcde"), [SECRET], "no v1"),
    ("only other versions", BODY, headers(f"v1a,{ours()[3:]}"), [SECRET], "no v1"),
    ("non-numeric timestamp", BODY, headers(ours(), timestamp="soon"), [SECRET], "whole number"),
    ("fractional timestamp", BODY, headers(ours(), timestamp=f"{NOW}.5"), [SECRET], "whole number"),
    ("negative timestamp", BODY, headers(ours(), timestamp=f"-{NOW}"), [SECRET], "whole number"),
    ("NaN timestamp", BODY, headers(ours(), timestamp="nan"), [SECRET], "whole number"),
    ("huge timestamp", BODY, headers(ours(), timestamp="9" * 40), [SECRET], "whole number"),
    ("non-ASCII digits", BODY, headers(ours(), timestamp="١٧٦٧٢٢٥٦٠٠"), [SECRET], "whole number"),
    ("header value not text", BODY, {**headers(ours()), "webhook-id": 42}, [SECRET], "webhook-id"),
    ("headers not a mapping", BODY, ["webhook-id"], [SECRET], "mapping"),
    ("id with a lone surrogate", BODY, headers(ours(), msg_id="msg_\ud800"), [SECRET], "text"),
    ("no secrets", BODY, headers(ours()), [], "no usable signing secret"),
    (
        "only malformed secrets",
        BODY,
        headers(ours()),
        ["whsec_", "nope", "whsec_@@", None],
        "no usable",
    ),
    ("body not bytes", BODY.decode(), headers(ours()), [SECRET], "bytes"),
]


@pytest.mark.parametrize(
    ("body", "request_headers", "secrets", "reason"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_requests_raise_signature_error_only(body, request_headers, secrets, reason):
    with pytest.raises(SignatureError, match=reason):
        verify(body, request_headers, secrets, now=NOW)


def test_the_clock_defaults_to_now():
    import time

    now = int(time.time())
    assert verify(BODY, headers(ours(timestamp=now), timestamp=now), [SECRET]) == MSG
    with pytest.raises(SignatureError, match="too old"):
        verify(BODY, headers(ours()), [SECRET])  # NOW is long past


def test_generated_secrets_are_whsec_base64_of_32_random_bytes():
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_")
    assert len(decode_secret(first)) == 32
    assert first != second
    # The package accepts our secrets, and we accept its signatures made with them.
    assert verify(BODY, headers(package_signature(first)), [first], now=NOW) == MSG


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("", "starts with"),
        ("k" * 40, "starts with"),
        ("whsec_", "base64"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, not 5"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "not 65"),
        (None, "starts with"),
    ],
)
def test_malformed_secrets_are_refused(secret, reason):
    with pytest.raises(SignatureError, match=reason):
        decode_secret(secret)
