//! Every endpoint and error case through `routes()`, without a port.

use bytes::Bytes;
use flow_contract::{FlowMessage, decode};
use http_body_util::BodyExt;
use openova_flow_server::{App, routes};
use serde_json::Value;
use warp::Reply;
use warp::http::Response;

use crate::fixture::{Backend, app, upsert_nodes};

/// Sends `request` through `routes()` and waits for the whole answer.
async fn call(app: &App, request: warp::test::RequestBuilder) -> Response<Bytes> {
    request.reply(&routes(app.clone())).await
}

/// Sends `request` (a stream) through `routes()`: the answer with its body still open, read
/// with [`next_frame`].
async fn open(app: &App, request: warp::test::RequestBuilder) -> warp::reply::Response {
    request
        .filter(&routes(app.clone()))
        .await
        .expect("routes never reject")
        .into_response()
}

/// The next frame of an opened stream, as text.
async fn next_frame(stream: &mut warp::reply::Response) -> String {
    let frame = stream
        .body_mut()
        .frame()
        .await
        .expect("a frame")
        .expect("no error")
        .into_data()
        .expect("data");
    String::from_utf8(frame.to_vec()).expect("utf-8")
}

/// The JSON body of an opened stream that was refused.
async fn refusal(stream: warp::reply::Response) -> Value {
    let body = stream.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&body).expect("JSON body")
}

fn get(path: &str) -> warp::test::RequestBuilder {
    warp::test::request().method("GET").path(path)
}

fn post(path: &str, body: &str) -> warp::test::RequestBuilder {
    warp::test::request()
        .method("POST")
        .path(path)
        .header("content-type", "application/json")
        .body(body)
}

fn delete(path: &str) -> warp::test::RequestBuilder {
    warp::test::request().method("DELETE").path(path)
}

/// Posts an `upsert-nodes` of `(id, status)` nodes to `flow`.
async fn post_nodes(app: &App, flow: &str, nodes: &[(&str, &str)]) -> Response<Bytes> {
    let path = format!("/v1/flows/{flow}/events");
    call(app, post(&path, &upsert_nodes(flow, nodes))).await
}

/// The `/metrics` text.
async fn metrics(app: &App) -> String {
    String::from_utf8(call(app, get("/metrics")).await.body().to_vec()).expect("utf-8")
}

fn json(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).expect("JSON body")
}

/// Asserts an error response: status, JSON `error` code, and a non-empty message.
fn assert_error(response: &Response<Bytes>, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "{:?}", response.body());
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json(response);
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

