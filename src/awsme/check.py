"""`app -mode=check -url=...`: an HTTP probe in the program itself, for images
without curl (a Docker HEALTHCHECK, a Compose healthcheck, an exec probe)."""

from __future__ import annotations

import sys

import httpx

from awsme.settings import Settings

EXIT_UNHEALTHY = 1


def check(settings: Settings) -> int:
    """0 when -url answers 2xx or 3xx within -check-timeout, else 1; one sentence either way."""
    if not settings.url:
        print(
            "app: -mode=check needs -url, for example -url=http://127.0.0.1:8080/healthz.",
            file=sys.stderr,
        )
        return 2
    url = settings.url
    try:
        response = httpx.get(
            url, timeout=settings.check_timeout, trust_env=False, follow_redirects=False
        )
    except httpx.TimeoutException:
        print(
            f"Check failed: {url} did not answer within {settings.check_timeout:g}s.",
            file=sys.stderr,
        )
        return EXIT_UNHEALTHY
    except httpx.ConnectError as error:
        print(f"Check failed: could not connect to {url} ({_reason(error)}).", file=sys.stderr)
        return EXIT_UNHEALTHY
    except httpx.HTTPError as error:
        print(f"Check failed: the request to {url} failed ({_reason(error)}).", file=sys.stderr)
        return EXIT_UNHEALTHY
    status = f"{response.status_code} {response.reason_phrase}".strip()
    if response.status_code < 400:
        print(f"Check passed: {url} answered {status}.")
        return 0
    detail = response.text.strip().splitlines()[:1]
    said = f", saying: {detail[0].rstrip('.')}" if detail else ""
    print(f"Check failed: {url} answered {status}{said}.", file=sys.stderr)
    return EXIT_UNHEALTHY


def _reason(error: httpx.HTTPError) -> str:
    text = str(error) or type(error).__name__
    # "[Errno 111] Connection refused" reads better as "connection refused".
    if text.startswith("[Errno") and "] " in text:
        text = text.split("] ", 1)[1]
    return text[:1].lower() + text[1:]
