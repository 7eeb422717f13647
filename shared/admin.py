from django.contrib import admin, messages

from shared.dead_letters import replay
from shared.models import DeadLetter, OutboxEvent


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("created_at", "task", "event_type", "event_id", "reason", "error",
                    "attempts", "replayed_at", "replay_count")  # fmt: skip
    list_filter = ("reason", "task", "replayed_at")
    search_fields = ("event_id",)
    readonly_fields = [field.name for field in DeadLetter._meta.fields]
    actions = ["replay_selected"]

    @admin.action(description="Replay the selected events")
    def replay_selected(self, request, queryset):
        for letter in queryset:
            replay(letter)
        self.message_user(request, f"Replayed {queryset.count()} event(s).", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "type", "id", "attempts", "last_error")
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]

    def has_add_permission(self, request):
        return False
