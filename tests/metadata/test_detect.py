"""detect_source on fake DMI directories and environments (never the network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from awsme.metadata.detect import AZURE_ASSET_TAG, Detection, detect, detect_source

# What /sys/class/dmi/id holds on each kind of machine (product_uuid is root-only).
EC2_NITRO = {
    "sys_vendor": "Amazon EC2",
    "product_name": "m5.large",
    "product_version": "",
    "bios_vendor": "Amazon EC2",
    "bios_version": "1.0",
    "board_vendor": "Amazon EC2",
    "chassis_asset_tag": "Amazon EC2",
    "product_uuid": "ec2f1a3b-5c7d-9e0f-1a2b-3c4d5e6f7a8b",
}
EC2_XEN = {
    "sys_vendor": "Xen",
    "product_name": "HVM domU",
    "product_version": "4.11.amazon",
    "bios_vendor": "Xen",
    "bios_version": "4.11.amazon",
    "chassis_asset_tag": "",
    "product_uuid": "EC2E1916-9099-7CAF-FD21-012345ABCDEF",
}
GCE = {
    "sys_vendor": "Google",
    "product_name": "Google Compute Engine",
    "product_version": "",
    "bios_vendor": "Google",
    "bios_version": "Google",
    "board_vendor": "Google",
    "chassis_asset_tag": "",
}
AZURE = {
    "sys_vendor": "Microsoft Corporation",
    "product_name": "Virtual Machine",
    "product_version": "7.0",
    "bios_vendor": "Microsoft Corporation",
    "bios_version": "Hyper-V UEFI Release v4.1",
    "board_vendor": "Microsoft Corporation",
    "chassis_asset_tag": AZURE_ASSET_TAG,
}
LAPTOP = {
    "sys_vendor": "LENOVO",
    "product_name": "20XW0026GE",
    "product_version": "ThinkPad X1 Carbon Gen 9",
    "bios_vendor": "LENOVO",
    "bios_version": "N32ET86W (1.62 )",
    "board_vendor": "LENOVO",
    "chassis_asset_tag": "No Asset Information",
    "product_uuid": "4c4c4544-0042-3510-8052-b4c04f4e3732",
}


def dmi(tmp_path: Path, strings: dict[str, str]) -> Path:
    directory = tmp_path / "dmi"
    directory.mkdir(parents=True)
    for name, value in strings.items():
        (directory / name).write_text(value + "\n")
    return directory


@pytest.mark.parametrize(
    ("strings", "expected"),
    [
        (EC2_NITRO, "ec2"),
        (EC2_XEN, "ec2"),
        (GCE, "gce"),
        (AZURE, "azure"),
        (LAPTOP, "local"),
        ({}, "local"),
    ],
    ids=["ec2-nitro", "ec2-xen", "gce", "azure", "laptop", "no-dmi"],
)
def test_dmi(tmp_path: Path, strings: dict[str, str], expected: str) -> None:
    assert detect_source({}, dmi(tmp_path, strings)) == expected


def test_xen_instance_known_by_its_uuid_alone(tmp_path: Path) -> None:
    strings = dict(EC2_XEN, product_version="4.2", bios_version="4.2")
    assert detect_source({}, dmi(tmp_path, strings)) == "ec2"


def test_xen_instance_known_by_its_bios_version(tmp_path: Path) -> None:
    strings = {k: v for k, v in EC2_XEN.items() if k != "product_uuid"}  # not root
    assert detect_source({}, dmi(tmp_path, strings)) == "ec2"


def test_plain_xen_is_not_ec2(tmp_path: Path) -> None:
    strings = dict(EC2_XEN, product_version="4.2", bios_version="4.2", product_uuid="1234-5678")
    assert detect_source({}, dmi(tmp_path, strings)) == "local"


def test_azure_by_vendor_without_asset_tag(tmp_path: Path) -> None:
    strings = dict(AZURE, chassis_asset_tag="")
    assert detect_source({}, dmi(tmp_path, strings)) == "azure"


def test_azure_by_asset_tag_alone(tmp_path: Path) -> None:
    assert detect_source({}, dmi(tmp_path, {"chassis_asset_tag": AZURE_ASSET_TAG})) == "azure"


def test_gce_by_vendor_alone(tmp_path: Path) -> None:
    assert detect_source({}, dmi(tmp_path, {"sys_vendor": "Google"})) == "gce"


def test_unreadable_files_are_ignored(tmp_path: Path) -> None:
    directory = dmi(tmp_path, {k: v for k, v in EC2_NITRO.items() if k != "product_uuid"})
    (directory / "product_uuid").mkdir()  # reading it fails, like a root-only file
    assert detect_source({}, directory) == "ec2"
    assert detect_source({}, tmp_path / "missing") == "local"


def test_ecs_environment_wins(tmp_path: Path) -> None:
    env = {"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc-123"}
    assert detect_source(env, dmi(tmp_path, EC2_NITRO)) == "ecs"
    # The ECS endpoint is not IMDS: turning IMDS off does not turn it off.
    assert detect_source(dict(env, AWS_EC2_METADATA_DISABLED="true"), tmp_path) == "ecs"


def test_endpoint_variables(tmp_path: Path) -> None:
    assert (
        detect_source({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338"}, tmp_path)
        == "ec2"
    )
    assert detect_source({"GCE_METADATA_HOST": "127.0.0.1:8080"}, tmp_path) == "gce"
    assert detect_source({"GCE_METADATA_HOST": ""}, tmp_path) == "local"


def test_kubernetes_alone_picks_nothing(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert detect_source(env, tmp_path / "missing") == "local"
    assert detect_source(env, dmi(tmp_path, EC2_NITRO)) == "ec2"  # an EKS node


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_ec2_disabled(tmp_path: Path, value: str) -> None:
    directory = dmi(tmp_path, EC2_NITRO)
    assert detect_source({"AWS_EC2_METADATA_DISABLED": value}, directory) == "local"
    env = {
        "AWS_EC2_METADATA_DISABLED": value,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338",
    }
    assert detect_source(env, directory) == "local"


def test_ec2_disabled_false_is_not_disabled(tmp_path: Path) -> None:
    assert detect_source({"AWS_EC2_METADATA_DISABLED": "false"}, dmi(tmp_path, EC2_NITRO)) == "ec2"


def test_detection_says_why(tmp_path: Path) -> None:
    assert detect({}, dmi(tmp_path / "gce", GCE)) == Detection(
        "gce", "the DMI strings name Google Compute Engine"
    )
    disabled = detect({"AWS_EC2_METADATA_DISABLED": "true"}, dmi(tmp_path / "ec2", EC2_NITRO))
    assert disabled.source == "local"
    assert "AWS_EC2_METADATA_DISABLED" in disabled.reason


def test_this_host_reads_only_files() -> None:
    assert detect_source({}) in {"ec2", "gce", "azure", "local"}
