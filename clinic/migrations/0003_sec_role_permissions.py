from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    from clinic.roles import sync_role_permissions

    # Permissions are normally created after migrate (post_migrate); create those of
    # the apps migrated so far now, so the groups get them in this migration. Apps
    # migrated later are covered by the same rules after migrate (clinic.apps).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_role_permissions(apps)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=["front_desk", "nurse", "physician", "clinic_admin"]):
        group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
