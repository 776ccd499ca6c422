"""`manage.py load_starters`: the eight starter workflows as drafts, once.

The start command runs it so a fresh install shows what the product does; a starter whose
name is already taken by a workflow is left alone, so running it again adds nothing.
"""

from django.core.management.base import BaseCommand

from workflows.models import Workflow
from workflows.starters import all_templates, instantiate


class Command(BaseCommand):
    help = "Create the starter workflows as drafts (skipping those that exist by name)."

    def handle(self, *args, **options):
        created = 0
        for template in all_templates():
            if Workflow.objects.filter(name=template["name"]).exists():
                continue
            instantiate(template["key"])
            created += 1
        self.stdout.write(f"Starter workflows: {created} created as drafts.")
