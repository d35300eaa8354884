//! Posts and reads: typed answers, typed refusals, retries after `Retry-After`.

use flow_client::{Client, Error, FlowEvent, RetryPolicy};

use crate::harness::{Server, client, next, node_ids, quick, upsert};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_reads_and_deletes_are_typed() {
    let server = Server::start(&[]).await;
    let client = client(&server.url());
    let posted = client
        .post_batch(
            "f",
            &[
                upsert("f", &[("a", "running")]),
                upsert("f", &[("b", "failed")]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(posted.iter().map(|p| p.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(posted[0].epoch, posted[1].epoch);

    assert!(matches!(
        client.head("never").await,
        Err(Error::NotFound { .. })
    ));
    let head = client.head("f").await.unwrap();
    assert_eq!(head.id(), posted[1].id());
    let snapshot = client.snapshot("f").await.unwrap();
    assert_eq!(snapshot.head, head);
    assert_eq!(node_ids(&snapshot.message), ["a", "b"]);

    let flows = client.flows().await.unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(
        (flows[0].id.as_str(), flows[0].seq, flows[0].nodes),
        ("f", 2, 2)
    );
    assert_eq!(flows[0].epoch, posted[0].epoch);

    client.delete("f").await.unwrap();
    assert!(matches!(
        client.snapshot("f").await,
        Err(Error::NotFound { .. })
    ));
    // Idempotent.
    client.delete("f").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stops_at_the_first_refusal_and_says_what_was_accepted() {
    let server = Server::start(&[]).await;
    let client = client(&server.url());
    let foreign = upsert("other", &[("x", "running")]);
    let error = client
        .post_batch(
            "f",
            &[
                upsert("f", &[("a", "running")]),
                foreign,
                upsert("f", &[("c", "running")]),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(error.index, 1);
    assert_eq!(error.posted.len(), 1);
    assert!(matches!(error.error, Error::BadRequest { .. }));
    assert_eq!(
        node_ids(&client.snapshot("f").await.unwrap().message),
        ["a"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_contract_rejects_is_a_bad_request_with_code_and_path() {
    let server = Server::start(&[]).await;
    let client = client(&server.url());
    let error = client
        .post("f", &upsert("other", &[("a", "running")]))
        .await
        .unwrap_err();
    let Error::BadRequest { refusal, .. } = &error else {
        panic!("a 400: {error:?}")
    };
    assert_eq!(refusal.code, "invalid_message");
    assert_eq!(refusal.path.as_deref(), Some("$.nodes[0].flowId"));
    assert_eq!(refusal.variant.as_deref(), Some("upsert-nodes"));
    assert_eq!(error.status(), Some(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_sent_per_kind_and_a_refusal_is_unauthorized() {
    let server = Server::start(&["--ingest-tokens", "in", "--read-tokens", "out"]).await;
    let anonymous = client(&server.url());
    let message = upsert("f", &[("a", "running")]);
    assert!(matches!(
        anonymous.post("f", &message).await,
        Err(Error::Unauthorized { status: 401, .. })
    ));

    let ingest_only = Client::builder(server.url())
        .ingest_token("in")
        .build()
        .unwrap();
    ingest_only.post("f", &message).await.unwrap();
    assert!(matches!(
        ingest_only.snapshot("f").await,
        Err(Error::Unauthorized { status: 401, .. })
    ));
    // A follow whose token is refused ends with the error instead of retrying.
    let mut refused = ingest_only.follow_with("f", None, quick().retry_first_connection(true));
    assert!(matches!(
        next(&mut refused).await,
        Err(Error::Unauthorized { .. })
    ));

    let both = Client::builder(server.url())
        .ingest_token("in")
        .read_token("out")
        .build()
        .unwrap();
    assert_eq!(node_ids(&both.snapshot("f").await.unwrap().message), ["a"]);
    let mut follow = both.follow_with("f", None, quick());
    next(&mut follow).await.unwrap();
    assert!(matches!(
        next(&mut follow).await.unwrap(),
        FlowEvent::Snapshot { .. }
    ));
}

/// The `openova_flow_rate_limited_total` counter of the server's metrics.
async fn rate_limited(server: &Server) -> u64 {
    let text = reqwest_text(&format!("{}/metrics", server.url())).await;
    text.lines()
        .find_map(|line| line.strip_prefix("openova_flow_rate_limited_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate-limited counter in:\n{text}"))
}

async fn reqwest_text(url: &str) -> String {
    // The client under test has no call for metrics; a plain GET reads them.
    let response = reqwest::get(url).await.expect("metrics answer");
    response.text().await.expect("metrics text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_post_is_retried_after_retry_after() {
    let server = Server::start(&["--ingest-rate", "1", "--ingest-burst", "1"]).await;
    let message = upsert("f", &[("a", "running")]);
    let once = Client::builder(server.url())
        .retry(RetryPolicy::NONE)
        .build()
        .unwrap();
    once.post("f", &message).await.unwrap();
    let error = once.post("f", &message).await.unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { retry_after: Some(after), .. } if after >= std::time::Duration::from_secs(1)),
        "{error:?}"
    );
    assert_eq!(rate_limited(&server).await, 1);

    // On another flow (limits are per flow), the retrying client's own backoff starts at
    // 10 ms; only waiting out Retry-After lets its retry through, so the server counts
    // exactly one refusal for the second post.
    let retrying = client(&server.url());
    let message = upsert("g", &[("a", "running")]);
    retrying.post("g", &message).await.unwrap();
    let posted = retrying.post("g", &message).await.unwrap();
    assert_eq!(posted.seq, 2);
    assert_eq!(rate_limited(&server).await, 2);
}
