//! The kube-runtime watchers on the kinds of `WATCH_KINDS` (HelmRelease, HelmChart,
//! Kustomization; dynamic objects), as one stream of the mapper's watcher [`Event`]s.
//!
//! Raw watcher events are consumed (`Init`, `InitApply`, `InitDone`, `Apply`, `Delete`): an
//! object not re-listed between `Init` and `InitDone` was deleted while the watch was down, and
//! the reconciler turns that into a `delete-nodes`. No `applied_objects()` (loses deletes), no
//! generation predicate (drops status changes). What to do with the events is decided by the
//! mapper's [`Healer`](flow_flux_mapper::Healer).
//!
//! A kind whose list answers 404 is not served by the cluster (its CRD is not installed): its
//! watcher yields that error once and ends, instead of retrying with backoff forever.

use flow_flux_mapper::{Event, Kind};
use futures::{Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::metrics::{EventLabel, KindLabel};

/// One watcher's output.
pub(crate) type Watched = (Kind, Result<watcher::Event<DynamicObject>, watcher::Error>);

/// The watched resource of a kind.
fn resource(kind: Kind) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(kind.group(), kind.version(), kind.name()),
        kind.plural(),
    )
}

/// The metrics label of a kind.
pub(crate) const fn kind_label(kind: Kind) -> KindLabel {
    match kind {
        Kind::HelmRelease => KindLabel::HelmRelease,
        Kind::HelmChart => KindLabel::HelmChart,
        Kind::Kustomization => KindLabel::Kustomization,
    }
}

/// The object as the mapper reads it, with `apiVersion` and `kind` filled in where the API
/// server left them out (list items may omit them).
fn to_value(object: &DynamicObject, resource: &ApiResource) -> Value {
    // A DynamicObject is JSON already; serialising it back cannot fail.
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version.clone()));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.kind.clone()));
    }
    value
}

/// The watcher of each of `kinds` (with kube-runtime's default backoff), merged.
pub(crate) fn watch_all(
    client: &kube::Client,
    namespace: Option<&str>,
    kinds: &[Kind],
) -> impl Stream<Item = Watched> + Send + use<> {
    futures::stream::select_all(
        kinds
            .iter()
            .map(|kind| watch_kind(client.clone(), namespace, *kind).boxed()),
    )
}

/// Whether a watcher's error says the cluster does not serve the kind: its list answered 404
/// (a namespace that does not exist lists empty; only an unknown resource is 404).
pub(crate) fn is_unserved(event: &Result<watcher::Event<DynamicObject>, watcher::Error>) -> bool {
    matches!(
        event,
        Err(watcher::Error::InitialListFailed(kube::Error::Api(status))) if status.code == 404
    )
}

fn watch_kind(
    client: kube::Client,
    namespace: Option<&str>,
    kind: Kind,
) -> impl Stream<Item = Watched> + Send + use<> {
    let resource = resource(kind);
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    };
    let events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    // After an unserved kind's 404 the stream ends at once, without another list.
    futures::stream::unfold(Some(events), move |events| async move {
        let mut events = events?;
        let event = events.next().await?;
        let rest = (!is_unserved(&event)).then_some(events);
        Some(((kind, event), rest))
    })
}

/// A watcher event as the mapper's event (`Err` for a watcher error, which kube-runtime
/// retries with backoff), with its metrics label.
pub(crate) fn to_event(
    kind: Kind,
    event: Result<watcher::Event<DynamicObject>, watcher::Error>,
) -> (EventLabel, Result<Event, watcher::Error>) {
    let resource = resource(kind);
    match event {
        Ok(watcher::Event::Init) => (EventLabel::Init, Ok(Event::InitStarted(kind))),
        Ok(watcher::Event::InitApply(o)) => (
            EventLabel::InitApply,
            Ok(Event::InitObject(to_value(&o, &resource))),
        ),
        Ok(watcher::Event::InitDone) => (EventLabel::InitDone, Ok(Event::InitDone(kind))),
        Ok(watcher::Event::Apply(o)) => (
            EventLabel::Apply,
            Ok(Event::Applied(to_value(&o, &resource))),
        ),
        Ok(watcher::Event::Delete(o)) => (
            EventLabel::Delete,
            Ok(Event::Deleted(to_value(&o, &resource))),
        ),
        Err(e) => (EventLabel::Error, Err(e)),
    }
}
