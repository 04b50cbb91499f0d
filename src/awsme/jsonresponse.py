"""JSON answers serialised with orjson (fast, and exact with Unicode)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def json_response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(document), status_code=status, media_type="application/json", headers=headers
    )
