//! [`Follow`]: the I/O shell around [`Resume`]. It opens the stream, feeds the body's chunks
//! in, enforces the idle timeout, waits before reconnecting, and hands out what [`Resume`]
//! decided. It decides nothing itself.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use flow_router::EventId;
use futures::stream::{self, BoxStream};
use futures_core::Stream;
use reqwest::Response;

use crate::client::Client;
use crate::error::Error;
use crate::resume::{Disconnect, FlowEvent, FollowOptions, Next, Resume};

/// A flow's events across reconnections: a [`Stream`] of [`FlowEvent`]s.
///
/// It opens `GET /v1/flows/{flow}/stream` and, whenever the connection ends, fails, or stays
/// silent past the idle timeout, reconnects with `Last-Event-ID` set to the last event it
/// delivered. The server then replays exactly what followed, or, when it cannot (a restart, a
/// DELETE, an id that left its ring), sends a snapshot, yielded as [`FlowEvent::Resync`].
/// Every change arrives once, in order; a skipped position makes the follow reconnect rather
/// than deliver a gap.
///
/// The stream ends with an `Err` when retrying cannot help (a refused token, a malformed
/// request, a stream that is not FlowMessages) or when the first connection fails (unless
/// [`FollowOptions::retry_first_connection`]). Otherwise it never ends: drop it to stop.
pub struct Follow {
    inner: BoxStream<'static, Result<FlowEvent, Error>>,
}

impl fmt::Debug for Follow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follow").finish_non_exhaustive()
    }
}

/// The shell's state between two items.
struct Shell {
    client: Client,
    resume: Resume,
    idle_timeout: Duration,
    connection: Option<(String, Response)>,
    wait: Option<Duration>,
    /// The error that ends the follow, handed out after the events decided before it.
    fatal: Option<Error>,
    done: bool,
}

impl Follow {
    pub(crate) fn new(
        client: Client,
        flow: &str,
        from: Option<EventId>,
        options: FollowOptions,
    ) -> Self {
        let shell = Shell {
            client,
            resume: Resume::new(flow, from, &options),
            idle_timeout: options.get_idle_timeout(),
            connection: None,
            wait: None,
            fatal: None,
            done: false,
        };
        let inner = stream::unfold(shell, |mut shell| async move {
            let item = shell.next().await?;
            Some((item, shell))
        });
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl Stream for Follow {
    type Item = Result<FlowEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Shell {
    /// The next item, doing whatever I/O it takes; `None` once the follow has ended.
    async fn next(&mut self) -> Option<Result<FlowEvent, Error>> {
        loop {
            if let Some(event) = self.resume.poll_event() {
                return Some(Ok(event));
            }
            if let Some(error) = self.fatal.take() {
                self.done = true;
                return Some(Err(error));
            }
            if self.done {
                return None;
            }
            let ended = match &mut self.connection {
                None => self.connect().await.err(),
                Some((what, response)) => {
                    match tokio::time::timeout(self.idle_timeout, response.chunk()).await {
                        Err(_) => Some(Disconnect::Idle {
                            after: self.idle_timeout,
                        }),
                        Ok(Err(source)) => Some(Disconnect::Failed(Error::Transport {
                            what: what.clone(),
                            source,
                        })),
                        Ok(Ok(None)) => Some(Disconnect::Ended),
                        Ok(Ok(Some(chunk))) => {
                            match self.resume.handle_bytes(&chunk) {
                                Ok(Next::Read) => {}
                                Ok(Next::Reconnect { after }) => {
                                    self.connection = None;
                                    self.wait = Some(after);
                                }
                                Err(fatal) => {
                                    self.connection = None;
                                    self.fatal = Some(fatal);
                                }
                            }
                            None
                        }
                    }
                }
            };
            if let Some(reason) = ended {
                self.connection = None;
                match self.resume.handle_disconnect(reason) {
                    Ok(after) => self.wait = Some(after),
                    Err(fatal) => self.fatal = Some(fatal),
                }
            }
        }
    }

    /// Waits out the pending delay, then opens the stream.
    async fn connect(&mut self) -> Result<(), Disconnect> {
        if let Some(wait) = self.wait.take() {
            tokio::time::sleep(wait).await;
        }
        let last = self.resume.last_event_id();
        let flow = self.resume.flow().to_owned();
        let connection = self
            .client
            .open_stream(&flow, last)
            .await
            .map_err(Disconnect::Failed)?;
        self.connection = Some(connection);
        self.resume.handle_connected();
        Ok(())
    }
}
