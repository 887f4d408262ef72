"""Create the built-in admin roles (JumpCloud's set) as auth groups.

Their permissions are assigned after ``migrate`` by ``roles_sync_builtin`` (post_migrate),
because permission rows only exist once every app's post_migrate has run.
"""

from django.db import migrations

ROLES = [
    ("administrator-with-billing", "Administrator with Billing"),
    ("administrator", "Administrator"),
    ("manager", "Manager"),
    ("help-desk", "Help Desk"),
    ("read-only", "Read Only"),
    ("command-runner", "Command Runner"),
    ("command-runner-user-management", "Command Runner with User Management"),
]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    AdminRole = apps.get_model("directory", "AdminRole")
    for key, name in ROLES:
        group, _ = Group.objects.get_or_create(name=name)
        AdminRole.objects.get_or_create(key=key, defaults={"group": group, "is_builtin": True})


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=[name for _, name in ROLES]).delete()


class Migration(migrations.Migration):
    dependencies = [("directory", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_roles, remove_roles)]
