"""Bodies of the admin API (``/api/admin/``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import StrictCharField, StrictEmailField, password_field
from shared.accounts.password_hashes import is_recognised_hash
from shared.messaging import webhooks
from shared.operators.user_admin import validate_password_for

UNKNOWN_HASH = _("No configured password hasher recognises this hash.")
BOTH_PASSWORDS = _("Give a password or a password hash, not both.")


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF would also take "yes", "0", 1..."""

    default_error_messages = {"invalid": _("Must be true or false.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class AdminUserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    username = serializers.CharField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    has_usable_password = serializers.SerializerMethodField()
    date_joined = serializers.DateTimeField(read_only=True)

    def get_has_usable_password(self, user) -> bool:
        return user.has_usable_password()


class AdminUserCreateSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    username = StrictCharField(
        required=False,
        max_length=get_user_model()._meta.get_field("username").max_length,
        validators=[UnicodeUsernameValidator()],
        help_text="Default: from the address, made unique.",
    )
    password = password_field(required=False)
    password_hash = StrictCharField(
        required=False, max_length=128, write_only=True,
        help_text="A hash Django's configured hashers recognise (pbkdf2_sha256, argon2, "
        "bcrypt_sha256, scrypt), kept as it is.",
    )  # fmt: skip
    is_active = StrictBooleanField(required=False, default=True)

    def validate_password_hash(self, value: str) -> str:
        if not is_recognised_hash(value):
            raise serializers.ValidationError(UNKNOWN_HASH)
        return value

    def validate(self, attrs):
        if "password" in attrs and "password_hash" in attrs:
            raise serializers.ValidationError(BOTH_PASSWORDS)
        if "password" in attrs:
            try:
                validate_password_for(
                    attrs["password"], email=attrs["email"], username=attrs.get("username")
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class AdminUserUpdateSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254, required=False)
    is_active = StrictBooleanField(
        required=False, help_text="false ends every session and token of the user at once."
    )


class WebhookSubscriptionSerializer(serializers.Serializer):
    """A subscription as listed and read: never its secret."""

    id = serializers.IntegerField(read_only=True)
    url = serializers.CharField(read_only=True)
    events = serializers.ListField(child=serializers.CharField(), read_only=True)
    active = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    """The answer to a new subscription: the only time its secret is shown."""

    secret = serializers.CharField(
        read_only=True,
        help_text="whsec_…, the Standard Webhooks signing secret. Shown this once only.",
    )


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "enum": list(webhooks.EVENT_TYPES)},
     "minItems": 1}
)  # fmt: skip
class EventTypesField(serializers.Field):
    """A non-empty JSON list of event types that webhooks offer. Its errors are one flat list
    of messages, as every other field's are (DRF's ListField would key them by position)."""

    default_error_messages = {
        "not_a_list": _("Must be a non-empty list of event types."),
        "unknown": _("Unknown event type; webhooks offer: {choices}."),
    }

    def to_internal_value(self, data):
        if not isinstance(data, list) or not data or len(data) > 100:
            self.fail("not_a_list")
        if not all(isinstance(item, str) and item in webhooks.EVENT_TYPES for item in data):
            self.fail("unknown", choices=", ".join(webhooks.EVENT_TYPES))
        return list(dict.fromkeys(data))

    def to_representation(self, value):
        return list(value)


class WebhookSubscriptionCreateSerializer(serializers.Serializer):
    url = StrictCharField(
        max_length=2000,
        help_text="https:// (http:// only to loopback with DEBUG on). Refused if its host "
        "resolves to a private, loopback, link-local or reserved address, unless "
        "WEBHOOK_ALLOW_PRIVATE is on.",
    )
    events = EventTypesField()

    def validate_url(self, value: str) -> str:
        try:
            webhooks.check_url(value)
        except webhooks.RefusedURL as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class AdminPasswordResetSerializer(serializers.Serializer):
    deliver = serializers.ChoiceField(
        choices=["email", "return"], default="email",
        help_text="`email`: the user is mailed a reset link (202). `return`: the link is "
        "returned (200) for you to deliver out of band.",
    )  # fmt: skip


class AdminResetLinkSerializer(serializers.Serializer):
    link = serializers.CharField(help_text="A fresh reset link; the links sent before it died.")
    code = serializers.CharField(
        help_text="The one-time code that goes with the link: with the user's address, "
        "`POST /api/auth/password/reset/code/` exchanges it for the link's uid and token. "
        "Setting a password with either spends both."
    )
    expires_at = serializers.DateTimeField(help_text="When the link stops working (RFC 3339).")
    code_expires_at = serializers.DateTimeField(
        help_text="When the code stops working (RESET_CODE_TIMEOUT, shorter than the link's)."
    )


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF would also take "12" and 12.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class UserIdListField(serializers.ListField):
    """Errors as a list of messages naming the item, like every other field's, not DRF's
    ``{index: [...]}`` object (which the API's error schema does not allow)."""

    def run_child_validation(self, data):
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            index, errors = next(iter(exc.detail.items()))
            raise serializers.ValidationError(
                [_("Item %(index)s: %(error)s") % {"index": index, "error": errors[0]}]
            ) from None


class ForcedResetCreateSerializer(serializers.Serializer):
    user_ids = UserIdListField(
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
        required=False, allow_empty=False, max_length=100_000,
        help_text="The users to reset (every id must name a user).",
    )  # fmt: skip
    all = StrictBooleanField(required=False, help_text="true: every active user.")

    def validate_all(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError(_("Only true is meaningful here."))
        return value

    def validate(self, attrs):
        if ("user_ids" in attrs) == ("all" in attrs):
            raise serializers.ValidationError(_("Give either user_ids or all: true."))
        return attrs


class ForcedResetCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()


class ForcedResetSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=["queued", "running", "finished"])
    total = serializers.IntegerField(help_text="Users to reset.")
    done = serializers.IntegerField(help_text="Users reset and mailed a link.")
    failed = serializers.IntegerField(
        help_text="Users who could not be: deleted or deactivated meanwhile, no address, or "
        "refused by the mail server."
    )
