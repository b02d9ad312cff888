//! Length-prefixed frames over a byte stream (TCP, Unix sockets).
//!
//! Each frame is a 4-byte big-endian length followed by that many bytes of message. The
//! reader checks the length against a maximum *before* reading or allocating, so a peer
//! that announces a huge frame costs nothing but a closed connection, and peers that
//! announce large frames and stall hold no more than a shared read budget between them.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::buffers;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// The default largest frame accepted: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Frames up to this size are read through the shared buffer; larger ones straight into a
/// buffer of their own, saving a copy.
const CHUNK: usize = 64 << 10;

/// Why no frame could be read.
///
/// `#[non_exhaustive]`: framing may learn to tell more failures apart, so a `match` needs a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

/// Bytes a reader holds for small frames at first; it grows (up to 64 KiB) only for a
/// peer that sends larger ones, so that thousands of idle connections cost little.
const INITIAL: usize = 8 << 10;

/// Reads frames from a stream, several per `read` call when they are small.
///
/// Cancel safe: dropping a `next` future loses nothing; the next call goes on where it
/// stopped. So a server may wait for a frame and for other events at once.
///
/// Frames over 64 KiB are read into a buffer of their own, allocated once their length
/// is known, after taking that many bytes from an optional shared budget (a semaphore
/// of bytes): many peers announcing large frames wait for their turn instead of making
/// the process allocate them all at once. The budget of a frame is held until the next
/// call to `next`.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
    /// A large frame being read: the bytes so far, and its length.
    large: Option<(Vec<u8>, usize)>,
    budget: Option<Arc<Semaphore>>,
    /// The budget taken by the large frame being read or last returned.
    held: Option<OwnedSemaphorePermit>,
    /// When the first byte of the frame being read arrived.
    frame_started: Option<Instant>,
    /// When bytes last arrived.
    last_read: Instant,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of frames of at most `max` bytes.
    pub fn new(inner: R, max: usize) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: vec![0; INITIAL],
            start: 0,
            end: 0,
            max,
            large: None,
            budget: None,
            held: None,
            frame_started: None,
            last_read: Instant::now(),
        }
    }

    /// The same reader, taking the bytes of large frames from `budget` first.
    pub fn with_budget(mut self, budget: Arc<Semaphore>) -> FrameReader<R> {
        self.budget = Some(budget);
        self
    }

    /// Whether a whole frame is already buffered, so that `next` will not wait.
    pub fn has_buffered_frame(&self) -> bool {
        self.large.is_none()
            && self
                .buffered_len()
                .is_some_and(|len| self.end - self.start - LENGTH_PREFIX >= len)
    }

    /// When the first byte of a frame not yet whole arrived; None between frames.
    pub fn frame_started(&self) -> Option<Instant> {
        self.frame_started
    }

    /// When bytes last arrived.
    pub fn last_read(&self) -> Instant {
        self.last_read
    }

    /// The announced length of the buffered frame, once its prefix is here.
    fn buffered_len(&self) -> Option<usize> {
        let prefix = self.buf.get(self.start..self.start + LENGTH_PREFIX)?;
        (self.end - self.start >= LENGTH_PREFIX)
            .then(|| u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize)
    }

    /// The next frame's message bytes, or `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.large.is_none() {
            self.held = None; // the previous frame is done with
            if !self.fill(LENGTH_PREFIX).await? {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
            let len = self.buffered_len().unwrap_or(0);
            if len > self.max {
                return Err(FrameError::TooLarge { len, max: self.max });
            }
            if len <= CHUNK {
                if !self.fill(LENGTH_PREFIX + len).await? {
                    return Err(FrameError::Truncated);
                }
                let at = self.start + LENGTH_PREFIX;
                let mut frame = buffers::take(len);
                frame.extend_from_slice(&self.buf[at..at + len]);
                self.consumed(LENGTH_PREFIX + len);
                return Ok(Some(frame));
            }
            if let Some(budget) = &self.budget {
                // Nothing is consumed until the budget is granted: cancel safe.
                let permits = u32::try_from(len).unwrap_or(u32::MAX);
                let permit = budget
                    .clone()
                    .acquire_many_owned(permits)
                    .await
                    .map_err(|_| io::Error::other("the read budget is closed"))?;
                self.held = Some(permit);
            }
            // Take what is buffered; the rest is read straight into place (into spare
            // capacity, so the buffer is never zeroed first).
            let mut frame = buffers::take(len);
            frame.extend_from_slice(&self.buf[self.start + LENGTH_PREFIX..self.end]);
            self.start = 0;
            self.end = 0;
            self.large = Some((frame, len));
        }
        while let Some((frame, len)) = &mut self.large {
            if frame.len() >= *len {
                break;
            }
            let want = (*len - frame.len()) as u64;
            if (&mut self.inner).take(want).read_buf(frame).await? == 0 {
                return Err(FrameError::Truncated);
            }
            self.last_read = Instant::now();
        }
        self.frame_started = None;
        Ok(self.large.take().map(|(frame, _)| frame))
    }

    /// Drops `n` bytes from the front of the buffer (a frame returned).
    fn consumed(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.frame_started = None;
        } else {
            // The next frame has begun already: its first bytes came with the last read.
            self.frame_started = Some(self.last_read);
        }
    }

    /// Makes at least `n` (at most `CHUNK + LENGTH_PREFIX`) bytes available from `start`;
    /// false when the stream ends first. Cancel safe: bytes read are kept at once.
    async fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if n > self.buf.len() {
                self.buf
                    .resize(n.next_power_of_two().min(CHUNK + LENGTH_PREFIX).max(n), 0);
            }
        }
        while self.end - self.start < n {
            let read = self.inner.read(&mut self.buf[self.end..]).await?;
            if read == 0 {
                return Ok(false);
            }
            self.last_read = Instant::now();
            if self.start == self.end {
                self.frame_started = Some(self.last_read);
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

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing() {
        let big = vec![3u8; 2 * CHUNK];
        let bytes = framed(&[b"first", &big, b"last"]);
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut r = FrameReader::new(server, DEFAULT_MAX_FRAME);
        // Dribble the bytes in, and give up on `next` after every one of them.
        let mut frames = Vec::new();
        for chunk in bytes.chunks(CHUNK / 3) {
            tokio::io::AsyncWriteExt::write_all(&mut client, chunk)
                .await
                .unwrap();
            while let Ok(frame) =
                tokio::time::timeout(std::time::Duration::from_millis(5), r.next()).await
            {
                frames.push(frame.unwrap().unwrap());
            }
            assert!(r.frame_started().is_some() || frames.len() == 3);
        }
        assert_eq!(frames, [b"first".to_vec(), big, b"last".to_vec()]);
        assert!(r.frame_started().is_none());
    }

    #[tokio::test]
    async fn large_frames_wait_for_their_share_of_the_budget() {
        let big = vec![1u8; CHUNK + 1];
        let bytes = framed(&[&big]);
        let budget = Arc::new(Semaphore::new(CHUNK + 1));
        let mut a = FrameReader::new(&bytes[..], DEFAULT_MAX_FRAME).with_budget(budget.clone());
        let mut b = FrameReader::new(&bytes[..], DEFAULT_MAX_FRAME).with_budget(budget.clone());
        assert_eq!(a.next().await.unwrap().unwrap().len(), CHUNK + 1);
        assert_eq!(budget.available_permits(), 0, "held until the next call");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), b.next()).await;
        assert!(waiting.is_err(), "the second frame waits");
        assert!(a.next().await.unwrap().is_none());
        assert_eq!(b.next().await.unwrap().unwrap().len(), CHUNK + 1);
    }
}
