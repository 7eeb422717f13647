from django.apps import AppConfig


class SharedConfig(AppConfig):
    name = "shared"
    label = "shared"
    verbose_name = "Events and outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from shared.accounts import browser_sessions  # noqa: F401 - connects the login signal
