//! The healing state machine on simulated time: event sequences in, actions out. Each
//! scenario is written as the list of actions the shell would perform, in a short notation
//! (`send +id=status -id`, `probe`, `read`, `retry`, notices in brackets).

use std::time::{Duration, Instant};

use flow_contract::{FlowInstance, FlowMessage, FlowNode, RelType, Relationship};
use flow_flux_mapper::heal::{
    Action, Delivery, FLAP_WINDOW, Head, MAX_READ_GAP, Notice, REFUSAL_LOG_EVERY, Snapshot, Timing,
};
use flow_flux_mapper::{Event, Healer, Kind, Reconciler};
use serde_json::{Value, json};

use super::{FLOW, REGION, assert_valid, config};

const TIMING: Timing = Timing {
    emit_interval: Duration::from_millis(200),
    probe_interval: Duration::from_secs(1),
};

fn release(name: &str, ready: &str) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m"},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": ready,
            "reason": "InstallSucceeded", "message": "", "lastTransitionTime": "2026-07-01T10:00:00Z"}]}
    })
}

/// One action in the notation of the scenarios.
fn describe(action: &Action) -> String {
    match action {
        Action::Send(messages) => {
            let mut parts = Vec::new();
            for message in messages {
                assert_valid(message);
                match message {
                    FlowMessage::UpsertNodes { nodes } => {
                        parts.extend(nodes.iter().map(|n| format!("+{}={}", n.id, n.status)));
                    }
                    FlowMessage::DeleteNodes { ids } => {
                        parts.extend(ids.iter().map(|id| format!("-{id}")));
                    }
                    FlowMessage::UpsertRels { relationships } => {
                        parts.push(format!("+{}rels", relationships.len()));
                    }
                    FlowMessage::DeleteRels { pairs } => {
                        parts.push(format!("-{}rels", pairs.len()))
                    }
                    other => panic!("the healer sent {}", other.message_type()),
                }
            }
            format!("send {}", parts.join(" "))
        }
        Action::Probe => "probe".to_owned(),
        Action::ReadSnapshot => "read".to_owned(),
        Action::RetryNow => "retry".to_owned(),
        Action::Notice(notice) => match notice {
            Notice::EpochChanged { from, to } => format!("[epoch {from}->{to}]"),
            Notice::FlowMissing => "[missing]".to_owned(),
            Notice::Healed {
                messages,
                whole_region,
            } => {
                if *whole_region {
                    "[healed whole]".to_owned()
                } else {
                    format!("[healed {messages}]")
                }
            }
            Notice::EpochFlapping { read_gap } => format!("[flapping {}s]", read_gap.as_secs()),
            Notice::ReadRefused {
                status,
                log,
                suppressed,
            } => format!(
                "[refused {status}{}]",
                if *log {
                    format!(" logged, {suppressed} suppressed")
                } else {
                    String::new()
                }
            ),
            other => format!("{other:?}"),
        },
    }
}

/// A healer on a simulated clock.
struct Run {
    healer: Healer,
    start: Instant,
    now: Instant,
}

impl Run {
    /// A healer watching HelmReleases; its first actions (the region node) are checked.
    fn new() -> Self {
        // The simulated clock's origin; from here on time only moves when a test moves it.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let mut run = Self {
            healer: Healer::new(Reconciler::new(config()), [Kind::HelmRelease], TIMING),
            start,
            now: start,
        };
        assert_eq!(run.actions(), ["send +fsn1=pending"]);
        run
    }

    /// A healer that listed `objects`, read a server holding nothing of its region at epoch
    /// `e1`, and sent the region.
    fn synced(objects: &[Value]) -> Self {
        let mut run = Self::new();
        run.list(objects);
        assert_eq!(run.actions().last().map(String::as_str), Some("read"));
        run.healer.handle_snapshot(
            Snapshot::Held {
                snapshot: Box::new(snapshot(&[("hel1/x", "running")])),
                epoch: Some("e1".to_owned()),
            },
            run.now,
        );
        let healed = run.actions();
        assert_eq!(healed[0], "[healed 2]", "{healed:?}");
        run
    }

    fn actions(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.healer.poll_action())
            .map(|a| describe(&a))
            .collect()
    }

    fn list(&mut self, objects: &[Value]) {
        self.start_list(objects);
        self.watch(Event::InitDone(Kind::HelmRelease));
    }

    fn start_list(&mut self, objects: &[Value]) {
        self.watch(Event::InitStarted(Kind::HelmRelease));
        for object in objects {
            self.watch(Event::InitObject(object.clone()));
        }
    }

    fn watch(&mut self, event: Event) {
        self.healer.handle_watch(event, self.now).unwrap();
    }

    /// Advances to the healer's next timeout (or stays, when it is overdue), runs it, and
    /// returns the actions with the time they happened at (ms since the start).
    fn tick(&mut self) -> (u128, Vec<String>) {
        let at = self.healer.poll_timeout().expect("a timer is set");
        self.now = self.now.max(at);
        self.healer.handle_timeout(self.now);
        (
            self.now.duration_since(self.start).as_millis(),
            self.actions(),
        )
    }

    /// Runs timeouts until the next probe and returns its actions.
    fn probe(&mut self) -> Vec<String> {
        let (_, actions) = self.tick();
        assert_eq!(actions, ["probe"]);
        actions
    }

    fn head(&mut self, head: Head) -> Vec<String> {
        self.healer.handle_head(head, self.now);
        self.actions()
    }

    fn held(epoch: &str) -> Head {
        Head::Held {
            epoch: Some(epoch.to_owned()),
        }
    }
}

