//! Settings: every one an environment variable `FLOW_SERVER_*` and a `--flag`, parsed in two
//! levels (raw [`Args`] from clap, then the validated [`Config`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use clap::Parser;
use flow_router::RouterConfig;

use crate::client::{Network, TrustedProxies};

/// The command line and environment, as clap parses them. Defaults are shown by `--help` and
/// listed in `docs/OPERATIONS.md`.
#[derive(Debug, Clone, Parser)]
#[command(name = "openova-flow-server", version, about, long_about = None)]
#[non_exhaustive]
pub struct Args {
    /// Address to listen on: `host:port`, `[v6]:port`, or `:port` for every IPv4 interface.
    #[arg(long, env = "FLOW_SERVER_LISTEN_ADDR", default_value = ":8080", value_parser = parse_listen_addr)]
    pub listen_addr: SocketAddr,

    /// Messages kept per flow for `Last-Event-ID` replay.
    #[arg(long, env = "FLOW_SERVER_RING_CAPACITY", default_value_t = RouterConfig::DEFAULT.ring_capacity)]
    pub ring_capacity: usize,

    /// Bytes one flow may take: half for replay frames (a larger single message gets 413), half for its state (a message growing it beyond gets 507).
    #[arg(long, env = "FLOW_SERVER_FLOW_BYTE_BUDGET", default_value_t = RouterConfig::DEFAULT.flow_byte_budget)]
    pub flow_byte_budget: usize,

    /// Bytes every flow together may take (state, replay frames, fixed costs, as the engine counts them); at the bound idle flows are evicted, then new state gets 507.
    #[arg(long, env = "FLOW_SERVER_MAX_MEMORY_BYTES", default_value_t = RouterConfig::DEFAULT.max_memory_bytes)]
    pub max_memory_bytes: usize,

    /// Flows held at most (flows something was posted to; reading never creates one); beyond it new flows get 503.
    #[arg(long, env = "FLOW_SERVER_MAX_FLOWS", default_value_t = RouterConfig::DEFAULT.max_flows)]
    pub max_flows: usize,

    /// Open streams at most, across all flows; beyond it new streams get 503.
    #[arg(long, env = "FLOW_SERVER_MAX_SUBSCRIBERS", default_value_t = RouterConfig::DEFAULT.max_subscribers)]
    pub max_subscribers: usize,

    /// Open streams at most that wait for a flow nothing was posted to yet; beyond it such streams get 503.
    #[arg(long, env = "FLOW_SERVER_MAX_WAITERS", default_value_t = RouterConfig::DEFAULT.max_waiters)]
    pub max_waiters: usize,

    /// Nodes plus relationships one flow may hold; a message growing it beyond gets 429.
    #[arg(long, env = "FLOW_SERVER_MAX_STATE_ITEMS", default_value_t = RouterConfig::DEFAULT.max_state_items)]
    pub max_state_items: usize,

    /// A flow with no subscriber and no activity for this long is evicted (e.g. `30m`, `1h`).
    #[arg(long, env = "FLOW_SERVER_IDLE_FLOW_TIMEOUT", default_value = "1h", value_parser = parse_duration)]
    pub idle_flow_timeout: Duration,

    /// Interval between SSE heartbeat frames on an idle stream.
    #[arg(long, env = "FLOW_SERVER_HEARTBEAT_INTERVAL", default_value = "15s", value_parser = parse_positive_duration)]
    pub heartbeat_interval: Duration,

    /// Least time between two writes to one SSE stream: frames that arrive meanwhile go out
    /// together in the next write. Trades at most this much latency for far fewer writes and
    /// wake-ups under load; the first frame after a quiet period is written at once. `0` = off.
    #[arg(long, env = "FLOW_SERVER_SSE_FLUSH_INTERVAL", default_value = "10ms", value_parser = parse_duration)]
    pub sse_flush_interval: Duration,

    /// Largest accepted POST body, in bytes; larger bodies get 413.
    #[arg(long, env = "FLOW_SERVER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Ingested messages per second per flow, sustained (a decimal such as `2.5`); `0` turns rate limiting off.
    #[arg(long, env = "FLOW_SERVER_INGEST_RATE", default_value_t = 1000.0, value_parser = parse_rate)]
    pub ingest_rate: f64,

