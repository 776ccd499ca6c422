"""Public string ids (`wf_...`, `exec_...`): stable across databases, unguessable, short."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_public_id(prefix: str, length: int = 16) -> str:
    """`<prefix>_` and `length` random letters and digits, from one read of the system's
    randomness (every event of every save needs one: sixteen reads measured ~10 us). 128
    random bits reduced modulo 62**16 (~95 bits): no letter measurably likelier."""
    number = int.from_bytes(secrets.token_bytes(16), "big")
    letters = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        letters.append(_ALPHABET[index])
    return f"{prefix}_" + "".join(letters)


def new_workflow_id():
    return new_public_id("wf")


def new_execution_id():
    return new_public_id("exec")