/// A server's snapshot holding `nodes` (a `contains` edge to the region for this region's).
fn snapshot(nodes: &[(&str, &str)]) -> FlowMessage {
    FlowMessage::Snapshot {
        flow: FlowInstance::new(FLOW, "running".to_owned(), 0),
        nodes: nodes
            .iter()
            .map(|(id, status)| FlowNode {
                id: (*id).to_owned(),
                flow_id: FLOW.to_owned(),
                label: (*id).to_owned(),
                status: (*status).to_owned(),
                family: None,
                region: None,
                started_at: None,
                ended_at: None,
                meta: None,
            })
            .collect(),
        relationships: nodes
            .iter()
            .filter(|(id, _)| id.starts_with(&format!("{REGION}/")))
            .map(|(id, _)| Relationship {
                from_id: (*id).to_owned(),
                to_id: REGION.to_owned(),
                from_flow_id: None,
                to_flow_id: None,
                rel_type: RelType::Contains,
                condition: None,
                lag: None,
            })
            .collect(),
    }
}

#[test]
fn the_first_list_reads_the_snapshot_once_then_only_probes() {
    let mut run = Run::new();
    run.list(&[release("a", "True")]);
    assert_eq!(
        run.actions(),
        ["send +fsn1=succeeded +fsn1/a=succeeded +1rels", "read"]
    );
    run.healer.handle_snapshot(
        Snapshot::Held {
            snapshot: Box::new(snapshot(&[
                ("fsn1/a", "running"),
                ("fsn1/stale", "failed"),
                ("hel1/x", "running"),
            ])),
            epoch: Some("e1".to_owned()),
        },
        run.now,
    );
    // What the server lacks or holds wrongly, and this region's stale node; hel1 is left alone.
    assert_eq!(
        run.actions(),
        [
            "[healed 2]",
            "send +fsn1=succeeded +fsn1/a=succeeded -fsn1/stale"
        ]
    );
    for second in 1..=3 {
        let (at, actions) = run.tick();
        assert_eq!((at, actions), (second * 1000, vec!["probe".to_owned()]));
        assert_eq!(run.head(Run::held("e1")), Vec::<String>::new());
    }
    assert!(run.healer.is_synced());
}

#[test]
fn watched_changes_are_coalesced_for_the_emit_interval() {
    let mut run = Run::synced(&[release("a", "Unknown")]);
    run.now += Duration::from_millis(50);
    run.watch(Event::Applied(release("a", "False")));
    run.watch(Event::Applied(release("a", "True")));
    assert_eq!(
        run.actions(),
        Vec::<String>::new(),
        "nothing before the window closes"
    );
    let (at, actions) = run.tick();
    assert_eq!(at, 250);
    assert_eq!(actions, ["send +fsn1=succeeded +fsn1/a=succeeded"]);
}

#[test]
fn a_relist_sends_its_deletes_without_reading() {
    let mut run = Run::synced(&[release("a", "True"), release("b", "True")]);
    run.probe();
    run.head(Run::held("e1"));
    run.list(&[release("a", "True")]);
    assert_eq!(run.actions(), ["send +fsn1=succeeded -fsn1/b"]);
    run.probe();
}

