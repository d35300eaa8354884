//! Configuration: every setting is an environment variable and a flag, parsed in two levels
//! (raw strings from clap, then validated into [`Config`]); a malformed value is a
//! [`ConfigError`] that names the variable, and the binary exits 64.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use flow_flux_mapper::Kind;
use reqwest::Url;

/// The raw settings, as clap reads them from flags and the environment.
#[derive(Debug, Parser)]
#[command(
    name = "openova-flow-adapter-flux",
    version,
    about = "Watches Flux HelmReleases, HelmCharts and Kustomizations and feeds openova-flow-server."
)]
pub(crate) struct Args {
    /// Base URL of openova-flow-server (required), e.g. http://openova-flow-server:8080.
    #[arg(long, env = "FLOW_SERVER_URL")]
    flow_server_url: Option<String>,
    /// The flow this cluster's releases belong to (required).
    #[arg(long, env = "FLOW_ID")]
    flow_id: Option<String>,
    /// This cluster's region key, the prefix of every node id (required).
    #[arg(long, env = "REGION_KEY")]
    region_key: Option<String>,
    /// Namespace to watch; empty watches all namespaces.
    #[arg(long, env = "NAMESPACE_FILTER", default_value = "flux-system")]
    namespace_filter: String,
    /// Flux kinds to watch, comma-separated, of HelmRelease, HelmChart and Kustomization.
    #[arg(
        long,
        env = "WATCH_KINDS",
        default_value = "HelmRelease,HelmChart,Kustomization"
    )]
    watch_kinds: String,
    /// Coalescing window: changes within it are sent as one batch.
    #[arg(long, env = "EMIT_INTERVAL", default_value = "200ms")]
    emit_interval: String,
    /// Timeout of one POST or GET to the server.
    #[arg(long, env = "POST_TIMEOUT", default_value = "10s")]
    post_timeout: String,
    /// Address of /healthz, /readyz and /metrics (`:8081` means every interface).
    #[arg(long, env = "HEALTH_LISTEN_ADDR", default_value = ":8081")]
    health_listen_addr: String,
    /// Bearer token for ingest (optional).
    #[arg(long, env = "FLOW_SERVER_TOKEN", hide_env_values = true)]
    flow_server_token: Option<String>,
    /// Bearer token for reads (HEAD and GET of the snapshot); defaults to FLOW_SERVER_TOKEN.
    #[arg(long, env = "FLOW_SERVER_READ_TOKEN", hide_env_values = true)]
    flow_server_read_token: Option<String>,
    /// Lease-based leader election (`true` or `false`); turn off only for a single replica.
    #[arg(long, env = "LEADER_ELECTION", default_value = "true")]
    leader_election: String,
    /// Name of the Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "openova-flow-adapter-flux")]
    lease_name: String,
    /// Namespace of the Lease; defaults to the client's namespace (in-cluster: the pod's).
    #[arg(long, env = "LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Identity in the Lease; defaults to the host name.
    #[arg(long, env = "POD_NAME")]
    pod_name: Option<String>,
    /// How long a Lease holds without renewal.
    #[arg(long, env = "LEASE_DURATION", default_value = "15s")]
    lease_duration: String,
    /// On SIGTERM, how long pending deliveries may take before the process exits anyway.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s")]
    shutdown_grace: String,
    /// How often the server's head is probed (HEAD snapshot) to detect a restart.
    #[arg(long, env = "RESYNC_INTERVAL", default_value = "1s")]
    resync_interval: String,
    /// Cap of the exponential retry delay.
    #[arg(long, env = "RETRY_MAX_DELAY", default_value = "30s")]
    retry_max_delay: String,
    /// The leader turns unready when deliveries have been failing for longer than this.
    #[arg(long, env = "UNREADY_AFTER", default_value = "60s")]
    unready_after: String,
}

/// A setting that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ConfigError {
    /// A required variable is missing or empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable's value is malformed.
    #[error("invalid {name}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// Leader election settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaderConfig {
    /// Name of the Lease.
    pub(crate) lease_name: String,
    /// Namespace of the Lease; `None` = the client's default namespace.
    pub(crate) lease_namespace: Option<String>,
    /// This process's identity in the Lease.
    pub(crate) identity: String,
    /// How long a Lease holds without renewal.
    pub(crate) duration: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `POST {url}/v1/flows/{flow}/events` and `GET .../snapshot` go there.
    pub(crate) flow_server_url: Url,
    /// Mapper settings (flow id, region, default namespace), validated.
    pub(crate) mapper: flow_flux_mapper::Config,
    /// `None` = all namespaces.
    pub(crate) namespace: Option<String>,
    /// The kinds to watch: at least one, each once, in the order written.
    pub(crate) watch_kinds: Vec<Kind>,
    /// Coalescing window.
    pub(crate) emit_interval: Duration,
    /// Timeout of one request to the server.
    pub(crate) post_timeout: Duration,
    /// Health and metrics address.
    pub(crate) health_listen_addr: SocketAddr,
    /// Bearer token for ingest.
    pub(crate) token: Option<String>,
    /// Bearer token for reads.
    pub(crate) read_token: Option<String>,
    /// `None` when leader election is off.
    pub(crate) leader: Option<LeaderConfig>,
    /// Drain budget on SIGTERM.
    pub(crate) shutdown_grace: Duration,
    /// Probe period of the server's head.
    pub(crate) resync_interval: Duration,
    /// Retry delay cap.
    pub(crate) retry_max_delay: Duration,
    /// Readiness threshold for failing deliveries.
    pub(crate) unready_after: Duration,
}