    /// Messages a flow may send back to back above the rate (at least the ring capacity by default:
    /// a relist of the contract's largest list, one message per item, is never refused).
    #[arg(long, env = "FLOW_SERVER_INGEST_BURST", default_value_t = NonZeroU32::new(10_000).expect("10000 is not zero"))]
    pub ingest_burst: NonZeroU32,

    /// New flows one client address may create per minute (with Redis: per replica); beyond it 429 `too_many_new_flows`. `0` = off.
    #[arg(long, env = "FLOW_SERVER_NEW_FLOWS_PER_MINUTE", default_value_t = 60)]
    pub new_flows_per_minute: u32,

    /// Streams one client address may hold open on flows nothing was posted to yet; beyond it 503 `too_many_waiters`.
    #[arg(long, env = "FLOW_SERVER_MAX_WAITERS_PER_IP", default_value_t = 32)]
    pub max_waiters_per_ip: usize,

    /// Open connections at most; beyond it a connection is answered 503 `too_many_connections` and closed.
    #[arg(long, env = "FLOW_SERVER_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections at most per client address (trusted proxies exempt); beyond it 503 `too_many_connections` and closed.
    #[arg(
        long,
        env = "FLOW_SERVER_MAX_CONNECTIONS_PER_IP",
        default_value_t = 256
    )]
    pub max_connections_per_ip: usize,

    /// Time a client has to send a whole request head, from the moment the server waits for one
    /// (a new connection, or after the previous answer on a kept-alive one): slow-header clients
    /// and idle kept-alive connections are closed after it.
    #[arg(long, env = "FLOW_SERVER_REQUEST_HEAD_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub request_head_timeout: Duration,

    /// Largest request head (request line and headers), in bytes, at least 8192; larger heads get 431.
    #[arg(long, env = "FLOW_SERVER_MAX_REQUEST_HEAD_BYTES", default_value_t = 8192, value_parser = parse_head_bytes)]
    pub max_request_head_bytes: usize,

    /// Proxies whose `X-Forwarded-For` names the client, comma-separated IPs or CIDRs (`10.0.0.0/8`); empty = none.
    #[arg(long, env = "FLOW_SERVER_TRUSTED_PROXIES", default_value = "", value_parser = parse_networks, hide_default_value = true)]
    pub trusted_proxies: TrustedProxies,

    /// Browser origins allowed by CORS, comma-separated (`*` for any); empty = same origin only.
    #[arg(long, env = "FLOW_SERVER_CORS_ORIGINS", default_value = "", value_parser = parse_list, hide_default_value = true)]
    pub cors_origins: List,

    /// Bearer tokens accepted for POST and DELETE, comma-separated; unset = open (warned at start).
    #[arg(long, env = "FLOW_SERVER_INGEST_TOKENS", value_parser = parse_list, hide_env_values = true)]
    pub ingest_tokens: Option<List>,

    /// Bearer tokens accepted for GET of flows, snapshots and streams; unset = open (warned at start).
    #[arg(long, env = "FLOW_SERVER_READ_TOKENS", value_parser = parse_list, hide_env_values = true)]
    pub read_tokens: Option<List>,

    /// After SIGTERM/SIGINT, how long open connections may take to close before exit.
    #[arg(long, env = "FLOW_SERVER_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Serve the live page at `/ui/` (`true`/`false`). It is static and reads data through the
    /// same token-protected endpoints as any client.
    #[arg(long, env = "FLOW_SERVER_UI", default_value_t = true, action = clap::ArgAction::Set)]
    pub ui: bool,

    /// Worker threads that serve requests (default: half the available cores, at least 1).
    #[arg(long, env = "FLOW_SERVER_REQUEST_THREADS")]
    pub request_threads: Option<NonZeroUsize>,

    /// Worker threads that write event streams (default: the other half of the available cores,
    /// at least 1).
    #[arg(long, env = "FLOW_SERVER_STREAM_THREADS")]
    pub stream_threads: Option<NonZeroUsize>,

    /// Log filter (`info`, `openova_flow_server=debug`, ...); `RUST_LOG` is read when unset.
    #[arg(long, env = "FLOW_SERVER_LOG")]
    pub log: Option<String>,

    /// Where flows live: `memory` (this process only) or `redis` (shared by every replica, kept across restarts).
    #[arg(
        long,
        env = "FLOW_SERVER_BACKEND",
        default_value = "memory",
        value_enum
    )]
    pub backend: BackendKind,

    /// Redis URL for the `redis` backend: `redis://[user:password@]host:port[/db]`.
    #[arg(long, env = "FLOW_SERVER_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// With the `redis` backend, a flow with no event and no subscriber for this long expires from Redis.
    #[arg(long, env = "FLOW_SERVER_REDIS_FLOW_TTL", default_value = "24h", value_parser = parse_positive_duration)]
    pub redis_flow_ttl: Duration,

    /// With the `redis` backend, how long one Redis command or connection attempt may take before the request fails (503).
    #[arg(long, env = "FLOW_SERVER_REDIS_TIMEOUT", default_value = "2s", value_parser = parse_positive_duration)]
    pub redis_timeout: Duration,
}

