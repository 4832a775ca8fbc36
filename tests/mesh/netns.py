"""Linux network namespaces joined to the root namespace by veth pairs: one "host" per region.

Each namespace gets one veth pair on its own private /24 (``10.77.<n>.0/24``): the root end is
``.1`` (where the region's link proxies listen), the namespace end ``.2`` (where its services listen).
Nothing routes beyond that /24, so a region reaches the rest of the mesh only through its link.

Names carry the pid of the test process that made them, so a later run removes what a crashed run
left behind without touching the namespaces of a run still going on beside it.

A namespace may have its own hosts file (``/etc/netns/<name>/hosts``, which `ip netns exec` mounts over
``/etc/hosts`` for what runs inside): the core's processes advertise one host name, which each region
resolves to its own link, so an endpoint found in the instance registry is reachable from every region.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NAME_PREFIX = "cerebro-mesh-"
NETNS_ETC = Path("/etc/netns")
# 10.77.0.0/16 is private and used by nothing else on the CI machines; one /24 per region.
SUBNET_BASE = ipaddress.ip_network("10.77.0.0/16")
_LEFTOVER = re.compile(rf"^{re.escape(NAME_PREFIX)}(\d+)-")


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, or no `ip netns`); the message says why."""


def _ip(*args: str, namespace: str | None = None) -> str:
    command = ["ip", *args] if namespace is None else ["ip", "netns", "exec", namespace, "ip", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Namespace:
    """A region's namespace: its name, the root-side address (its link) and its own address."""

    name: str
    root_device: str
    link_address: str
    address: str

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this namespace (`ip netns exec` execs it: the pid is the program's own)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def write_hosts(self, entries: dict[str, str]) -> None:
        """The hosts file of what runs in this namespace: localhost, and ``entries`` (name -> address)."""
        directory = NETNS_ETC / self.name
        directory.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", *(f"{address} {name}" for name, address in entries.items())]
        (directory / "hosts").write_text("\n".join(lines) + "\n")


def check_available() -> None:
    """Raise NetnsUnavailable unless this process can create network namespaces."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (the mesh tests run as root in CI)")
    probe = f"{NAME_PREFIX}{os.getpid()}-probe"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "delete", probe)
    except (OSError, RuntimeError) as error:
        raise NetnsUnavailable(f"`ip netns` does not work here: {error}") from error


def _used_subnets() -> set[ipaddress.IPv4Network]:
    found = re.findall(r"inet (\d+\.\d+\.\d+\.\d+/\d+)", _ip("-4", "addr"))
    return {ipaddress.ip_interface(address).network for address in found}


def _free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    used = _used_subnets()
    candidates = [
        net for net in SUBNET_BASE.subnets(new_prefix=24) if net not in used and net.network_address.packed[2]
    ]
    # Random choice, so two runs starting at once rarely pick the same /24.
    start = secrets.randbelow(len(candidates) - count)
    return candidates[start : start + count]


def create_namespaces(regions: list[str]) -> dict[str, Namespace]:
    """One namespace per region, each with its veth pair and /24; removed again if any step fails."""
    run_id = f"{os.getpid()}-{secrets.token_hex(3)}"
    made: dict[str, Namespace] = {}
    try:
        for index, (region, subnet) in enumerate(zip(regions, _free_subnets(len(regions)), strict=True)):
            hosts = list(subnet.hosts())
            name = f"{NAME_PREFIX}{run_id}-{region}"
            # Interface names are at most 15 bytes.
            root_device, inner_device = f"cm{run_id[-6:]}{index}r", f"cm{run_id[-6:]}{index}n"
            _ip("netns", "add", name)
            made[region] = Namespace(name, root_device, str(hosts[0]), str(hosts[1]))
            _ip("link", "add", root_device, "type", "veth", "peer", "name", inner_device)
            _ip("link", "set", inner_device, "netns", name)
            _ip("addr", "add", f"{hosts[0]}/24", "dev", root_device)
            _ip("link", "set", root_device, "up")
            _ip("addr", "add", f"{hosts[1]}/24", "dev", inner_device, namespace=name)
            _ip("link", "set", inner_device, "up", namespace=name)
            _ip("link", "set", "lo", "up", namespace=name)
    except BaseException:
        delete_namespaces(list(made.values()))
        raise
    return made


def _kill_processes_in(name: str) -> None:
    result = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
    for pid in result.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def _delete(name: str, root_device: str | None) -> None:
    _kill_processes_in(name)
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
    if root_device is not None:
        # Deleting the namespace destroys the pair, asynchronously; make sure before returning.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if subprocess.run(["ip", "link", "show", root_device], capture_output=True).returncode != 0:
                return
            time.sleep(0.05)
        subprocess.run(["ip", "link", "delete", root_device], capture_output=True, check=False)


def delete_namespaces(namespaces: list[Namespace]) -> None:
    for namespace in namespaces:
        _delete(namespace.name, namespace.root_device)


def remove_leftovers() -> list[str]:
    """Delete mesh namespaces whose creating process is gone (a crashed earlier run); returns their names."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    removed = []
    for line in listing.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _LEFTOVER.match(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        _delete(name, None)
        removed.append(name)
    # Hosts files of namespaces that are gone already.
    for directory in NETNS_ETC.glob(f"{NAME_PREFIX}*") if NETNS_ETC.is_dir() else []:
        match = _LEFTOVER.match(directory.name)
        if match is not None and not _pid_alive(int(match.group(1))):
            shutil.rmtree(directory, ignore_errors=True)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
