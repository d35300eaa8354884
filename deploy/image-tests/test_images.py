"""Tests of the container images that scripts/images builds (it runs them; they need root).

Each OCI archive is unpacked (index -> manifest -> config and layers) into a root filesystem,
the image's configuration is checked (user, entrypoint, labels), and its entrypoint runs in a
chroot of that root filesystem as the image's user, with the image's environment: the server
answers /healthz and a POST, and allocates with jemalloc; the adapter prints --help and resolves
a name through the image's /etc/hosts (its Kubernetes API server is a listener here, named in a
kubeconfig).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGES = Path(os.environ["OPENOVA_FLOW_IMAGES"])
VERSION = os.environ["OPENOVA_FLOW_IMAGE_VERSION"]
NAMES = ["openova-flow-server", "openova-flow-adapter-flux"]
NONROOT = "65532:65532"
DEADLINE_S = 30.0
PT_INTERP = 3
PT_DYNAMIC = 2


@dataclass
class Image:
    name: str
    config: dict[str, Any]
    rootfs: Path

    @property
    def binary(self) -> Path:
        return self.rootfs / "usr" / "local" / "bin" / self.name


def _blob(layout: Path, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hexdigest


def unpack(archive: Path, into: Path) -> Image:
    """The image's configuration and its root filesystem (its layers applied in order)."""
    layout = into / "layout"
    rootfs = into / "rootfs"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    manifest = json.loads(_blob(layout, entry["digest"]).read_text())
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_text())
    rootfs.mkdir()
    for layer in manifest["layers"]:
        with tarfile.open(_blob(layout, layer["digest"]), mode="r:*") as tar:
            members = tar.getmembers()
            whiteouts = [m.name for m in members if Path(m.name).name.startswith(".wh.")]
            assert whiteouts == [], f"layers of an image built from scratch delete nothing: {whiteouts}"
            # Our own image: owners and modes (65532's home, /tmp's sticky bit) are kept as built.
            tar.extractall(rootfs, filter="fully_trusted")
    return Image(archive.name.removesuffix(f"-{VERSION}.oci.tar"), config, rootfs)