/// Where flows live (`FLOW_SERVER_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum BackendKind {
    /// In this process only: zero dependencies; a restart starts every flow anew.
    Memory,
    /// Redis Streams shared by every replica; state survives restarts.
    Redis,
}

/// Settings of the `redis` backend.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The parsed `FLOW_SERVER_REDIS_URL`.
    pub connection: redis::ConnectionInfo,
    /// Idle time after which a flow's keys expire.
    pub flow_ttl: Duration,
    /// Timeout of one command or connection attempt.
    pub timeout: Duration,
}

/// A comma-separated list; blank items are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Where to listen.
    pub listen_addr: SocketAddr,
    /// The engine's bounds.
    pub router: RouterConfig,
    /// SSE heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Least time between two writes to one SSE stream; zero = write as soon as ready.
    pub sse_flush_interval: Duration,
    /// Largest accepted POST body, in bytes.
    pub max_body_bytes: usize,
    /// Per-flow ingest rate limit; `None` = off.
    pub ingest_limit: Option<IngestLimit>,
    /// New flows per minute per client address (with Redis: per replica); `None` = off.
    pub new_flows_per_minute: Option<NonZeroU32>,
    /// Streams per client address on flows without state.
    pub max_waiters_per_ip: usize,
    /// Bounds on connections.
    pub connections: ConnectionLimits,
    /// CORS allow-list.
    pub cors_origins: Vec<String>,
    /// Tokens for POST and DELETE; `None` = open.
    pub ingest_tokens: Option<Vec<String>>,
    /// Tokens for reads; `None` = open.
    pub read_tokens: Option<Vec<String>>,
    /// Drain time after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Whether `/ui/` is served.
    pub ui: bool,
    /// Worker threads of the request and the stream runtimes.
    pub threads: Threads,
    /// Log filter; `None` = `RUST_LOG`, else `info`.
    pub log: Option<String>,
    /// The Redis backend's settings; `None` = the in-memory backend.
    pub redis: Option<RedisConfig>,
}

/// Bounds the serve loop enforces on connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max: usize,
    /// Open connections at most per client address (trusted proxies exempt).
    pub max_per_ip: usize,
    /// Deadline for a whole request head, from when the server waits for one.
    pub head_timeout: Duration,
    /// Largest request head, in bytes.
    pub max_head_bytes: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// Worker threads of the server's two runtimes: requests on one, event streams on the other,
/// so a wide fan-out's writes never queue ahead of a publisher's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Threads {
    /// Threads serving requests.
    pub requests: NonZeroUsize,
    /// Threads writing event streams.
    pub streams: NonZeroUsize,
}

