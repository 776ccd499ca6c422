"""How the domain's refusals reach API clients, decided once for every endpoint.

Views call the model and service functions and let their exceptions rise; this handler
gives each kind a status code and a body:

- DefinitionInvalid: 400 `{"errors": [{"node", "field", "message"}], "warnings": [...]}`
- TransitionNotAllowed (an illegal status change), WebhookError: 400 `{"detail"}`
- ExecutionRefused, ImportRefused (what was asked conflicts with the state of the workflow
  or run: archived, already finished, an id taken): 409 `{"detail"}`
- UnknownTemplate, an unknown version number: 404 `{"detail"}`

Everything else (validation of request fields, authentication, permissions, 404s of
lookups) is DRF's own handling, whose bodies are `{"detail"}` or `{"<field>": [...]}`.
"""

from django_fsm import TransitionNotAllowed
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from triggers.webhooks import WebhookError
from workflows.models import WorkflowVersion
from workflows.services import ExecutionRefused
from workflows.starters import UnknownTemplate
from workflows.transfer import ImportRefused
from workflows.validation import DefinitionInvalid

_DETAIL_STATUS = (
    (TransitionNotAllowed, status.HTTP_400_BAD_REQUEST),
    (WebhookError, status.HTTP_400_BAD_REQUEST),
    (ExecutionRefused, status.HTTP_409_CONFLICT),
    (ImportRefused, status.HTTP_409_CONFLICT),
    (UnknownTemplate, status.HTTP_404_NOT_FOUND),
)


def handle(exc, context):
    """DRF's exception handler, with the domain's exceptions translated first."""
    if isinstance(exc, DefinitionInvalid):
        # Built here, not raised as a DRF APIException: that would turn the issues' null
        # node and field into the string "None".
        return Response(
            {"errors": exc.errors, "warnings": exc.warnings}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, WorkflowVersion.DoesNotExist):
        return Response({"detail": "no such version"}, status=status.HTTP_404_NOT_FOUND)
    for kind, code in _DETAIL_STATUS:
        if isinstance(exc, kind):
            return Response({"detail": str(exc)}, status=code)
    return exception_handler(exc, context)
