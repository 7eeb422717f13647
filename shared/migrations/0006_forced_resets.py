import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0005_user_email_upper_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ForcedReset",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("finished", "Finished"),
                        ],
                        default="queued",
                        max_length=16,
                    ),
                ),
                ("total", models.PositiveIntegerField(default=0)),
                ("done", models.PositiveIntegerField(default=0)),
                ("failed", models.PositiveIntegerField(default=0)),
                (
                    "user_ids",
                    models.JSONField(blank=True, help_text="None: every active user.", null=True),
                ),
                (
                    "requested_by",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="The name of the API key that asked.",
                        max_length=50,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="ForcedResetUser",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "user_id",
                    models.BigIntegerField(
                        help_text="No foreign key: the user may be deleted since."
                    ),
                ),
                ("mailed", models.BooleanField()),
                (
                    "reset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="users",
                        to="shared.forcedreset",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("reset", "user_id"), name="forced_reset_user_once"
                    )
                ],
            },
        ),
    ]
