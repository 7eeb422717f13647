from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0006_forced_resets"),
        ("shared", "0006_webhook_subscriptions"),
    ]

    operations = []
