"""An index on UPPER(email) of the user table.

Both lookups by address (the worker's reset lookup, Django's ``PasswordResetForm.get_users``,
and the API's email login) use ``email__iexact``, which compiles to ``UPPER(email) = UPPER(%s)``;
without this index each of them scans the whole user table. The user model belongs to another
app (``AUTH_USER_MODEL``), so the index is added here, by the schema editor, for whichever
model that is.
"""

from django.conf import settings
from django.db import migrations
from django.db.models import Index
from django.db.models.functions import Upper

INDEX_NAME = "user_email_upper_idx"


def _index() -> Index:
    # Historical models lack EMAIL_FIELD; the current model says which field holds the address.
    from django.contrib.auth import get_user_model

    return Index(Upper(get_user_model().get_email_field_name()), name=INDEX_NAME)


def add_index(apps, schema_editor):
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    schema_editor.add_index(user_model, _index())


def remove_index(apps, schema_editor):
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    schema_editor.remove_index(user_model, _index())


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0004_dead_letters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(add_index, remove_index, elidable=False)]
