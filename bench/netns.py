"""Separate network hosts on one machine: Linux network namespaces on a private bridge.

``Lab.create(["redis", "api", "wa"])`` makes one namespace per host, each with its own loopback
and an ``eth0`` (one end of a veth pair) on a bridge that lives in a namespace of its own, plus
one veth from the calling namespace onto that bridge so the caller (a test, a benchmark) reaches
the hosts. Addresses are in a /24 chosen per lab, names carry a random tag, so labs of parallel
runs never meet; traffic stays on these links. ``Lab.run`` starts a process inside a host
with that host's name as its hostname (``unshare --uts``), ``kill_host`` SIGKILLs everything in
it, and ``destroy`` removes the namespaces and links (call it in a ``finally``). Needs root (or
CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; ``NetnsUnavailable`` says so when they are not.
The hosts share the file system: a directory stands for a shared (NFS, ReadWriteMany) volume.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path


class NetnsUnavailable(RuntimeError):
    """``ip netns`` is missing or not permitted here."""


def _ip(*args: str, ns: str | None = None) -> str:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except FileNotFoundError as exc:
        raise NetnsUnavailable("iproute2's `ip` is not installed (apt-get install iproute2)") \
            from exc
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, argv, done.stdout, done.stderr)
    return done.stdout


@dataclass
class Lab:
    tag: str
    subnet: str  # "10.A.B": hosts are .1, .2, ...; the caller's end is .254
    hosts: dict[str, str] = field(default_factory=dict)  # host → address
    procs: list[subprocess.Popen] = field(default_factory=list)
    _namespaces: list[str] = field(default_factory=list)

    @property
    def bridge_ns(self) -> str:
        return f"{self.tag}-lan"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    @classmethod
    def create(cls, hosts: list[str]) -> Lab:
        """The namespaces and links of ``hosts``; on any failure what was made is removed."""
        used = _ip("-4", "route")
        while True:
            subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
            if f"{subnet}." not in used:
                break
        lab = cls(tag=f"nn{uuid.uuid4().hex[:5]}", subnet=subnet)
        try:
            lab._add_ns(lab.bridge_ns, first=True)
            _ip("link", "add", "br0", "type", "bridge", ns=lab.bridge_ns)
            _ip("link", "set", "br0", "up", ns=lab.bridge_ns)
            for i, host in enumerate(hosts, start=1):
                ns, addr = lab.ns(host), f"{subnet}.{i}"
                lab._add_ns(ns)
                lab._wire(f"{lab.tag}h{i}", ns, "eth0", f"{lab.tag}p{i}")
                _ip("addr", "add", f"{addr}/24", "dev", "eth0", ns=ns)
                _ip("link", "set", "eth0", "up", ns=ns)
                lab.hosts[host] = addr
            # The caller's own link onto the bridge (the root namespace keeps this end).
            _ip("link", "add", f"{lab.tag}r0", "type", "veth", "peer", "name", f"{lab.tag}r1")
            _ip("link", "set", f"{lab.tag}r1", "netns", lab.bridge_ns)
            _ip("link", "set", f"{lab.tag}r1", "master", "br0", ns=lab.bridge_ns)
            _ip("link", "set", f"{lab.tag}r1", "up", ns=lab.bridge_ns)
            _ip("addr", "add", f"{subnet}.254/24", "dev", f"{lab.tag}r0")
            _ip("link", "set", f"{lab.tag}r0", "up")
        except BaseException:
            lab.destroy()
            raise
        return lab

    def _add_ns(self, ns: str, first: bool = False) -> None:
        try:
            _ip("netns", "add", ns)
        except subprocess.CalledProcessError as exc:
            if first:
                raise NetnsUnavailable(
                    f"`ip netns add` is not permitted here ({exc.stderr.strip()}): separate "
                    "network hosts need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)") from exc
            raise
        self._namespaces.append(ns)
        _ip("link", "set", "lo", "up", ns=ns)

    def _wire(self, name: str, ns: str, inside: str, peer: str) -> None:
        """A veth pair: ``name`` goes into ``ns`` as ``inside``, ``peer`` onto the bridge."""
        _ip("link", "add", name, "type", "veth", "peer", "name", peer)
        _ip("link", "set", name, "netns", ns)
        _ip("link", "set", name, "name", inside, ns=ns)
        _ip("link", "set", peer, "netns", self.bridge_ns)
        _ip("link", "set", peer, "master", "br0", ns=self.bridge_ns)
        _ip("link", "set", peer, "up", ns=self.bridge_ns)

    def run(self, host: str, argv: list[str], env: dict[str, str], log: Path,
            cwd: Path | None = None) -> subprocess.Popen:
        """Start ``argv`` on ``host``, whose hostname it sees as ``host``."""
        wrapped = ["ip", "netns", "exec", self.ns(host), "unshare", "--uts", "sh", "-c",
                   'hostname "$0" && exec "$@"', host, *argv]
        with log.open("ab") as out:
            proc = subprocess.Popen(wrapped, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=cwd)
        self.procs.append(proc)
        return proc

    def pids(self, host: str) -> list[int]:
        try:
            return [int(p) for p in _ip("netns", "pids", self.ns(host)).split()]
        except subprocess.CalledProcessError:
            return []

    def kill_host(self, host: str) -> None:
        """SIGKILL every process on ``host`` (as if the machine died)."""
        for _ in range(5):
            pids = self.pids(host)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        """Stop every process, remove the namespaces and links; never raises."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for host in self.hosts:
            with contextlib.suppress(Exception):
                self.kill_host(host)
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
        with contextlib.suppress(Exception):
            _ip("link", "del", f"{self.tag}r0")
        for ns in reversed(self._namespaces):
            with contextlib.suppress(Exception):
                _ip("netns", "del", ns)
        self._namespaces.clear()


def leftovers(tag: str) -> list[str]:
    """Namespaces and root links whose name carries ``tag`` (empty after ``destroy``)."""
    names = [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]
    links = [line.split(":")[1].strip().split("@")[0]
             for line in _ip("-o", "link").splitlines() if tag in line]
    return [n for n in names if n.startswith(tag)] + links