impl Threads {
    /// The default split of `cores`: half to requests (rounded down), the rest to streams, at
    /// least one each. Together they match the cores, so the two runtimes do not take turns
    /// on a core (on two cores, one worker each costs 15 to 22% less CPU per event and per
    /// frame than two each: docs/BENCHMARKS.md, "Issue 18: eighth session").
    #[must_use]
    pub fn split(cores: NonZeroUsize) -> Self {
        let half = NonZeroUsize::new(cores.get() / 2).unwrap_or(NonZeroUsize::MIN);
        let rest = NonZeroUsize::new(cores.get() - cores.get() / 2).unwrap_or(NonZeroUsize::MIN);
        Self {
            requests: half,
            streams: rest,
        }
    }
}

/// A per-flow ingest rate: `per_second` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct IngestLimit {
    /// Messages per second per flow (positive).
    pub per_second: f64,
    /// Messages accepted at once.
    pub burst: NonZeroU32,
}

impl IngestLimit {
    /// A limit of `per_second` (must be positive and finite) with `burst`.
    #[must_use]
    pub fn new(per_second: f64, burst: NonZeroU32) -> Option<Self> {
        (per_second.is_finite() && per_second > 0.0).then_some(Self { per_second, burst })
    }
}

/// Why the configuration was refused. The message names the variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value clap could not parse (or `--help`/`--version`, which clap prints).
    #[error("{0}")]
    Parse(clap::Error),
    /// A `FLOW_SERVER_*` environment variable that no setting reads.
    #[error("unknown variable {name}; did you mean {closest}?")]
    UnknownVariable {
        /// The variable set.
        name: String,
        /// The known variable closest to it.
        closest: String,
    },
    /// A value that parsed but is unusable.
    #[error("invalid value for {variable}: {message}")]
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// The process exit code: 0 for `--help`/`--version`, 64 (`EX_USAGE`) otherwise.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Parse(err) if !err.use_stderr() => 0,
            _ => 64,
        }
    }
}

impl Config {
    /// Reads the process's arguments and environment. A `FLOW_SERVER_*` variable that is
    /// no setting is refused (a typo would otherwise be ignored silently).
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable of the first malformed value, or the unknown
    /// variable and the closest known one.
    pub fn try_from_env() -> Result<Self, ConfigError> {
        check_variables(std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()))?;
        Self::try_from_args(std::env::args_os())
    }

    /// Reads `args` (the first is the program name) and the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable of the first malformed value.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args =
            Args::try_parse_from(args).map_err(|err| ConfigError::Parse(name_variable(err)))?;
        Self::try_from(args)
    }
}

impl TryFrom<Args> for Config {
    type Error = ConfigError;

