//! A loopback stand-in of the Kubernetes API server's HTTP protocol, enough for kube-rs:
//! list with `resourceVersion`, chunked watch streams (ADDED / MODIFIED / DELETED / BOOKMARK),
//! an injected `410 Gone` (as the real server does it: an ERROR event in the watch stream),
//! a resource whose CRD is not installed (404 on list and watch), and Lease get / create /
//! replace with optimistic concurrency.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Default)]
struct Store {
    rv: u64,
    /// (plural, namespace, name) -> object.
    objects: BTreeMap<(String, String, String), Value>,
    /// Watch history: (rv, plural, namespace, type, object).
    log: Vec<(u64, String, String, &'static str, Value)>,
    /// Watches from a resourceVersion below this get 410 Gone.
    compacted_below: u64,
    /// Bumped to end every open watch stream.
    kicks: u64,
    /// (namespace, name) -> Lease.
    leases: BTreeMap<(String, String), Value>,
    /// Plurals whose CRD this cluster lacks: list and watch answer 404.
    without_crd: BTreeSet<String>,
    /// plural -> list and watch requests received.
    requests: BTreeMap<String, usize>,
}

/// The stand-in; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct KubeApi {
    store: Arc<Mutex<Store>>,
    changed: Arc<Notify>,
}

fn plural_of(object: &Value) -> &'static str {
    match object["kind"].as_str() {
        Some("HelmRelease") => "helmreleases",
        Some("HelmChart") => "helmcharts",
        Some("Kustomization") => "kustomizations",
        other => panic!("the stand-in serves the three Flux kinds, not {other:?}"),
    }
}

