//! The ingest fast path (a served `POST /v1/flows/{id}/events` skips warp's filter tree) answers
//! byte for byte like the warp route: the same requests over a real socket and through
//! `routes()` give the same status, headers and body.

use bytes::Bytes;
use openova_flow_server::{App, routes};
use warp::http::Response;

use crate::fixture::{Backend, Server, config, upsert_nodes};

const FLAGS: [&str; 6] = [
    "--ingest-tokens",
    "in1",
    "--max-body-bytes",
    "256",
    "--cors-origins",
    "https://console.example.org",
];

/// Headers whose values must agree (the rest, such as `date`, legitimately differ).
const COMPARED: [&str; 6] = [
    "content-type",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "vary",
    "www-authenticate",
    "retry-after",
];

struct Case {
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
}

fn case(path: &str, headers: &[(&'static str, &'static str)], body: &str) -> Case {
    Case {
        path: path.to_owned(),
        headers: headers.to_vec(),
        body: body.to_owned(),
    }
}

fn cases() -> Vec<Case> {
    const JSON: (&str, &str) = ("content-type", "application/json");
    const AUTH: (&str, &str) = ("authorization", "Bearer in1");
    const ORIGIN: (&str, &str) = ("origin", "https://console.example.org");
    let ok = upsert_nodes("f", &[("a", "ok")]);
    vec![
        case("/v1/flows/f/events", &[JSON, AUTH], &ok),
        case("/v1/flows/f/events", &[JSON, AUTH, ORIGIN], &ok),
        case(
            "/v1/flows/f/events",
            &[JSON, AUTH, ("origin", "https://evil.example")],
            &ok,
        ),
        case("/v1/flows/f/events?access_token=in1", &[JSON], &ok),
        case("/v1/flows/f/events", &[JSON], &ok),
        case(
            "/v1/flows/f/events",
            &[JSON, ("authorization", "Bearer nope")],
            &ok,
        ),
        case("/v1/flows/f/events", &[AUTH], &ok),
        case(
            "/v1/flows/f/events",
            &[AUTH, ("content-type", "application/json; charset=latin1")],
            &ok,
        ),
        case(
            "/v1/flows/f/events",
            &[AUTH, ("content-type", "Application/JSON;charset=\"UTF-8\"")],
            &ok,
        ),
        case("/v1/flows/f/events", &[JSON, AUTH], &"x".repeat(300)),
        case("/v1/flows/f/events", &[JSON, AUTH], "{not json"),
        case("/v1/flows/f/events", &[JSON, AUTH], r#"{"type":"nope"}"#),
        case(
            "/v1/flows/f/events",
            &[JSON, AUTH],
            &upsert_nodes("other", &[("a", "ok")]),
        ),
        case("/v1/flows/bad!id/events", &[JSON, AUTH], &ok),
        case("/v1/flows/..//events", &[JSON, AUTH], &ok),
        case(
            &format!("/v1/flows/{}/events", "x".repeat(129)),
            &[JSON, AUTH],
            &ok,
        ),
        // Percent-escapes take the general route (which hands them over undecoded, so the
        // flow-id check refuses them).
        case("/v1/flows/a%2Fb/events", &[JSON, AUTH], &ok),
        case("/v1/flows/%66/events", &[JSON, AUTH], &ok),
        case(
            "/v1/flows/g/events",
            &[JSON, AUTH, ORIGIN],
            &upsert_nodes("g", &[("a", "ok")]),
        ),
    ]
}

fn compared_headers(headers: &warp::http::HeaderMap) -> Vec<(&'static str, Option<String>)> {
    COMPARED
        .iter()
        .map(|name| {
            let values: Vec<_> = headers
                .get_all(*name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (*name, (!values.is_empty()).then(|| values.join(", ")))
        })
        .collect()
}

#[tokio::test]
async fn served_ingest_answers_like_the_warp_route() {
    let server = Server::start_with(&Backend::Memory, &FLAGS).await;
    // The same configuration and epoch seed as the fixture's server, so ids agree too.
    let app = App::new(&config(&FLAGS), 0xabc).expect("valid engine bounds");
    app.mark_ready();
    let filter = routes(app);

    let mut statuses = Vec::new();
    let mut accepted_on_f = 0;
    for case in cases() {
        let mut served = server.client.post(server.url(&case.path));
        let mut in_memory = warp::test::request().method("POST").path(&case.path);
        for (name, value) in &case.headers {
            served = served.header(*name, *value);
            in_memory = in_memory.header(*name, *value);
        }
        let served = served
            .body(case.body.clone())
            .send()
            .await
            .expect("POST reaches the server");
        let expected: Response<Bytes> = in_memory.body(case.body.clone()).reply(&filter).await;

        let status = served.status().as_u16();
        let headers = compared_headers(served.headers());
        let body = served.bytes().await.expect("body");
        assert_eq!(
            (status, &headers, &body),
            (
                expected.status().as_u16(),
                &compared_headers(expected.headers()),
                expected.body()
            ),
            "{} {:?}",
            case.path,
            case.headers
        );
        if status == 200 && case.path.starts_with("/v1/flows/f/") {
            accepted_on_f += 1;
        }
        statuses.push((case.path, status));
    }
    // The table reaches every outcome it is meant to: accepted and each refusal.
    for status in [200, 400, 401, 413, 415] {
        assert!(
            statuses.iter().any(|(_, s)| *s == status),
            "{status} in {statuses:?}"
        );
    }
    // Every accepted canonical post reached the served engine.
    let snapshot = server
        .app
        .router()
        .snapshot("f")
        .expect("f was written through the fast path");
    assert_eq!(snapshot.seq, accepted_on_f);
}
