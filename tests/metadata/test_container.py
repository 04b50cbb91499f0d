"""read_container_info on fake /proc/self and /sys/fs/cgroup trees."""

from __future__ import annotations

from pathlib import Path

from awsme.metadata.container import read_cgroup_usage, read_container_info
from awsme.metadata.model import ContainerInfo

DOCKER_ID = "3f4e9d5c1b2a8e7f6d5c4b3a29180716e5d4c3b2a1908f7e6d5c4b3a2918070a"
CONTAINERD_ID = "8e1c8b0e2b0b4d5f9e7b0a6c3d2f1e0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e"
CRIO_ID = "0f2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718293a4b5c6d7e8f9012"
SANDBOX_ID = "aa1c8b0e2b0b4d5f9e7b0a6c3d2f1e0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e"
POD_UID = "7b9d0a8e_1f2c_4d3b_9a8e_7c6d5b4a3f21"
V1_UNLIMITED = "9223372036854771712"  # the page-rounded LONG_MAX cgroup v1 reports


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def trees(tmp_path: Path) -> tuple[Path, Path]:
    cgroup_root, proc_self = tmp_path / "sys/fs/cgroup", tmp_path / "proc/self"
    cgroup_root.mkdir(parents=True)
    proc_self.mkdir(parents=True)
    return cgroup_root, proc_self


def docker_v1_cgroup(container_id: str) -> str:
    return (
        "".join(
            f"{n}:{controllers}:/docker/{container_id}\n"
            for n, controllers in [
                (12, "pids"),
                (11, "memory"),
                (10, "cpu,cpuacct"),
                (9, "devices"),
                (1, "name=systemd"),
            ]
        )
        + f"0::/docker/{container_id}\n"
    )


