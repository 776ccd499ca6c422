"""The seed's list envelope, `{"<things>": [...], "total": N, "page": P}`, for every list.

`?page=` counts from 1 and `?page_size=` is 50 unless asked (at most 200). A value that is
not a whole number in range is answered 400 naming the parameter, instead of being
quietly replaced: a client that asks for 500 items and gets 200 would believe it has all
of them. A page past the end is an empty list with the true total, not a 404.
"""

from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageParams(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
    page_size = serializers.IntegerField(
        min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE
    )


class EnvelopePagination(BasePagination):
    """Pages of a queryset (or a list) under the key `key`; see envelope()."""

    key = "results"

    def paginate_queryset(self, queryset, request, view=None):
        params = PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        self.page = params.validated_data["page"]
        size = params.validated_data["page_size"]
        self.total = len(queryset) if isinstance(queryset, list) else queryset.count()
        start = (self.page - 1) * size
        if start >= self.total:
            return []  # past the end; also keeps absurd page numbers away from SQL
        if isinstance(queryset, list) or start == 0:
            return list(queryset[start : start + size])
        return list(deferred_page(queryset, start, size))

    def get_paginated_response(self, data):
        return Response({self.key: data, "total": self.total, "page": self.page})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": [self.key, "total", "page"],
            "properties": {
                self.key: schema,
                "total": {"type": "integer", "description": "How many there are in all"},
                "page": {"type": "integer", "description": "This page's number, from 1"},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "description": "Page number, from 1",
                "schema": {"type": "integer", "minimum": 1, "default": 1},
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "description": f"Items per page (at most {MAX_PAGE_SIZE})",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PAGE_SIZE,
                    "default": DEFAULT_PAGE_SIZE,
                },
            },
        ]


def deferred_page(queryset, start, size):
    """The rows `start` to `start + size` of `queryset`, in its order, in one query.

    A "deferred join": the subquery pages over primary keys alone, which the index of the
    ordering answers by itself, and only the page's rows are then read in full. With a
    plain OFFSET, PostgreSQL reads every skipped row from the table (half a million for a
    middle page of a million runs) to throw it away.
    """
    return queryset.filter(pk__in=queryset.values("pk")[start : start + size])


def envelope(key):
    """The pagination class of a list whose items stand under `key`."""
    return type(f"{key.title()}Pagination", (EnvelopePagination,), {"key": key})
