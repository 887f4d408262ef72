"""One shape for every API error, and the exception handler that produces it.

Every error response is a JSON object with ``detail`` (a sentence a person can read) and
``code`` (a stable machine word: ``invalid``, ``parse_error``, ``not_authenticated``,
``permission_denied``, ``not_found``, ``conflict``, ``idempotency_conflict``…). A 400 for
invalid input adds ``errors``, keyed by the path of the request field at fault:

.. code-block:: json

    {
      "detail": "Invalid input.",
      "code": "invalid",
      "errors": {
        "email": ["Enter a valid email address."],
        "recipients[1]": ["Enter a valid email address."],
        "definition": [{"path": "do[0].notify.call", "message": "unknown action 'notify.sms'"}]
      }
    }

Ordinary fields list plain messages. Fields that hold a document with its own structure — a
workflow ``definition`` (the DSL) and a run's ``input`` — list problems as ``{path, message}``
with the path inside that document (``do[1].is_contractor.switch[0]…``, ``input.email``), so a
client can put each message next to the task or input field it is about.

Bad input never becomes a 500: Django ``ValidationError`` from the services, unique-constraint
races (409), numbers too large for the database and unknown ids are all turned into 4xx here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

__all__ = [
    "Conflict",
    "ErrorSerializer",
    "InvalidInput",
    "ProblemSerializer",
    "ValidationErrorSerializer",
    "errors_from_django",
    "keyflow_exception_handler",
]

ErrorItem = str | dict[str, str]
NON_FIELD = "non_field_errors"


class InvalidInput(exceptions.APIException):
    """A 400 whose ``errors`` are already in the documented shape (field path → items)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid input."
    default_code = "invalid"

    def __init__(self, errors: Mapping[str, list[ErrorItem]], detail: str | None = None) -> None:
        super().__init__(detail or self.default_detail, self.default_code)
        self.errors = {key: list(items) for key, items in errors.items()}

    @classmethod
    def from_problems(cls, field: str, problems: Iterable[Any]) -> InvalidInput:
        """DSL or input problems (anything with ``path`` and ``message``) under one request field."""
        return cls({field: [{"path": p.path, "message": p.message} for p in problems]})


class Conflict(exceptions.APIException):
    """409: the request is well-formed but clashes with the current state of the server."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


# --- turning nested DRF / Django errors into field paths ----------------------------------------


def _join(prefix: str, key: Any) -> str:
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        return f"{prefix}[{key}]"
    if not prefix:
        return str(key)
    return f"{prefix}.{key}"


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[ErrorItem]]:
    """DRF's nested error structure as ``{"field.sub[0]": [messages]}``."""
    out: dict[str, list[ErrorItem]] = defaultdict(list)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, NON_FIELD if key == NON_FIELD and not path else _join(path, key))
        elif isinstance(node, list | tuple):
            if all(isinstance(item, str) for item in node):
                out[path or NON_FIELD].extend(str(item) for item in node)
            else:
                for index, item in enumerate(node):
                    if item:  # ListSerializer puts {} for the items that were fine
                        walk(item, _join(path, index))
        else:
            out[path or NON_FIELD].append(str(node))

    walk(detail, prefix)
    return dict(out)


def errors_from_django(exc: DjangoValidationError) -> dict[str, list[ErrorItem]]:
    """A Django ``ValidationError`` (from a service's ``full_clean``) in the documented shape."""
    if hasattr(exc, "error_dict"):
        return {(NON_FIELD if key == "__all__" else key): list(msgs) for key, msgs in exc.message_dict.items()}
    return {NON_FIELD: list(exc.messages)}


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def _body(detail: str, code: str, errors: Mapping[str, list[ErrorItem]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors:
        body["errors"] = dict(errors)
    return body


def _translate(exc: Exception) -> Exception:
    """Map the non-DRF exceptions that bad input can cause onto API exceptions."""
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return InvalidInput(errors_from_django(exc))
    if isinstance(exc, IntegrityError):
        # The validators saw no clash but the database did: another request won a race.
        return Conflict("Another change to the same object was saved first; reload and retry.")
    if isinstance(exc, OverflowError | DataError):
        return exceptions.ValidationError({NON_FIELD: ["A value in the request is out of range or cannot be stored."]})
    return exc


def keyflow_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing the documented error shape (see the module docstring)."""
    exc = _translate(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let it be a 500 with a traceback in the logs
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, InvalidInput):
        data = _body(str(exc.detail), exc.default_code, exc.errors)
    elif isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        data = _body("Invalid input.", "invalid", errors)
    else:
        data = _body(str(exc.detail), _code_of(exc))
    set_rollback()
    return Response(data, status=exc.status_code, headers=headers)


# --- the error shapes, for the OpenAPI schema --------------------------------------------------------


class ProblemSerializer(serializers.Serializer):
    """One problem in a document field (a workflow definition or a run's input)."""

    path = serializers.CharField(help_text="Where, inside the document: do[0].add_to_eng.with.group, input.email")
    message = serializers.CharField()


_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["path", "message"],
    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
}


@extend_schema_field(
    {
        "type": "object",
        "description": (
            "Field path → errors. Ordinary fields list messages; `definition` and `input` list "
            "`{path, message}` problems whose path is inside that document."
        ),
        "additionalProperties": {"type": "array", "items": {"oneOf": [{"type": "string"}, _PROBLEM_SCHEMA]}},
    }
)
class _ErrorsField(serializers.DictField):
    pass


class ErrorSerializer(serializers.Serializer):
    """Every error response: a readable ``detail`` and a stable ``code``."""

    detail = serializers.CharField()
    code = serializers.CharField()


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: ``errors`` by field path (absent when the body could not be parsed at all)."""

    errors = _ErrorsField(required=False)