def test_docker_on_cgroup_v1(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    write(proc_self, {"cgroup": docker_v1_cgroup(DOCKER_ID)})
    # Docker mounts the container's own cgroups at the root of each hierarchy.
    write(
        cgroup_root,
        {
            "memory/memory.limit_in_bytes": "536870912\n",
            "cpu,cpuacct/cpu.cfs_quota_us": "150000\n",
            "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )
    (cgroup_root / "cpu").symlink_to("cpu,cpuacct")

    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(
        container_id=DOCKER_ID,
        cgroup_version=1,
        memory_limit_bytes=512 * 1024 * 1024,
        cpu_limit_cores=1.5,
    )


def test_cgroup_v1_without_limits(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    write(proc_self, {"cgroup": docker_v1_cgroup(DOCKER_ID)})
    write(
        cgroup_root,
        {
            "memory/memory.limit_in_bytes": V1_UNLIMITED,
            "cpu/cpu.cfs_quota_us": "-1",
            "cpu/cpu.cfs_period_us": "100000",
        },
    )
    info = read_container_info(cgroup_root, proc_self)
    assert info == ContainerInfo(container_id=DOCKER_ID, cgroup_version=1)


def test_kubernetes_cri_o_on_cgroup_v1_reads_its_own_cgroup(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    pod = f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_UID}.slice"
    path = f"{pod}/crio-{CRIO_ID}.scope"
    conmon = f"{pod}/crio-conmon-{SANDBOX_ID}.scope"
    write(
        proc_self,
        {
            "cgroup": (
                f"13:pids:{conmon}\n11:memory:{path}\n4:cpu,cpuacct:{path}\n1:name=systemd:{path}\n"
            )
        },
    )
    # No cgroup namespace: the whole host hierarchy is visible, the root is unlimited.
    write(
        cgroup_root,
        {
            "memory/memory.limit_in_bytes": V1_UNLIMITED,
            f"memory{path}/memory.limit_in_bytes": "268435456",
            "cpu/cpu.cfs_quota_us": "-1",
            "cpu/cpu.cfs_period_us": "100000",
            f"cpu{path}/cpu.cfs_quota_us": "25000",
            f"cpu{path}/cpu.cfs_period_us": "100000",
        },
    )
    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(
        container_id=CRIO_ID,
        cgroup_version=1,
        memory_limit_bytes=256 * 1024 * 1024,
        cpu_limit_cores=0.25,
    )


def test_docker_on_cgroup_v2_finds_its_id_in_mountinfo(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    docker_dir = f"/var/lib/docker/containers/{DOCKER_ID}"
    write(
        proc_self,
        {
            "cgroup": "0::/\n",  # a private cgroup namespace hides the path
            "mountinfo": (
                "1461 1400 0:123 / / rw,relatime master:1 - overlay overlay "
                "rw,lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF\n"
                "1462 1461 0:126 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
                "1470 1461 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 "
                "cgroup rw,nsdelegate\n"
                f"1480 1461 254:1 {docker_dir}/resolv.conf /etc/resolv.conf rw,relatime "
                "- ext4 /dev/vda1 rw\n"
                f"1481 1461 254:1 {docker_dir}/hostname /etc/hostname rw,relatime "
                "- ext4 /dev/vda1 rw\n"
                f"1482 1461 254:1 {docker_dir}/hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw\n"
            ),
        },
    )
    write(
        cgroup_root,
        {
            "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            "memory.max": "268435456\n",
            "cpu.max": "50000 100000\n",
        },
    )
    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(
        container_id=DOCKER_ID,
        cgroup_version=2,
        memory_limit_bytes=256 * 1024 * 1024,
        cpu_limit_cores=0.5,
    )


def test_cgroup_v2_without_limits(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    write(proc_self, {"cgroup": "0::/\n"})
    write(
        cgroup_root,
        {
            "cgroup.controllers": "cpu memory pids\n",
            "memory.max": "max\n",
            "cpu.max": "max 100000\n",
        },
    )
    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(cgroup_version=2)


def test_kubernetes_containerd_on_cgroup_v2_reads_its_own_cgroup(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    path = (
        "/kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod{POD_UID}.slice/cri-containerd-{CONTAINERD_ID}.scope"
    )
    write(proc_self, {"cgroup": f"0::{path}\n"})
    write(
        cgroup_root,
        {
            "cgroup.controllers": "cpuset cpu io memory pids\n",
            f"{path.lstrip('/')}/memory.max": "134217728\n",
            f"{path.lstrip('/')}/cpu.max": "200000 100000\n",
        },
    )
    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(
        container_id=CONTAINERD_ID,
        cgroup_version=2,
        memory_limit_bytes=128 * 1024 * 1024,
        cpu_limit_cores=2.0,
    )


def test_kubernetes_containerd_in_a_cgroup_namespace(tmp_path: Path) -> None:
    """The sandbox (pause container) mounts /etc/hostname: its id is not ours."""
    cgroup_root, proc_self = trees(tmp_path)
    sandbox = f"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{SANDBOX_ID}"
    write(
        proc_self,
        {
            "cgroup": "0::/\n",
            "mountinfo": (
                f"712 700 259:1 {sandbox}/hostname /etc/hostname rw,relatime "
                "- xfs /dev/nvme0n1p1 rw\n"
                f"713 700 259:1 /var/lib/kubelet/pods/{POD_UID}/etc-hosts /etc/hosts rw,relatime "
                "- xfs /dev/nvme0n1p1 rw\n"
            ),
        },
    )
    write(cgroup_root, {"cgroup.controllers": "cpu memory\n", "memory.max": "67108864\n"})
    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(
        cgroup_version=2, memory_limit_bytes=64 * 1024 * 1024
    )


def test_ecs_fargate_task_id(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    task = "cd189a933e5849daa93386466019ab50"
    write(proc_self, {"cgroup": f"11:memory:/ecs/{task}/{task}-2495160603\n"})
    info = read_container_info(cgroup_root, proc_self)
    assert info.container_id == f"{task}-2495160603"


def test_not_in_a_container(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    session = "/user.slice/user-1000.slice/session-3.scope"
    write(
        proc_self,
        {
            "cgroup": f"0::{session}\n",
            "mountinfo": (
                "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
                "25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 "
                "cgroup2 rw\n"
            ),
        },
    )
    write(
        cgroup_root,
        {
            "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            f"{session.lstrip('/')}/memory.max": "max\n",
            f"{session.lstrip('/')}/cpu.max": "max 100000\n",
        },
    )
    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(cgroup_version=2)


def test_nothing_readable(tmp_path: Path) -> None:
    assert read_container_info(tmp_path / "no-cgroup", tmp_path / "no-proc") == ContainerInfo()


def test_garbage_is_none_not_an_exception(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    write(proc_self, {"cgroup": "not a cgroup file\n\n::\n", "mountinfo": "x\n"})
    write(cgroup_root, {"cgroup.controllers": "", "memory.max": "lots", "cpu.max": "1 0"})
    (proc_self / "mountinfo").chmod(0)
    assert read_container_info(cgroup_root, proc_self) == ContainerInfo(cgroup_version=2)


def test_this_host_does_not_raise() -> None:
    info = read_container_info()
    assert info.cgroup_version in (None, 1, 2)


def test_usage_on_cgroup_v1(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    write(proc_self, {"cgroup": docker_v1_cgroup(DOCKER_ID)})
    write(
        cgroup_root,
        {
            "memory/memory.usage_in_bytes": "104857600\n",
            "cpu,cpuacct/cpu.stat": "nr_periods 120\nnr_throttled 40\nthrottled_time 2500000000\n",
        },
    )
    assert read_cgroup_usage(cgroup_root, proc_self) == {
        "memory_usage_bytes": 100 * 2**20,
        "cpu_periods": 120,
        "cpu_throttled_periods": 40,
        "cpu_throttled_us": 2_500_000,
    }


def test_usage_on_cgroup_v2_in_its_own_cgroup(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    write(proc_self, {"cgroup": "0::/kubepods/pod1/abc\n"})
    write(cgroup_root, {"cgroup.controllers": "cpu memory\n", "memory.current": "1\n"})
    write(
        cgroup_root / "kubepods/pod1/abc",
        {
            "memory.current": "52428800\n",
            "cpu.stat": "usage_usec 9\nnr_periods 10\nnr_throttled 3\nthrottled_usec 1500\n",
        },
    )
    assert read_cgroup_usage(cgroup_root, proc_self) == {
        "memory_usage_bytes": 50 * 2**20,
        "cpu_periods": 10,
        "cpu_throttled_periods": 3,
        "cpu_throttled_us": 1500,
    }


def test_usage_unreadable_is_none(tmp_path: Path) -> None:
    cgroup_root, proc_self = trees(tmp_path)
    assert set(read_cgroup_usage(cgroup_root, proc_self).values()) == {None}
