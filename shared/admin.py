from contextvars import ContextVar

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.http import HttpResponseRedirect

from api import request_origin
from shared.accounts.passwords import PasswordChangedMeanwhile, swap_password
from shared.messaging.dead_letters import replay
from shared.models import DeadLetter, OutboxEvent


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("created_at", "task", "event_type", "event_id", "reason", "error",
                    "attempts", "replayed_at", "replay_count")  # fmt: skip
    list_filter = ("reason", "task", "replayed_at")
    search_fields = ("event_id",)
    readonly_fields = [field.name for field in DeadLetter._meta.fields]
    actions = ["replay_selected"]

    @admin.action(description="Replay the selected events", permissions=["change"])
    def replay_selected(self, request, queryset):
        """Replay the selected letters not replayed yet; name the ones skipped."""
        replayed, skipped = 0, []
        for letter in queryset.order_by("created_at"):
            # replay() also refuses a letter that someone replayed since the page was read.
            if replay(letter):
                replayed += 1
            else:
                skipped.append(letter.pk)
        if replayed:
            self.message_user(request, f"Replayed {replayed} event(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Skipped {len(skipped)} dead letter(s) already replayed (ids "
                f"{', '.join(map(str, skipped))}). To send one again on purpose: "
                f"manage.py replay_dead_letters --again ID",
                messages.WARNING,
            )

    def has_add_permission(self, request):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "type", "id", "sent_at", "attempts", "last_error")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), "type")
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]

    def has_add_permission(self, request):
        return False


# The admin request whose password form is being saved (Django builds that form without it).
_admin_request: ContextVar = ContextVar("admin_request", default=None)


class AdminSetPasswordForm(AdminPasswordChangeForm):
    """The admin's "change password" form, saved as a password change is: compare-and-set and
    a ``password.changed`` event in one transaction, so the user's tokens and sessions end and
    they get the notice. Disabling password login is such a change too (an unusable hash)."""

    def save(self, commit=True):
        request = _admin_request.get()
        origin = request_origin.device(request) if request is not None else {}
        new_password = (
            self.cleaned_data["password1"] if self.cleaned_data["set_usable_password"] else None
        )  # make_password(None) is an unusable password
        swap_password(
            self.user, new_password, reason="change",
            ip=origin.get("ip"), user_agent=origin.get("user_agent") or "",
            # The admin's session is not the user's: none of the user's is kept.
            keep_token_family=None, keep_session_key=None,
        )  # fmt: skip
        return self.user


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    change_password_form = AdminSetPasswordForm

    def user_change_password(self, request, id, form_url=""):  # noqa: A002 - Django's name
        """Django's view, with the request at hand for the form's save (who set it, from where)."""
        token = _admin_request.set(request)
        try:
            return super().user_change_password(request, id, form_url)
        except PasswordChangedMeanwhile:
            messages.error(request, "The password was changed meanwhile. Please try again.")
            return HttpResponseRedirect(request.get_full_path())
        finally:
            _admin_request.reset(token)
