"""Django REST framework's messages that our German catalog translates again.

DRF ships German in the informal "du" form ("Gib eine gültige E-Mail Adresse an."), and its
catalog is found before Django's, so pages and API bodies would speak to people in two forms.
api/locale/de holds these in the formal "Sie" form; naming them here keeps ``makemessages``
from dropping them as unused. Only the messages our fields can give are listed."""

from django.utils.translation import gettext_noop

DRF_MESSAGES_TRANSLATED_AGAIN = (
    gettext_noop("Enter a valid email address."),
    gettext_noop("Ensure this field has no more than {max_length} characters."),
    gettext_noop("Ensure this field has at least {min_length} characters."),
    gettext_noop("Ensure this value is greater than or equal to {min_value}."),
    gettext_noop("Ensure this value is less than or equal to {max_value}."),
)
