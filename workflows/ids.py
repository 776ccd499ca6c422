"""Public string ids (`wf_...`, `exec_...`): stable across databases, unguessable, short."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_public_id(prefix: str, length: int = 16) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_workflow_id():
    return new_public_id("wf")


def new_execution_id():
    return new_public_id("exec")
