"""OpenAPI documents that say what the routes really answer, for both roles.

FastAPI's defaults document every route as JSON and give every route with a
parameter a 422 that these routes never send (they parse their input themselves
and answer 400 with a reason). Here: probes, `/version` and `/metrics` are
text/plain, no 422 is promised, and the
schemas that depend on the settings (the longest note) follow them.
A schemathesis run against each role checks the result (tests/test_openapi.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from awsme.notes.validation import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_MAX

TEXT = {"text/plain": {"schema": {"type": "string"}}}
# Text answers of the routes every role serves: status -> what it means.
TEXT_ROUTES: dict[str, dict[str, str]] = {
    "/healthz": {"200": "`ok`", "503": "what failed, one line per dependency"},
    "/readyz": {"200": "`ok`", "503": "not ready: starting or shutting down"},
    "/livez": {"200": "`ok`", "503": "only when -chaos makes it fail"},
    "/version": {"200": "the version"},
    "/metrics": {"200": "Prometheus text format"},
}

# A note's text as the routes accept it: not blank, no NUL (`\s` is Python's
# str.isspace(), which is what the routes strip). Lone surrogates, refused too,
# are not text that a JSON Schema pattern can name.
NOTE_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"

IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "description": "retry-safe writes: a repeat with the same key answers the first result "
    "and stores nothing new; the same key with another note, or once its note is deleted, "
    "is a 409",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": IDEMPOTENCY_KEY_MAX,
        "pattern": "^[!-~]+$",
    },
}


def note_text_ref() -> dict[str, str]:
    return {"$ref": "#/components/schemas/NoteText"}


def note_body(key: str) -> dict[str, Any]:
    """A JSON request body `{key: "text"}`, for openapi_extra."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": [key],
                        "properties": {key: note_text_ref()},
                    }
                }
            },
        }
    }


def install_openapi(
    app: FastAPI,
    *,
    note_max_length: int,
    include: Callable[[str], bool] | None = None,
    responses: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> None:
    """Serve a truthful document at app.openapi_url (only the paths `include` keeps);
    `responses` adds answers by path and method, for routes declared elsewhere."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        if include is not None:
            document["paths"] = {p: ops for p, ops in document["paths"].items() if include(p)}
        for path, methods in (responses or {}).items():
            for method, answers in methods.items():
                operation = document["paths"].get(path, {}).get(method)
                if operation is not None:
                    operation["responses"].update(answers)
        _text_answers(document)
        _drop_phantom_422(document)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["NoteText"] = {
            "type": "string",
            "minLength": 1,
            "maxLength": note_max_length,
            "pattern": NOTE_PATTERN,
            "description": f"1 to {note_max_length} characters, not blank, no NUL",
        }
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]


def _text_answers(document: dict[str, Any]) -> None:
    for path, operations in document.get("paths", {}).items():
        statuses = next((s for suffix, s in TEXT_ROUTES.items() if path.endswith(suffix)), None)
        if statuses is None:
            continue
        for operation in operations.values():
            operation["responses"] = {
                status: {"description": meaning, "content": TEXT}
                for status, meaning in statuses.items()
            }


def _drop_phantom_422(document: dict[str, Any]) -> None:
    # Every parameter of these routes is a str, which FastAPI's validation never
    # refuses: the routes check their input themselves and answer 400 with a
    # reason. (A route given a typed parameter would answer 422 undocumented,
    # which the schemathesis run in tests/test_openapi.py reports.)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
