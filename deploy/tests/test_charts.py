"""Chart tests: render with the real Helm engine (helm-python-sdk), lint, validate the rendered
core objects with kubernetes-validate in strict mode, and assert what the charts promise."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from conftest import (
    CHARTS,
    EMITTER_FULL,
    NAMESPACE,
    RELEASE,
    REPO,
    SERVER_FULL,
    RenderedChart,
    by_kind,
    container,
    env_of,
    one,
    workload,
)

KUBERNETES_VERSION = "1.33.0"
# Not in kubernetes-validate's schemas (Gateway API is a CRD): checked by the HTTPRoute tests.
SKIPPED_KINDS = {"HTTPRoute"}


# ---------------------------------------------------------------------------------------------
# Lint and strict schema validation


@pytest.mark.parametrize("chart_name", ["server", "emitter"])
def test_lint_is_clean_with_minimal_values(chart_name: str, request: pytest.FixtureRequest) -> None:
    chart: RenderedChart = request.getfixturevalue(chart_name)
    report = helm_python.lint(str(chart.path), chart.minimal, strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    # Severity 1 (info) is only "icon is recommended"; warnings and errors must not appear.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_strict_validator_rejects_unknown_fields() -> None:
    """Guard for the tests below: strict mode really rejects a field the schema lacks."""
    bad = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "x"},
        "automountServiceAccountTokens": False,
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


VALIDATION_CASES = [
    ("server", {}),
    ("server", {**SERVER_FULL, "podDisruptionBudget": {"enabled": True}}),
    (
        "server",
        {
            **SERVER_FULL,
            "httpRoute": {"enabled": True, "hostname": "f.example.org", "parentRef": {"name": "gw"}},
        },
    ),
    ("emitter", {}),
    ("emitter", EMITTER_FULL),
    ("emitter", {"kind": "Deployment", "leaderElection": {"enabled": False}}),
    ("emitter", {"kind": "Deployment", "replicaCount": 2}),
]


@pytest.mark.parametrize(("chart_name", "override"), VALIDATION_CASES)
def test_rendered_core_objects_pass_strict_validation(
    chart_name: str, override: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    chart: RenderedChart = request.getfixturevalue(chart_name)
    objects = chart.render_with(override)
    validated = 0
    for obj in objects:
        if obj["kind"] in SKIPPED_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        validated += 1
    assert validated >= 2


# ---------------------------------------------------------------------------------------------
# Minimal render


def test_server_minimal_render_has_deployment_service_serviceaccount(server: RenderedChart) -> None:
    objects = server.render(server.minimal)
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Service", "ServiceAccount"]
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["metadata"]["namespace"] == NAMESPACE
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    service = one(objects, "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


def test_emitter_minimal_render_is_a_daemonset_with_rbac(emitter: RenderedChart) -> None:
    objects = emitter.render(emitter.minimal)
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "DaemonSet",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]


def test_image_uses_the_mirror_prefix_and_can_be_overridden(
    server: RenderedChart, emitter: RenderedChart
) -> None:
    prefix = "harbor.openova.io/proxy-ghcr/openova-io/openova"
    assert container(server.render(server.minimal))["image"] == f"{prefix}/openova-flow-server:0.1.0"
    assert (
        container(emitter.render(emitter.minimal))["image"]
        == f"{prefix}/openova-flow-adapter-flux:0.1.0"
    )
    custom = server.render_with({"image": {"registry": "registry.local/mirror/"}})
    assert container(custom)["image"] == "registry.local/mirror/openova-flow-server:0.1.0"


# ---------------------------------------------------------------------------------------------
# Fail fast: every case fails `helm template` with a message naming the value

SERVER_FAILURES = [
    ({"image": {"tag": ""}}, "image.tag is required"),
    ({"image": {"tag": None}}, "image.tag is required"),
    (
        {"httpRoute": {"enabled": True, "parentRef": {"name": "gw"}}},
        "httpRoute.hostname is required",
    ),
    (
        {"httpRoute": {"enabled": True, "hostname": "f.example.org"}},
        "httpRoute.parentRef.name is required",
    ),
    (
        {"httpRoute": {"enabled": True, "hostname": "f.example.org", "parentRef": {"name": "gw"}}},
        "auth.existingSecret (with auth.ingestTokensKey) is required",
    ),
    (
        {"auth": {"existingSecret": "s", "ingestTokensKey": "", "readTokensKey": ""}},
        "auth.ingestTokensKey and auth.readTokensKey are both empty",
    ),
    ({"config": {"ringCapcity": 10}}, "config.ringCapcity is not a setting"),
    ({"containerPort": 0}, "containerPort must be"),
    (
        {"podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}},
        "set exactly one of podDisruptionBudget.minAvailable and podDisruptionBudget.maxUnavailable",
    ),
    (
        {"podDisruptionBudget": {"enabled": True, "minAvailable": None}},
        "set exactly one of podDisruptionBudget.minAvailable",
    ),
    (
        {"serviceAccount": {"create": False}},
        "serviceAccount.name is required",
    ),
]

EMITTER_FAILURES = [
    ({"image": {"tag": ""}}, "image.tag is required"),
    ({"flowServerUrl": ""}, "flowServerUrl is required"),
    ({"flowServerUrl": "openova-flow:8080"}, "flowServerUrl must be an http:// or https:// URL"),
    ({"flowId": ""}, "flowId is required"),
    ({"flowId": "has space"}, "flowId must be 1-128 characters"),
    ({"flowId": "x" * 129}, "flowId must be 1-128 characters"),
    ({"regionKey": ""}, "regionKey is required"),
    ({"regionKey": "eu/fsn1"}, "regionKey must not contain '/'"),
    ({"kind": "StatefulSet"}, "kind must be DaemonSet or Deployment"),
    ({"leaderElection": {"enabled": False}}, "leaderElection.enabled must be true when kind is DaemonSet"),
    (
        {"kind": "Deployment", "replicaCount": 2, "leaderElection": {"enabled": False}},
        "leaderElection.enabled must be true when replicaCount is more than 1",
    ),
    ({"config": {"namespace": "x"}}, "config.namespace is not a setting"),
    ({"auth": {"existingSecret": "s", "tokenKey": ""}}, "auth.tokenKey is required"),
]


def _expect_failure(chart: RenderedChart, override: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmRenderError) as failure:
        chart.render_with(override)
    assert message in str(failure.value)


@pytest.mark.parametrize(("override", "message"), SERVER_FAILURES)
def test_server_fails_fast_naming_the_value(
    server: RenderedChart, override: dict[str, Any], message: str
) -> None:
    _expect_failure(server, override, message)


@pytest.mark.parametrize(("override", "message"), EMITTER_FAILURES)
def test_emitter_fails_fast_naming_the_value(
    emitter: RenderedChart, override: dict[str, Any], message: str
) -> None:
    _expect_failure(emitter, override, message)


def test_chart_defaults_alone_do_not_render(server: RenderedChart, emitter: RenderedChart) -> None:
    """With no values at all neither chart renders: the image tag has no default."""
    for chart in (server, emitter):
        with pytest.raises(helm_python.HelmRenderError, match=r"image\.tag is required"):
            chart.render({})


# ---------------------------------------------------------------------------------------------
# Security context and probes


@pytest.mark.parametrize(
    ("chart_name", "override"),
    [
        ("server", {}),
        ("emitter", {}),
        ("emitter", {"kind": "Deployment"}),
    ],
)
def test_security_context_is_locked_down(
    chart_name: str, override: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    chart: RenderedChart = request.getfixturevalue(chart_name)
    objects = chart.render_with(override)
    pod = workload(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(objects)["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["runAsNonRoot"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert container(objects)["resources"]["limits"]["memory"]


def test_server_does_not_mount_an_api_token(server: RenderedChart) -> None:
    objects = server.render(server.minimal)
    assert workload(objects)["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False


@pytest.mark.parametrize(("chart_name", "port_name", "port"), [("server", "http", 8080), ("emitter", "health", 8081)])
def test_probes_hit_healthz_and_readyz_on_the_named_port(
    chart_name: str, port_name: str, port: int, request: pytest.FixtureRequest
) -> None:
    chart: RenderedChart = request.getfixturevalue(chart_name)
    c = container(chart.render(chart.minimal))
    assert c["ports"] == [{"name": port_name, "containerPort": port, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port_name}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port_name}


# ---------------------------------------------------------------------------------------------
# Environment


def test_server_minimal_env_is_the_listen_address_only(server: RenderedChart) -> None:
    env = env_of(server.render(server.minimal))
    assert env == {"FLOW_SERVER_LISTEN_ADDR": {"name": "FLOW_SERVER_LISTEN_ADDR", "value": "0.0.0.0:8080"}}


def test_server_listen_address_follows_container_port(server: RenderedChart) -> None:
    objects = server.render_with({"containerPort": 9090})
    assert env_of(objects)["FLOW_SERVER_LISTEN_ADDR"]["value"] == "0.0.0.0:9090"
    assert container(objects)["ports"][0]["containerPort"] == 9090


def test_server_full_env_names_and_values(server: RenderedChart) -> None:
    env = env_of(server.render(SERVER_FULL))
    values = {name: entry.get("value") for name, entry in env.items()}
    assert values == {
        "FLOW_SERVER_LISTEN_ADDR": "0.0.0.0:8080",
        "FLOW_SERVER_RING_CAPACITY": "4096",
        "FLOW_SERVER_HEARTBEAT_INTERVAL": "15s",
        "FLOW_SERVER_SSE_FLUSH_INTERVAL": "10ms",
        # Whole numbers never turn into 1.048576e+06.
        "FLOW_SERVER_MAX_BODY_BYTES": "1048576",
        "FLOW_SERVER_INGEST_RATE": "50",
        "FLOW_SERVER_INGEST_BURST": "200",
        "FLOW_SERVER_NEW_FLOWS_PER_MINUTE": "60",
        "FLOW_SERVER_MAX_WAITERS": "1024",
        "FLOW_SERVER_MAX_WAITERS_PER_IP": "32",
        "FLOW_SERVER_MAX_CONNECTIONS": "10000",
        "FLOW_SERVER_MAX_CONNECTIONS_PER_IP": "256",
        "FLOW_SERVER_REQUEST_HEAD_TIMEOUT": "10s",
        "FLOW_SERVER_MAX_REQUEST_HEAD_BYTES": "8192",
        "FLOW_SERVER_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.7",
        "FLOW_SERVER_CORS_ORIGINS": "https://console.example.org,https://admin.example.org",
        "FLOW_SERVER_MAX_FLOWS": "1000",
        "FLOW_SERVER_MAX_SUBSCRIBERS": "10000",
        "FLOW_SERVER_FLOW_BYTE_BUDGET": "67108864",
        "FLOW_SERVER_MAX_MEMORY_BYTES": "268435456",
        "FLOW_SERVER_IDLE_FLOW_TIMEOUT": "1h",
        "FLOW_SERVER_SHUTDOWN_GRACE": "10s",
        "FLOW_SERVER_LOG": "info",
        "FLOW_SERVER_MAX_STATE_ITEMS": "50000",
        "FLOW_SERVER_UI": "true",
        "FLOW_SERVER_BACKEND": "redis",
        "FLOW_SERVER_REQUEST_THREADS": "2",
        "FLOW_SERVER_STREAM_THREADS": "3",
        "FLOW_SERVER_REDIS_FLOW_TTL": "24h",
        "FLOW_SERVER_REDIS_TIMEOUT": "2s",
        "FLOW_SERVER_REDIS_URL": None,
        "FLOW_SERVER_INGEST_TOKENS": None,
        "FLOW_SERVER_READ_TOKENS": None,
    }
    assert env["FLOW_SERVER_REDIS_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "openova-flow-redis", "key": "redis-url"}
    }
    assert env["FLOW_SERVER_INGEST_TOKENS"]["valueFrom"] == {
        "secretKeyRef": {"name": "openova-flow-tokens", "key": "ingest-tokens"}
    }
    assert env["FLOW_SERVER_READ_TOKENS"]["valueFrom"] == {
        "secretKeyRef": {"name": "openova-flow-tokens", "key": "read-tokens"}
    }


def test_server_replicas_need_the_redis_backend(server: RenderedChart) -> None:
    assert workload(server.render(server.minimal))["spec"]["replicas"] == 1
    redis = {"config": {"backend": "redis"}, "redis": {"existingSecret": "r"}}
    deployment = workload(server.render_with({**redis, "replicaCount": 3}))
    assert deployment["spec"]["replicas"] == 3
    env = env_of(server.render_with(redis))
    assert env["FLOW_SERVER_BACKEND"]["value"] == "redis"
    assert env["FLOW_SERVER_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "r", "key": "redis-url"}
    for override, message in [
        ({"replicaCount": 2}, "replicaCount > 1 needs config.backend: redis"),
        ({"replicaCount": 0}, "replicaCount must be at least 1"),
        ({"config": {"backend": "redis"}}, "redis.existingSecret (with redis.urlKey) is required"),
        ({"config": {"backend": "disk"}}, "config.backend must be memory or redis"),
        ({"redis": {"existingSecret": "r"}}, "redis.existingSecret is set but config.backend is not redis"),
    ]:
        _expect_failure(server, override, message)


def test_server_fractional_rate_keeps_its_fraction(server: RenderedChart) -> None:
    env = env_of(server.render_with({"config": {"ingestRate": 2.5}}))
    assert env["FLOW_SERVER_INGEST_RATE"]["value"] == "2.5"


def test_server_read_tokens_can_be_left_out(server: RenderedChart) -> None:
    env = env_of(server.render_with({"auth": {"existingSecret": "s", "readTokensKey": ""}}))
    assert "FLOW_SERVER_INGEST_TOKENS" in env
    assert "FLOW_SERVER_READ_TOKENS" not in env


def test_emitter_env_names_and_values(emitter: RenderedChart) -> None:
    env = env_of(emitter.render(EMITTER_FULL))
    assert {name: entry.get("value") for name, entry in env.items()} == {
        "FLOW_SERVER_URL": "https://openova-flow.example.org",
        "FLOW_ID": "deployment-1",
        "REGION_KEY": "fsn1",
        "HEALTH_LISTEN_ADDR": "0.0.0.0:8081",
        "NAMESPACE_FILTER": "flux-system",
        "WATCH_KINDS": "HelmRelease,HelmChart,Kustomization",
        "EMIT_INTERVAL": "200ms",
        "POST_TIMEOUT": "10s",
        "LEASE_DURATION": "15s",
        "SHUTDOWN_GRACE": "10s",
        "RESYNC_INTERVAL": "30s",
        "RETRY_MAX_DELAY": "30s",
        "UNREADY_AFTER": "60s",
        "FLOW_SERVER_TOKEN": None,
        "FLOW_SERVER_READ_TOKEN": None,
        "LEADER_ELECTION": "true",
        "LEASE_NAME": f"{RELEASE}-openova-flow-emitter",
        "LEASE_NAMESPACE": None,
        "POD_NAME": None,
    }
    assert env["FLOW_SERVER_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "openova-flow-emitter-token", "key": "token"}
    }
    assert env["FLOW_SERVER_READ_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "openova-flow-emitter-token", "key": "read-token"}
    }
    # Without readTokenKey the binary reads with the ingest token.
    plain = env_of(emitter.render_with({"auth": {"existingSecret": "s"}}))
    assert "FLOW_SERVER_TOKEN" in plain and "FLOW_SERVER_READ_TOKEN" not in plain
    assert env["LEASE_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_emitter_empty_namespace_filter_is_rendered_to_watch_all(emitter: RenderedChart) -> None:
    env = env_of(emitter.render_with({"config": {"namespaceFilter": ""}}))
    assert env["NAMESPACE_FILTER"]["value"] == ""
    assert "NAMESPACE_FILTER" not in env_of(emitter.render(emitter.minimal))


def test_emitter_numeric_looking_ids_stay_strings(emitter: RenderedChart) -> None:
    env = env_of(emitter.render_with({"flowId": 12345, "regionKey": 7}))
    assert env["FLOW_ID"]["value"] == "12345"
    assert env["REGION_KEY"]["value"] == "7"


# ---------------------------------------------------------------------------------------------
# DaemonSet / Deployment switch and RBAC


def test_emitter_deployment_switch(emitter: RenderedChart) -> None:
    daemonset = workload(emitter.render(emitter.minimal))
    assert daemonset["kind"] == "DaemonSet"
    assert "replicas" not in daemonset["spec"]

    deployment = workload(emitter.render_with({"kind": "Deployment", "replicaCount": 3}))
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"] == daemonset["spec"]["template"]


def test_emitter_single_deployment_without_leader_election(emitter: RenderedChart) -> None:
    objects = emitter.render_with({"kind": "Deployment", "leaderElection": {"enabled": False}})
    assert by_kind(objects, "Role") == [] and by_kind(objects, "RoleBinding") == []
    env = env_of(objects)
    assert env["LEADER_ELECTION"]["value"] == "false"
    assert not {"LEASE_NAME", "LEASE_NAMESPACE", "POD_NAME"} & env.keys()


def test_emitter_cluster_role_reads_the_three_flux_kinds_only(emitter: RenderedChart) -> None:
    objects = emitter.render(emitter.minimal)
    assert one(objects, "ClusterRole")["rules"] == [
        {
            "apiGroups": ["helm.toolkit.fluxcd.io"],
            "resources": ["helmreleases"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["source.toolkit.fluxcd.io"],
            "resources": ["helmcharts"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["kustomize.toolkit.fluxcd.io"],
            "resources": ["kustomizations"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    binding = one(objects, "ClusterRoleBinding")
    account = one(objects, "ServiceAccount")["metadata"]
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": NAMESPACE}
    ]


def test_emitter_lease_role_is_namespaced_to_the_release(emitter: RenderedChart) -> None:
    objects = emitter.render_with({"leaderElection": {"leaseName": "flow-leader"}})
    role = one(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert {g for rule in role["rules"] for g in rule["apiGroups"]} == {"coordination.k8s.io"}
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"leases"}
    named = [rule for rule in role["rules"] if "resourceNames" in rule]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["flow-leader"],
            "verbs": ["get", "update", "patch"],
        }
    ]
    binding = one(objects, "RoleBinding")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert env_of(objects)["LEASE_NAME"]["value"] == "flow-leader"


def test_emitter_rbac_can_be_left_to_the_operator(emitter: RenderedChart) -> None:
    objects = emitter.render_with({"rbac": {"create": False}})
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} & {o["kind"] for o in objects}


# ---------------------------------------------------------------------------------------------
# PodDisruptionBudget and HTTPRoute options


def test_server_pdb_option(server: RenderedChart) -> None:
    assert by_kind(server.render(server.minimal), "PodDisruptionBudget") == []

    objects = server.render_with({"podDisruptionBudget": {"enabled": True}})
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["selector"] == one(objects, "Deployment")["spec"]["selector"]

    pdb = one(
        server.render_with(
            {"podDisruptionBudget": {"enabled": True, "minAvailable": None, "maxUnavailable": "50%"}}
        ),
        "PodDisruptionBudget",
    )
    assert pdb["spec"]["maxUnavailable"] == "50%"
    assert "minAvailable" not in pdb["spec"]


ROUTE = {
    "httpRoute": {
        "enabled": True,
        "hostname": "openova-flow.example.org",
        "parentRef": {"name": "cilium-gateway", "namespace": "kube-system", "sectionName": "https"},
    },
    "auth": {"existingSecret": "openova-flow-tokens"},
}


def test_server_httproute_option(server: RenderedChart) -> None:
    assert by_kind(server.render(server.minimal), "HTTPRoute") == []

    objects = server.render_with(ROUTE)
    route = one(objects, "HTTPRoute")
    service = one(objects, "Service")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["namespace"] == NAMESPACE
    assert route["spec"]["parentRefs"] == [
        {"name": "cilium-gateway", "namespace": "kube-system", "sectionName": "https"}
    ]
    assert route["spec"]["hostnames"] == ["openova-flow.example.org"]
    assert route["spec"]["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "timeouts": {"request": "0s"},
            "backendRefs": [
                {"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}
            ],
        }
    ]


def test_server_httproute_minimal_parent_and_no_timeouts(server: RenderedChart) -> None:
    values = copy.deepcopy(ROUTE)
    values["httpRoute"]["parentRef"] = {"name": "gw"}
    values["httpRoute"]["timeouts"] = None
    route = one(server.render_with(values), "HTTPRoute")
    assert route["spec"]["parentRefs"] == [{"name": "gw"}]
    assert "timeouts" not in route["spec"]["rules"][0]


# ---------------------------------------------------------------------------------------------
# Charts match the images


def test_app_version_is_the_version_the_images_are_tagged_with() -> None:
    """scripts/images tags each image with the version of the binary it holds."""
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    for binary in ("openova-flow-server", "openova-flow-adapter-flux"):
        package = tomllib.loads((REPO / "bins" / binary / "Cargo.toml").read_text())["package"]
        assert package["version"] == {"workspace": True}, binary
    for chart in sorted(CHARTS.glob("*/Chart.yaml")):
        assert yaml.safe_load(chart.read_text())["appVersion"] == workspace, chart
