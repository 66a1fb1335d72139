from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import account_views, audit_views, emergency, two_factor, views
from .forms import LoginForm

handler400 = "clinic.bounds.bad_request"

urlpatterns = [
    path("", views.home, name="home"),
    path("manage/", views.manage, name="manage"),
    path("healthz", views.healthz, name="healthz"),
    # Only the account views the clinic uses: no self-service password reset by email.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/security/", account_views.account_security, name="account_security"),
    path(
        "accounts/logout-everywhere/",
        account_views.logout_everywhere,
        name="logout_everywhere",
    ),
    path("accounts/session/", account_views.session_status, name="session_status"),
    path("accounts/session/keepalive/", account_views.session_keepalive, name="session_keepalive"),
    path("accounts/two-factor/", two_factor.two_factor_verify, name="two_factor_verify"),
    path("accounts/two-factor/setup/", two_factor.two_factor_setup, name="two_factor_setup"),
    path("audit/", audit_views.audit_list, name="audit_list"),
    path("audit/export.csv", audit_views.audit_export, name="audit_export"),
    path(
        "emergency-access/<int:patient_id>/",
        emergency.emergency_access,
        name="emergency_access",
    ),
    path("outbox/", views.outbox_list, name="outbox_list"),
    path("outbox/<str:name>/", views.outbox_detail, name="outbox_detail"),
    path("outbox/<str:name>/html/", views.outbox_html, name="outbox_html"),
    path("patients/", include("patients.urls")),
    path("", include("procedures.urls")),
    path("admin/", admin.site.urls),
]
