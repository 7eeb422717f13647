"""Settings of the peers project: ours, plus dj-rest-auth and djoser configured the way their
documentation sets them up for a password reset by email.

Both peers send the email synchronously, inside the request, through Django's email backend,
so the mail goes wherever EMAIL_URL says (the same SMTP sink as our workers). Migrate with these
settings: ``rest_framework.authtoken`` brings a table of its own.
"""

from api.settings import *  # noqa: F403
from api.settings import INSTALLED_APPS, REST_FRAMEWORK

INSTALLED_APPS = [
    *INSTALLED_APPS,
    # Both peers import rest_framework.authtoken's Token model (their default TOKEN_MODEL).
    "rest_framework.authtoken",
    "dj_rest_auth",
    "djoser",
]

ROOT_URLCONF = "bench.peers.urls"
WSGI_APPLICATION = "bench.peers.wsgi.application"

# No throttling for the peers: DRF throttles only what DEFAULT_THROTTLE_CLASSES names (our own
# views keep the throttles they declare). Parsers, renderers and error handling stay ours.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}

# dj-rest-auth: defaults. POST /dj-rest-auth/password/reset/ runs Django's PasswordResetForm
# (template registration/password_reset_email.html, which reverses "password_reset_confirm").
REST_AUTH = {
    "PASSWORD_RESET_USE_SITES_DOMAIN": False,
    "USE_JWT": False,
}

# djoser: defaults, with the link it mails pointing at the same confirm page as Django's
# (djoser's uid and token are Django's uidb64 and default_token_generator token).
DJOSER = {
    "PASSWORD_RESET_CONFIRM_URL": "accounts/reset/{uid}/{token}/",
    "PASSWORD_RESET_SHOW_EMAIL_NOT_FOUND": False,
    "PASSWORD_RESET_CONFIRM_RETYPE": False,
    "EMAIL": {"password_reset": "djoser.email.PasswordResetEmail"},
}
