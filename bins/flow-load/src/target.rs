//! Where the load goes: the server's address, and the requests the tool makes: a streaming GET
//! written by hand, POSTs through a keep-alive hyper HTTP/1.1 connection (one in flight, as
//! ordinary clients send them), and pipelined POSTs written by hand (hyper's client does not
//! pipeline).

use std::io::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use memchr::memmem;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::http_body::{BodyFraming, HeadError, parse_head};
use crate::scanner::parse_u64;

/// A server to load.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Socket address.
    pub(crate) addr: SocketAddr,
    /// `Host` header value.
    pub(crate) host: String,
}

/// Why a URL is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UrlError {
    /// Only `http://host:port` is supported.
    #[error("{0:?}: expected http://HOST:PORT (no TLS, no path)")]
    Shape(String),
    /// The host did not resolve.
    #[error("{0:?} did not resolve to an address")]
    Resolve(String),
}

impl Target {
    /// Resolves `http://host:port`.
    pub(crate) async fn from_url(url: &str) -> Result<Self, UrlError> {
        let host = url
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(|| UrlError::Shape(url.to_owned()))?;
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| UrlError::Resolve(url.to_owned()))?;
        Ok(Self {
            addr,
            host: host.to_owned(),
        })
    }

    /// A target at a local address.
    pub(crate) fn local(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
        }
    }

    /// A new TCP connection with Nagle off (every request is one whole write).
    pub(crate) async fn dial(&self) -> Result<TcpStream, RequestError> {
        let socket = TcpStream::connect(self.addr)
            .await
            .map_err(RequestError::Connect)?;
        socket.set_nodelay(true)?;
        Ok(socket)
    }
}

/// Why a request failed; `kind()` is the key errors are counted under.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RequestError {
    /// TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// Reading or writing the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The response head was malformed.
    #[error("response head: {0}")]
    Head(#[from] HeadError),
    /// The server closed before a complete head.
    #[error("closed before the response head")]
    Closed,
    /// A status other than 200.
    #[error("status {0}")]
    Status(u16),
    /// hyper failed (connection reset, protocol error).
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// A 200 answer without a `seq`.
    #[error("200 without a seq")]
    NoSeq,
    /// A pipelined answer without `Content-Length` (its end cannot be found).
    #[error("pipelined answer without content-length")]
    Unframed,
}

impl RequestError {
    /// A short stable key for counting.
    pub(crate) fn kind(&self) -> String {
        match self {
            Self::Connect(e) => format!("connect {:?}", e.kind()),
            Self::Io(e) => format!("io {:?}", e.kind()),
            Self::Head(_) => "bad response head".to_owned(),
            Self::Closed => "closed before head".to_owned(),
            Self::Status(code) => format!("status {code}"),
            Self::Http(e) if e.is_closed() || e.is_incomplete_message() => "http closed".to_owned(),
            Self::Http(_) => "http error".to_owned(),
            Self::NoSeq => "no seq in answer".to_owned(),
            Self::Unframed => "answer without length".to_owned(),
        }
    }
}

/// An open SSE response: the socket, its framing and the body bytes read with the head.
#[derive(Debug)]
pub(crate) struct OpenStream {
    /// The socket, positioned after `leftover`.
    pub(crate) socket: TcpStream,
    /// How the body is framed.
    pub(crate) framing: BodyFraming,
    /// Body bytes that arrived together with the head.
    pub(crate) leftover: Vec<u8>,
}

/// Opens `GET /v1/flows/{flow}/stream`, optionally resuming after `last_event_id`.
pub(crate) async fn open_stream(
    target: &Target,
    flow: &str,
    last_event_id: Option<&[u8]>,
) -> Result<OpenStream, RequestError> {
    let mut socket = target.dial().await?;
    let mut request = format!(
        "GET /v1/flows/{flow}/stream HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
        target.host
    )
    .into_bytes();
    if let Some(id) = last_event_id {
        request.extend_from_slice(b"Last-Event-ID: ");
        request.extend_from_slice(id);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    socket.write_all(&request).await?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        if let Some((head, len)) = parse_head(&buf)? {
            if head.status != 200 {
                return Err(RequestError::Status(head.status));
            }
            buf.drain(..len);
            return Ok(OpenStream {
                socket,
                framing: head.framing,
                leftover: buf,
            });
        }
        if socket.read_buf(&mut buf).await? == 0 {
            return Err(RequestError::Closed);
        }
    }
}

/// A keep-alive HTTP/1.1 connection for POSTs.
#[derive(Debug)]
pub(crate) struct Poster {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    seq: memmem::Finder<'static>,
}

impl Poster {
    /// Connects and starts the connection task.
    pub(crate) async fn connect(target: &Target) -> Result<Self, RequestError> {
        let socket = target.dial().await?;
        let (sender, connection) = http1::handshake(TokioIo::new(socket)).await?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: target.host.clone(),
            seq: memmem::Finder::new(b"\"seq\":"),
        })
    }

    /// POSTs `body` to `flow`'s events; the assigned seq.
    pub(crate) async fn post(&mut self, flow: &str, body: Vec<u8>) -> Result<u64, RequestError> {
        let request = hyper::Request::post(format!("/v1/flows/{flow}/events"))
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            // The method, a path made of a validated flow id, and constant headers always build.
            .expect("a POST with constant headers is a valid request");
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        if status != 200 {
            return Err(RequestError::Status(status));
        }
        seq_of(&self.seq, &body).ok_or(RequestError::NoSeq)
    }
}

