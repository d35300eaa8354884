"""No drift between the charts and the binaries: the environment variable names a chart can
render must be exactly the names the binary's config source reads.

The chart side renders every setting (conftest's *_FULL values) and collects the container's env
names. The binary side reads bins/<bin>/src/config.rs and collects names from clap attributes
(`env = "NAME"`), from `std::env::var("NAME")` / `var_os("NAME")` calls, and, for the server, every
`FLOW_SERVER_*` token, in the file's code before its `#[cfg(test)]` module. A missing config.rs fails the test (it never passes vacuously)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import EMITTER_FULL, REPO, SERVER_FULL, RenderedChart, env_of

CLAP_ENV = re.compile(r'\benv\s*=\s*"([A-Z][A-Z0-9_]*)"')
STD_ENV = re.compile(r'\bvar(?:_os)?\(\s*"([A-Z][A-Z0-9_]*)"')
SERVER_NAME = re.compile(r"\bFLOW_SERVER_[A-Z0-9_]*[A-Z0-9]\b")

CASES = [
    ("server", "openova-flow-server", SERVER_FULL, True),
    ("emitter", "openova-flow-adapter-flux", EMITTER_FULL, False),
]


def binary_env_names(binary: str, server_tokens: bool) -> set[str]:
    config = REPO / "bins" / binary / "src" / "config.rs"
    if not config.is_file():
        pytest.fail(
            f"{config.relative_to(REPO)} does not exist yet: the drift test compares the chart's "
            f"env names with the names that file reads, so it cannot pass before {binary} has its "
            "config source"
        )
    # Only the configuration itself: its unit tests name misspelt variables on purpose.
    source = config.read_text().split("#[cfg(test)]", 1)[0]
    names = set(CLAP_ENV.findall(source)) | set(STD_ENV.findall(source))
    if server_tokens:
        names |= set(SERVER_NAME.findall(source))
    if not names:
        pytest.fail(f"no environment variable names found in {config.relative_to(REPO)}")
    return names


@pytest.mark.parametrize(("chart_name", "full"), [(c, f) for c, _, f, _ in CASES])
def test_full_values_set_every_chart_setting(
    chart_name: str, full: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    """Guard: the full values used below really set every key the chart has under `config`."""
    chart: RenderedChart = request.getfixturevalue(chart_name)
    assert set(chart.chart.values["config"]) == set(full["config"])


@pytest.mark.parametrize(("chart_name", "binary", "full", "server_tokens"), CASES)
def test_chart_env_matches_binary_config(
    chart_name: str,
    binary: str,
    full: dict[str, Any],
    server_tokens: bool,
    request: pytest.FixtureRequest,
) -> None:
    chart: RenderedChart = request.getfixturevalue(chart_name)
    rendered = set(env_of(chart.render(full)))
    accepted = binary_env_names(binary, server_tokens)
    assert sorted(rendered - accepted) == [], (
        f"the {chart_name} chart renders env vars that {binary} does not read"
    )
    assert sorted(accepted - rendered) == [], (
        f"{binary} reads env vars the {chart_name} chart cannot set (add them to _helpers.tpl)"
    )


def test_extraction_reads_clap_std_and_server_names() -> None:
    """The name extraction itself, on a config source shaped like the binaries' will be."""
    source = '''
        #[arg(long, env = "FLOW_SERVER_RING_CAPACITY", default_value_t = 4096)]
        #[arg(long, env="REGION_KEY")]
        let pod = std::env::var("POD_NAME");
        let ns = env::var_os("LEASE_NAMESPACE");
        /// See FLOW_SERVER_MAX_FLOWS.
    '''
    assert set(CLAP_ENV.findall(source)) == {"FLOW_SERVER_RING_CAPACITY", "REGION_KEY"}
    assert set(STD_ENV.findall(source)) == {"POD_NAME", "LEASE_NAMESPACE"}
    assert set(SERVER_NAME.findall(source)) == {"FLOW_SERVER_RING_CAPACITY", "FLOW_SERVER_MAX_FLOWS"}
