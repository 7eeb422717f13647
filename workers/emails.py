"""Rendering and sending templated email: a subject, a text part and an HTML part."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def send_templated_email(template: str, *, to: str, context: dict) -> None:
    """Send ``emails/<template>_subject.txt``, ``.txt`` and ``.html`` rendered with ``context``."""
    subject = render_to_string(f"emails/{template}_subject.txt", context)
    subject = " ".join(subject.split())  # one line: a newline would break the header
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    message.send()