    fn try_from(args: Args) -> Result<Self, ConfigError> {
        let mut router = RouterConfig::default();
        router.ring_capacity = args.ring_capacity;
        router.flow_byte_budget = args.flow_byte_budget;
        router.max_memory_bytes = args.max_memory_bytes;
        router.max_flows = args.max_flows;
        router.max_subscribers = args.max_subscribers;
        router.max_waiters = args.max_waiters;
        router.max_state_items = args.max_state_items;
        router.idle_timeout = args.idle_flow_timeout;
        router.validate().map_err(|err| {
            let flow_router::ConfigError::Zero { field } = err else {
                return invalid("FLOW_SERVER_*", err.to_string());
            };
            let variable = match field {
                "ring_capacity" => "FLOW_SERVER_RING_CAPACITY",
                "flow_byte_budget" => "FLOW_SERVER_FLOW_BYTE_BUDGET",
                "max_memory_bytes" => "FLOW_SERVER_MAX_MEMORY_BYTES",
                "max_flows" => "FLOW_SERVER_MAX_FLOWS",
                "max_state_items" => "FLOW_SERVER_MAX_STATE_ITEMS",
                "idle_timeout" => "FLOW_SERVER_IDLE_FLOW_TIMEOUT",
                _ => "FLOW_SERVER_*",
            };
            invalid(variable, "must be greater than zero".to_owned())
        })?;
        if args.max_subscribers == 0 {
            return Err(invalid(
                "FLOW_SERVER_MAX_SUBSCRIBERS",
                "must be greater than zero".to_owned(),
            ));
        }
        if args.max_waiters == 0 {
            return Err(invalid(
                "FLOW_SERVER_MAX_WAITERS",
                "must be greater than zero".to_owned(),
            ));
        }
        for (variable, value) in [
            ("FLOW_SERVER_MAX_WAITERS_PER_IP", args.max_waiters_per_ip),
            ("FLOW_SERVER_MAX_CONNECTIONS", args.max_connections),
            (
                "FLOW_SERVER_MAX_CONNECTIONS_PER_IP",
                args.max_connections_per_ip,
            ),
        ] {
            if value == 0 {
                return Err(invalid(variable, "must be greater than zero".to_owned()));
            }
        }
        if args.max_body_bytes == 0 {
            return Err(invalid(
                "FLOW_SERVER_MAX_BODY_BYTES",
                "must be greater than zero".to_owned(),
            ));
        }
        // Without a cgroup or affinity answer, one core: the bounded choice.
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        let split = Threads::split(cores);
        let threads = Threads {
            requests: args.request_threads.unwrap_or(split.requests),
            streams: args.stream_threads.unwrap_or(split.streams),
        };
        let redis = match (args.backend, args.redis_url) {
            (BackendKind::Memory, _) => None,
            (BackendKind::Redis, None) => {
                return Err(invalid(
                    "FLOW_SERVER_REDIS_URL",
                    "is required when FLOW_SERVER_BACKEND=redis".to_owned(),
                ));
            }
            (BackendKind::Redis, Some(url)) => {
                use redis::IntoConnectionInfo as _;
                let connection = url.as_str().into_connection_info().map_err(|err| {
                    // The message never repeats the URL: it may hold a password.
                    invalid(
                        "FLOW_SERVER_REDIS_URL",
                        format!(
                            "not a Redis URL (redis://[user:password@]host:port[/db]): {:?}",
                            err.kind()
                        ),
                    )
                })?;
                Some(RedisConfig {
                    connection,
                    flow_ttl: args.redis_flow_ttl,
                    timeout: args.redis_timeout,
                })
            }
        };
        Ok(Self {
            listen_addr: args.listen_addr,
            router,
            heartbeat_interval: args.heartbeat_interval,
            sse_flush_interval: args.sse_flush_interval,
            max_body_bytes: args.max_body_bytes,
            ingest_limit: IngestLimit::new(args.ingest_rate, args.ingest_burst),
            new_flows_per_minute: NonZeroU32::new(args.new_flows_per_minute),
            max_waiters_per_ip: args.max_waiters_per_ip,
            connections: ConnectionLimits {
                max: args.max_connections,
                max_per_ip: args.max_connections_per_ip,
                head_timeout: args.request_head_timeout,
                max_head_bytes: args.max_request_head_bytes,
                trusted_proxies: args.trusted_proxies,
            },
            cors_origins: args.cors_origins.0,
            ingest_tokens: args.ingest_tokens.map(|list| list.0),
            read_tokens: args.read_tokens.map(|list| list.0),
            shutdown_grace: args.shutdown_grace,
            ui: args.ui,
            threads,
            log: args.log,
            redis,
        })
    }
}

impl Default for Config {
    /// The documented defaults (what the binary runs with and no environment).
    fn default() -> Self {
        Self::try_from_args(["openova-flow-server"]).expect("the defaults are valid")
    }
}

/// Refuses a `FLOW_SERVER_*` name in `names` that no setting reads, naming the closest one.
///
/// # Errors
/// [`ConfigError::UnknownVariable`] for the first unknown name.
pub fn check_variables(names: impl IntoIterator<Item = String>) -> Result<(), ConfigError> {
    use clap::CommandFactory;

    let command = Args::command();
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    for name in names {
        if !name.starts_with("FLOW_SERVER_") || known.contains(&name) {
            continue;
        }
        let closest = known
            .iter()
            .min_by_key(|candidate| edit_distance(&name, candidate))
            .cloned()
            .unwrap_or_default();
        return Err(ConfigError::UnknownVariable { name, closest });
    }
    Ok(())
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

fn invalid(variable: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { variable, message }
}

/// Rewrites clap's "invalid value for '--flag <X>'" so it also names the environment variable.
fn name_variable(err: clap::Error) -> clap::Error {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};

    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let command = Args::command();
    let variable = command.get_arguments().find_map(|candidate| {
        let long = candidate.get_long()?;
        let flag = format!("--{long} ");
        (arg.starts_with(&flag) || arg == &format!("--{long}"))
            .then(|| candidate.get_env())
            .flatten()
            .map(|env| env.to_string_lossy().into_owned())
    });
    match (variable, err.kind()) {
        (Some(variable), ErrorKind::ValueValidation | ErrorKind::InvalidValue) => {
            let mut command = command;
            let detail = err
                .get(ContextKind::InvalidValue)
                .map(ToString::to_string)
                .unwrap_or_default();
            let source = std::error::Error::source(&err)
                .map(|source| format!(": {source}"))
                .unwrap_or_default();
            command.error(
                err.kind(),
                format!("invalid value {detail:?} for {variable} ({arg}){source}"),
            )
        }
        _ => err,
    }
}