#[tokio::test]
async fn descriptor_health_and_readiness() {
    let app = app(&[]);
    let root = call(&app, get("/")).await;
    assert_eq!(root.status(), 200);
    let paths: Vec<String> = json(&root)["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["method"].as_str().unwrap_or(""),
                e["path"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        paths.contains(&"GET /v1/flows/{flowId}/stream".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"HEAD /v1/flows/{flowId}/snapshot".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"DELETE /v1/flows/{flowId}".to_owned()),
        "{paths:?}"
    );
    assert_eq!(call(&app, get("/healthz")).await.status(), 200);
    assert_eq!(json(&call(&app, get("/readyz")).await)["status"], "ready");

    let starting = App::new(&crate::fixture::config(&[]), 1).expect("valid");
    let response = call(&starting, get("/readyz")).await;
    assert_eq!(
        (
            response.status().as_u16(),
            json(&response)["status"].clone()
        ),
        (503, "starting".into())
    );

    app.begin_shutdown();
    let response = call(&app, get("/readyz")).await;
    assert_eq!(
        (
            response.status().as_u16(),
            json(&response)["status"].clone()
        ),
        (503, "draining".into())
    );
    assert_eq!(
        call(&app, get("/healthz")).await.status(),
        200,
        "still alive while draining"
    );
    assert_error(
        &call(&app, get("/v1/flows/f/stream")).await,
        503,
        "shutting_down",
    );
}

async fn ingest_then_snapshot(backend: Backend) {
    let app = backend.app(&[]).await;
    assert_error(
        &call(&app, get("/v1/flows/f/snapshot")).await,
        404,
        "flow_not_found",
    );

    let first = post_nodes(&app, "f", &[("a", "running")]).await;
    assert_eq!(first.status(), 200);
    let epoch = json(&first)["epoch"].as_str().expect("epoch").to_owned();
    assert_eq!(
        json(&first),
        serde_json::json!({"seq": 1, "epoch": epoch, "id": format!("{epoch}-1")})
    );
    let second = post_nodes(&app, "f", &[("b", "failed")]).await;
    assert_eq!(json(&second)["seq"], 2);

    let snapshot = call(&app, get("/v1/flows/f/snapshot")).await;
    assert_eq!(snapshot.status(), 200);
    assert_eq!(snapshot.headers()["flow-seq"], "2");
    assert_eq!(snapshot.headers()["flow-epoch"], epoch.as_str());
    let message = decode(snapshot.body(), "f").expect("the body is a valid FlowMessage");
    let FlowMessage::Snapshot { nodes, .. } = message else {
        panic!("not a snapshot: {message:?}");
    };
    let nodes: Vec<(&str, &str)> = nodes
        .iter()
        .map(|n| (n.id.as_str(), n.status.as_str()))
        .collect();
    assert_eq!(nodes, [("a", "running"), ("b", "failed")]);
}

fn head(path: &str) -> warp::test::RequestBuilder {
    warp::test::request().method("HEAD").path(path)
}

async fn head_of_a_snapshot_has_gets_status_and_headers_and_no_body(backend: Backend) {
    let app = backend.app(&[]).await;
    let missing = call(&app, head("/v1/flows/f/snapshot")).await;
    assert_eq!(missing.status(), 404);
    assert!(!missing.headers().contains_key("flow-seq"));
    assert_eq!(
        call(&app, head("/v1/flows/bad!id/snapshot")).await.status(),
        400
    );
    for node in ["a", "b"] {
        assert_eq!(
            post_nodes(&app, "f", &[(node, "running")]).await.status(),
            200
        );
    }
    let got = call(&app, get("/v1/flows/f/snapshot")).await;
    let headed = call(&app, head("/v1/flows/f/snapshot")).await;
    assert_eq!(headed.status(), got.status());
    for name in ["content-type", "flow-seq", "flow-epoch"] {
        assert_eq!(headed.headers()[name], got.headers()[name], "{name}");
    }
    assert_eq!(headed.headers()["flow-seq"], "2");
    assert!(headed.body().is_empty());
    assert!(!got.body().is_empty());

    let guarded = backend.app(&["--read-tokens", "rd"]).await;
    assert_eq!(
        call(&guarded, head("/v1/flows/f/snapshot")).await.status(),
        401
    );
    assert_eq!(
        call(&guarded, head("/v1/flows/g/snapshot?access_token=rd"))
            .await
            .status(),
        404
    );
}

async fn contract_errors_name_variant_path_and_code(backend: Backend) {
    let app = backend.app(&[]).await;
    let body = r#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"f","label":"a","status":"ok","colour":1}]}"#;
    let error = assert_error(
        &call(&app, post("/v1/flows/f/events", body)).await,
        400,
        "invalid_message",
    );
    assert_eq!(error["variant"], "upsert-nodes");
    assert_eq!(error["path"], "$.nodes[0].colour");
    assert_eq!(error["code"], "unknown_field");

    let mismatch = upsert_nodes("other", &[("a", "ok")]);
    let error = assert_error(
        &call(&app, post("/v1/flows/f/events", &mismatch)).await,
        400,
        "invalid_message",
    );
    assert_eq!(
        (error["path"].as_str(), error["code"].as_str()),
        (Some("$.nodes[0].flowId"), Some("flow_mismatch"))
    );

    let error = assert_error(
        &call(&app, post("/v1/flows/f/events", "{not json")).await,
        400,
        "invalid_message",
    );
    assert_eq!(error["code"], "syntax");
    assert_eq!(error["variant"], Value::Null);

    let error = assert_error(
        &call(&app, post("/v1/flows/f/events", r#"{"type":"nope"}"#)).await,
        400,
        "invalid_message",
    );
    assert_eq!(error["code"], "unknown_type");
    assert_error(
        &call(&app, get("/v1/flows/f/snapshot")).await,
        404,
        "flow_not_found",
    );
}

async fn flow_ids_are_validated(backend: Backend) {
    let app = backend.app(&[]).await;
    let long = "x".repeat(129);
    for path in [
        "/v1/flows/bad!id/events".to_owned(),
        "/v1/flows/a%2Fb/events".to_owned(),
        format!("/v1/flows/{long}/events"),
    ] {
        let body = upsert_nodes("x", &[("a", "ok")]);
        assert_error(
            &call(&app, post(&path, &body)).await,
            400,
            "invalid_flow_id",
        );
    }
    assert_error(
        &call(&app, get("/v1/flows/bad!id/snapshot")).await,
        400,
        "invalid_flow_id",
    );
    assert_error(
        &call(&app, get("/v1/flows/bad!id/stream")).await,
        400,
        "invalid_flow_id",
    );
    assert_error(
        &call(&app, delete("/v1/flows/bad!id")).await,
        400,
        "invalid_flow_id",
    );
}

async fn content_type_and_body_size(backend: Backend) {
    let app = backend.app(&["--max-body-bytes", "64"]).await;
    let small = r#"{"type":"delete-nodes","ids":["a"]}"#;
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=\"UTF-8\"",
    ] {
        let request = warp::test::request()
            .method("POST")
            .path("/v1/flows/f/events")
            .header("content-type", content_type)
            .body(small);
        assert_eq!(call(&app, request).await.status(), 200, "{content_type}");
    }
    for content_type in [
        "text/plain",
        "application/json; charset=latin1",
        "application/jsonx",
    ] {
        let request = warp::test::request()
            .method("POST")
            .path("/v1/flows/f/events")
            .header("content-type", content_type)
            .body(small);
        assert_error(&call(&app, request).await, 415, "unsupported_media_type");
    }
    let missing = warp::test::request()
        .method("POST")
        .path("/v1/flows/f/events")
        .body(small);
    assert_error(&call(&app, missing).await, 415, "unsupported_media_type");

    let large = format!(r#"{{"type":"delete-nodes","ids":["{}"]}}"#, "a".repeat(64));
    assert_error(
        &call(&app, post("/v1/flows/f/events", &large)).await,
        413,
        "payload_too_large",
    );
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains(r#"openova_flow_events_rejected_total{reason="payload_too_large"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"openova_flow_events_rejected_total{reason="unsupported_media_type"} 4"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let app = app(&[]);
    for path in [
        "/nope",
        "/v1",
        "/v1/flows/f",
        "/v1/flows/f/other",
        "/healthz/x",
    ] {
        assert_error(
            &call(&app, get(path)).await,
            if path == "/v1/flows/f" { 405 } else { 404 },
            if path == "/v1/flows/f" {
                "method_not_allowed"
            } else {
                "not_found"
            },
        );
    }
    for (method, path) in [
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
        ("PUT", "/v1/flows/f/events"),
        ("GET", "/v1/flows/f/events"),
        ("POST", "/v1/flows/f/snapshot"),
        ("DELETE", "/v1/flows/f/stream"),
        ("POST", "/v1/flows/f"),
        ("POST", "/"),
        ("OPTIONS", "/metrics"),
    ] {
        let request = warp::test::request().method(method).path(path);
        assert_error(&call(&app, request).await, 405, "method_not_allowed");
    }
    let request = warp::test::request().method("PUT").path("/nope");
    assert_error(&call(&app, request).await, 404, "not_found");
}

async fn delete_is_idempotent(backend: Backend) {
    let app = backend.app(&[]).await;
    let first = post_nodes(&app, "f", &[("a", "ok")]).await;
    let first_epoch = json(&first)["epoch"].clone();
    for _ in 0..2 {
        let response = call(&app, delete("/v1/flows/f")).await;
        assert_eq!(response.status(), 204);
        assert!(response.body().is_empty());
    }
    assert_error(
        &call(&app, get("/v1/flows/f/snapshot")).await,
        404,
        "flow_not_found",
    );
    // A new state starts a new epoch.
    let again = json(&post_nodes(&app, "f", &[("a", "ok")]).await);
    let epoch = again["epoch"].as_str().expect("epoch");
    assert_ne!(again["epoch"], first_epoch);
    assert_eq!(
        again,
        serde_json::json!({"seq": 1, "epoch": epoch, "id": format!("{epoch}-1")})
    );
}

async fn stream_through_routes(backend: Backend) {
    let app = backend.app(&[]).await;
    let posted = post_nodes(&app, "f", &[("a", "running")]).await;
    let epoch = json(&posted)["epoch"].as_str().expect("epoch").to_owned();
    let mut stream = open(&app, get("/v1/flows/f/stream")).await;
    assert_eq!(stream.status(), 200);
    let headers = stream.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let first = next_frame(&mut stream).await;
    assert!(
        first.starts_with(&format!(
            "retry: 3000\n\nevent: snapshot\nid: {epoch}-1\ndata: {{\"type\":\"snapshot\""
        )),
        "{first}"
    );

    call(
        &app,
        post(
            "/v1/flows/f/events",
            r#"{"type":"delete-nodes","ids":["a"]}"#,
        ),
    )
    .await;
    assert_eq!(
        next_frame(&mut stream).await,
        format!(
            "event: delete-nodes\nid: {epoch}-2\ndata: {{\"type\":\"delete-nodes\",\"ids\":[\"a\"]}}\n\n"
        )
    );

    assert_eq!(call(&app, delete("/v1/flows/f")).await.status(), 204);
    assert!(
        stream.body_mut().frame().await.is_none(),
        "the stream ends when the flow is deleted"
    );
}

async fn listing(backend: Backend) {
    let app = backend.app(&[]).await;
    post_nodes(
        &app,
        "b",
        &[("x", "running"), ("y", "running"), ("z", "failed")],
    )
    .await;
    post_nodes(&app, "a", &[("x", "succeeded")]).await;
    let body = json(&call(&app, get("/v1/flows")).await);
    let flows = body["flows"].as_array().expect("flows");
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0]["id"], "a");
    assert_eq!(flows[1]["id"], "b");
    assert_eq!(
        flows[1]["nodesByStatus"],
        serde_json::json!({"failed": 1, "running": 2})
    );
    assert_eq!(flows[1]["nodes"], 3);
    assert_eq!(flows[1]["seq"], 1);
    assert_eq!(flows[1]["subscribers"], 0);
    assert!(
        flows[1]["lastEventAt"]
            .as_u64()
            .is_some_and(|ms| ms > 1_600_000_000_000),
        "{body}"
    );
    assert!(flows[1]["epoch"].is_string());
}

async fn bearer_tokens(backend: Backend) {
    let app = backend
        .app(&["--ingest-tokens", "in1,in2", "--read-tokens", "rd"])
        .await;
    let body = upsert_nodes("f", &[("a", "ok")]);
    for authorization in [
        None,
        Some("Bearer nope"),
        Some("Bearer rd"),
        Some("Basic in1"),
    ] {
        let mut request = post("/v1/flows/f/events", &body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = call(&app, request).await;
        assert_error(&response, 401, "unauthorized");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="openova-flow""#
        );
    }
    // The query parameter is for GET only (EventSource cannot set headers).
    assert_error(
        &call(&app, post("/v1/flows/f/events?access_token=in1", &body)).await,
        401,
        "unauthorized",
    );
    let ok = call(
        &app,
        post("/v1/flows/f/events", &body).header("authorization", "Bearer in2"),
    )
    .await;
    assert_eq!(ok.status(), 200);

    assert_error(
        &call(&app, get("/v1/flows/f/snapshot")).await,
        401,
        "unauthorized",
    );
    assert_error(
        &call(&app, get("/v1/flows/f/snapshot?access_token=in1")).await,
        401,
        "unauthorized",
    );
    assert_eq!(
        call(&app, get("/v1/flows/f/snapshot?access_token=rd"))
            .await
            .status(),
        200
    );
    assert_eq!(
        call(
            &app,
            get("/v1/flows/f/snapshot").header("authorization", "Bearer rd")
        )
        .await
        .status(),
        200
    );
    assert_error(&call(&app, get("/v1/flows")).await, 401, "unauthorized");
    assert_error(
        &call(&app, get("/v1/flows/f/stream")).await,
        401,
        "unauthorized",
    );

    assert_error(
        &call(&app, delete("/v1/flows/f")).await,
        401,
        "unauthorized",
    );
    let authorized = delete("/v1/flows/f").header("authorization", "Bearer in1");
    assert_eq!(call(&app, authorized).await.status(), 204);
    // Operational endpoints stay open.
    for path in ["/", "/healthz", "/readyz", "/metrics"] {
        assert_eq!(call(&app, get(path)).await.status(), 200, "{path}");
    }
}

async fn rate_limit_per_flow(backend: Backend) {
    let app = backend
        .app(&["--ingest-rate", "0.5", "--ingest-burst", "2"])
        .await;
    for _ in 0..2 {
        assert_eq!(post_nodes(&app, "f", &[("a", "ok")]).await.status(), 200);
    }
    let limited = post_nodes(&app, "f", &[("a", "ok")]).await;
    let body = assert_error(&limited, 429, "rate_limited");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(
        body["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0 && ms <= 2000),
        "{body}"
    );
    let other = post_nodes(&app, "g", &[("a", "ok")]).await;
    assert_eq!(other.status(), 200, "each flow has its own bucket");
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains("openova_flow_rate_limited_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("openova_flow_events_accepted_total 3"),
        "{metrics}"
    );
}

async fn engine_bounds(backend: Backend) {
    let app = backend
        .app(&[
            "--max-flows",
            "1",
            "--max-state-items",
            "2",
            "--max-subscribers",
            "1",
        ])
        .await;
    assert_eq!(post_nodes(&app, "f", &[("a", "ok")]).await.status(), 200);
    let full = post_nodes(&app, "g", &[("a", "ok")]).await;
    match backend {
        Backend::Memory => {
            assert_error(&full, 503, "too_many_flows");
            assert!(full.headers().contains_key("retry-after"));
        }
        // The bound is on the flows this process holds; a replica holds only the flows it
        // serves streams of, and Redis holds the rest.
        Backend::Redis(_) => assert_eq!(full.status(), 200),
    }
    let state = post_nodes(&app, "f", &[("b", "ok"), ("c", "ok")]).await;
    assert_error(&state, 429, "flow_state_full");

    let first = open(&app, get("/v1/flows/f/stream")).await;
    assert_eq!(first.status(), 200);
    let second = open(&app, get("/v1/flows/f/stream")).await;
    assert_eq!(second.status(), 503);
    assert_eq!(refusal(second).await["error"], "too_many_subscribers");
    drop(first);
    assert_eq!(
        open(&app, get("/v1/flows/f/stream")).await.status(),
        200,
        "closing a stream frees its slot"
    );
}

#[tokio::test]
async fn cors_allow_list() {
    let app = app(&["--cors-origins", "https://console.example.org"]);
    let allowed = call(
        &app,
        get("/healthz").header("origin", "https://console.example.org"),
    )
    .await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://console.example.org"
    );
    assert_eq!(allowed.headers()["vary"], "origin");
    let other = call(
        &app,
        get("/healthz").header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(other.status(), 200);
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let preflight = warp::test::request()
        .method("OPTIONS")
        .path("/v1/flows/f/stream")
        .header("origin", "https://console.example.org")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "last-event-id");
    let response = call(&app, preflight).await;
    assert_eq!(response.status(), 204);
    let allow_headers = response.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii");
    assert!(allow_headers.contains("last-event-id"), "{allow_headers}");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://console.example.org"
    );

    let denied = warp::test::request()
        .method("OPTIONS")
        .path("/v1/flows/f/events")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST");
    assert_error(&call(&app, denied).await, 403, "origin_not_allowed");

    let closed = crate::fixture::app(&[]);
    let response = call(
        &closed,
        get("/healthz").header("origin", "https://console.example.org"),
    )
    .await;
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

/// Issue 14: readers of flow ids nobody posted to take no flow slot; they wait, bounded on
/// their own, and never deny a writer.
async fn readers_of_flows_without_state_never_lock_out_writers(backend: Backend) {
    let app = backend
        .app(&["--max-flows", "1", "--max-waiters", "2"])
        .await;
    let waiting = [
        open(&app, get("/v1/flows/junk0/stream")).await,
        open(&app, get("/v1/flows/junk1/stream")).await,
    ];
    assert!(waiting.iter().all(|response| response.status() == 200));
    let refused = open(&app, get("/v1/flows/junk2/stream")).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refusal(refused).await["error"], "too_many_waiters");
    assert_eq!(
        call(&app, get("/v1/flows/junk0/snapshot")).await.status(),
        404,
        "a read creates no state"
    );

    let legit = post_nodes(&app, "legit", &[("a", "ok")]).await;
    assert_eq!(legit.status(), 200, "the one flow slot went to the writer");
    let text = metrics(&app).await;
    assert!(text.contains("openova_flow_waiters 2\n"), "{text}");
    // The gauge counts the flows this process holds: with redis too, the writer's engine
    // holds the flow it admitted the message against.
    assert!(text.contains("openova_flow_flows 1\n"), "{text}");
    drop(waiting);
}

crate::fixture::on_both_backends!(
    ingest_then_snapshot,
    head_of_a_snapshot_has_gets_status_and_headers_and_no_body,
    contract_errors_name_variant_path_and_code,
    flow_ids_are_validated,
    content_type_and_body_size,
    delete_is_idempotent,
    stream_through_routes,
    listing,
    bearer_tokens,
    rate_limit_per_flow,
    engine_bounds,
    readers_of_flows_without_state_never_lock_out_writers,
    new_flows_per_client,
    replay_log_is_bounded_in_bytes,
    flow_state_is_bounded_in_bytes,
);

/// Issue 14: each client address creates at most `--new-flows-per-minute` flows; writing to
/// a flow that exists is not creating one (with Redis: whichever replica created it).
async fn new_flows_per_client(backend: Backend) {
    let app = backend.app(&["--new-flows-per-minute", "2"]).await;
    for flow in ["a", "b"] {
        assert_eq!(
            post_nodes(&app, flow, &[("x", "ok")]).await.status(),
            200,
            "{flow}"
        );
    }
    let third = post_nodes(&app, "c", &[("x", "ok")]).await;
    let body = assert_error(&third, 429, "too_many_new_flows");
    assert!(third.headers().contains_key("retry-after"), "{body}");
    assert_error(
        &call(&app, get("/v1/flows/c/snapshot")).await,
        404,
        "flow_not_found",
    );
    let existing = post_nodes(&app, "a", &[("y", "ok")]).await;
    assert_eq!(existing.status(), 200, "an existing flow is not a new one");
}

/// The log a flow keeps for replay is bounded by `--flow-byte-budget` as well as by count, on
/// both backends; the state stays exact.
async fn replay_log_is_bounded_in_bytes(backend: Backend) {
    // Half for replay frames (about nine of these), half for the state of three nodes.
    const BUDGET: usize = 8192;
    let budget = BUDGET.to_string();
    let app = backend.app(&["--flow-byte-budget", &budget]).await;
    let label = "l".repeat(300);
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = serde_json::json!({"type": "upsert-nodes", "nodes": [
            {"id": format!("n{}", i % 3), "flowId": "f", "label": label, "status": format!("s{i}")}
        ]})
        .to_string();
        let response = call(&app, post("/v1/flows/f/events", &body)).await;
        assert_eq!(response.status(), 200);
        ids.push(json(&response)["id"].as_str().expect("id").to_owned());
    }
    let snapshot = call(&app, get("/v1/flows/f/snapshot")).await;
    let Ok(FlowMessage::Snapshot { nodes, .. }) = decode(snapshot.body(), "f") else {
        panic!("not a snapshot: {:?}", snapshot.body());
    };
    assert_eq!(nodes.len(), 3, "the state holds every node");
    assert!(
        nodes.iter().any(|node| node.status == "s19"),
        "and its last status"
    );

    let first_frame = async |last_event_id: &str| {
        let resume = get("/v1/flows/f/stream").header("last-event-id", last_event_id);
        let mut stream = open(&app, resume).await;
        assert_eq!(stream.status(), 200);
        let mut text = String::new();
        while !text.contains("\ndata: ") {
            text.push_str(&next_frame(&mut stream).await);
        }
        text
    };
    let old = first_frame(&ids[1]).await;
    assert!(
        old.starts_with("retry: 3000\n\nevent: snapshot\n"),
        "an id beyond the byte budget resyncs: {old}"
    );
    let recent = first_frame(&ids[18]).await;
    assert!(
        recent.starts_with(&format!(
            "retry: 3000\n\nevent: upsert-nodes\nid: {}\n",
            ids[19]
        )),
        "an id within it replays exactly: {recent}"
    );

    if let Backend::Redis(redis) = &backend {
        let client = ::redis::Client::open(redis.url()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection");
        let entries: Vec<(String, Vec<(String, String)>)> = ::redis::cmd("XRANGE")
            .arg("openova-flow:2:{f}:log")
            .arg("-")
            .arg("+")
            .query_async(&mut connection)
            .await
            .expect("XRANGE");
        let bytes: usize = entries
            .iter()
            .map(|(_, fields)| fields.iter().map(|(_, json)| json.len()).sum::<usize>())
            .sum();
        assert!(
            (2..20).contains(&entries.len()) && bytes <= BUDGET / 2,
            "the stream holds {} entries, {bytes} bytes",
            entries.len()
        );
        assert_eq!(
            entries.last().map(|(id, _)| id.as_str()),
            Some("20-0"),
            "the newest entries are kept"
        );
    }
}

/// Issue 14: a flow's state is bounded in bytes (half the per-flow budget, as the engine
/// charges them) on both backends alike: the same POSTs are refused with 507
/// `flow_memory_full`, a delete makes room again, and the state stays servable.
async fn flow_state_is_bounded_in_bytes(backend: Backend) {
    let flags = ["--flow-byte-budget", "8192"];
    let app = backend.app(&flags).await;
    let reference = Backend::Memory.app(&flags).await;
    let label = "l".repeat(400);
    let node = |i: usize| {
        serde_json::json!({"type": "upsert-nodes", "nodes": [
            {"id": format!("n{i}"), "flowId": "f", "label": label, "status": "ok"}
        ]})
        .to_string()
    };
    let mut statuses = Vec::new();
    for i in 0..12 {
        let body = node(i);
        let got = call(&app, post("/v1/flows/f/events", &body)).await;
        let expected = call(&reference, post("/v1/flows/f/events", &body)).await;
        assert_eq!(got.status(), expected.status(), "node {i}");
        if got.status() != 200 {
            assert_error(&got, 507, "flow_memory_full");
        }
        statuses.push(got.status().as_u16());
    }
    let accepted = statuses.iter().filter(|status| **status == 200).count();
    assert!(
        (2..12).contains(&accepted) && statuses[..accepted].iter().all(|s| *s == 200),
        "{statuses:?}"
    );
    let delete = r#"{"type":"delete-nodes","ids":["n0"]}"#;
    for target in [&app, &reference] {
        assert_eq!(
            call(target, post("/v1/flows/f/events", delete))
                .await
                .status(),
            200
        );
        assert_eq!(
            call(target, post("/v1/flows/f/events", &node(99)))
                .await
                .status(),
            200,
            "a delete makes room"
        );
    }
    let got = call(&app, get("/v1/flows/f/snapshot")).await;
    let expected = call(&reference, get("/v1/flows/f/snapshot")).await;
    assert_eq!(got.body(), expected.body(), "the same state");
    assert_eq!(
        open(&app, get("/v1/flows/f/stream")).await.status(),
        200,
        "a replica can hold what was accepted"
    );
}
