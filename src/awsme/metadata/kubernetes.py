"""What a pod knows about itself, from environment variables set by the downward API."""

from __future__ import annotations

from collections.abc import Mapping

from awsme.metadata.model import KubernetesInfo


def read_kubernetes_info(environ: Mapping[str, str]) -> KubernetesInfo:
    """KubernetesInfo from POD_NAME, POD_NAMESPACE, NODE_NAME, POD_IP, KUBERNETES_SERVICE_HOST.

    An empty value counts as unset: a manifest with `value: ""` should not show a blank.
    """

    def get(name: str) -> str | None:
        return environ.get(name, "").strip() or None

    return KubernetesInfo(
        pod_name=get("POD_NAME"),
        namespace=get("POD_NAMESPACE"),
        node_name=get("NODE_NAME"),
        pod_ip=get("POD_IP"),
        in_cluster=get("KUBERNETES_SERVICE_HOST") is not None,
    )
