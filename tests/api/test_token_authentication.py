"""API tokens: the written-out token read answers exactly as DRF's ``TokenAuthentication``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from directory.api.authentication import AdminTokenAuthentication

pytestmark = pytest.mark.django_db


def _answer(authentication, key):
    try:
        user, token = authentication.authenticate_credentials(key)
    except AuthenticationFailed as exc:
        return ("refused", str(exc.detail))
    return (user.pk, user.username, user.get_deferred_fields(), token.key, token.user_id, token.created)


def test_every_answer_is_drfs(administrator, make_admin):
    inactive = make_admin("gone-gus")
    inactive.is_active = False
    inactive.save()
    keys = [Token.objects.create(user=user).key for user in (administrator, inactive)] + ["no-such-key", ""]
    for key in keys:
        assert _answer(AdminTokenAuthentication(), key) == _answer(TokenAuthentication(), key)
    assert _answer(AdminTokenAuthentication(), keys[0])[1] == administrator.username
    assert _answer(AdminTokenAuthentication(), keys[1]) == ("refused", "User inactive or deleted.")
    assert _answer(AdminTokenAuthentication(), keys[2]) == ("refused", "Invalid token.")


def test_a_request_is_authenticated_by_its_token_in_two_statements(administrator):
    token = Token.objects.create(user=administrator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/users/?limit=1").status_code == 200
    reads = [q["sql"] for q in queries if '"authtoken_token"' in q["sql"] or 'FROM "auth_user"' in q["sql"]]
    assert len(reads) == 2 and "JOIN" not in " ".join(reads), reads
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    response = client.get("/api/v1/users/?limit=1")
    assert response.status_code == 401 and "Invalid token" in response.content.decode()


def test_the_schema_still_offers_token_authentication(admin_api):
    schema = admin_api.get("/api/schema/?format=json").json()
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
