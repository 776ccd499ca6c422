"""The webhook receiver: HTTP in, `webhooks.receive()` out.

The view only deals with HTTP: the method, the body size (the declared Content-Length first,
then what is actually read, since a chunked or lying request has no honest length) and the
token lookup. Everything a webhook means is decided in triggers/webhooks.py.
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import webhooks
from .endpoint_lookup import find_endpoint


@csrf_exempt  # senders are other servers; the token and the signature authenticate them
def receive_webhook(request, token):
    if request.method != "POST":
        return JsonResponse(
            {"error": "only POST is accepted here"}, status=405, headers={"Allow": "POST"}
        )
    limit = webhooks.max_body_bytes()
    if _declared_length(request) > limit:
        return _too_large(limit)
    endpoint = find_endpoint(token)
    if endpoint is None:
        return JsonResponse({"error": "no active webhook at this address"}, status=404)
    body = request.read(limit + 1)
    if len(body) > limit:
        return _too_large(limit)
    result = webhooks.receive(
        endpoint,
        method=request.method,
        body=body,
        headers=dict(request.headers),
        query=dict(request.GET.lists()),
    )
    return JsonResponse(result.body, status=result.status, headers=result.headers, safe=False)


def _declared_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _too_large(limit):
    return JsonResponse({"error": f"the body is larger than {limit} bytes"}, status=413)
