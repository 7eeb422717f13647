from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import errors
from api.views import accounts, devmail, favicon, health, jwks
from api.views.admin import UnknownAdminPathView
from api.views.admin_resets import (
    AdminUserPasswordResetView,
    ForcedResetDetailView,
    ForcedResetListView,
)
from api.views.admin_users import AdminUserDetailView, AdminUserListView
from api.views.admin_webhooks import AdminWebhookDetailView, AdminWebhookListView
from api.views.email_change import EmailChangeConfirmView, EmailChangeView
from api.views.password_change import PasswordChangeView
from api.views.password_reset import (
    PasswordResetCodeView,
    PasswordResetConfirmView,
    PasswordResetView,
)
from api.views.sessions import (
    LoginView,
    LogoutView,
    RefreshView,
    SessionDetailView,
    SessionListView,
)

api_auth = [
    path("login/", LoginView.as_view(), name="api_login"),
    path("token/refresh/", RefreshView.as_view(), name="api_token_refresh"),
    path("logout/", LogoutView.as_view(), name="api_logout"),
    path("sessions/", SessionListView.as_view(), name="api_sessions"),
    path("sessions/<uuid:family>/", SessionDetailView.as_view(), name="api_session"),
    path("password/change/", PasswordChangeView.as_view(), name="api_password_change"),
    path("password/reset/", PasswordResetView.as_view(), name="api_password_reset"),
    path(
        "password/reset/confirm/",
        PasswordResetConfirmView.as_view(),
        name="api_password_reset_confirm",
    ),
    path("password/reset/code/", PasswordResetCodeView.as_view(), name="api_password_reset_code"),
    path("email/change/", EmailChangeView.as_view(), name="api_email_change"),
    path(
        "email/change/confirm/", EmailChangeConfirmView.as_view(), name="api_email_change_confirm"
    ),
]

api_admin = [
    path("users/", AdminUserListView.as_view(), name="api_admin_users"),
    path("users/<int:user_id>/", AdminUserDetailView.as_view(), name="api_admin_user"),
    path("webhooks/", AdminWebhookListView.as_view(), name="api_admin_webhooks"),
    path("webhooks/<int:webhook_id>/", AdminWebhookDetailView.as_view(), name="api_admin_webhook"),
    path(
        "users/<int:user_id>/password-reset/",
        AdminUserPasswordResetView.as_view(),
        name="api_admin_user_password_reset",
    ),
    path("forced-resets/", ForcedResetListView.as_view(), name="api_admin_forced_resets"),
    path(
        "forced-resets/<uuid:reset_id>/",
        ForcedResetDetailView.as_view(),
        name="api_admin_forced_reset",
    ),
    # Last: every other path answers as the real ones do without a key (api/views/admin.py).
    re_path(r"", UnknownAdminPathView.as_view(), name="api_admin_unknown"),
]

accounts_pages = [
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", accounts.LogoutView.as_view(), name="logout"),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/done/",
        accounts.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/code/", accounts.PasswordResetCodeView.as_view(), name="password_reset_code"
    ),
    path(
        "reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/", accounts.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("password-change/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password-change/done/",
        accounts.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("email-change/", accounts.EmailChangeView.as_view(), name="email_change"),
    path("email-change/done/", accounts.EmailChangeDoneView.as_view(), name="email_change_done"),
    path(
        "email-change/confirm/<uidb64>/<token>/",
        accounts.EmailChangeConfirmView.as_view(),
        name="email_change_confirm",
    ),
    path("not-me/<uidb64>/<token>/", accounts.NotMeView.as_view(), name="not_me"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(".well-known/jwks.json", jwks.jwks, name="jwks"),
    path("favicon.ico", favicon.favicon, name="favicon"),
    path("api/auth/", include(api_auth)),
    path("api/admin/", include(api_admin)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Its script is a file of its own and its page has no inline style: the CSP allows neither.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="swagger-ui",
    ),
    path("accounts/", include(accounts_pages)),
    path("admin/", admin.site.urls),
    # 404 unless DEBUG is on (checked per request, see the view).
    path("dev/mail/", devmail.mailbox, name="dev_mailbox"),
    path("dev/mail/<str:name>/", devmail.message, name="dev_message"),
]

if settings.BENCH_ENDPOINTS:
    from api.views.floor import ResetFloorView

    urlpatterns.append(path("bench/floor/reset/", ResetFloorView.as_view(), name="bench_floor"))

# JSON under /api/ and the probes, Django's HTML pages elsewhere.
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
