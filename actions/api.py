"""Connections (stored provider credentials) over the API, with write-only secrets.

A `secrets` object is accepted on create and update and never given back: answers name
the secret fields that are set (`"secrets_set": ["auth_token"]`), so a client can tell
what is configured without anyone reading a credential. On update, the keys sent replace
those stored and a key sent as null is removed; keys not sent stay, since a client cannot
read them back to send them again.
"""

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets

from workflows.api.pagination import envelope
from workflows.api.views import APIDefaults

from .models import Connection


class ConnectionSerializer(serializers.ModelSerializer):
    secrets = serializers.DictField(
        child=serializers.CharField(allow_null=True, allow_blank=True),
        write_only=True,
        required=False,
        help_text="Secret fields by name; write-only (null removes one)",
    )
    secrets_set = serializers.SerializerMethodField(help_text="Names of the secrets stored")

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "provider",
            "config",
            "secrets",
            "secrets_set",
            "created_at",
            "updated_at",
            "last_used_at",
            "last_error",
        ]
        read_only_fields = ["created_at", "updated_at", "last_used_at", "last_error"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_secrets_set(self, connection):
        return sorted(connection.secrets)

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("config is a JSON object")
        return value

    def create(self, validated_data):
        secrets = validated_data.pop("secrets", {})
        connection = Connection(**validated_data)
        connection.secrets = {key: value for key, value in secrets.items() if value is not None}
        connection.save()
        return connection

    def update(self, connection, validated_data):
        changes = validated_data.pop("secrets", {})
        for name, value in validated_data.items():
            setattr(connection, name, value)
        merged = {**connection.secrets, **changes}
        connection.secrets = {key: value for key, value in merged.items() if value is not None}
        connection.save()
        return connection


@extend_schema_view(
    list=extend_schema(summary="Stored connections"),
    create=extend_schema(summary="Store a connection"),
    retrieve=extend_schema(summary="One connection (secrets never shown)"),
    update=extend_schema(summary="Replace a connection's fields (secrets merged)"),
    partial_update=extend_schema(summary="Change some of a connection's fields"),
    destroy=extend_schema(summary="Delete a connection"),
)
class ConnectionViewSet(APIDefaults, viewsets.ModelViewSet):
    """Credentials for providers (Twilio, Slack, Stripe, HTTP...); needs the Connection
    model permissions."""

    queryset = Connection.objects.order_by("name", "pk")
    serializer_class = ConnectionSerializer
    pagination_class = envelope("connections")

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)
