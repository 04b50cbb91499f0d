"""The EKS Ingress routes the card and only the card: every path the page loads or its
forms send matches a rule (by Kubernetes' Exact and Prefix rules), and /metrics, the
probes, /version, /chaos and the API documents match none. The page's own references
are read from a real frontend, so that a new asset cannot be left out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.deploy.test_kubernetes import documents, one
from tests.loopback import serve

PUBLIC = (
    "/", "/card", "/api/card", "/theme.css", "/static/app.css", "/static/js/main.js",
    "/add-note", "/api/notes/12", "/notes/12/delete",
)  # fmt: skip
PRIVATE = (
    "/metrics", "/healthz", "/livez", "/readyz", "/version", "/chaos", "/chaos/latency",
    "/openapi.json", "/docs", "/redoc", "/cards", "/staticfoo", "/api/cards", "/api",
)  # fmt: skip


def matches(path: str, rule: dict[str, Any]) -> bool:
    """Kubernetes' rule: Exact is the whole path; Prefix matches whole path elements."""
    wanted = rule["path"]
    if rule["pathType"] == "Exact":
        return path == wanted
    assert rule["pathType"] == "Prefix", rule
    if wanted == "/":
        return True
    return path == wanted or path.startswith(wanted.rstrip("/") + "/")


def routed(path: str) -> bool:
    ingress = one(documents("eks"), "Ingress", "frontend")
    (rule,) = ingress["spec"]["rules"]
    return any(matches(path, entry) for entry in rule["http"]["paths"])


def test_the_card_is_routed_and_the_rest_is_not() -> None:
    for path in PUBLIC:
        assert routed(path), path
    for path in PRIVATE:
        assert not routed(path), path


def test_what_the_page_references_is_routed(tmp_path: Path) -> None:
    settings = Settings(mode="frontend", backend_service="http://127.0.0.1:9")
    with serve(create_frontend_app(settings)) as frontend:
        for path in PUBLIC:
            answer = httpx.request(
                "GET" if "delete" not in path and path != "/add-note" else "OPTIONS",
                frontend.url + path,
                timeout=10,
            )
            assert answer.status_code != 404, path  # a route the frontend has
        page = httpx.get(frontend.url + "/", timeout=10).text
        references = set(re.findall(r'(?:src|href|action)="(/[^"#?]*)', page))
        module = httpx.get(frontend.url + "/static/js/main.js", timeout=10).text
        references |= set(re.findall(r"""from ["'](\./[\w.-]+)["']""", module))
    assert references
    for reference in references:
        path = "/static/js/" + reference[2:] if reference.startswith("./") else reference
        assert routed(path), path
