"""`app -mode=check -url=...`: an HTTP probe in the program itself, for images
without curl (a Docker HEALTHCHECK, a Compose healthcheck, an exec probe)."""

from __future__ import annotations

import sys

import httpx

from awsme.settings import Settings

EXIT_UNHEALTHY = 1


def check(settings: Settings) -> int:
    """0 when -url answers 2xx or 3xx within -check-timeout, else 1; one line either way."""
    if not settings.url:
        print(
            "app: -mode=check needs -url (e.g. -url=http://127.0.0.1:8080/healthz)", file=sys.stderr
        )
        return 2
    try:
        response = httpx.get(
            settings.url, timeout=settings.check_timeout, trust_env=False, follow_redirects=False
        )
    except httpx.TimeoutException:
        print(f"{settings.url}: no answer within {settings.check_timeout:g}s", file=sys.stderr)
        return EXIT_UNHEALTHY
    except httpx.HTTPError as error:
        print(f"{settings.url}: {error}", file=sys.stderr)
        return EXIT_UNHEALTHY
    line = f"{settings.url}: {response.status_code} {response.reason_phrase}"
    if response.status_code < 400:
        print(line)
        return 0
    detail = response.text.strip().splitlines()[:1]
    print(line + (f": {detail[0]}" if detail else ""), file=sys.stderr)
    return EXIT_UNHEALTHY