@pytest.fixture(scope="module", params=NAMES)
def image(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Image:
    return _unpacked(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return _unpacked("openova-flow-server", tmp_path_factory)


@pytest.fixture
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return _unpacked("openova-flow-adapter-flux", tmp_path_factory)


def _unpacked(name: str, factory: pytest.TempPathFactory) -> Image:
    unpacked = unpack(IMAGES / f"{name}-{VERSION}.oci.tar", factory.mktemp(name))
    assert unpacked.name == name
    return unpacked


def _environment(image: Image, extra: dict[str, str]) -> dict[str, str]:
    env = dict(item.split("=", 1) for item in image.config["config"].get("Env", []))
    env.update(extra)
    return env


def _run_in_image(image: Image, args: list[str], extra_env: dict[str, str], **kwargs: Any):
    """The image's entrypoint with ``args`` in a chroot of its root filesystem, as its user."""
    config = image.config["config"]
    command = ["chroot", f"--userspec={config['User']}", str(image.rootfs), *config["Entrypoint"], *args]
    # Unbuffered, so that select() on stdout sees every line not yet read.
    return subprocess.Popen(
        command,
        env=_environment(image, extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        **kwargs,
    )


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("the process did not stop within the deadline after SIGTERM")


def _elf_segments(path: Path) -> set[int]:
    """The program header types of a little-endian ELF64 executable."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{path} is not an ELF64 LE file"
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return {struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)}


# ---------------------------------------------------------------------------------------------
# What is in each image


def test_config_runs_the_binary_as_nonroot_with_oci_labels(image: Image) -> None:
    config = image.config["config"]
    assert config["User"] == NONROOT
    assert config["Entrypoint"] == [f"/usr/local/bin/{image.name}"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == image.name
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.source"] == "https://github.com/openova-io/openova-flow"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    revision = labels["org.opencontainers.image.revision"].removesuffix("-dirty")
    assert len(revision) == 40 and all(c in "0123456789abcdef" for c in revision), revision
    assert image.config["os"] == "linux" and image.config["architecture"] == "amd64"


def test_root_filesystem_holds_only_the_binary_users_hosts_and_ca_bundle(image: Image) -> None:
    files = sorted(str(p.relative_to(image.rootfs)) for p in image.rootfs.rglob("*") if not p.is_dir())
    assert files == [
        "etc/group",
        "etc/hosts",
        "etc/passwd",
        "etc/ssl/certs/ca-certificates.crt",
        f"usr/local/bin/{image.name}",
    ]
    assert "nonroot:x:65532:65532:" in (image.rootfs / "etc" / "passwd").read_text()
    home = (image.rootfs / "home" / "nonroot").stat()
    assert (home.st_uid, home.st_gid) == (65532, 65532)
    assert (image.rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    bundle = (image.rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt").read_text()
    assert bundle.count("-----BEGIN CERTIFICATE-----") >= 100
    assert image.config["config"]["Env"].count("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") == 1


def test_binary_is_static(image: Image) -> None:
    segments = _elf_segments(image.binary)
    assert PT_INTERP not in segments, "the binary asks for a dynamic loader"
    assert os.access(image.binary, os.X_OK)


# ---------------------------------------------------------------------------------------------
# The binaries run in a chroot of their image


def _listening_address(process: subprocess.Popen[bytes]) -> str:
    """The address from the server's `listening` log line (it binds port 0)."""
    assert process.stdout is not None
    deadline = time.monotonic() + DEADLINE_S
    seen: list[bytes] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        record = json.loads(line)
        if record.get("fields", {}).get("message") == "listening":
            return record["fields"]["addr"]
    _stop(process)
    stderr = process.stderr.read().decode() if process.stderr else ""
    pytest.fail(f"no `listening` line from the server; stdout {seen!r}, stderr {stderr!r}")


def test_server_answers_healthz_and_a_post(server: Image) -> None:
    process = _run_in_image(server, [], {"FLOW_SERVER_LISTEN_ADDR": "127.0.0.1:0"})
    try:
        base = f"http://{_listening_address(process)}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=DEADLINE_S) as reply:
            assert reply.status == 200

        message = (REPO / "testdata" / "contract" / "valid" / "upsert_nodes_full.json").read_bytes()
        post = urllib.request.Request(
            f"{base}/v1/flows/demo/events",
            data=message,
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(post, timeout=DEADLINE_S) as reply:
            assert reply.status == 200
            assert json.loads(reply.read())["seq"] == 1

        with urllib.request.urlopen(f"{base}/v1/flows/demo/snapshot", timeout=DEADLINE_S) as reply:
            snapshot = json.loads(reply.read())
        posted = {node["id"] for node in json.loads(message)["nodes"]}
        assert {node["id"] for node in snapshot["nodes"]} == posted
    finally:
        assert _stop(process) == 0


def test_server_allocates_with_jemalloc(server: Image) -> None:
    """musl's own allocator costs the server a third more CPU per request (docs/BENCHMARKS.md,
    "Issue 18: sixth session"): the image's binary allocates with jemalloc, which prints its
    statistics at exit when its (prefixed) configuration variable asks for them."""
    process = _run_in_image(server, ["--version"], {"_RJEM_MALLOC_CONF": "stats_print:true"})
    stdout, stderr = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0, stderr
    assert stdout.startswith(b"openova-flow-server ")
    assert b"Begin jemalloc statistics" in stderr


def test_adapter_prints_help(adapter: Image) -> None:
    process = _run_in_image(adapter, ["--help"], {})
    stdout, stderr = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0, stderr
    assert b"\nUsage: openova-flow-adapter-flux [OPTIONS]" in stdout
    assert b"FLOW_SERVER_URL" in stdout


def test_adapter_resolves_a_name_from_the_images_etc_hosts(adapter: Image) -> None:
    """The static binary resolves through /etc/hosts of the root it runs in (no NSS modules):
    its Kubernetes API server is named in a kubeconfig, and that name is only in the image's
    /etc/hosts. The request reaching the listener here proves the lookup."""
    name = "kube-api.image-test"
    with socket.create_server(("127.0.0.1", 0)) as api:
        port = api.getsockname()[1]
        with (adapter.rootfs / "etc" / "hosts").open("a") as hosts:
            hosts.write(f"127.0.0.1 {name}\n")
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": f"http://{name}:{port}"}}],
            "users": [{"name": "test", "user": {"token": "image-test"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            "current-context": "test",
        }
        (adapter.rootfs / "tmp" / "kubeconfig").write_text(json.dumps(kubeconfig))
        process = _run_in_image(
            adapter,
            [],
            {
                "KUBECONFIG": "/tmp/kubeconfig",
                "FLOW_SERVER_URL": "http://127.0.0.1:9/",
                "FLOW_ID": "image-test",
                "REGION_KEY": "test",
                "LEADER_ELECTION": "false",
                "HEALTH_LISTEN_ADDR": "127.0.0.1:0",
            },
        )
        try:
            api.settimeout(DEADLINE_S)
            try:
                connection, _ = api.accept()
            except TimeoutError:
                _stop(process)
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"the adapter never reached {name}:{port}; stderr {stderr!r}")
            with connection:
                connection.settimeout(DEADLINE_S)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(4096)
                    assert chunk, f"connection closed before a request head: {head!r}"
                    head += chunk
            request_line, *headers = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
            assert request_line.startswith("GET /apis/"), request_line
            host = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in headers)}["host"]
            assert host == f"{name}:{port}"
        finally:
            _stop(process)