/// The namespace whose releases get the short node id `{region}/{name}` when every namespace
/// is watched.
const DEFAULT_FLUX_NAMESPACE: &str = "flux-system";

impl TryFrom<Args> for Config {
    type Error = ConfigError;

    fn try_from(args: Args) -> Result<Self, ConfigError> {
        let url_text = required("FLOW_SERVER_URL", args.flow_server_url)?;
        let flow_server_url = parse_url(&url_text)?;
        let flow_id = required("FLOW_ID", args.flow_id)?;
        flow_contract::validate_flow_id(&flow_id).map_err(|e| ConfigError::Invalid {
            name: "FLOW_ID",
            value: flow_id.clone(),
            reason: e.to_string(),
        })?;
        let region = required("REGION_KEY", args.region_key)?;
        let namespace = Some(args.namespace_filter).filter(|ns| !ns.is_empty());
        if let Some(ns) = &namespace
            && (ns.contains('/') || ns.contains(char::is_whitespace))
        {
            return Err(ConfigError::Invalid {
                name: "NAMESPACE_FILTER",
                value: ns.clone(),
                reason: "not a namespace name".to_owned(),
            });
        }
        let default_ns = namespace.as_deref().unwrap_or(DEFAULT_FLUX_NAMESPACE);
        let mapper =
            flow_flux_mapper::Config::new(flow_id, region.clone(), default_ns).map_err(|e| {
                ConfigError::Invalid {
                    name: "REGION_KEY",
                    value: region,
                    reason: e.to_string(),
                }
            })?;
        let leader = if parse_bool("LEADER_ELECTION", &args.leader_election)? {
            if args.lease_name.is_empty() {
                return Err(ConfigError::Missing("LEASE_NAME"));
            }
            let duration = duration("LEASE_DURATION", &args.lease_duration)?;
            if duration < Duration::from_secs(1) {
                return Err(ConfigError::Invalid {
                    name: "LEASE_DURATION",
                    value: args.lease_duration,
                    reason: "must be at least 1s".to_owned(),
                });
            }
            Some(LeaderConfig {
                lease_name: args.lease_name,
                lease_namespace: args.lease_namespace.filter(|ns| !ns.is_empty()),
                identity: args
                    .pod_name
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(host_identity),
                duration,
            })
        } else {
            None
        };
        Ok(Self {
            flow_server_url,
            mapper,
            namespace,
            watch_kinds: watch_kinds(&args.watch_kinds)?,
            emit_interval: duration("EMIT_INTERVAL", &args.emit_interval)?,
            post_timeout: positive("POST_TIMEOUT", &args.post_timeout)?,
            health_listen_addr: listen_addr(&args.health_listen_addr)?,
            read_token: args
                .flow_server_read_token
                .filter(|t| !t.is_empty())
                .or_else(|| args.flow_server_token.clone().filter(|t| !t.is_empty())),
            token: args.flow_server_token.filter(|t| !t.is_empty()),
            leader,
            shutdown_grace: duration("SHUTDOWN_GRACE", &args.shutdown_grace)?,
            resync_interval: positive("RESYNC_INTERVAL", &args.resync_interval)?,
            retry_max_delay: positive("RETRY_MAX_DELAY", &args.retry_max_delay)?,
            unready_after: positive("UNREADY_AFTER", &args.unready_after)?,
        })
    }
}

fn required(name: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn invalid(name: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| invalid("FLOW_SERVER_URL", text, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            "FLOW_SERVER_URL",
            text,
            "expected an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "FLOW_SERVER_URL",
            text,
            "must not have a query or fragment",
        ));
    }
    Ok(url)
}

