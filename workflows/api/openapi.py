"""What the OpenAPI schema says beyond what the serializers tell drf-spectacular.

Shared error answers, request examples (the seed's own, so that Swagger UI offers them and
schemathesis starts from bodies that succeed), and the description of the status
transitions. The views' `extend_schema` decorations use these.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)

from . import serializers as s

# The seed's request body for POST /api/workflows, with real nodes where it shows [...].
SEED_EXAMPLE = OpenApiExample(
    "New customer welcome",
    request_only=True,
    value={
        "name": "New Customer Welcome",
        "trigger": {"type": "event", "event": "customer.created"},
        "nodes": [
            {
                "id": "welcome",
                "type": "action",
                "action": "send_email",
                "config": {
                    "to": "{{customer.email}}",
                    "subject": "Welcome, {{customer.name}}",
                    "body": "We are glad to have you.",
                },
            }
        ],
        "edges": [{"from": "trigger", "to": "welcome"}],
    },
)
RUN_EXAMPLE = OpenApiExample(
    "The seed's input", request_only=True, value={"input_data": {"customer_id": "cust_001"}}
)

NOT_FOUND = OpenApiResponse(s.Detail, description="No such object")
CONFLICT = OpenApiResponse(s.Detail, description="Conflicts with the current state")
INVALID = OpenApiResponse(
    PolymorphicProxySerializer(
        component_name="DefinitionRefused",
        serializers=[s.DefinitionErrors, s.Detail],
        resource_type_field_name=None,
    ),
    description="The definition is invalid (`errors`), or its status cannot be reached "
    "or the body is not JSON (`detail`)",
)


def transition_schema(summary):
    return extend_schema(
        summary=summary,
        request=s.StatusChange,
        responses={200: s.WorkflowDetail, 400: OpenApiTypes.OBJECT, 404: NOT_FOUND},
    )
