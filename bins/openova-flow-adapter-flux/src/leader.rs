//! Lease-based leader election: one emitter per cluster even as a DaemonSet.
//!
//! A small loop over `coordination.k8s.io/v1` Lease with kube's `Api<Lease>` and optimistic
//! concurrency (every write carries the `resourceVersion` it read; a `409 Conflict` means another
//! process won), the scheme of client-go's `leaderelection`:
//!
//! - absent Lease: create it holding it;
//! - held by us: renew (`renewTime`) every `LEASE_DURATION / 5`;
//! - held by another: take over only when its record has not changed for `LEASE_DURATION` as
//!   measured on **our** monotonic clock (no trust in clock skew between nodes), or when it was
//!   released (no holder);
//! - a leader that could not renew for two thirds of `LEASE_DURATION` steps down before anyone
//!   may take over;
//! - on shutdown the leader releases the Lease (clears the holder), so a successor starts at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::LeaderConfig;

/// Smallest pause between two election rounds.
const MIN_RETRY: Duration = Duration::from_millis(100);

/// What was last read from the Lease, and when (on our clock) it last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    holder: Option<String>,
    resource_version: Option<String>,
    duration: Duration,
    since: Instant,
}

/// One participant of the election.
pub(crate) struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    observed: Option<Observed>,
}

impl Elector {
    /// A participant for the Lease in `config`, in the client's namespace unless configured.
    pub(crate) fn new(client: kube::Client, config: &LeaderConfig) -> Self {
        let namespace = config
            .lease_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        Self {
            api: Api::namespaced(client, &namespace),
            name: config.lease_name.clone(),
            identity: config.identity.clone(),
            duration: config.duration,
            observed: None,
        }
    }

    /// Runs the election, publishing `true` while this process leads, until `stop` turns true;
    /// then releases the Lease if held and publishes `false`.
    pub(crate) async fn run(
        mut self,
        leading: watch::Sender<bool>,
        mut stop: watch::Receiver<bool>,
    ) {
        let retry = (self.duration / 5).max(MIN_RETRY);
        let renew_deadline = self.duration * 2 / 3;
        let mut last_renewed: Option<Instant> = None;
        loop {
            let now = Instant::now();
            match self.round(now).await {
                Ok(true) => {
                    if last_renewed.is_none() {
                        info!(identity = %self.identity, lease = %self.name, "became the leader");
                    }
                    last_renewed = Some(now);
                }
                Ok(false) => {
                    if last_renewed.take().is_some() {
                        warn!(identity = %self.identity, "lost the lease to another holder");
                    }
                }
                Err(e) => {
                    warn!(error = %e, lease = %self.name, "leader election round failed");
                    if last_renewed.is_some_and(|t| now.duration_since(t) > renew_deadline) {
                        warn!("could not renew the lease in time; stepping down");
                        last_renewed = None;
                    }
                }
            }
            leading.send_if_modified(|l| {
                let now_leading = last_renewed.is_some();
                let changed = *l != now_leading;
                *l = now_leading;
                changed
            });
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                _ = async { stop.wait_for(|s| *s).await.is_ok() } => break,
            }
        }
        if last_renewed.is_some() {
            match self.release().await {
                Ok(()) => info!(lease = %self.name, "released the lease"),
                Err(e) => warn!(error = %e, "could not release the lease; it expires by itself"),
            }
        }
        leading.send_replace(false);
    }

    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One round: `Ok(true)` when we hold the Lease afterwards.
    async fn round(&mut self, now: Instant) -> Result<bool, kube::Error> {
        let wall = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(wall, None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.is_already_exists() || s.is_conflict() => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.take().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.duration, Duration::from_secs);
        let resource_version = lease.metadata.resource_version.clone();
        let changed = self.observed.as_ref().is_none_or(|o| {
            o.holder != holder || o.resource_version != resource_version || o.duration != duration
        });
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                resource_version,
                duration,
                since: now,
            });
        }
        let ours = holder.as_deref() == Some(self.identity.as_str());
        let expired = holder.is_none()
            || self
                .observed
                .as_ref()
                .is_some_and(|o| now.duration_since(o.since) > o.duration);
        if !ours && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(if ours {
            self.spec(wall, spec.acquire_time, transitions)
        } else {
            self.spec(wall, None, transitions.saturating_add(1))
        });
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }
}
