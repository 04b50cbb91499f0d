"""read_kubernetes_info: the downward API's environment variables."""

from __future__ import annotations

from awsme.metadata.kubernetes import read_kubernetes_info
from awsme.metadata.model import KubernetesInfo


def test_pod_with_downward_api() -> None:
    info = read_kubernetes_info(
        {
            "POD_NAME": "awsme-backend-7d9c8b6f4-x2x9q",
            "POD_NAMESPACE": "workshop",
            "NODE_NAME": "ip-10-0-1-17.eu-west-1.compute.internal",
            "POD_IP": "10.0.1.42",
            "KUBERNETES_SERVICE_HOST": "172.20.0.1",
            "KUBERNETES_SERVICE_PORT": "443",
        }
    )
    assert info == KubernetesInfo(
        pod_name="awsme-backend-7d9c8b6f4-x2x9q",
        namespace="workshop",
        node_name="ip-10-0-1-17.eu-west-1.compute.internal",
        pod_ip="10.0.1.42",
        in_cluster=True,
    )
    assert info.present


def test_pod_without_downward_api_is_still_in_cluster() -> None:
    info = read_kubernetes_info({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "HOSTNAME": "awsme-0"})
    assert info == KubernetesInfo(in_cluster=True)
    assert info.present


def test_outside_kubernetes() -> None:
    info = read_kubernetes_info({"HOME": "/root", "PATH": "/usr/bin"})
    assert info == KubernetesInfo()
    assert not info.present


def test_empty_values_count_as_unset() -> None:
    info = read_kubernetes_info(
        {"POD_NAME": "", "POD_NAMESPACE": " ", "KUBERNETES_SERVICE_HOST": ""}
    )
    assert info == KubernetesInfo()
