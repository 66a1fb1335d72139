from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _sync_roles_after_migrate(sender, **kwargs) -> None:
    # post_migrate is sent once per app with a models module, in order; the
    # permissions of every app exist once the last one's has been sent.
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if sender.label != with_models[-1].label:
        return
    from .roles import sync_role_permissions

    sync_role_permissions()


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic plumbing"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.contrib.auth.models import Group, User
        from django.contrib.auth.signals import user_logged_in

        from . import checks, login_lockout, sessions, two_factor  # noqa: F401 (checks registers itself)

        # Who holds which role (clinic/role_changes.py): staff accounts and their
        # groups, and what each group may do. Never the password or logins.
        auditlog.register(User, m2m_fields={"groups"}, exclude_fields=["password", "last_login"])
        auditlog.register(Group, m2m_fields={"permissions"})
        post_migrate.connect(_sync_roles_after_migrate, dispatch_uid="clinic-sync-role-perms")
        user_logged_in.connect(sessions.start_session, dispatch_uid="clinic-session-start")
        user_logged_in.connect(
            login_lockout.forget_own_failures, dispatch_uid="clinic-login-forget-failures"
        )
        user_logged_in.connect(
            two_factor.remember_enrolment, dispatch_uid="clinic-two-factor-enrolment"
        )