fn key_of(object: &Value) -> (String, String, String) {
    (
        plural_of(object).to_owned(),
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("flux-system")
            .to_owned(),
        object["metadata"]["name"]
            .as_str()
            .expect("fixture has a name")
            .to_owned(),
    )
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).expect("valid status"),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl KubeApi {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates or replaces an object; watchers see ADDED or MODIFIED.
    pub(crate) fn apply(&self, mut object: Value) {
        let key = key_of(&object);
        {
            let mut store = self.lock();
            store.rv += 1;
            let rv = store.rv;
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            let kind = if store.objects.contains_key(&key) {
                "MODIFIED"
            } else {
                "ADDED"
            };
            store.objects.insert(key.clone(), object.clone());
            store.log.push((rv, key.0, key.1, kind, object));
        }
        self.changed.notify_waiters();
    }

    /// Deletes an object while the watchers are blind: the history is compacted past it and
    /// every open watch ends, so reconnecting gets 410 Gone and must relist.
    pub(crate) fn delete_while_blind(&self, object: &Value) {
        {
            let mut store = self.lock();
            store.objects.remove(&key_of(object));
            store.rv += 1;
            store.compacted_below = store.rv + 1;
            store.log.clear();
            store.kicks += 1;
        }
        self.changed.notify_waiters();
    }

    /// Makes the cluster lack the CRD of `plural` (`kustomizations`): its list and watch
    /// answer 404, as a real API server does for a resource it does not serve.
    pub(crate) fn without_crd(&self, plural: &str) {
        self.lock().without_crd.insert(plural.to_owned());
    }

    /// How many list and watch requests `plural` received.
    pub(crate) fn requests(&self, plural: &str) -> usize {
        self.lock().requests.get(plural).copied().unwrap_or(0)
    }

    /// The holder of a Lease, if any.
    pub(crate) fn lease_holder(&self, namespace: &str, name: &str) -> Option<String> {
        self.lock()
            .leases
            .get(&(namespace.to_owned(), name.to_owned()))
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    }

    /// Serves on 127.0.0.1; returns the address.
    pub(crate) async fn serve(&self) -> SocketAddr {
        let app = Router::new()
            .route(
                "/apis/{group}/{version}/namespaces/{ns}/{plural}",
                get(list_or_watch).post(create_lease),
            )
            .route("/apis/{group}/{version}/{plural}", get(list_or_watch_all))
            .route(
                "/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}",
                get(get_lease).put(replace_lease),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

async fn list_or_watch(
    State(api): State<KubeApi>,
    Path((group, version, ns, plural)): Path<(String, String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    respond(api, group, version, Some(ns), plural, query)
}

async fn list_or_watch_all(
    State(api): State<KubeApi>,
    Path((group, version, plural)): Path<(String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    respond(api, group, version, None, plural, query)
}

fn respond(
    api: KubeApi,
    group: String,
    version: String,
    ns: Option<String>,
    plural: String,
    query: BTreeMap<String, String>,
) -> Response {
    let api_version = format!("{group}/{version}");
    let unserved = {
        let mut store = api.lock();
        *store.requests.entry(plural.clone()).or_default() += 1;
        store.without_crd.contains(&plural)
    };
    if unserved {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    }
    if query.get("watch").map(String::as_str) == Some("true") {
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return watch(api, api_version, ns, plural, from);
    }
    let store = api.lock();
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|((p, n, _), _)| *p == plural && ns.as_ref().is_none_or(|ns| ns == n))
        .map(|(_, o)| o.clone())
        .collect();
    let body = json!({"apiVersion": api_version, "kind": "List",
        "metadata": {"resourceVersion": store.rv.to_string()}, "items": items});
    ([("content-type", "application/json")], body.to_string()).into_response()
}

struct WatchState {
    api: KubeApi,
    api_version: String,
    ns: Option<String>,
    plural: String,
    from: u64,
    kicks: u64,
    started: bool,
    done: bool,
}

fn watch(
    api: KubeApi,
    api_version: String,
    ns: Option<String>,
    plural: String,
    from: u64,
) -> Response {
    let kicks = api.lock().kicks;
    let state = WatchState {
        api,
        api_version,
        ns,
        plural,
        from,
        kicks,
        started: false,
        done: false,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            let changed = Arc::clone(&s.api.changed);
            let notified = changed.notified();
            let mut lines = String::new();
            {
                let api = s.api.clone();
                let store = api.lock();
                if s.from < store.compacted_below {
                    let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                        "metadata": {}, "status": "Failure", "message": "too old resource version",
                        "reason": "Expired", "code": 410}});
                    s.done = true;
                    return Some((Ok::<_, std::io::Error>(Bytes::from(format!("{gone}\n"))), s));
                }
                if store.kicks != s.kicks {
                    return None;
                }
                for (rv, plural, ns, kind, object) in &store.log {
                    if *rv > s.from && *plural == s.plural && s.ns.as_ref().is_none_or(|n| n == ns)
                    {
                        lines.push_str(&json!({"type": kind, "object": object}).to_string());
                        lines.push('\n');
                    }
                }
                if !s.started {
                    s.started = true;
                    let bookmark = json!({"type": "BOOKMARK", "object": {"apiVersion": s.api_version,
                        "kind": "Bookmark", "metadata": {"resourceVersion": store.rv.to_string()}}});
                    lines.push_str(&bookmark.to_string());
                    lines.push('\n');
                }
                s.from = s.from.max(store.rv);
            }
            if !lines.is_empty() {
                return Some((Ok(Bytes::from(lines)), s));
            }
            notified.await;
        }
    });
    (
        [("content-type", "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn create_lease(
    State(api): State<KubeApi>,
    Path((_group, _version, ns, plural)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    if plural != "leases" {
        return status(405, "MethodNotAllowed", "only leases can be created here");
    }
    let mut lease: Value = serde_json::from_slice(&body).expect("lease JSON");
    let name = lease["metadata"]["name"]
        .as_str()
        .expect("lease name")
        .to_owned();
    let mut store = api.lock();
    if store.leases.contains_key(&(ns.clone(), name.clone())) {
        return status(409, "AlreadyExists", "lease exists");
    }
    store.rv += 1;
    lease["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    lease["metadata"]["namespace"] = json!(ns);
    store.leases.insert((ns, name), lease.clone());
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        lease.to_string(),
    )
        .into_response()
}

async fn get_lease(
    State(api): State<KubeApi>,
    Path((_group, _version, ns, _plural, name)): Path<(String, String, String, String, String)>,
) -> Response {
    match api.lock().leases.get(&(ns, name)) {
        Some(lease) => ([("content-type", "application/json")], lease.to_string()).into_response(),
        None => status(404, "NotFound", "lease not found"),
    }
}

async fn replace_lease(
    State(api): State<KubeApi>,
    Path((_group, _version, ns, _plural, name)): Path<(String, String, String, String, String)>,
    body: Bytes,
) -> Response {
    let mut lease: Value = serde_json::from_slice(&body).expect("lease JSON");
    let mut store = api.lock();
    let key = (ns, name);
    let Some(current) = store.leases.get(&key) else {
        return status(404, "NotFound", "lease not found");
    };
    if current["metadata"]["resourceVersion"] != lease["metadata"]["resourceVersion"] {
        return status(409, "Conflict", "the object has been modified");
    }
    store.rv += 1;
    lease["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    store.leases.insert(key, lease.clone());
    ([("content-type", "application/json")], lease.to_string()).into_response()
}
