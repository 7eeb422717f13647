"""The admin API's webhook subscriptions: ``/api/admin/webhooks/`` and ``.../<id>/``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from api.schema import error_example, invalid_example, request_example, response_example
from api.serializers_admin import (
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionCreateSerializer,
    WebhookSubscriptionSerializer,
)
from api.views.admin import AdminAPIView
from shared.messaging import webhooks
from shared.models import WebhookSubscription
from shared.operators.user_admin import MAX_USER_ID as MAX_ID

NO_SUCH_WEBHOOK = _("No such webhook subscription.")

# What a client sees, for the schema's examples.
A_SUBSCRIPTION = {
    "id": 3, "url": "https://crm.example.com/hooks/resetpass",
    "events": ["password.changed", "account.locked"], "active": True,
    "created_at": "2026-11-30T08:12:09Z",
}  # fmt: skip
NO_SUCH_WEBHOOK_EXAMPLE = error_example(404, "No such subscription", NO_SUCH_WEBHOOK, "not_found")


class AdminWebhookListView(AdminAPIView):
    serializer_class = WebhookSubscriptionCreateSerializer

    @extend_schema(
        summary="List webhook subscriptions",
        responses={200: WebhookSubscriptionSerializer(many=True)},
        examples=[response_example(200, "The subscriptions", A_SUBSCRIPTION)],
    )
    def get(self, request):
        rows = WebhookSubscription.objects.order_by("pk")
        return Response(WebhookSubscriptionSerializer(rows, many=True).data)

    @extend_schema(
        summary="Subscribe a URL to events",
        description="The events are POSTed as JSON `{type, timestamp, data}`, signed by the "
        "Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`) "
        "with the `secret` of this answer, which is shown only here.",
        responses={201: WebhookSubscriptionCreatedSerializer},
        examples=[
            request_example("Password changes and locks", {
                "url": A_SUBSCRIPTION["url"], "events": A_SUBSCRIPTION["events"]}),
            response_example(201, "Subscribed; the secret, this once", {
                **A_SUBSCRIPTION, "secret": "whsec_MfKQ9r8GKYqXTwjJT2Vbd4XMwVxz3rW2"}),
            invalid_example("Refused URL", {"url": [(
                "the host resolves to a private, loopback, link-local or reserved address",
                "invalid")]}),
            invalid_example("Unknown event", {"events": [(
                "Unknown event type; webhooks offer: password.changed, email.changed, "
                "account.locked.", "unknown")]}),
        ],
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            subscription = webhooks.subscribe(**serializer.validated_data)
        except webhooks.RefusedURL as exc:  # the name's addresses changed since validation
            raise ValidationError({"url": [str(exc)]}) from None
        return Response(
            WebhookSubscriptionCreatedSerializer(subscription).data,
            status=status.HTTP_201_CREATED,
        )


class AdminWebhookDetailView(AdminAPIView):
    serializer_class = WebhookSubscriptionSerializer

    def get_subscription(self, webhook_id: int) -> WebhookSubscription:
        if not 0 < webhook_id <= MAX_ID:
            raise NotFound(NO_SUCH_WEBHOOK)
        subscription = WebhookSubscription.objects.filter(pk=webhook_id).first()
        if subscription is None:
            raise NotFound(NO_SUCH_WEBHOOK)
        return subscription

    @extend_schema(
        summary="One webhook subscription",
        responses={200: WebhookSubscriptionSerializer},
        examples=[response_example(200, "A subscription", A_SUBSCRIPTION), NO_SUCH_WEBHOOK_EXAMPLE],
    )
    def get(self, request, webhook_id: int):
        return Response(WebhookSubscriptionSerializer(self.get_subscription(webhook_id)).data)

    @extend_schema(
        summary="Delete a webhook subscription",
        description="Deliveries still waiting for it are dropped.",
        responses={204: None},
        examples=[NO_SUCH_WEBHOOK_EXAMPLE],
    )
    def delete(self, request, webhook_id: int):
        self.get_subscription(webhook_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
