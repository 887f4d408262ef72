"""Admin accounts hold exactly one role, chosen in the Django admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from directory.models import AdminRole

pytestmark = pytest.mark.django_db


def test_billing_admin_creates_an_account_with_one_role(client, billing_admin):
    client.force_login(billing_admin)
    help_desk = AdminRole.objects.get(key="help-desk")
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "role": help_desk.pk,
            "password1": "A-long-pass-phrase-1",
            "password2": "A-long-pass-phrase-1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    account = get_user_model().objects.get(username="newbie")
    assert list(account.groups.values_list("name", flat=True)) == ["Help Desk"]
    assert account.is_staff


def test_changing_the_role_replaces_the_old_one(client, billing_admin, help_desk_admin):
    client.force_login(billing_admin)
    url = reverse("admin:auth_user_change", args=[help_desk_admin.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        k: v for k, v in form.initial.items() if v is not None and k not in {"password", "groups", "user_permissions"}
    }
    data.update(
        {
            "role": AdminRole.objects.get(key="read-only").pk,
            "is_active": "on",
            "is_staff": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        }
    )
    data.pop("is_superuser", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert list(help_desk_admin.groups.values_list("name", flat=True)) == ["Read Only"]


def test_run_as_principals_are_read_only(client, billing_admin):
    client.force_login(billing_admin)
    principal = AdminRole.objects.get(key="manager").principal
    page = client.get(reverse("admin:auth_user_change", args=[principal.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_administrator_cannot_manage_admin_accounts(client, administrator):
    client.force_login(administrator)
    assert client.get(reverse("admin:auth_user_add")).status_code == 403