/// Parses a duration written as a whole number and a unit: `ms`, `s`, `m` or `h`
/// (`200ms`, `15s`, `5m`, `1h`). `0` alone is zero.
///
/// # Errors
/// A message saying what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit; write it like 200ms, 15s, 5m or 1h"))?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().map_err(|_| {
        format!("{text:?} does not start with a whole number; write it like 200ms, 15s, 5m or 1h")
    })?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60 * 1000,
        "h" => 60 * 60 * 1000,
        _ => {
            return Err(format!(
                "{text:?} has unknown unit {unit:?}; use ms, s, m or h"
            ));
        }
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(duration)
}

/// Parses a listen address: `host:port` with an IP host, `[v6]:port`, or `:port` (every IPv4
/// interface).
///
/// # Errors
/// A message saying what was expected.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let expected = "expected :PORT, IP:PORT or [IPv6]:PORT";
    if let Some(port) = text.strip_prefix(':') {
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("{text:?} has no valid port; {expected}"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not an address; {expected}"))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!("{text:?} must be a non-negative number"));
    }
    Ok(rate)
}

fn parse_head_bytes(text: &str) -> Result<usize, String> {
    let bytes: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of bytes"))?;
    if bytes < 8192 {
        return Err(format!("{text:?} is below the least head size, 8192 bytes"));
    }
    Ok(bytes)
}

