//! Length-prefixed frames over a byte stream (TCP, Unix sockets).
//!
//! Each frame is a 4-byte big-endian length followed by that many bytes of message. The
//! reader checks the length against a maximum *before* reading or allocating, so a peer
//! that announces a huge frame costs nothing but a closed connection.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::buffers;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// The default largest frame accepted: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Frames up to this size are read through the shared buffer; larger ones straight into a
/// buffer of their own, saving a copy.
const CHUNK: usize = 64 << 10;

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The peer announced a frame over the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
}

/// Reads frames from a stream, several per `read` call when they are small.
///
/// Not cancel safe: after a `next` future is dropped unfinished, drop the reader too.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of frames of at most `max` bytes.
    pub fn new(inner: R, max: usize) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: vec![0; CHUNK + LENGTH_PREFIX],
            start: 0,
            end: 0,
            max,
        }
    }

    /// Whether a whole frame is already buffered, so that `next` will not wait.
    pub fn has_buffered_frame(&self) -> bool {
        let buffered = &self.buf[self.start..self.end];
        buffered.len() >= LENGTH_PREFIX && {
            let len =
                u32::from_be_bytes([buffered[0], buffered[1], buffered[2], buffered[3]]) as usize;
            buffered.len() - LENGTH_PREFIX >= len
        }
    }

    /// The next frame's message bytes, or `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if !self.fill(LENGTH_PREFIX).await? {
            return if self.start == self.end {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        let prefix: [u8; LENGTH_PREFIX] = self.buf[self.start..self.start + LENGTH_PREFIX]
            .try_into()
            .expect("slice of LENGTH_PREFIX bytes");
        let len = u32::from_be_bytes(prefix) as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        self.start += LENGTH_PREFIX;
        if len <= CHUNK {
            if !self.fill(len).await? {
                return Err(FrameError::Truncated);
            }
            let frame = self.buf[self.start..self.start + len].to_vec();
            self.start += len;
            return Ok(Some(frame));
        }
        // A large frame: take what is buffered, read the rest straight into place (into
        // spare capacity, so the buffer is never zeroed first).
        let mut frame = buffers::take(len);
        frame.extend_from_slice(&self.buf[self.start..self.end]);
        self.start = 0;
        self.end = 0;
        while frame.len() < len {
            let want = (len - frame.len()) as u64;
            if (&mut self.inner).take(want).read_buf(&mut frame).await? == 0 {
                return Err(FrameError::Truncated);
            }
        }
        Ok(Some(frame))
    }

    /// Makes at least `n` (at most `CHUNK + LENGTH_PREFIX`) bytes available from `start`;
    /// false when the stream ends first.
    async fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < n {
            let read = self.inner.read(&mut self.buf[self.end..]).await?;
            if read == 0 {
                return Ok(false);
            }
            self.end += read;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[tokio::test]
    async fn reads_small_and_large_frames_in_order() {
        let big = vec![7u8; 3 * CHUNK + 5];
        let bytes = framed(&[b"a", &big, b"", b"xyz"]);
        let mut r = FrameReader::new(&bytes[..], DEFAULT_MAX_FRAME);
        assert_eq!(r.next().await.unwrap().unwrap(), b"a");
        assert_eq!(r.next().await.unwrap().unwrap(), big);
        assert_eq!(r.next().await.unwrap().unwrap(), b"");
        assert_eq!(r.next().await.unwrap().unwrap(), b"xyz");
        assert!(r.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn refuses_oversized_and_truncated_frames() {
        let bytes = (1000u32).to_be_bytes();
        let mut r = FrameReader::new(&bytes[..], 999);
        assert!(matches!(
            r.next().await,
            Err(FrameError::TooLarge {
                len: 1000,
                max: 999
            })
        ));
        let mut bytes = framed(&[b"hello"]);
        bytes.pop();
        let mut r = FrameReader::new(&bytes[..], 999);
        assert!(matches!(r.next().await, Err(FrameError::Truncated)));
    }
}
