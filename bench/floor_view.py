"""The HTTP floor for ``make bench-http``: a bare Django view writing what a run writes.

Keyflow's run path over HTTP is compared with this view served by the same gunicorn, on the same
database: one request, one transaction with 1 Execution + 3 StepRuns, no authentication, no
serializer, no queue. It is the ceiling any HTTP run path on this stack could approach, measured
in the same run so the machine's speed of the moment cancels out. Mounted only when
``KEYFLOW_BENCH_FLOOR`` is set (``config/urls.py``), never in a production URL map.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from executions.choices import ExecutionStatus, StepStatus, TriggerKind
from executions.models import Execution, StepRun

FLOOR_STEPS = 3


@csrf_exempt
@require_POST
def floor_write(request: HttpRequest, workflow_id: int, version_id: int) -> HttpResponse:
    """Write a finished execution of ``workflow_id`` with three step rows and return its id.

    The ids come in the URL so the view runs no query but its INSERTs, as a bare view would."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": "The body is not JSON."}, status=400)
    now = timezone.now()
    with transaction.atomic():
        execution = Execution.objects.create(
            workflow_id=workflow_id,
            version_id=version_id,
            trigger_kind=TriggerKind.API,
            status=ExecutionStatus.SUCCEEDED,
            input=body,
            started_at=now,
            finished_at=now,
        )
        for seq in range(1, FLOOR_STEPS + 1):
            StepRun.objects.create(
                execution=execution,
                sequence=seq,
                key=f"do[{seq}].s",
                path=f"do[{seq}].s",
                name="s",
                task_type="call",
                status=StepStatus.SUCCEEDED,
                input={"user": 1},
                output={"ok": True},
                started_at=now,
                finished_at=now,
            )
    return JsonResponse({"id": execution.pk}, status=201)
