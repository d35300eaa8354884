//! Who a request comes from: the client address (the peer, or `X-Forwarded-For` behind a
//! trusted proxy), and bounds counted per client address.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The client address of a request, as [`crate::dispatch`] decided it; a request extension.
/// Requests that did not come through a socket (tests through `routes()`) have none and count
/// as [`ClientAddr::UNKNOWN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

impl ClientAddr {
    /// The address of requests that carry none.
    pub(crate) const UNKNOWN: Self = Self(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
}

/// A network, `ip` or `ip/prefix` (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is inside the network (an IPv4-mapped IPv6 address counts as IPv4).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or IP/prefix"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("{text:?} has a prefix length outside 0..={max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`FLOW_SERVER_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Network>);

impl TrustedProxies {
    /// Whether `ip` is a trusted proxy.
    #[must_use]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client address of a request from `peer` carrying `forwarded_for` (the
    /// `X-Forwarded-For` values, in order). Only a trusted peer's header is read, from the
    /// right: the first address that is not a trusted proxy is the client. A header that is
    /// absent, malformed or all trusted leaves the last trusted hop.
    pub(crate) fn client<'h>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'h str>,
    ) -> ClientAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return ClientAddr(client);
        }
        let hops = forwarded_for.rev().flat_map(|value| value.rsplit(','));
        for hop in hops {
            let Ok(hop) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = canonical(hop);
            if !self.trusts(client) {
                break;
            }
        }
        ClientAddr(client)
    }
}

/// Slots counted per client address, each at most `limit` at once; a [`Slot`] gives its
/// place back when dropped. Addresses without slots take no memory.
#[derive(Debug, Clone)]
pub(crate) struct PerClient {
    limit: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerClient {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The configured bound.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// A slot for `client`, or `None` when it holds `limit` already.
    pub(crate) fn acquire(&self, client: IpAddr) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            client,
            held: Arc::clone(&self.held),
        })
    }

    /// Clients holding at least one slot.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One place held in a [`PerClient`] count.
#[derive(Debug)]
pub(crate) struct Slot {
    client: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

/// Open connections, bounded in total and per client address (trusted proxies exempt from
/// the per-address bound: many clients share them).
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    open: Arc<AtomicUsize>,
    max: usize,
    per_ip: PerClient,
    trusted: TrustedProxies,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `FLOW_SERVER_MAX_CONNECTIONS` are open.
    Total(usize),
    /// The address holds `FLOW_SERVER_MAX_CONNECTIONS_PER_IP`.
    PerIp(usize),
}

/// One open connection's place; given back when dropped.
#[derive(Debug)]
pub(crate) struct Connection {
    open: Arc<AtomicUsize>,
    _per_ip: Option<Slot>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connections {
    pub(crate) fn new(max: usize, max_per_ip: usize, trusted: TrustedProxies) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
            per_ip: PerClient::new(max_per_ip),
            trusted,
        }
    }

    /// A place for a connection from `peer`, or why there is none.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<Connection, Refused> {
        let peer = canonical(peer);
        let per_ip = if self.trusted.trusts(peer) {
            None
        } else {
            Some(
                self.per_ip
                    .acquire(peer)
                    .ok_or(Refused::PerIp(self.per_ip.limit()))?,
            )
        };
        let max = self.max;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .map_err(|_| Refused::Total(max))?;
        Ok(Connection {
            open: Arc::clone(&self.open),
            _per_ip: per_ip,
        })
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("literal")
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: Network = "10.1.0.0/16".parse().expect("valid");
        assert!(net.contains(ip("10.1.200.3")));
        assert!(net.contains(ip("::ffff:10.1.0.1")), "IPv4-mapped");
        assert!(!net.contains(ip("10.2.0.1")));
        let one: Network = "192.0.2.7".parse().expect("valid");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all: Network = "0.0.0.0/0".parse().expect("valid");
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("2001:db8::1")));
        let v6: Network = "fd00::/8".parse().expect("valid");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "proxy",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted = TrustedProxies(vec!["10.0.0.0/8".parse().expect("valid")]);
        let client =
            |peer: &str, header: &[&str]| trusted.client(ip(peer), header.iter().copied()).0;
        assert_eq!(
            client("203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(client("10.0.0.2", &["198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(
            client("10.0.0.2", &["1.2.3.4, 198.51.100.1, 10.0.0.5"]),
            ip("198.51.100.1"),
            "the rightmost untrusted hop; what the client wrote further left is not believed"
        );
        assert_eq!(
            client("10.0.0.2", &["198.51.100.1", "10.0.0.9"]),
            ip("198.51.100.1"),
            "several headers read as one list"
        );
        assert_eq!(client("10.0.0.2", &[]), ip("10.0.0.2"));
        assert_eq!(
            client("10.0.0.2", &["garbage, 10.0.0.7"]),
            ip("10.0.0.7"),
            "a malformed hop stops the walk at the last trusted one"
        );
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody
                .client(ip("10.0.0.2"), ["198.51.100.1"].into_iter())
                .0,
            ip("10.0.0.2")
        );
    }

    #[test]
    fn slots_are_bounded_per_client_and_given_back() {
        let per_client = PerClient::new(2);
        let a = ip("192.0.2.1");
        let first = per_client.acquire(a).expect("free");
        let second = per_client.acquire(a).expect("free");
        assert!(per_client.acquire(a).is_none(), "a holds its limit");
        let other = per_client.acquire(ip("192.0.2.2")).expect("counted apart");
        drop(first);
        let third = per_client.acquire(a).expect("a slot came back");
        drop((second, third, other));
        assert_eq!(
            per_client.clients(),
            0,
            "no memory for clients without slots"
        );
    }

    #[test]
    fn connections_are_bounded_in_total_and_per_address_except_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let connections = Connections::new(
            3,
            1,
            TrustedProxies(vec!["10.0.0.0/8".parse().expect("valid")]),
        );
        let a = connections.admit(ip("192.0.2.1")).expect("free");
        assert_eq!(
            connections.admit(ip("192.0.2.1")).unwrap_err(),
            Refused::PerIp(1)
        );
        let p1 = connections
            .admit(proxy)
            .expect("proxies are not bound per address");
        let p2 = connections
            .admit(proxy)
            .expect("proxies are not bound per address");
        assert_eq!(connections.admit(proxy).unwrap_err(), Refused::Total(3));
        assert_eq!(connections.open(), 3);
        drop((a, p1));
        assert_eq!(connections.open(), 1);
        let _b = connections
            .admit(ip("192.0.2.1"))
            .expect("a place came back");
        drop(p2);
    }
}