/// One POST of a pipelined batch.
#[derive(Debug)]
pub(crate) struct Post<'a> {
    /// The flow id.
    pub(crate) flow: &'a str,
    /// The JSON body.
    pub(crate) body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection that pipelines POSTs: a batch is written at once, then its
/// answers are read in order (HTTP/1.1 answers pipelined requests in the order sent).
#[derive(Debug)]
pub(crate) struct Pipeline {
    socket: TcpStream,
    host: String,
    /// The batch being written (reused).
    out: Vec<u8>,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
    seq: memmem::Finder<'static>,
}

impl Pipeline {
    /// Connects.
    pub(crate) async fn connect(target: &Target) -> Result<Self, RequestError> {
        let socket = target.dial().await?;
        Ok(Self {
            socket,
            host: target.host.clone(),
            out: Vec::with_capacity(16 * 1024),
            buf: Vec::with_capacity(16 * 1024),
            seq: memmem::Finder::new(b"\"seq\":"),
        })
    }

    /// Sends `batch` in one write and reads every answer; `answered` is called with each
    /// answer's index and outcome (the seq of a 200) as it arrives. An `Err` is the connection's
    /// failure: the answers not yet reported are lost with it and the connection is unusable.
    pub(crate) async fn post_batch(
        &mut self,
        batch: &[Post<'_>],
        answered: &mut impl FnMut(usize, Result<u64, RequestError>),
    ) -> Result<(), RequestError> {
        self.out.clear();
        for post in batch {
            // Writing into a Vec cannot fail.
            let _ = write!(
                self.out,
                "POST /v1/flows/{}/events HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                post.flow,
                self.host,
                post.body.len()
            );
            self.out.extend_from_slice(&post.body);
        }
        self.socket.write_all(&self.out).await?;
        for index in 0..batch.len() {
            let (status, body) = self.read_answer().await?;
            let outcome = if status == 200 {
                seq_of(&self.seq, &self.buf[body.clone()]).ok_or(RequestError::NoSeq)
            } else {
                Err(RequestError::Status(status))
            };
            self.buf.drain(..body.end);
            answered(index, outcome);
        }
        Ok(())
    }

    /// Reads until one whole answer is buffered; its status and where its body lies in `buf`.
    async fn read_answer(&mut self) -> Result<(u16, std::ops::Range<usize>), RequestError> {
        let (head, head_len) = loop {
            if let Some(found) = parse_head(&self.buf)? {
                break found;
            }
            self.fill().await?;
        };
        let BodyFraming::Length(length) = head.framing else {
            return Err(RequestError::Unframed);
        };
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| head_len.checked_add(length))
            .ok_or(HeadError::ContentLength)?;
        while self.buf.len() < end {
            self.fill().await?;
        }
        Ok((head.status, head_len..end))
    }

    /// Reads more bytes; [`RequestError::Closed`] at end of stream.
    async fn fill(&mut self) -> Result<(), RequestError> {
        if self.socket.read_buf(&mut self.buf).await? == 0 {
            return Err(RequestError::Closed);
        }
        Ok(())
    }
}

/// The number after `"seq":` in an ingest answer.
fn seq_of(finder: &memmem::Finder<'_>, body: &[u8]) -> Option<u64> {
    let at = finder.find(body)? + finder.needle().len();
    let rest = &body[at..];
    let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_u64(&rest[..len])
}

/// `GET path` on a fresh connection; the status code.
pub(crate) async fn get_status(target: &Target, path: &str) -> Result<u16, RequestError> {
    let mut socket = target.dial().await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        target.host
    );
    socket.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if let Some((head, _)) = parse_head(&buf)? {
            return Ok(head.status);
        }
        if socket.read_buf(&mut buf).await? == 0 {
            return Err(RequestError::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_read_from_the_answer() {
        let finder = memmem::Finder::new(b"\"seq\":");
        assert_eq!(seq_of(&finder, br#"{"seq":42,"epoch":"1f"}"#), Some(42));
        assert_eq!(seq_of(&finder, br#"{"epoch":"1f","seq": 7}"#), Some(7));
        assert_eq!(seq_of(&finder, br#"{"epoch":"1f"}"#), None);
    }

    #[tokio::test]
    async fn pipelined_posts_are_answered_in_order() {
        let board = std::sync::Arc::new(crate::board::Board::new(1));
        let baseline = crate::baseline::Baseline::start(board, crate::baseline::Shape::Batched)
            .await
            .unwrap();
        let mut pipeline = Pipeline::connect(&Target::local(baseline.addr))
            .await
            .unwrap();
        for round in 0..3_u64 {
            let batch: Vec<Post<'_>> = (0..5)
                .map(|n| Post {
                    flow: "f",
                    body: format!(r#"{{"n":{n}}}"#).into_bytes(),
                })
                .collect();
            let mut answers = Vec::new();
            pipeline
                .post_batch(&batch, &mut |at, outcome| {
                    answers.push((at, outcome.unwrap()));
                })
                .await
                .unwrap();
            let expected: Vec<(usize, u64)> =
                (0..5).map(|n| (n, round * 5 + n as u64 + 1)).collect();
            assert_eq!(answers, expected);
        }
    }

    #[tokio::test]
    async fn urls() {
        let t = Target::from_url("http://127.0.0.1:8080/").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1:8080");
        assert!(matches!(
            Target::from_url("https://x:1").await,
            Err(UrlError::Shape(_))
        ));
        assert!(matches!(
            Target::from_url("http://127.0.0.1:1/v1").await,
            Err(UrlError::Shape(_))
        ));
    }
}