#[test]
fn restart_during_a_relist_heals_once_the_relist_is_complete() {
    let mut run = Run::synced(&[release("a", "True"), release("b", "True")]);
    run.probe();
    // The probe is answered while a relist (after 410 Gone) is under way: b vanished meanwhile.
    run.start_list(&[release("a", "True")]);
    assert_eq!(
        run.head(Head::Missing),
        ["[missing]"],
        "nothing sent half-listed"
    );
    assert_eq!(run.healer.poll_timeout(), None, "no probe while listing");
    run.watch(Event::InitDone(Kind::HelmRelease));
    // The whole region as the relist found it: no b, and no delete to an empty server.
    assert_eq!(
        run.actions(),
        [
            "[healed whole]",
            "send +fsn1=succeeded +fsn1/a=succeeded +1rels"
        ]
    );

    // The same with a new epoch: the read waits for the relist too.
    let mut run = Run::synced(&[release("a", "True"), release("b", "True")]);
    run.probe();
    run.start_list(&[release("a", "True")]);
    assert_eq!(run.head(Run::held("e2")), ["[epoch e1->e2]"]);
    run.watch(Event::InitDone(Kind::HelmRelease));
    assert_eq!(run.actions(), ["send +fsn1=succeeded -fsn1/b", "read"]);
    run.healer.handle_snapshot(
        Snapshot::Held {
            snapshot: Box::new(snapshot(&[("hel1/x", "running")])),
            epoch: Some("e2".to_owned()),
        },
        run.now,
    );
    assert_eq!(
        run.actions(),
        [
            "[healed 2]",
            "send +fsn1=succeeded +fsn1/a=succeeded +1rels"
        ]
    );
}

#[test]
fn restart_during_a_delivery_outage_sends_the_latest_region_and_retries_now() {
    let mut run = Run::synced(&[release("a", "Unknown")]);
    run.healer.handle_delivery(Delivery::Failed, run.now);
    run.probe();
    assert_eq!(run.head(Head::Failed), Vec::<String>::new());
    // A change during the outage goes to the outbox as usual.
    run.watch(Event::Applied(release("a", "True")));
    let (_, flushed) = run.tick();
    assert_eq!(flushed, ["send +fsn1=succeeded +fsn1/a=succeeded"]);
    run.probe();
    assert_eq!(run.head(Head::Failed), Vec::<String>::new());
    // The server is back, empty: deliveries stop waiting and the whole region goes out.
    run.probe();
    assert_eq!(
        run.head(Head::Missing),
        [
            "retry",
            "[missing]",
            "[healed whole]",
            "send +fsn1=succeeded +fsn1/a=succeeded +1rels"
        ]
    );

    // An outage without a restart (same epoch): retry, nothing read or re-sent.
    let mut run = Run::synced(&[release("a", "True")]);
    run.probe();
    run.head(Head::Failed);
    run.probe();
    assert_eq!(run.head(Run::held("e1")), ["retry"]);
    run.probe();
}

#[test]
fn an_epoch_in_a_post_answer_triggers_a_read() {
    let mut run = Run::synced(&[release("a", "True")]);
    run.healer.handle_delivery(
        Delivery::Accepted {
            epoch: Some("e1".to_owned()),
        },
        run.now,
    );
    assert_eq!(run.actions(), Vec::<String>::new());
    run.healer.handle_delivery(
        Delivery::Accepted {
            epoch: Some("e2".to_owned()),
        },
        run.now,
    );
    assert_eq!(run.actions(), ["[epoch e1->e2]", "read"]);
}

#[test]
fn an_operators_delete_brings_the_region_back_and_the_new_epoch_is_adopted() {
    let mut run = Run::synced(&[release("a", "True")]);
    run.probe();
    assert_eq!(
        run.head(Head::Missing),
        [
            "[missing]",
            "[healed whole]",
            "send +fsn1=succeeded +fsn1/a=succeeded +1rels"
        ]
    );
    // Until the upserts arrive the flow is still missing: nothing is sent twice.
    run.probe();
    assert_eq!(run.head(Head::Missing), Vec::<String>::new());
    // The flow the upserts created: adopted without a read.
    run.probe();
    assert_eq!(run.head(Run::held("e2")), Vec::<String>::new());
    run.probe();
    assert_eq!(run.head(Run::held("e2")), Vec::<String>::new());
}

#[test]
fn a_404_then_a_new_epoch_is_adopted_and_a_later_change_is_read() {
    let mut run = Run::synced(&[release("a", "True")]);
    run.probe();
    run.head(Head::Missing);
    run.healer.handle_delivery(
        Delivery::Accepted {
            epoch: Some("e2".to_owned()),
        },
        run.now,
    );
    assert_eq!(run.actions(), Vec::<String>::new(), "our upserts made e2");
    run.probe();
    assert_eq!(run.head(Run::held("e2")), Vec::<String>::new());
    run.probe();
    assert_eq!(run.head(Run::held("e3")), ["[epoch e2->e3]", "read"]);
}

