"""The API refuses workflow documents past the limits with a 400 and the problem, quickly.

Before issue 17 the validate and create endpoints answered 500 (``RecursionError``) for deeply
nested documents and expressions, and spent seconds to minutes of a web process on documents of
thousands of tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from directory.models import AdminRole
from tests.workflows.test_limits import ISSUE_CASES, nested_fors
from workflows.models import Workflow

VALIDATE = "/api/v1/workflows/validate/"
CREATE = "/api/v1/workflows/"


def _post(client: APIClient, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    """Status, body and the CPU seconds the request took in this thread (the test client runs the
    view here): the other processes on a busy machine do not count against it, as wall time would."""
    started = time.thread_time()
    response = client.post(url, body, format="json")
    return response.status_code, response.json(), time.thread_time() - started


@pytest.mark.parametrize(("case", "build", "message"), ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_validate_refuses_each_of_the_issue_s_documents_with_a_400(
    admin_api: APIClient, case: str, build: Callable[[], dict[str, Any]], message: str
) -> None:
    status, body, seconds = _post(admin_api, VALIDATE, {"definition": build()})
    if status == 200:  # an expression past its limits is one problem among the document's
        assert body["valid"] is False
        assert any(message in p["message"] for p in body["problems"]), body
    else:
        assert status == 400, body
        [problem] = body["errors"]["definition"]
        assert message in problem["message"]
    assert seconds < 2


@pytest.mark.parametrize(("case", "build", "message"), ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_create_refuses_each_of_the_issue_s_documents_with_a_400(
    admin_api: APIClient, admin_role: AdminRole, case: str, build: Callable[[], dict[str, Any]], message: str
) -> None:
    status, body, seconds = _post(admin_api, CREATE, {"name": case, "run_as": admin_role.pk, "definition": build()})
    assert status == 400, body
    assert any(message in p["message"] for p in body["errors"]["definition"]), body
    assert seconds < 2
    assert not Workflow.objects.filter(name=case).exists()


def test_validate_still_answers_200_for_an_ordinary_document(admin_api: APIClient) -> None:
    status, body, _ = _post(admin_api, VALIDATE, {"definition": nested_fors(3)})
    assert status == 200
    assert body["valid"] is True
