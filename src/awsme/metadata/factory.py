"""Turn the settings and the environment into one metadata source and its cache."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import httpx

from awsme.metadata.azure import DEFAULT_BASE_URL as AZURE_ENDPOINT
from awsme.metadata.azure import AzureSource
from awsme.metadata.cache import MetadataCache
from awsme.metadata.container import read_container_info
from awsme.metadata.detect import detect
from awsme.metadata.ec2 import DEFAULT_ENDPOINT as EC2_ENDPOINT
from awsme.metadata.ec2 import Ec2Source
from awsme.metadata.ecs import EcsSource
from awsme.metadata.gce import GceSource, gce_base_url
from awsme.metadata.kubernetes import read_kubernetes_info
from awsme.metadata.local import LocalSource
from awsme.metadata.simulated import simulated_source
from awsme.metadata.source import MetadataSource, make_http_client
from awsme.settings import SettingError, Settings, parse_http_url

log = logging.getLogger(__name__)

EC2_ENDPOINT_VARIABLE = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
ECS_ENDPOINT_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def resolve_source_name(settings: Settings, environ: Mapping[str, str]) -> str:
    if settings.metadata != "auto":
        return settings.metadata
    detection = detect(environ, Path(settings.dmi_dir))
    ec2_allowed = not _is_true(environ.get("AWS_EC2_METADATA_DISABLED"))
    if detection.source == "local" and settings.metadata_endpoint and ec2_allowed:
        # Nothing says which cloud, but an endpoint was given: an IMDS (the simulator).
        log.info("metadata: ec2 at %s (-metadata-endpoint)", settings.metadata_endpoint)
        return "ec2"
    log.info("metadata: %s (%s)", detection.source, detection.reason)
    return detection.source


def _from_environment(environ: Mapping[str, str], variable: str) -> str:
    """An endpoint from the environment, checked like a flag ("" when unset)."""
    raw = environ.get(variable, "").strip()
    if not raw:
        return ""
    try:
        return parse_http_url(raw)
    except SettingError as error:
        raise SettingError(f'invalid value "{raw}" for {variable}: {error}') from None


def build_source(settings: Settings, environ: Mapping[str, str]) -> MetadataSource:
    """The source the settings ask for; SettingError when it cannot be built."""
    name = resolve_source_name(settings, environ)
    endpoint = settings.metadata_endpoint

    def client(base: str) -> httpx.AsyncClient:
        return make_http_client(base, read_timeout=settings.metadata_timeout)

    if name == "ec2":
        disabled = _is_true(environ.get("AWS_EC2_METADATA_DISABLED"))
        base = endpoint or _from_environment(environ, EC2_ENDPOINT_VARIABLE) or EC2_ENDPOINT
        return Ec2Source(
            base,
            client=client(base),
            allow_v1=not _is_true(environ.get("AWS_EC2_METADATA_V1_DISABLED")),
            disabled_reason=(
                "the EC2 metadata source is disabled by AWS_EC2_METADATA_DISABLED=true"
                if disabled
                else None
            ),
        )
    if name == "ecs":
        base = endpoint or _from_environment(environ, ECS_ENDPOINT_VARIABLE)
        if not base:
            raise SettingError(f"-metadata=ecs needs {ECS_ENDPOINT_VARIABLE} or -metadata-endpoint")
        return EcsSource(base, client=client(base))
    if name == "gce":
        base = endpoint or gce_base_url(environ)
        try:
            base = parse_http_url(base)
        except SettingError as error:
            raise SettingError(f"invalid GCE_METADATA_HOST: {error}") from None
        return GceSource(base, client=client(base))
    if name == "azure":
        base = endpoint or AZURE_ENDPOINT
        return AzureSource(base, client=client(base))
    if name == "simulated":
        return simulated_source(settings.imds_data or None)
    return LocalSource()


def build_cache(settings: Settings, environ: Mapping[str, str]) -> MetadataCache:
    return MetadataCache(
        build_source(settings, environ),
        refresh_interval=settings.metadata_refresh,
        events_interval=settings.events_refresh,
        kubernetes=read_kubernetes_info(environ),
        container=read_container_info(Path(settings.cgroup_dir)),
    )
