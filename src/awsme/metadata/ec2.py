"""EC2 instance metadata (IMDS), v2 with tokens first and v1 only as a fallback.

The token is fetched once and reused until shortly before it expires. Never asks
for `iam/security-credentials/` or `identity-credentials/`: awsme shows where it
runs, not what it may do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from awsme.metadata.model import (
    InstanceEvents,
    InstanceMetadata,
    MaintenanceEvent,
    MetadataError,
    SpotInterruption,
)
from awsme.metadata.source import make_http_client
from awsme.metadata.values import rfc1123_to_iso, text_or_none

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "http://169.254.169.254"
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL_SECONDS = 21600
# Renew this long before expiry, so that a request never carries a token that
# expires in flight.
TOKEN_RENEW_MARGIN = 60.0
# After falling back to IMDSv1, try tokens again only this often: a PUT that
# hangs costs a whole timeout each time.
TOKEN_RETRY_INTERVAL = 300.0
# A healthy IMDS answers the token PUT in milliseconds; a PUT that does not come
# back within this time is being dropped (hop limit) and will never answer.
TOKEN_TIMEOUT = 1.0

HOP_LIMIT_HINT = (
    "token request to {url} timed out: the instance's HttpPutResponseHopLimit "
    "is probably 1 while awsme runs in a bridged container (the container adds a hop). "
    "Fix: aws ec2 modify-instance-metadata-options --instance-id <id> "
    "--http-put-response-hop-limit 2 --http-endpoint enabled (or run with --network host)"
)

# Paths that must never be requested, whatever a caller asks for.
FORBIDDEN_PREFIXES = ("meta-data/iam/security-credentials", "meta-data/identity-credentials")


def normalise_path(path: str) -> str:
    """The path as an HTTP client or server resolves it: dot segments applied
    (RFC 3986 5.2.4) and empty segments collapsed; a listing keeps its slash."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    listing = path.endswith("/") or path.rsplit("/", 1)[-1] in (".", "..")
    return "/".join(segments) + ("/" if listing and segments else "")


def check_path(path: str) -> str:
    """The path, if it is safe to request: normalised already (a path that is not,
    or that holds what a client or a server would decode into something else,
    is refused), then outside the credentials. So a tag key that the service
    lists, such as `../../iam/security-credentials/x`, never becomes a request."""
    if any(c in path for c in "%?#\\") or not path.isprintable():
        raise MetadataError(f"refused a metadata path with escapes in it: {path!r}")
    normalised = normalise_path(path)
    if normalised != path:
        raise MetadataError(f"refused a metadata path that is not normalised: {path!r}")
    if normalised.startswith(FORBIDDEN_PREFIXES):
        raise MetadataError(f"awsme never reads credentials from the metadata service: {path}")
    return normalised


