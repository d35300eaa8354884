//! Everything that makes `flowctl` fail, and the exit code each failure maps to.

use std::io;

use crate::input::InputError;

/// A failed command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CtlError {
    /// Arguments that parse but make no sense (a bad URL or flow id).
    #[error("{0}")]
    Usage(String),
    /// The input file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path given (`-` for standard input).
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The input holds no valid messages.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The server refused, failed, was unreachable, or answered unexpectedly.
    #[error(transparent)]
    Server(#[from] flow_client::Error),
    /// The flow's state cannot be analysed (its finish-to-start relationships form a cycle).
    #[error("cannot analyse the flow")]
    Timeline(#[from] flow_router::TimelineError),
    /// Standard output could not be written.
    #[error("cannot write to standard output")]
    Output(#[source] io::Error),
}

/// Documented exit codes (also in `--help`).
pub(crate) mod exit {
    /// Success.
    pub(crate) const OK: u8 = 0;
    /// The server failed, was unreachable, or answered unexpectedly.
    pub(crate) const SERVER: u8 = 1;
    /// Bad command line (also clap's own code for usage errors).
    pub(crate) const USAGE: u8 = 2;
    /// The input is not valid FlowMessages; nothing was sent.
    pub(crate) const INVALID: u8 = 3;
    /// The server refused the token (401 or 403).
    pub(crate) const UNAUTHORIZED: u8 = 4;
    /// The flow does not exist on the server (404).
    pub(crate) const NOT_FOUND: u8 = 5;
}

impl CtlError {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_)
            | Self::Server(
                flow_client::Error::InvalidUrl { .. } | flow_client::Error::InvalidFlowId { .. },
            ) => exit::USAGE,
            Self::Read { .. } | Self::Input(_) => exit::INVALID,
            Self::Server(flow_client::Error::Unauthorized { .. }) => exit::UNAUTHORIZED,
            Self::Server(flow_client::Error::NotFound { .. }) => exit::NOT_FOUND,
            Self::Output(err) if err.kind() == io::ErrorKind::BrokenPipe => exit::OK,
            Self::Server(_) | Self::Output(_) | Self::Timeline(_) => exit::SERVER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> CtlError {
        CtlError::Server(flow_client::Error::from_refusal(
            "GET x".into(),
            code,
            None,
            b"",
        ))
    }

    #[test]
    fn statuses_map_to_documented_codes() {
        assert_eq!(status(401).exit_code(), 4);
        assert_eq!(status(403).exit_code(), 4);
        assert_eq!(status(404).exit_code(), 5);
        assert_eq!(status(429).exit_code(), 1);
        assert_eq!(status(503).exit_code(), 1);
        assert_eq!(CtlError::Usage(String::new()).exit_code(), 2);
        assert_eq!(CtlError::Input(InputError::Empty).exit_code(), 3);
        assert_eq!(
            CtlError::Output(io::Error::from(io::ErrorKind::BrokenPipe)).exit_code(),
            0
        );
        assert_eq!(
            CtlError::Server(flow_client::Error::InvalidFlowId {
                flow: "..".into(),
                reason: String::new()
            })
            .exit_code(),
            2
        );
    }
}