#[test]
fn epoch_flapping_spaces_reads_out() {
    let mut run = Run::synced(&[release("a", "True")]);
    let mut reads = Vec::new();
    let mut flapping = Vec::new();
    let mut serving = 0_u32;
    let end = run.now + Duration::from_secs(600);
    // Two servers behind one URL, each with its own epoch: every answer comes from the other.
    while run.now < end {
        let (_, mut pending) = run.tick();
        while let Some(action) = pending.pop() {
            serving += 1;
            let epoch = format!("e{}", 1 + serving % 2);
            let answered = match action.as_str() {
                "probe" => run.head(Run::held(&epoch)),
                "read" => {
                    reads.push(run.now.duration_since(run.start).as_secs());
                    run.healer.handle_snapshot(
                        Snapshot::Held {
                            snapshot: Box::new(snapshot(&[("fsn1/a", "succeeded")])),
                            epoch: Some(epoch),
                        },
                        run.now,
                    );
                    run.actions()
                }
                _ => continue,
            };
            for action in answered {
                if action.starts_with("[flapping") {
                    flapping.push(action);
                } else {
                    pending.push(action);
                }
            }
        }
    }
    let gaps: Vec<u64> = reads.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|w| w[1] >= w[0]),
        "reads get rarer: {reads:?}"
    );
    assert!(
        gaps.iter()
            .rev()
            .take(3)
            .all(|g| *g >= MAX_READ_GAP.as_secs()),
        "reads end up {MAX_READ_GAP:?} apart: {reads:?}"
    );
    assert!(
        reads.len() < 20,
        "{} reads in 10 minutes: {reads:?}",
        reads.len()
    );
    assert_eq!(flapping.first().map(String::as_str), Some("[flapping 1s]"));
    assert_eq!(flapping.last().map(String::as_str), Some("[flapping 60s]"));

    // Once the epoch holds still for long enough, a change is read at once again.
    let mut run = Run::synced(&[release("a", "True")]);
    run.now += FLAP_WINDOW;
    run.probe();
    assert_eq!(run.head(Run::held("e2")), ["[epoch e1->e2]", "read"]);
}

#[test]
fn a_refused_read_token_is_reported_rate_limited_and_the_region_still_sent() {
    let mut run = Run::new();
    run.list(&[release("a", "True")]);
    assert_eq!(run.actions().last().map(String::as_str), Some("read"));
    run.healer
        .handle_snapshot(Snapshot::Refused { status: 401 }, run.now);
    assert_eq!(
        run.actions(),
        [
            "[refused 401 logged, 0 suppressed]",
            "[healed whole]",
            "send +fsn1=succeeded +fsn1/a=succeeded +1rels"
        ]
    );
    assert_eq!(run.healer.read_refused(), Some(401));
    let logged_at = run.now;
    let mut quiet = 0;
    loop {
        run.probe();
        let actions = run.head(Head::Refused { status: 401 });
        if run.now.duration_since(logged_at) < REFUSAL_LOG_EVERY {
            assert_eq!(actions, ["[refused 401]"]);
            quiet += 1;
        } else {
            assert_eq!(
                actions,
                [format!("[refused 401 logged, {quiet} suppressed]")]
            );
            break;
        }
    }
    assert_eq!(run.healer.read_refused(), Some(401));
    // The token is accepted again (the server's tokens changed).
    run.probe();
    run.head(Run::held("e1"));
    assert_eq!(run.healer.read_refused(), None);
}

#[test]
fn a_kind_the_cluster_does_not_serve_stops_holding_the_first_read_back() {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut healer = Healer::new(
        Reconciler::new(config()),
        [Kind::HelmRelease, Kind::Kustomization],
        TIMING,
    );
    assert_eq!(std::iter::from_fn(|| healer.poll_action()).count(), 1);
    healer
        .handle_watch(Event::InitStarted(Kind::HelmRelease), now)
        .unwrap();
    healer
        .handle_watch(Event::InitDone(Kind::HelmRelease), now)
        .unwrap();
    assert!(!healer.is_synced(), "Kustomizations are not listed yet");
    assert_eq!(healer.poll_action(), None);
    healer.handle_unserved(Kind::Kustomization, now);
    assert!(healer.is_synced());
    let described: Vec<String> = std::iter::from_fn(|| healer.poll_action())
        .map(|a| describe(&a))
        .collect();
    assert_eq!(
        described.last().map(String::as_str),
        Some("read"),
        "{described:?}"
    );
    // Told again (or about a kind it never watched), it changes nothing.
    healer.handle_unserved(Kind::Kustomization, now);
    healer.handle_unserved(Kind::HelmChart, now);
    assert_eq!(healer.poll_action(), None);
    assert!(healer.is_synced());
}