class Ec2Source:
    """Reads the EC2 instance metadata service at `base_url`."""

    name = "ec2"

    def __init__(
        self,
        base_url: str = DEFAULT_ENDPOINT,
        *,
        client: httpx.AsyncClient | None = None,
        allow_v1: bool = True,
        disabled_reason: str | None = None,
        timeout: float = 2.0,
        token_timeout: float = TOKEN_TIMEOUT,
        token_ttl: int = TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        source_name: str = "ec2",
    ) -> None:
        self.name = source_name
        self.base_url = base_url.rstrip("/")
        self._client = client or make_http_client(self.base_url, read_timeout=timeout)
        self._allow_v1 = allow_v1
        self._disabled_reason = disabled_reason
        self._token_timeout = token_timeout
        self._token_ttl = token_ttl
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._v1_until = 0.0  # while in the future, use IMDSv1 without trying tokens
        self._v1_reason: str | None = None
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        # The source owns its client, whether it built it or was handed it.
        await self._client.aclose()

    # -- tokens ---------------------------------------------------------------

    async def _get_token(self) -> str | None:
        """A valid token, or None when IMDSv1 is to be used."""
        now = self._clock()
        if self._token and now < self._token_expires - TOKEN_RENEW_MARGIN:
            return self._token
        if now < self._v1_until:
            return None
        async with self._token_lock:  # one PUT for many concurrent callers
            now = self._clock()
            if self._token and now < self._token_expires - TOKEN_RENEW_MARGIN:
                return self._token
            if now < self._v1_until:
                return None
            return await self._request_token()

    async def _request_token(self) -> str | None:
        url = self.base_url + TOKEN_PATH
        try:
            response = await self._client.put(
                TOKEN_PATH,
                headers={"X-aws-ec2-metadata-token-ttl-seconds": str(self._token_ttl)},
                timeout=httpx.Timeout(self._token_timeout),
            )
        except httpx.ReadTimeout:
            # Connected, but the answer never came back: the hop limit drops it.
            self._fall_back_to_v1(HOP_LIMIT_HINT.format(url=url))
            return None
        except httpx.HTTPError as error:
            raise MetadataError(
                f"EC2 metadata service at {self.base_url} unreachable: {_describe(error)}"
            ) from None
        if response.status_code in (403, 404, 405):
            self._fall_back_to_v1(f"token refused: {response.status_code}")
            return None
        if response.status_code != 200 or not response.text:
            raise MetadataError(f"EC2 metadata token request answered {response.status_code}")
        self._token = response.text.strip()
        self._token_expires = self._clock() + self._token_ttl
        self._v1_reason = None
        return self._token

    def _fall_back_to_v1(self, reason: str) -> None:
        """IMDSv1 works without a token: a notice, not an error, unless v1 is forbidden."""
        if not self._allow_v1:
            raise MetadataError(
                f"IMDSv2 {reason}; IMDSv1 is disabled (AWS_EC2_METADATA_V1_DISABLED)"
            )
        if self._v1_reason != reason:
            log.warning("using IMDSv1: %s", reason)
        self._v1_reason = reason
        self._v1_until = self._clock() + TOKEN_RETRY_INTERVAL
        self._token = None

    def _forget_token(self) -> None:
        self._token = None
        self._token_expires = 0.0
        self._v1_until = 0.0

    # -- requests -------------------------------------------------------------

    async def _get(self, path: str) -> str | None:
        """The text at /latest/<path>, or None when the service says 404."""
        path = check_path(path)  # normalised first, then guarded
        response = await self._request(path)
        if response.status_code == 401:
            # The token expired early, the service restarted, or v1 became forbidden.
            self._forget_token()
            response = await self._request(path)
        if response.status_code == 404:
            return None
        if response.status_code == 401:
            raise MetadataError(
                "EC2 metadata service refused the request (401): a token is required"
            )
        if response.status_code != 200:
            raise MetadataError(f"EC2 metadata service answered {response.status_code} for {path}")
        return response.text

    async def _request(self, path: str) -> httpx.Response:
        token = await self._get_token()
        headers = {"X-aws-ec2-metadata-token": token} if token else None
        try:
            return await self._client.get("/latest/" + path, headers=headers)
        except httpx.HTTPError as error:
            raise MetadataError(
                f"EC2 metadata service at {self.base_url} unreachable: {_describe(error)}"
            ) from None

    async def _get_json(self, path: str) -> Any:
        text = await self._get(path)
        if text is None:
            return None
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise MetadataError(f"EC2 metadata {path} is not JSON") from None

    @property
    def imds_version(self) -> str:
        return "v2" if self._token else "v1"

    # -- the source -------------------------------------------------------------

    async def fetch(self) -> InstanceMetadata:
        if self._disabled_reason:
            raise MetadataError(self._disabled_reason)
        instance_id = await self._get("meta-data/instance-id")
        if not instance_id:
            raise MetadataError("EC2 metadata has no instance-id")
        simple = {
            "instance_type": "meta-data/instance-type",
            "image_id": "meta-data/ami-id",
            "local_hostname": "meta-data/local-hostname",
            "public_hostname": "meta-data/public-hostname",
            "local_ipv4": "meta-data/local-ipv4",
            "public_ipv4": "meta-data/public-ipv4",
            "zone": "meta-data/placement/availability-zone",
            "zone_id": "meta-data/placement/availability-zone-id",
            "region": "meta-data/placement/region",
            "partition": "meta-data/services/partition",
            "mac": "meta-data/mac",
            "lifecycle": "meta-data/instance-life-cycle",
            "security_groups": "meta-data/security-groups",
        }
        texts = await asyncio.gather(*(self._get(path) for path in simple.values()))
        values = {key: text_or_none(text) for key, text in zip(simple, texts, strict=True)}
        identity, iam_info, tags = await asyncio.gather(
            self._get_json("dynamic/instance-identity/document"),
            self._get_json("meta-data/iam/info"),
            self._get_tags(),
        )
        vpc_id = subnet_id = None
        if values["mac"]:
            interface = f"meta-data/network/interfaces/macs/{values['mac']}/"
            vpc_id, subnet_id = await asyncio.gather(
                self._get(interface + "vpc-id"), self._get(interface + "subnet-id")
            )
        identity = identity if isinstance(identity, dict) else {}
        groups = values.pop("security_groups")
        return InstanceMetadata(
            source=self.name,
            provider="aws",
            instance_id=instance_id.strip(),
            instance_type=values["instance_type"],
            image_id=values["image_id"],
            local_hostname=values["local_hostname"],
            public_hostname=values["public_hostname"],
            local_ipv4=values["local_ipv4"],
            public_ipv4=values["public_ipv4"],
            zone=values["zone"],
            zone_id=values["zone_id"],
            region=values["region"] or text_or_none(identity.get("region")),
            partition=values["partition"],
            mac=values["mac"],
            vpc_id=text_or_none(vpc_id),
            subnet_id=text_or_none(subnet_id),
            security_groups=tuple(groups.split()) if groups else (),
            lifecycle=values["lifecycle"],
            account_id=text_or_none(identity.get("accountId")),
            instance_profile_arn=(
                text_or_none(iam_info.get("InstanceProfileArn"))
                if isinstance(iam_info, dict)
                else None
            ),
            tags=tags,
            imds_version=self.imds_version,
            notice=f"IMDS v1 ({self._v1_reason})" if self._v1_reason else None,
        )

    async def _get_tags(self) -> dict[str, str]:
        # 404 unless the instance has "allow tags in instance metadata" turned on.
        listing = await self._get("meta-data/tags/instance/")
        if not listing:
            return {}
        keys = [key for key in listing.split("\n") if key and not key.endswith("/")]
        values = await asyncio.gather(
            *(self._get(f"meta-data/tags/instance/{key}") for key in keys), return_exceptions=True
        )
        tags: dict[str, str] = {}
        for key, value in zip(keys, values, strict=True):
            if isinstance(value, BaseException):
                if not isinstance(value, MetadataError):
                    raise value
                log.warning("skipped an instance tag: %s", value)
            elif value is not None:
                tags[key] = value
        return tags

    async def fetch_events(self) -> InstanceEvents:
        if self._disabled_reason:
            raise MetadataError(self._disabled_reason)
        action, scheduled = await asyncio.gather(
            self._get_json("meta-data/spot/instance-action"),
            self._get_json("meta-data/events/maintenance/scheduled"),
        )
        spot = None
        if isinstance(action, dict) and action.get("action"):
            spot = SpotInterruption(action=str(action["action"]), time=str(action.get("time", "")))
        maintenance = tuple(
            MaintenanceEvent(
                code=str(event.get("Code", "")),
                description=str(event.get("Description", "")),
                state=text_or_none(event.get("State")),
                not_before=rfc1123_to_iso(text_or_none(event.get("NotBefore"))),
                not_after=rfc1123_to_iso(text_or_none(event.get("NotAfter"))),
                event_id=text_or_none(event.get("EventId")),
            )
            for event in (scheduled if isinstance(scheduled, list) else [])
            if isinstance(event, dict)
        )
        return InstanceEvents(spot_interruption=spot, maintenance=maintenance)


def _describe(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return str(error) or type(error).__name__
