"""Flux manifests of deploy/flux/: slot naming, dependsOn against the expected-deps file, the
HelmRelease CRD schema, and that each release's values render its chart once Flux's postBuild
substitution has run (and fail, naming the value, when a required variable is missing)."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python
import jsonschema
import pytest
import yaml

from conftest import CHARTS, FLUX, NAMESPACE, REPO

BOOTSTRAP = FLUX / "bootstrap-kit"
EXPECTED = FLUX / "expected-bootstrap-deps.yaml"
SLOT_FILE = re.compile(r"^(\d+)-(bp-[a-z0-9-]+)\.yaml$")
# Flux postBuild substitution syntax: ${VAR} and ${VAR:=default}.
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::=([^}]*))?\}")

SUBSTITUTIONS = {
    "SOVEREIGN_FQDN": "sovereign.example.org",
    "SOVEREIGN_DEPLOYMENT_ID": "dep-7f3a",
    "REGION_KEY": "fsn1",
}


def substitute(text: str, variables: dict[str, str]) -> str:
    """Flux postBuild substitution: unset variables without a default become ""."""
    return VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(2) or ""), text)


def releases(variables: dict[str, str]) -> dict[str, tuple[int, dict[str, Any]]]:
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for path in sorted(BOOTSTRAP.glob("*.yaml")):
        match = SLOT_FILE.match(path.name)
        assert match, f"{path.name} is not named <slot>-bp-<name>.yaml"
        docs = [d for d in yaml.safe_load_all(substitute(path.read_text(), variables)) if d]
        assert len(docs) == 1, f"{path.name}: one HelmRelease per slot file"
        out[match.group(2)] = (int(match.group(1)), docs[0])
    return out


def test_slot_files_hold_the_release_they_are_named_after() -> None:
    found = releases(SUBSTITUTIONS)
    assert {name: slot for name, (slot, _) in found.items()} == {
        "bp-openova-flow-server": 56,
        "bp-openova-flow-emitter": 57,
    }
    for name, (_, release) in found.items():
        assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
        assert release["kind"] == "HelmRelease"
        assert release["metadata"]["name"] == name


def test_depends_on_matches_the_expected_file() -> None:
    expected = yaml.safe_load(EXPECTED.read_text())
    found = releases(SUBSTITUTIONS)
    assert len(expected["slots"]) == len(found)
    for entry in expected["slots"]:
        slot, release = found[entry["name"]]
        assert slot == entry["slot"]
        assert [d["name"] for d in release["spec"]["dependsOn"]] == entry["depends_on"]


CRDS = REPO / "testdata" / "crds"
# The YAML CRDs and the JSON copies the mapper's Rust tests read (testdata/crds/README.md).
JSON_COPIES = {
    "helm.toolkit.fluxcd.io_helmreleases.yaml": "helmreleases.helm.toolkit.fluxcd.io.json",
    "source.toolkit.fluxcd.io_helmcharts.yaml": "helmcharts.source.toolkit.fluxcd.io.json",
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml": "kustomizations.kustomize.toolkit.fluxcd.io.json",
}


def _crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / "helm.toolkit.fluxcd.io_helmreleases.yaml").read_text())
    (v2,) = [v for v in crd["spec"]["versions"] if v["name"] == "v2"]
    return v2["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize(("yaml_name", "json_name"), sorted(JSON_COPIES.items()))
def test_json_crd_copies_equal_the_yaml_crds(yaml_name: str, json_name: str) -> None:
    assert json.loads((CRDS / json_name).read_text()) == yaml.safe_load(
        (CRDS / yaml_name).read_text()
    )


def _unknown_fields(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    """Fields the API server would prune: keys a structural schema does not declare."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                found += _unknown_fields(item, schema["properties"][key], f"{at}.{key}")
            elif "additionalProperties" not in schema:
                found.append(f"{at}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += _unknown_fields(item, schema["items"], f"{at}[{index}]")
    return found


@pytest.mark.parametrize("name", ["bp-openova-flow-server", "bp-openova-flow-emitter"])
def test_release_is_valid_under_the_helmrelease_crd(name: str) -> None:
    schema = _crd_schema()
    _, release = releases(SUBSTITUTIONS)[name]
    jsonschema.validate(release, schema)
    assert _unknown_fields(release, schema, "") == []


def _render(release: dict[str, Any]) -> dict[str, str]:
    chart_path = release["spec"]["chart"]["spec"]["chart"]
    assert release["spec"]["chart"]["spec"]["sourceRef"]["kind"] == "GitRepository"
    chart = helm_python.Chart.load(str(REPO / chart_path))
    return chart.render(
        release["spec"]["values"],
        name=release["spec"]["releaseName"],
        namespace=release["spec"]["targetNamespace"],
    )


@pytest.mark.parametrize("name", ["bp-openova-flow-server", "bp-openova-flow-emitter"])
def test_release_values_render_the_chart_after_substitution(name: str) -> None:
    _, release = releases(SUBSTITUTIONS)[name]
    assert (REPO / release["spec"]["chart"]["spec"]["chart"]).resolve().parent == CHARTS
    rendered = "\n".join(_render(release).values())
    assert "${" not in rendered
    assert "sovereign.example.org" in rendered


def test_emitter_release_carries_deployment_id_and_region() -> None:
    _, release = releases(SUBSTITUTIONS)["bp-openova-flow-emitter"]
    workload = next(
        doc
        for template, text in _render(release).items()
        if not template.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc and doc.get("kind") == "DaemonSet"
    )
    env = {e["name"]: e.get("value") for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOW_ID"] == "dep-7f3a"
    assert env["REGION_KEY"] == "fsn1"
    assert env["FLOW_SERVER_URL"] == "https://openova-flow.sovereign.example.org"


def test_server_release_defaults_the_gateway() -> None:
    _, release = releases(SUBSTITUTIONS)["bp-openova-flow-server"]
    assert release["spec"]["values"]["httpRoute"]["parentRef"] == {
        "name": "cilium-gateway",
        "namespace": "kube-system",
    }


@pytest.mark.parametrize(
    ("missing", "message"),
    [("SOVEREIGN_DEPLOYMENT_ID", "flowId is required"), ("REGION_KEY", "regionKey is required")],
)
def test_emitter_release_fails_naming_the_value_when_a_variable_is_unset(
    missing: str, message: str
) -> None:
    variables = {k: v for k, v in SUBSTITUTIONS.items() if k != missing}
    _, release = releases(variables)["bp-openova-flow-emitter"]
    with pytest.raises(helm_python.HelmRenderError, match=re.escape(message)):
        _render(release)


def test_releases_install_into_the_chart_tests_namespace() -> None:
    for _, release in releases(SUBSTITUTIONS).values():
        assert release["spec"]["targetNamespace"] == NAMESPACE
