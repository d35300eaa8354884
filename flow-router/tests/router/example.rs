//! The axum example, served over a real socket on 127.0.0.1.

use std::time::Duration;

use flow_router::{RouterConfig, SharedRouter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sim::{SEED, node, origin};

#[path = "../../examples/axum_embed.rs"]
#[allow(dead_code)] // the example's `main` is not called here
mod axum_embed;

/// Reads from `socket` into `seen` until `text` has been received.
async fn read_until(socket: &mut TcpStream, seen: &mut String, text: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(text) {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed before {text:?}; got {seen:?}");
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
}

#[tokio::test]
async fn streams_frames_over_a_socket_and_ends_on_delete() {
    let now = origin();
    let shared = SharedRouter::new(RouterConfig::default(), SEED, move || now).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, axum_embed::app(shared.clone())).into_future());

    let run = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /v1/flows/demo/stream HTTP/1.1\r\nhost: t\r\nlast-event-id: 7\r\n\r\n")
            .await
            .unwrap();
        let mut seen = String::new();
        read_until(&mut stream, &mut seen, "id: e0-0\n").await;
        assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
        assert!(seen.contains("content-type: text/event-stream\r\n"));
        assert!(seen.contains("retry: 3000\n\nevent: snapshot\n"));

        let body = node("demo", "a", "running");
        let mut post = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST /v1/flows/demo/events HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        post.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        post.read_to_string(&mut response).await.unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200 OK") && response.ends_with("{\"seq\":1}"),
            "{response}"
        );

        read_until(
            &mut stream,
            &mut seen,
            "event: upsert-nodes\nid: e0-1\ndata: ",
        )
        .await;
        assert!(shared.delete("demo"));
        // The stream ends: the chunked body's terminating chunk arrives.
        read_until(&mut stream, &mut seen, "\r\n0\r\n\r\n").await;
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap();
}
