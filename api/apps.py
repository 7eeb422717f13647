from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from django.contrib import admin

        from api import schema  # noqa: F401 - registers the OpenAPI authentication extension
        from api.forms import AdminLoginForm

        # The admin's login says when the account lockout refused an attempt, as ours does.
        admin.site.login_form = AdminLoginForm
