"""`-metadata=auto`: guess where we run without sending a single packet.

Probing 169.254.169.254 would answer the question, but off a cloud it hangs until a
timeout and on a shared network it can reach someone else's host. The environment
and the firmware's DMI strings are enough, and are what the cloud SDKs use too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DMI_DIR = Path("/sys/class/dmi/id")
DMI_FILES = (
    "sys_vendor",
    "product_name",
    "product_version",
    "bios_vendor",
    "bios_version",
    "board_vendor",
    "chassis_asset_tag",
    "product_uuid",  # root-only on most distributions: often unreadable, which is fine
)
# Hyper-V puts this in the chassis asset tag of every Azure VM.
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"


@dataclass(frozen=True, slots=True)
class Detection:
    source: str  # ec2, ecs, gce, azure, local
    reason: str  # for the start-up log: why this source was chosen


def detect(environ: Mapping[str, str], dmi_dir: Path = DMI_DIR) -> Detection:
    """Pick a metadata source from the environment, then from DMI; local when unsure."""
    ec2_disabled = environ.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "true"
    if environ.get("ECS_CONTAINER_METADATA_URI_V4", "").strip():
        return Detection("ecs", "ECS_CONTAINER_METADATA_URI_V4 is set")
    if environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "").strip() and not ec2_disabled:
        return Detection("ec2", "AWS_EC2_METADATA_SERVICE_ENDPOINT is set")
    if environ.get("GCE_METADATA_HOST", "").strip():
        return Detection("gce", "GCE_METADATA_HOST is set")
    dmi = read_dmi(dmi_dir)
    cloud = _cloud_from_dmi(dmi)
    if cloud == "ec2" and ec2_disabled:
        return Detection("local", "an EC2 instance, but AWS_EC2_METADATA_DISABLED=true")
    if cloud is not None:
        return Detection(cloud, _DMI_REASONS[cloud])
    return Detection("local", "no metadata service in the environment or DMI strings")


def detect_source(environ: Mapping[str, str], dmi_dir: Path = DMI_DIR) -> str:
    """The name of the source `auto` selects: ec2, ecs, gce, azure or local."""
    return detect(environ, dmi_dir).source


def read_dmi(dmi_dir: Path = DMI_DIR) -> dict[str, str]:
    """The readable DMI strings, stripped; missing and unreadable files are left out."""
    strings: dict[str, str] = {}
    for name in DMI_FILES:
        try:
            strings[name] = (dmi_dir / name).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
    return strings


_DMI_REASONS = {
    "ec2": "the DMI strings name Amazon EC2",
    "gce": "the DMI strings name Google Compute Engine",
    "azure": "the DMI strings name an Azure virtual machine",
}


def _cloud_from_dmi(dmi: Mapping[str, str]) -> str | None:
    def lower(name: str) -> str:
        return dmi.get(name, "").lower()

    if (
        "amazon ec2" in (lower("sys_vendor"), lower("bios_vendor"))
        or "amazon" in lower("bios_version")
        # Xen instances (t2, m4, ...) say "Xen"; only their UUID gives them away.
        or lower("product_uuid").startswith("ec2")
    ):
        return "ec2"
    if lower("product_name") == "google compute engine" or lower("sys_vendor") == "google":
        return "gce"
    if dmi.get("chassis_asset_tag") == AZURE_ASSET_TAG or (
        lower("sys_vendor") == "microsoft corporation"
        and lower("product_name") == "virtual machine"
    ):
        return "azure"
    return None
