from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0005_user_email_upper_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebhookSubscription",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("url", models.URLField(max_length=2000)),
                ("events", models.JSONField(help_text="The event types it receives.")),
                ("secret", models.CharField(max_length=100)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("active", models.BooleanField(default=True)),
            ],
            options={
                "ordering": ["pk"],
            },
        ),
    ]
