//! The response side of raw HTTP/1.1: the status line and headers, then the body by its
//! `Content-Length` (pipelined POST answers), as is until close, or through an incremental
//! chunked decoder (streams).

use memchr::memmem;

/// How the body of a response is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: n` (without chunked transfer coding).
    Length(u64),
    /// Anything else: the bytes as they come until the connection closes.
    Raw,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    /// The status code.
    pub(crate) status: u16,
    /// The body framing.
    pub(crate) framing: BodyFraming,
}

/// Why a response head could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HeadError {
    /// The status line is not `HTTP/1.x NNN ...`.
    #[error("malformed status line")]
    StatusLine,
    /// A `Content-Length` that is not a decimal number.
    #[error("malformed content-length")]
    ContentLength,
    /// The head grew beyond the limit without a blank line.
    #[error("response head longer than {0} bytes")]
    TooLong(usize),
}

/// Longest head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Looks for a complete head in `buf`; returns it and the head's length, or `None` if more bytes
/// are needed.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let Some(end) = memmem::find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(HeadError::TooLong(MAX_HEAD))
        } else {
            Ok(None)
        };
    };
    let head = &buf[..end];
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().ok_or(HeadError::StatusLine)?;
    let mut parts = status_line.split(|b| *b == b' ');
    let version = parts.next().ok_or(HeadError::StatusLine)?;
    if !version.starts_with(b"HTTP/1.") {
        return Err(HeadError::StatusLine);
    }
    let status = parts
        .next()
        .filter(|code| code.len() == 3)
        .and_then(crate::scanner::parse_u64)
        .and_then(|code| u16::try_from(code).ok())
        .ok_or(HeadError::StatusLine)?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked |= value
                .to_ascii_lowercase()
                .windows(7)
                .any(|w| w == b"chunked");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            length = Some(crate::scanner::parse_u64(value).ok_or(HeadError::ContentLength)?);
        }
    }
    let framing = match (chunked, length) {
        (true, _) => BodyFraming::Chunked,
        (false, Some(length)) => BodyFraming::Length(length),
        (false, None) => BodyFraming::Raw,
    };
    Ok(Some((ResponseHead { status, framing }, end + 4)))
}

/// Why a chunked body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ChunkError {
    /// A chunk-size line had no hex digits or overflowed.
    #[error("malformed chunk size")]
    Size,
    /// The bytes after a chunk's data were not CRLF.
    #[error("missing CRLF after chunk data")]
    Crlf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of a size line (value so far, digits seen).
    Size(u64, bool),
    /// Skipping an extension until the LF of the size line.
    SizeLine(u64),
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CR after the data.
    DataCr,
    /// Expecting the LF after the data.
    DataLf,
    /// After the last (zero) chunk: trailers and the end are ignored.
    Done,
}

/// Incremental `Transfer-Encoding: chunked` decoder that hands out borrowed slices.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self {
            state: ChunkState::Size(0, false),
        }
    }
}

impl ChunkedDecoder {
    /// True once the terminating zero-size chunk was read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, calling `out` with each run of body bytes.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), ChunkError> {
        while let Some((&byte, rest)) = input.split_first() {
            match self.state {
                ChunkState::Size(value, seen) => {
                    input = rest;
                    if let Some(digit) = (byte as char).to_digit(16) {
                        let value = value
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(u64::from(digit)))
                            .ok_or(ChunkError::Size)?;
                        self.state = ChunkState::Size(value, true);
                    } else if !seen {
                        return Err(ChunkError::Size);
                    } else if byte == b'\n' {
                        self.state = Self::after_size(value);
                    } else {
                        self.state = ChunkState::SizeLine(value);
                    }
                }
                ChunkState::SizeLine(value) => {
                    input = rest;
                    if byte == b'\n' {
                        self.state = Self::after_size(value);
                    }
                }
                ChunkState::Data(left) => {
                    let take = usize::try_from(left).map_or(input.len(), |l| l.min(input.len()));
                    out(&input[..take]);
                    input = &input[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataCr
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataCr => {
                    input = rest;
                    self.state = match byte {
                        b'\r' => ChunkState::DataLf,
                        b'\n' => ChunkState::Size(0, false),
                        _ => return Err(ChunkError::Crlf),
                    };
                }
                ChunkState::DataLf => {
                    input = rest;
                    if byte != b'\n' {
                        return Err(ChunkError::Crlf);
                    }
                    self.state = ChunkState::Size(0, false);
                }
                ChunkState::Done => return Ok(()),
            }
        }
        Ok(())
    }

    fn after_size(value: u64) -> ChunkState {
        if value == 0 {
            ChunkState::Done
        } else {
            ChunkState::Data(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_found_with_its_framing() {
        let buf = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nabc";
        let (head, len) = parse_head(buf).unwrap().unwrap();
        assert_eq!(
            head,
            ResponseHead {
                status: 200,
                framing: BodyFraming::Chunked
            }
        );
        assert_eq!(&buf[len..], b"abc");
        let (head, _) = parse_head(b"HTTP/1.1 429 Too Many\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.status, 429);
        assert_eq!(head.framing, BodyFraming::Raw);
        let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length:  42 \r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, BodyFraming::Length(42));
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 4x\r\n\r\n"),
            Err(HeadError::ContentLength)
        );
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert_eq!(parse_head(b"SSH-2.0\r\n\r\n"), Err(HeadError::StatusLine));
        assert_eq!(
            parse_head(&vec![b'a'; MAX_HEAD + 1]),
            Err(HeadError::TooLong(MAX_HEAD))
        );
    }

    #[test]
    fn chunked_body_decodes_at_every_split() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n";
        for piece in 1..=wire.len() {
            let mut decoder = ChunkedDecoder::default();
            let mut body = Vec::new();
            for chunk in wire.chunks(piece) {
                decoder
                    .feed(chunk, &mut |b| body.extend_from_slice(b))
                    .unwrap();
            }
            assert_eq!(body, b"hello 0123456789", "piece {piece}");
            assert!(decoder.is_done());
        }
    }

    #[test]
    fn chunked_errors_are_reported() {
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.feed(b"zz\r\n", &mut |_| {}), Err(ChunkError::Size));
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.feed(b"1\r\nab", &mut |_| {}), Err(ChunkError::Crlf));
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(
            decoder.feed(b"fffffffffffffffff\r\n", &mut |_| {}),
            Err(ChunkError::Size)
        );
    }
}
