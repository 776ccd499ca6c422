"""What the admin tests share besides fixtures: definitions, admin URLs, actions, messages."""

from django.urls import reverse

from tests.support.definitions import chain, definition


def end_definition(name="Greeter", **extra):
    """The smallest runnable definition: the trigger, then an end node."""
    return definition([{"id": "done", "type": "end"}], chain("done"), name=name, **extra)


def url(model, view, *args):
    """url(Workflow, "changelist") -> /admin/workflows/workflow/."""
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def post_action(client, model, action, objects, **extra):
    """POST an admin action on the changelist for these objects (following the redirect)."""
    data = {"action": action, "_selected_action": [obj.pk for obj in objects], **extra}
    return client.post(url(model, "changelist"), data, follow=True)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def offered_actions(client, model):
    """The action names the changelist offers this client."""
    response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    form = response.context["action_form"]
    if form is None:  # no action at all for this user
        return set()
    return {name for name, _ in form.fields["action"].choices if name}
