"""The NetworkPolicies of each overlay, evaluated as Kubernetes evaluates them: traffic
passes when the sender's egress and the receiver's ingress both allow it (a pod that no
policy selects for a direction is open in it). Only frontend -> backend, backend ->
database, the backend to the instance metadata service, DNS, and visitors to the
frontend may pass."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest

from tests.deploy.test_kubernetes import OVERLAYS, documents

NAMESPACE = "awsme"


@dataclass(frozen=True)
class Peer:
    """A pod (its labels and namespace) or an address outside the cluster."""

    labels: tuple[tuple[str, str], ...] = ()
    namespace: str | None = None  # None: not a pod
    address: str | None = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


VISITOR = Peer(address="203.0.113.7")
IMDS = Peer(address="169.254.169.254")  # a value to evaluate rules on: nothing is sent
RDS = Peer(address="10.0.12.34")
ELSEWHERE = Peer(address="198.51.100.9")
DNS = Peer(labels=(("k8s-app", "kube-dns"),), namespace="kube-system")


def pods(docs: list[dict[str, Any]]) -> dict[str, Peer]:
    """component -> the labels its pods carry."""
    found = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            found[labels["app.kubernetes.io/component"]] = Peer(
                tuple(sorted(labels.items())), NAMESPACE
            )
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(rule_peer: dict[str, Any], peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        block = ipaddress.ip_network(rule_peer["ipBlock"]["cidr"])
        return peer.address is not None and ipaddress.ip_address(peer.address) in block
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule_peer:
        namespace_labels = {"kubernetes.io/metadata.name": peer.namespace}
        if not selects(rule_peer["namespaceSelector"], namespace_labels):
            return False
    elif peer.namespace != NAMESPACE:
        return False
    return selects(rule_peer.get("podSelector", {}), peer.label_map)


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
    )


def allowed_in(
    policies: list[dict[str, Any]], pod: Peer, direction: str, other: Peer, port: int, proto: str
) -> bool:
    if pod.namespace != NAMESPACE:
        return True  # not ours (DNS, the outside): not restricted here
    kind, key, peers = {"ingress": ("Ingress", "ingress", "from"),
                        "egress": ("Egress", "egress", "to")}[direction]  # fmt: skip
    selecting = [
        p for p in policies
        if selects(p["spec"]["podSelector"], pod.label_map) and kind in p["spec"]["policyTypes"]
    ]  # fmt: skip
    if not selecting:
        return True
    return any(
        port_matches(rule, port, proto)
        and (peers not in rule or any(peer_matches(peer, other) for peer in rule[peers]))
        for policy in selecting
        for rule in policy["spec"].get(key, [])
    )


def can_reach(
    policies: list[dict[str, Any]], source: Peer, target: Peer, port: int, proto: str = "TCP"
) -> bool:
    return allowed_in(policies, source, "egress", target, port, proto) and allowed_in(
        policies, target, "ingress", source, port, proto
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_diagram_passes(overlay: str) -> None:
    docs = documents(overlay)
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    found = pods(docs)
    frontend, backend = found["frontend"], found["backend"]
    database = found.get("database", RDS)  # eks: Amazon RDS, outside the cluster

    allowed = [
        (VISITOR, frontend, 8080),
        (frontend, backend, 8081),
        (backend, database, 3306),
        (backend, IMDS, 80),
    ]
    denied = [
        (VISITOR, backend, 8081),
        (frontend, database, 3306),
        (frontend, IMDS, 80),
        (frontend, ELSEWHERE, 443),
        (backend, ELSEWHERE, 443),
        (backend, frontend, 8080),
        (backend, backend, 8081),
    ]
    if database is not RDS:
        denied += [(VISITOR, database, 3306), (database, backend, 8081), (database, ELSEWHERE, 443)]
    for source, target, port in allowed:
        assert can_reach(policies, source, target, port), (source, target, port)
    for source, target, port in denied:
        assert not can_reach(policies, source, target, port), (source, target, port)
    for pod in (frontend, backend) + ((database,) if database is not RDS else ()):
        assert can_reach(policies, pod, DNS, 53, "UDP"), pod
        assert not can_reach(policies, pod, DNS, 443), pod