/// `HelmRelease,Kustomization`: kind names (any ASCII case, blanks around commas ignored);
/// at least one; a kind written twice counts once.
fn watch_kinds(text: &str) -> Result<Vec<Kind>, ConfigError> {
    let mut kinds = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = Kind::parse(name).ok_or_else(|| {
            invalid(
                "WATCH_KINDS",
                text,
                format!("unknown kind {name:?}; expected HelmRelease, HelmChart or Kustomization"),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err(invalid("WATCH_KINDS", text, "names no kind"));
    }
    Ok(kinds)
}

fn parse_bool(name: &'static str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(name, text, "expected true or false")),
    }
}

/// A duration written as an integer and a unit: `ms`, `s`, `m` or `h` (`200ms`, `10s`, `1m`).
fn duration(name: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let bad = || invalid(name, text, "expected a duration like 200ms, 10s or 1m");
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(bad)?;
    let (digits, unit) = trimmed.split_at(split);
    let amount: u64 = digits.parse().map_err(|_| bad())?;
    let millis = match unit {
        "ms" => Some(amount),
        "s" => amount.checked_mul(1_000),
        "m" => amount.checked_mul(60_000),
        "h" => amount.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(millis))
}

fn positive(name: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let value = duration(name, text)?;
    if value.is_zero() {
        return Err(invalid(name, text, "must be greater than zero"));
    }
    Ok(value)
}

/// `host:port`, `ip:port`, `[v6]:port` or `:port` (every interface).
fn listen_addr(text: &str) -> Result<SocketAddr, ConfigError> {
    let name = "HEALTH_LISTEN_ADDR";
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| invalid(name, text, "expected :PORT or IP:PORT"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    text.parse()
        .map_err(|_| invalid(name, text, "expected :PORT or IP:PORT"))
}

/// The host name (the pod name in Kubernetes), or a process-unique fallback.
fn host_identity() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("openova-flow-adapter-flux-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Config, ConfigError> {
        let base = [
            ("--flow-server-url", "http://server:8080"),
            ("--flow-id", "rollout"),
            ("--region-key", "fsn1"),
        ];
        let mut argv = vec!["adapter"];
        for (flag, value) in base {
            if !extra.contains(&flag) {
                argv.extend([flag, value]);
            }
        }
        argv.extend_from_slice(extra);
        let args = Args::try_parse_from(argv).expect("flags are well-formed");
        Config::try_from(args)
    }

    #[test]
    fn defaults() {
        let config = parse(&[]).expect("valid");
        assert_eq!(config.namespace.as_deref(), Some("flux-system"));
        assert_eq!(config.emit_interval, Duration::from_millis(200));
        assert_eq!(config.post_timeout, Duration::from_secs(10));
        assert_eq!(
            config.health_listen_addr,
            "0.0.0.0:8081".parse().expect("addr")
        );
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        let leader = config.leader.expect("leader election is on by default");
        assert_eq!(leader.lease_name, "openova-flow-adapter-flux");
        assert_eq!(leader.duration, Duration::from_secs(15));
        assert_eq!(config.mapper.region(), "fsn1");
        assert_eq!(config.resync_interval, Duration::from_secs(1));
        assert_eq!((config.token, config.read_token), (None, None));
        assert_eq!(
            config.watch_kinds,
            [Kind::HelmRelease, Kind::HelmChart, Kind::Kustomization]
        );
    }

    #[test]
    fn the_read_token_defaults_to_the_ingest_token() {
        let config = parse(&["--flow-server-token", "in"]).expect("valid");
        assert_eq!(config.read_token.as_deref(), Some("in"));
        let config = parse(&[
            "--flow-server-token",
            "in",
            "--flow-server-read-token",
            "rd",
        ])
        .expect("valid");
        assert_eq!(
            (config.token.as_deref(), config.read_token.as_deref()),
            (Some("in"), Some("rd"))
        );
    }

    #[test]
    fn watch_kinds_are_a_set_of_known_kinds() {
        let config =
            parse(&["--watch-kinds", " kustomization, HelmRelease,Kustomization"]).expect("valid");
        assert_eq!(config.watch_kinds, [Kind::Kustomization, Kind::HelmRelease]);
        for bad in ["", " , ", "HelmRelease,GitRepository"] {
            let err = parse(&["--watch-kinds", bad]).expect_err("invalid");
            assert!(err.to_string().contains("WATCH_KINDS"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn empty_namespace_filter_watches_all() {
        let config = parse(&["--namespace-filter", ""]).expect("valid");
        assert_eq!(config.namespace, None);
        assert_eq!(config.mapper.default_namespace(), "flux-system");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: [(&[&str], &str); 8] = [
            (&["--emit-interval", "fast"], "EMIT_INTERVAL"),
            (&["--post-timeout", "0s"], "POST_TIMEOUT"),
            (&["--post-timeout", "10"], "POST_TIMEOUT"),
            (&["--health-listen-addr", "8081"], "HEALTH_LISTEN_ADDR"),
            (&["--leader-election", "maybe"], "LEADER_ELECTION"),
            (&["--flow-id", "a b"], "FLOW_ID"),
            (&["--region-key", "a/b"], "REGION_KEY"),
            (&["--flow-server-url", "ftp://x"], "FLOW_SERVER_URL"),
        ];
        for (flags, name) in cases {
            let err = parse(flags).expect_err("invalid");
            assert!(err.to_string().contains(name), "{flags:?}: {err}");
        }
    }

    #[test]
    fn missing_required_variable() {
        let args = Args::try_parse_from(["adapter", "--flow-server-url", "http://s"])
            .expect("flags are well-formed");
        assert_eq!(
            Config::try_from(args).expect_err("missing"),
            ConfigError::Missing("FLOW_ID")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration("X", "250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("X", "2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("X", "1h"), Ok(Duration::from_secs(3600)));
        assert!(duration("X", "1.5s").is_err());
        assert!(duration("X", "s").is_err());
        assert!(duration("X", "99999999999999999999h").is_err());
    }

    #[test]
    fn leader_election_off() {
        let config = parse(&["--leader-election", "false"]).expect("valid");
        assert!(config.leader.is_none());
    }
}
