//! Fuzz target: arbitrary bytes as a received message and as a byte stream of frames.
//!
//! The whole input goes to `Message::parse`, as a datagram would. Then the input less its
//! first byte is read as a stream through `FrameReader` until an error or the end, and
//! every frame read is parsed as a message too. The first byte picks:
//!
//! - bits 0-1: the frame limit: small, above the reader's initial 8 KiB buffer (which
//!   must then grow), or above its 64 KiB chunk (frames read into a buffer of their own);
//! - bits 2-4: how many bytes each read of the stream returns (1 to 7, or all at once),
//!   so that prefixes and frames straddle reads;
//! - bits 5-7: which reads return `Pending` first; with bit 7 set, a `next` future that
//!   is pending is dropped and a new one started (the reader is documented as cancel
//!   safe), otherwise it is polled again.
//!
//! What the reader returns is compared with a plain split of the stream into frames:
//! same frames, same ending (clean end, `TooLarge`, `Truncated`). A reader that says it
//! has a whole frame buffered must return it without reading. Nothing may panic.
//!
//! Only `Message::parse`, `FrameReader::new`/`next`/`has_buffered_frame` and
//! `FrameError`'s variants are used, and no field of the `Header` (which is changing),
//! so the target keeps compiling as the header evolves. The future is polled by hand
//! with a no-op waker: the reader over an in-memory stream needs no runtime, and manual
//! polling is what lets the target drop a pending `next` future.

#![no_main]

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use rpc_runtime::wire::{FrameError, FrameReader, LENGTH_PREFIX, Message};
use tokio::io::{AsyncRead, ReadBuf};

/// Frame limits to try: small, above the 8 KiB initial buffer, above the 64 KiB chunk.
const MAX_FRAMES: [usize; 4] = [64, 1024, 20 << 10, (64 << 10) + 1024];

/// An in-memory stream that returns at most `step` bytes per read, and `Pending` on the
/// reads that `pending` selects (never twice in a row, so every other read progresses).
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
    pending: u8,
    reads: u32,
    last_pending: bool,
    /// Set while the reader claims to hold a whole frame: reading then is a bug.
    forbidden: Rc<Cell<bool>>,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        assert!(
            !self.forbidden.get(),
            "read although has_buffered_frame() was true"
        );
        let this = &mut *self;
        this.reads += 1;
        if !this.last_pending && this.pending & (1 << (this.reads % 8)) != 0 {
            this.last_pending = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.last_pending = false;
        let n = (this.data.len() - this.at)
            .min(this.step)
            .min(buf.remaining());
        buf.put_slice(&this.data[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

/// How a stream of frames ends.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Clean,
    TooLarge(usize),
    Truncated,
}

/// The frames of `stream` and how it ends, by the definition of the framing.
fn split_frames(mut stream: &[u8], max: usize) -> (Vec<&[u8]>, End) {
    let mut frames = Vec::new();
    loop {
        if stream.is_empty() {
            return (frames, End::Clean);
        }
        let Some((prefix, rest)) = stream.split_first_chunk::<LENGTH_PREFIX>() else {
            return (frames, End::Truncated);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > max {
            return (frames, End::TooLarge(len));
        }
        if rest.len() < len {
            return (frames, End::Truncated);
        }
        let (frame, rest) = rest.split_at(len);
        frames.push(frame);
        stream = rest;
    }
}

/// Parses one message; its header is only kept alive, not looked into.
fn parse(bytes: &[u8]) {
    if let Ok((header, payload)) = Message::parse(bytes) {
        assert!(
            payload.len() < bytes.len(),
            "a header takes at least one byte"
        );
        std::hint::black_box((header, payload));
    }
}

fuzz_target!(|data: &[u8]| {
    parse(data);

    let Some((&config, stream)) = data.split_first() else {
        return;
    };
    let max = MAX_FRAMES[usize::from(config & 3)];
    let step = match (config >> 2) & 7 {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let pending = config >> 5;
    // Drop pending futures when the top bit is set, poll them again otherwise.
    let cancel = config & 0x80 != 0;
    let (expected, expected_end) = split_frames(stream, max);

    let forbidden = Rc::new(Cell::new(false));
    let trickle = Trickle {
        data: stream.to_vec(),
        at: 0,
        step,
        pending: pending.wrapping_mul(0x25), // 3 bits spread over 8 reads
        reads: 0,
        last_pending: false,
        forbidden: forbidden.clone(),
    };
    let mut reader = FrameReader::new(trickle, max);
    let mut cx = Context::from_waker(Waker::noop());
    let mut frames = 0;
    // Every poll either progresses or is one of the pending reads, which are never two in
    // a row: this bounds the polls of a reader that works; more means it is stuck.
    let mut polls_left = 4 * (stream.len() + 16);
    let end = loop {
        forbidden.set(reader.has_buffered_frame());
        let result = loop {
            let mut next = Box::pin(reader.next());
            let polled = loop {
                polls_left = polls_left
                    .checked_sub(1)
                    .expect("the frame reader is stuck");
                match next.as_mut().poll(&mut cx) {
                    Poll::Ready(result) => break Some(result),
                    Poll::Pending if cancel => break None, // drop it, start a new one
                    Poll::Pending => {}
                }
            };
            if let Some(result) = polled {
                break result;
            }
        };
        forbidden.set(false);
        match result {
            Ok(Some(frame)) => {
                assert!(
                    frames < expected.len(),
                    "a frame beyond the stream's frames"
                );
                assert_eq!(frame, expected[frames], "frame {frames} differs");
                frames += 1;
                parse(&frame);
            }
            Ok(None) => break End::Clean,
            Err(FrameError::TooLarge { len, max: limit }) => {
                assert_eq!(limit, max, "TooLarge names another limit");
                break End::TooLarge(len);
            }
            Err(FrameError::Truncated) => break End::Truncated,
            Err(e) => panic!("an in-memory stream cannot fail: {e}"),
        }
    };
    assert_eq!(frames, expected.len(), "frames were lost");
    assert_eq!(end, expected_end, "the stream ended otherwise");
});
