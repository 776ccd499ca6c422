import workflows.models.fields
from django.db import migrations


class Migration(migrations.Migration):
    """The payload is encoded with orjson: the same column, so the state changes alone (an
    AlterField would make SQLite copy the whole table for nothing)."""

    dependencies = [
        ("triggers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="payload",
                    field=workflows.models.fields.FastJSONField(),
                ),
            ],
        ),
    ]