fn parse_networks(text: &str) -> Result<TrustedProxies, String> {
    parse_list(text)?
        .0
        .iter()
        .map(|item| item.parse::<Network>())
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

fn parse_list(text: &str) -> Result<List, String> {
    Ok(List(
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, millis) in [
            ("0", 0),
            ("200ms", 200),
            ("15s", 15_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            (" 7s ", 7000),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
        for text in [
            "",
            "15",
            "s",
            "1.5s",
            "-1s",
            "10 s",
            "3d",
            "5sec",
            "18446744073709551615h",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_addr(":8080"),
            Ok("0.0.0.0:8080".parse().expect("literal"))
        );
        assert_eq!(
            parse_listen_addr("127.0.0.1:0"),
            Ok("127.0.0.1:0".parse().expect("literal"))
        );
        assert_eq!(
            parse_listen_addr("[::1]:9"),
            Ok("[::1]:9".parse().expect("literal"))
        );
        for text in ["", ":", ":http", ":70000", "localhost:80", "8080"] {
            assert!(parse_listen_addr(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = Config::try_from_args(["x"]).expect("defaults parse");
        assert_eq!(config.listen_addr, "0.0.0.0:8080".parse().expect("literal"));
        assert_eq!(config.router.ring_capacity, 4096);
        assert_eq!(config.router.flow_byte_budget, 32 << 20);
        assert_eq!(config.router.max_memory_bytes, 256 << 20);
        assert_eq!(config.heartbeat_interval, Duration::from_secs(15));
        assert_eq!(config.max_body_bytes, 1 << 20);
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        assert_eq!(
            config.ingest_limit,
            IngestLimit::new(1000.0, NonZeroU32::new(10_000).expect("literal"))
        );
        assert!(
            config.ingest_limit.expect("on").burst.get() as usize >= config.router.ring_capacity,
            "a burst never outruns the ring"
        );
        assert_eq!(config.new_flows_per_minute, NonZeroU32::new(60));
        assert_eq!(config.max_waiters_per_ip, 32);
        assert_eq!(
            config.connections,
            ConnectionLimits {
                max: 10_000,
                max_per_ip: 256,
                head_timeout: Duration::from_secs(10),
                max_head_bytes: 8192,
                trusted_proxies: TrustedProxies::default(),
            }
        );
        assert!(config.cors_origins.is_empty());
        assert_eq!(config.ingest_tokens, None);
        assert_eq!(config.read_tokens, None);
    }

    #[test]
    fn flags_override() {
        let config = Config::try_from_args([
            "x",
            "--ingest-rate",
            "0",
            "--cors-origins",
            "https://a.example, https://b.example,",
            "--ingest-tokens",
            "t1,t2",
            "--idle-flow-timeout",
            "5m",
        ])
        .expect("valid flags");
        assert_eq!(config.ingest_limit, None);
        assert_eq!(
            config.cors_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(
            config.ingest_tokens,
            Some(vec!["t1".to_owned(), "t2".to_owned()])
        );
        assert_eq!(config.router.idle_timeout, Duration::from_secs(300));
    }

    #[test]
    fn threads_split_the_cores_and_flags_override_each_half() {
        let n = |n: usize| NonZeroUsize::new(n).expect("literal");
        for (cores, requests, streams) in [(1, 1, 1), (2, 1, 1), (3, 1, 2), (8, 4, 4), (9, 4, 5)] {
            assert_eq!(
                Threads::split(n(cores)),
                Threads {
                    requests: n(requests),
                    streams: n(streams),
                },
                "{cores} cores"
            );
        }
        let config = Config::try_from_args(["x", "--request-threads", "3"]).expect("valid flag");
        assert_eq!(config.threads.requests, n(3));
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        assert_eq!(config.threads.streams, Threads::split(cores).streams);
        let config = Config::try_from_args(["x", "--stream-threads", "5"]).expect("valid flag");
        assert_eq!(config.threads.streams, n(5));
        assert_eq!(config.threads.requests, Threads::split(cores).requests);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (flag, value, variable) in [
            ("--ring-capacity", "many", "FLOW_SERVER_RING_CAPACITY"),
            (
                "--heartbeat-interval",
                "15",
                "FLOW_SERVER_HEARTBEAT_INTERVAL",
            ),
            ("--listen-addr", "localhost", "FLOW_SERVER_LISTEN_ADDR"),
            ("--ingest-rate", "-1", "FLOW_SERVER_INGEST_RATE"),
            ("--ring-capacity", "0", "FLOW_SERVER_RING_CAPACITY"),
            ("--max-subscribers", "0", "FLOW_SERVER_MAX_SUBSCRIBERS"),
            ("--max-waiters", "0", "FLOW_SERVER_MAX_WAITERS"),
            ("--max-memory-bytes", "0", "FLOW_SERVER_MAX_MEMORY_BYTES"),
            ("--max-memory-bytes", "1GiB", "FLOW_SERVER_MAX_MEMORY_BYTES"),
            ("--flow-byte-budget", "-1", "FLOW_SERVER_FLOW_BYTE_BUDGET"),
            (
                "--max-waiters-per-ip",
                "-1",
                "FLOW_SERVER_MAX_WAITERS_PER_IP",
            ),
            ("--max-connections", "0", "FLOW_SERVER_MAX_CONNECTIONS"),
            ("--request-threads", "0", "FLOW_SERVER_REQUEST_THREADS"),
            ("--stream-threads", "two", "FLOW_SERVER_STREAM_THREADS"),
            (
                "--max-connections-per-ip",
                "x",
                "FLOW_SERVER_MAX_CONNECTIONS_PER_IP",
            ),
            (
                "--new-flows-per-minute",
                "1.5",
                "FLOW_SERVER_NEW_FLOWS_PER_MINUTE",
            ),
            (
                "--request-head-timeout",
                "0",
                "FLOW_SERVER_REQUEST_HEAD_TIMEOUT",
            ),
            (
                "--max-request-head-bytes",
                "4096",
                "FLOW_SERVER_MAX_REQUEST_HEAD_BYTES",
            ),
            (
                "--trusted-proxies",
                "10.0.0.0/40",
                "FLOW_SERVER_TRUSTED_PROXIES",
            ),
        ] {
            let arg = format!("{flag}={value}");
            let err = Config::try_from_args(["x", arg.as_str()]).expect_err(flag);
            assert_eq!(err.exit_code(), 64, "{flag}");
            assert!(err.to_string().contains(variable), "{flag}: {err}");
        }
    }

    #[test]
    fn unknown_variables_name_the_closest_known_one() {
        let names = |list: &[&str]| {
            list.iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>()
        };
        assert!(check_variables(names(&["PATH", "FLOW_SERVER_MAX_FLOWS", "FLOW_SERVERX"])).is_ok());
        let err =
            check_variables(names(&["FLOW_SERVER_MAX_CONECTIONS_PER_IP"])).expect_err("a typo");
        assert_eq!(err.exit_code(), 64);
        assert_eq!(
            err.to_string(),
            "unknown variable FLOW_SERVER_MAX_CONECTIONS_PER_IP; did you mean FLOW_SERVER_MAX_CONNECTIONS_PER_IP?"
        );
        let err = check_variables(names(&["FLOW_SERVER_INGEST_TOKEN"])).expect_err("a typo");
        assert!(
            err.to_string()
                .ends_with("did you mean FLOW_SERVER_INGEST_TOKENS?"),
            "{err}"
        );
    }

    #[test]
    fn connection_limits_and_trusted_proxies_parse() {
        let config = Config::try_from_args([
            "x",
            "--trusted-proxies",
            "10.0.0.0/8, 192.0.2.7",
            "--max-request-head-bytes",
            "16384",
            "--request-head-timeout",
            "2s",
        ])
        .expect("valid");
        let proxies = &config.connections.trusted_proxies;
        assert!(proxies.trusts("10.3.2.1".parse().expect("literal")));
        assert!(proxies.trusts("192.0.2.7".parse().expect("literal")));
        assert!(!proxies.trusts("192.0.2.8".parse().expect("literal")));
        assert_eq!(config.connections.max_head_bytes, 16_384);
        assert_eq!(config.connections.head_timeout, Duration::from_secs(2));
    }

    #[test]
    fn redis_backend_needs_a_valid_url() {
        assert!(Config::default().redis.is_none(), "memory is the default");
        let err = Config::try_from_args(["x", "--backend", "redis"]).expect_err("no URL");
        assert_eq!(err.exit_code(), 64);
        assert!(err.to_string().contains("FLOW_SERVER_REDIS_URL"), "{err}");
        let err =
            Config::try_from_args(["x", "--backend", "redis", "--redis-url", "http://secret@x"])
                .expect_err("not a Redis URL");
        let message = err.to_string();
        assert!(
            message.contains("FLOW_SERVER_REDIS_URL") && !message.contains("secret"),
            "{message}"
        );
        let err = Config::try_from_args(["x", "--backend", "disk"]).expect_err("unknown backend");
        assert!(err.to_string().contains("FLOW_SERVER_BACKEND"), "{err}");
        let config = Config::try_from_args([
            "x",
            "--backend",
            "redis",
            "--redis-url",
            "redis://127.0.0.1:6390/2",
            "--redis-flow-ttl",
            "5m",
        ])
        .expect("valid");
        let redis = config.redis.expect("the redis backend");
        assert_eq!(redis.flow_ttl, Duration::from_secs(300));
        assert_eq!(redis.timeout, Duration::from_secs(2));
        assert_eq!(redis.connection.redis_settings().db(), 2);
    }

    #[test]
    fn help_exits_zero() {
        let err = Config::try_from_args(["x", "--help"]).expect_err("help is an early exit");
        assert_eq!(err.exit_code(), 0);
        let help = err.to_string();
        assert!(help.contains("FLOW_SERVER_LISTEN_ADDR"), "{help}");
        assert!(help.contains("[default: :8080]"), "{help}");
    }
}
