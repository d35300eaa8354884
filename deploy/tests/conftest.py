"""Shared fixtures for the chart tests: load a chart with the real Helm engine, render it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "deploy" / "charts"
FLUX = REPO / "deploy" / "flux"

RELEASE = "flow"
NAMESPACE = "openova-flow"

SERVER_MINIMAL: dict[str, Any] = {"image": {"tag": "0.1.0"}}
EMITTER_MINIMAL: dict[str, Any] = {
    "image": {"tag": "0.1.0"},
    "flowServerUrl": "https://openova-flow.example.org",
    "flowId": "deployment-1",
    "regionKey": "fsn1",
}

# Every setting set: renders every env name the chart can produce (used by the drift test).
SERVER_FULL: dict[str, Any] = {
    "image": {"tag": "0.1.0"},
    "config": {
        "ringCapacity": 4096,
        "heartbeatInterval": "15s",
        "sseFlushInterval": "10ms",
        "maxBodyBytes": 1048576,
        "ingestRate": 50,
        "ingestBurst": 200,
        "newFlowsPerMinute": 60,
        "maxWaiters": 1024,
        "maxWaitersPerIp": 32,
        "maxConnections": 10000,
        "maxConnectionsPerIp": 256,
        "requestHeadTimeout": "10s",
        "maxRequestHeadBytes": 8192,
        "trustedProxies": ["10.0.0.0/8", "192.0.2.7"],
        "corsOrigins": ["https://console.example.org", "https://admin.example.org"],
        "maxFlows": 1000,
        "maxSubscribers": 10000,
        "flowByteBudget": 67108864,
        "maxMemoryBytes": 268435456,
        "idleFlowTimeout": "1h",
        "shutdownGrace": "10s",
        "log": "info",
        "maxStateItems": 50000,
        "ui": True,
        "backend": "redis",
        "requestThreads": 2,
        "streamThreads": 3,
        "redisFlowTtl": "24h",
        "redisTimeout": "2s",
    },
    "auth": {"existingSecret": "openova-flow-tokens"},
    "redis": {"existingSecret": "openova-flow-redis"},
}
EMITTER_FULL: dict[str, Any] = {
    **EMITTER_MINIMAL,
    "config": {
        "namespaceFilter": "flux-system",
        "watchKinds": "HelmRelease,HelmChart,Kustomization",
        "emitInterval": "200ms",
        "postTimeout": "10s",
        "leaseDuration": "15s",
        "shutdownGrace": "10s",
        "resyncInterval": "30s",
        "retryMaxDelay": "30s",
        "unreadyAfter": "60s",
    },
    "auth": {"existingSecret": "openova-flow-emitter-token", "readTokenKey": "read-token"},
    "leaderElection": {"enabled": True},
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (override wins)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class RenderedChart:
    """A loaded chart plus a render function returning parsed Kubernetes objects."""

    def __init__(self, path: Path, minimal: dict[str, Any]) -> None:
        self.path = path
        self.minimal = minimal
        self.chart = helm_python.Chart.load(str(path))

    def render(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Render ``values`` (complete, not merged) into objects; NOTES.txt is left out."""
        manifests = self.chart.render(values, name=RELEASE, namespace=NAMESPACE)
        objects: list[dict[str, Any]] = []
        for template, text in sorted(manifests.items()):
            if template.endswith("NOTES.txt"):
                continue
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
        return objects

    def render_with(self, override: dict[str, Any]) -> list[dict[str, Any]]:
        """Render the minimal valid values with ``override`` merged on top."""
        return self.render(merge(self.minimal, override))


@pytest.fixture(scope="session")
def server() -> RenderedChart:
    return RenderedChart(CHARTS / "openova-flow-server", SERVER_MINIMAL)


@pytest.fixture(scope="session")
def emitter() -> RenderedChart:
    return RenderedChart(CHARTS / "openova-flow-emitter", EMITTER_MINIMAL)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected exactly one {kind}, got {len(found)}"
    return found[0]


def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found = [o for o in objects if o.get("kind") in ("Deployment", "DaemonSet")]
    assert len(found) == 1, f"expected one Deployment or DaemonSet, got {len(found)}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = workload(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Container env as name -> entry (the whole entry, so valueFrom stays visible)."""
    entries = container(objects).get("env", [])
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"duplicate env names: {names}"
    return {e["name"]: e for e in entries}
