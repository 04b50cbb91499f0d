"""Which source the settings build, with fake DMI directories and no network."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.metadata.azure import AzureSource
from awsme.metadata.ec2 import Ec2Source
from awsme.metadata.ecs import EcsSource
from awsme.metadata.factory import build_source, resolve_source_name
from awsme.metadata.gce import GceSource
from awsme.metadata.local import LocalSource
from awsme.settings import SettingError, Settings
from tests.conftest import RunningSimulator
from tests.loopback import serve

DMI = {
    "ec2": {"sys_vendor": "Amazon EC2", "product_name": "t3.micro", "bios_vendor": "Amazon EC2"},
    "gce": {"sys_vendor": "Google", "product_name": "Google Compute Engine"},
    "azure": {
        "sys_vendor": "Microsoft Corporation",
        "product_name": "Virtual Machine",
        "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77",
    },
    "local": {"sys_vendor": "LENOVO", "product_name": "20XW"},
}


def fake_dmi(tmp_path: Path, cloud: str) -> str:
    directory = tmp_path / "dmi"
    directory.mkdir()
    for name, value in DMI[cloud].items():
        (directory / name).write_text(value + "\n")
    return str(directory)


@pytest.mark.parametrize("cloud", ["ec2", "gce", "azure", "local"])
def test_auto_follows_the_dmi_strings(tmp_path: Path, cloud: str) -> None:
    settings = Settings(dmi_dir=fake_dmi(tmp_path, cloud))
    assert resolve_source_name(settings, {}) == cloud


@pytest.mark.parametrize(
    ("cloud", "kind"),
    [("ec2", Ec2Source), ("gce", GceSource), ("azure", AzureSource)],
)
async def test_an_endpoint_redirects_the_detected_source(
    tmp_path: Path, cloud: str, kind: type
) -> None:
    settings = Settings(dmi_dir=fake_dmi(tmp_path, cloud), metadata_endpoint="http://127.0.0.1:9")
    source = build_source(settings, {})
    try:
        assert isinstance(source, kind)
        assert source.base_url == "http://127.0.0.1:9"  # type: ignore[attr-defined]
    finally:
        await source.aclose()


def test_auto_with_nothing_is_local(tmp_path: Path) -> None:
    settings = Settings(dmi_dir=str(tmp_path / "missing"))
    assert isinstance(build_source(settings, {}), LocalSource)


async def test_auto_with_an_endpoint_and_nothing_else_is_ec2(tmp_path: Path) -> None:
    settings = Settings(dmi_dir=str(tmp_path / "missing"), metadata_endpoint="http://127.0.0.1:9")
    source = build_source(settings, {})
    try:
        assert isinstance(source, Ec2Source)
    finally:
        await source.aclose()


async def test_environment_endpoints(tmp_path: Path) -> None:
    settings = Settings(dmi_dir=str(tmp_path / "missing"))
    ecs = build_source(settings, {"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:9/v4/abc"})
    gce = build_source(settings, {"GCE_METADATA_HOST": "127.0.0.1:9"})
    ec2 = build_source(settings, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"})
    try:
        assert isinstance(ecs, EcsSource) and ecs.base_url == "http://127.0.0.1:9/v4/abc"
        assert isinstance(gce, GceSource) and gce.base_url == "http://127.0.0.1:9"
        assert isinstance(ec2, Ec2Source) and ec2.base_url == "http://127.0.0.1:9"
    finally:
        for source in (ecs, gce, ec2):
            await source.aclose()


def test_ec2_disabled_on_an_ec2_instance_falls_back_to_local(tmp_path: Path) -> None:
    settings = Settings(dmi_dir=fake_dmi(tmp_path, "ec2"))
    assert resolve_source_name(settings, {"AWS_EC2_METADATA_DISABLED": "true"}) == "local"


def test_ecs_without_an_endpoint_is_refused() -> None:
    with pytest.raises(SettingError, match="ECS_CONTAINER_METADATA_URI_V4"):
        build_source(Settings(metadata="ecs"), {})


def test_backend_on_a_fake_ec2_host(tmp_path: Path, simulator: RunningSimulator) -> None:
    settings = Settings(
        mode="backend", dmi_dir=fake_dmi(tmp_path, "ec2"), metadata_endpoint=simulator.url
    )
    with serve(create_backend_app(settings, {})) as backend:
        body = httpx.get(backend.url + "/").json()
    assert body["Id"] == "i-0123456789abcdef0"
    assert body["Instance"]["metadata"]["source"] == "ec2"


def test_explicit_ec2_when_disabled_says_so(simulator: RunningSimulator) -> None:
    settings = Settings(mode="backend", metadata="ec2", metadata_endpoint=simulator.url)
    with serve(create_backend_app(settings, {"AWS_EC2_METADATA_DISABLED": "true"})) as backend:
        body = httpx.get(backend.url + "/").json()
    assert "AWS_EC2_METADATA_DISABLED" in body["Error"]
    assert simulator.paths() == []
