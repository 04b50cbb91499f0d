"""Every networked source fails fast, with words a person can act on, when
nothing listens at its endpoint (a closed loopback port)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from awsme.metadata.azure import AzureSource
from awsme.metadata.ec2 import Ec2Source
from awsme.metadata.ecs import EcsSource
from awsme.metadata.gce import GceSource
from awsme.metadata.model import MetadataError
from awsme.metadata.source import MetadataSource
from tests.loopback import closed_port_url


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (Ec2Source, "EC2 metadata service at .* unreachable"),
        (EcsSource, "could not reach the ECS task metadata endpoint"),
        (GceSource, "could not reach the GCE metadata server"),
        (AzureSource, "could not reach Azure IMDS"),
    ],
    ids=["ec2", "ecs", "gce", "azure"],
)
async def test_nothing_listening_fails_fast(
    make: Callable[[str], MetadataSource], message: str
) -> None:
    source = make(closed_port_url())
    started = time.monotonic()
    try:
        with pytest.raises(MetadataError, match=message):
            await source.fetch()
    finally:
        await source.aclose()
    assert time.monotonic() - started < 2
