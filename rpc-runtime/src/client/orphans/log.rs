//! The extermination log: a write-ahead log of the calls in flight ([`CallLog`]).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, Weak};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::MAX_ADDRESS_LEN;

/// The file length (bytes) beyond which appending a call compacts the log to its open
/// records (when these take at most half the file).
pub const COMPACT_THRESHOLD: u64 = 1 << 20;

/// The largest record body accepted, in bytes. A `Begin` takes at most 1,100 or so;
/// a length field above this marks a frame as corrupt, so that garbage never makes the
/// reader wait for, or allocate, more.
pub const MAX_RECORD: usize = 4096;

/// The most calls a log holds open at once, leftovers of the previous run included:
/// [`CallLog::begin`] refuses more, and [`CallLog::open`] refuses a file with more
/// rather than read it into unbounded memory ([`LogError::TooManyOpen`]). Far above
/// what a client has in flight (256 slots per channel by default).
pub const MAX_OPEN_CALLS: usize = 1 << 16;

const MAGIC: [u8; 7] = *b"rpc-log";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 8;
const HEADER: [u8; HEADER_LEN] = {
    let mut h = [VERSION; HEADER_LEN];
    let mut i = 0;
    while i < MAGIC.len() {
        h[i] = MAGIC[i];
        i += 1;
    }
    h
};
const FRAME_MAGIC: [u8; 2] = [0xA5, 0x4C];
/// Magic and length.
const FRAME_HEAD: usize = 4;
const CHECKSUM_LEN: usize = 8;
/// How much the reader asks of the file at a time.
const READ_CHUNK: usize = 16 << 10;

/// What the client must know to have a server kill a call it left behind.
#[derive(Clone, PartialEq, Eq)]
pub struct LoggedCall {
    /// The server's address as the channel has it (`"127.0.0.1:4000"`, or a Unix
    /// socket's path), at most [`MAX_ADDRESS_LEN`] bytes.
    pub address: String,
    /// The transport, as a code: [`TRANSPORT_TCP`](super::TRANSPORT_TCP) (0),
    /// [`TRANSPORT_UDP`](super::TRANSPORT_UDP) (1),
    /// [`TRANSPORT_UNIX`](super::TRANSPORT_UNIX) (2); see
    /// [`transport_code`](super::transport_code). Other codes are kept as they are.
    pub transport: u8,
    /// The session the call was made in.
    pub session: u64,
    /// The session's secret: proves to the server that the kill request comes from the
    /// session's owner.
    pub secret: [u8; 16],
    /// The call's slot in the session.
    pub slot: u32,
    /// The call's sequence number in its slot.
    pub seq: u64,
}

impl fmt::Debug for LoggedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggedCall")
            .field("address", &self.address)
            .field("transport", &self.transport)
            .field("session", &self.session)
            .field("secret", &"<redacted>")
            .field("slot", &self.slot)
            .field("seq", &self.seq)
            .finish()
    }
}

/// Whether the log syncs what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every `Begin` reaches the disk before [`CallLog::begin`] returns, and every
    /// rewrite before it replaces the file. What the log is for.
    #[default]
    Synced,
    /// Nothing is synced: a crash of the machine (not of the process) may lose calls.
    /// For tests and benchmarks only.
    Unsynced,
}

/// What can go wrong with a call log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Reading, writing, syncing or renaming failed.
    #[error("call log {}: {source}", path.display())]
    Io {
        /// The log's path.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// Another open log (in this process or another) holds the file.
    #[error("call log {} is locked by another process or log", path.display())]
    Locked {
        /// The log's path.
        path: PathBuf,
    },
    /// The file is not empty and does not start like a call log. It is left untouched.
    #[error("{} is not a call log", path.display())]
    NotALog {
        /// The file's path.
        path: PathBuf,
    },
    /// The file is a call log of a format version this build does not read. It is left
    /// untouched.
    #[error("call log {} has format version {version}; this build reads version {VERSION}", path.display())]
    Version {
        /// The log's path.
        path: PathBuf,
        /// The version found.
        version: u8,
    },
    /// The file holds more than [`MAX_OPEN_CALLS`] open calls (it is then left
    /// untouched), or [`CallLog::begin`] would open one more.
    #[error("call log {} would hold more than {MAX_OPEN_CALLS} open calls", path.display())]
    TooManyOpen {
        /// The log's path.
        path: PathBuf,
    },
    /// The call's address is longer than [`MAX_ADDRESS_LEN`]; the call is not recorded.
    #[error(
        "a server address of {len} bytes is longer than the {MAX_ADDRESS_LEN} a call log holds"
    )]
    AddressTooLong {
        /// The address's length in bytes.
        len: usize,
    },
}

/// A record's body, as postcard encodes it. Field order is the file format.
#[derive(Serialize, Deserialize)]
enum Record<'a> {
    Begin {
        id: u64,
        address: &'a str,
        transport: u8,
        session: u64,
        secret: [u8; 16],
        slot: u32,
        seq: u64,
    },
    End {
        id: u64,
    },
}

/// One frame: magic, length, body, checksum. `None` if the body would exceed
/// [`MAX_RECORD`] (it cannot for an address within [`MAX_ADDRESS_LEN`]).
fn frame(record: &Record<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&FRAME_MAGIC);
    out.extend_from_slice(&[0, 0]);
    let mut out = postcard::to_extend(record, out).ok()?;
    let len = out.len() - FRAME_HEAD;
    if len > MAX_RECORD {
        return None;
    }
    out[2..FRAME_HEAD].copy_from_slice(&(len as u16).to_le_bytes());
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Some(out)
}

fn begin_frame(id: u64, call: &LoggedCall) -> Option<Vec<u8>> {
    if call.address.len() > MAX_ADDRESS_LEN {
        return None;
    }
    frame(&Record::Begin {
        id,
        address: &call.address,
        transport: call.transport,
        session: call.session,
        secret: call.secret,
        slot: call.slot,
        seq: call.seq,
    })
}

fn end_frame(id: u64) -> Vec<u8> {
    // A dozen bytes: always fits.
    frame(&Record::End { id }).unwrap_or_default()
}

/// A record read back.
enum Entry {
    Begin(u64, LoggedCall),
    End(u64),
}

/// The frame at the start of `bytes`, if it is a valid one: its length and record.
/// `bytes` holds at least [`FRAME_HEAD`] bytes and, if the frame's length field is
/// within bounds, the whole frame or everything up to the end of the input.
fn decode_frame(bytes: &[u8]) -> Option<(usize, Entry)> {
    if bytes[..2] != FRAME_MAGIC {
        return None;
    }
    let len = u16::from_le_bytes([bytes[2], bytes[3]]) as usize;
    if len > MAX_RECORD {
        return None;
    }
    let total = FRAME_HEAD + len + CHECKSUM_LEN;
    let frame = bytes.get(..total)?;
    let (covered, sum) = frame.split_at(FRAME_HEAD + len);
    if xxh3_64(covered) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let (record, rest) = postcard::take_from_bytes::<Record<'_>>(&covered[FRAME_HEAD..]).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let entry = match record {
        Record::Begin {
            id,
            address,
            transport,
            session,
            secret,
            slot,
            seq,
        } => {
            if address.len() > MAX_ADDRESS_LEN {
                return None;
            }
            Entry::Begin(
                id,
                LoggedCall {
                    address: address.to_owned(),
                    transport,
                    session,
                    secret,
                    slot,
                    seq,
                },
            )
        }
        Record::End { id } => Entry::End(id),
    };
    Some((total, entry))
}

/// Reads a file through a window of at most one frame plus one read chunk.
struct Scanner<R> {
    src: R,
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`.
    pos: usize,
    /// The file offset of `buf[0]`.
    base: u64,
    eof: bool,
}

impl<R: Read> Scanner<R> {
    fn new(src: R) -> Self {
        Scanner {
            src,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            eof: false,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Makes at least `want` bytes available unless the input ends first; returns
    /// whether it did.
    fn fill(&mut self, want: usize) -> io::Result<bool> {
        while self.available().len() < want {
            if self.eof {
                return Ok(false);
            }
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.base += self.pos as u64;
                self.pos = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + READ_CHUNK, 0);
            let read = self.src.read(&mut self.buf[old..]);
            self.buf.truncate(old + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
    }
}

/// What reading a log found.
#[derive(Debug, Default)]
struct Parsed {
    /// The calls left open, by id.
    open: BTreeMap<u64, LoggedCall>,
    /// Valid frames read.
    frames: u64,
    /// Corrupt regions skipped in the middle: how many, their bytes, the first's offset.
    skipped_regions: u64,
    skipped_bytes: u64,
    first_skipped: Option<u64>,
    /// A torn tail dropped: its offset and length.
    tail: Option<(u64, u64)>,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads a whole log (header and frames) from `src`. See the module's documentation for
/// what is done with damaged frames.
fn parse(src: impl Read, path: &Path) -> Result<Parsed, LogError> {
    let mut scan = Scanner::new(src);
    let mut parsed = Parsed::default();
    if !scan.fill(HEADER_LEN).map_err(io_error(path))? {
        // Empty, or a prefix of the header: nothing was ever logged in it.
        return if HEADER.starts_with(scan.available()) {
            Ok(parsed)
        } else {
            Err(LogError::NotALog {
                path: path.to_owned(),
            })
        };
    }
    let header = &scan.available()[..HEADER_LEN];
    if header[..MAGIC.len()] != MAGIC {
        return Err(LogError::NotALog {
            path: path.to_owned(),
        });
    }
    if header[MAGIC.len()] != VERSION {
        return Err(LogError::Version {
            path: path.to_owned(),
            version: header[MAGIC.len()],
        });
    }
    scan.advance(HEADER_LEN);

    let mut bad: Option<u64> = None;
    loop {
        if !scan.fill(FRAME_HEAD).map_err(io_error(path))? {
            break;
        }
        let want = match scan.available() {
            [m0, m1, l0, l1, ..] if [*m0, *m1] == FRAME_MAGIC => {
                let len = u16::from_le_bytes([*l0, *l1]) as usize;
                (len <= MAX_RECORD).then_some(FRAME_HEAD + len + CHECKSUM_LEN)
            }
            _ => None,
        };
        let decoded = match want {
            Some(want) => {
                // At the end of the input, a short frame is not valid.
                scan.fill(want).map_err(io_error(path))?;
                decode_frame(scan.available())
            }
            None => None,
        };
        let Some((len, entry)) = decoded else {
            bad.get_or_insert(scan.offset());
            scan.advance(1);
            continue;
        };
        if let Some(start) = bad.take() {
            parsed.skipped_regions += 1;
            parsed.skipped_bytes += scan.offset() - start;
            parsed.first_skipped.get_or_insert(start);
        }
        parsed.frames += 1;
        match entry {
            Entry::Begin(id, call) => {
                if parsed.open.len() >= MAX_OPEN_CALLS && !parsed.open.contains_key(&id) {
                    return Err(LogError::TooManyOpen {
                        path: path.to_owned(),
                    });
                }
                parsed.open.insert(id, call);
            }
            Entry::End(id) => {
                parsed.open.remove(&id);
            }
        }
        scan.advance(len);
    }
    let end = scan.offset() + scan.available().len() as u64;
    let start = bad.unwrap_or(scan.offset());
    if end > start {
        parsed.tail = Some((start, end - start));
    }
    Ok(parsed)
}

/// Parses a call log image and returns the calls it leaves open, in the order they
/// were begun. For the fuzz target and tests.
#[doc(hidden)]
pub fn __parse_log(src: impl Read) -> Result<Vec<LoggedCall>, LogError> {
    Ok(parse(src, Path::new("<input>"))?
        .open
        .into_values()
        .collect())
}

/// The image of a call log holding `calls` open (those that fit a record), as
/// [`CallLog`] writes it. For the fuzz target and tests.
#[doc(hidden)]
pub fn __encode_log(calls: &[LoggedCall]) -> Vec<u8> {
    let mut image = HEADER.to_vec();
    for (id, call) in (0..).zip(calls) {
        if let Some(frame) = begin_frame(id, call) {
            image.extend_from_slice(&frame);
        }
    }
    image
}

/// The extermination log: a write-ahead log of the calls in flight, in a file.
///
/// Before a call's request is first sent, [`begin`](Self::begin) records it durably;
/// the [`LogTicket`] it returns closes the record when dropped, so that a call ending in
/// any way (reply, error, its future dropped) closes it. After a crash, [`open`](Self::open)
/// returns the calls left open, whose servers the client asks to kill them.
///
/// Cloning is cheap (the clones share one log). The file stays open and locked while a
/// clone lives; tickets do not keep it open: an ending after the last clone is dropped
/// is not recorded (the call is then reported open at the next `open`, costing one
/// useless kill request).
///
/// # File format (version 1)
///
/// An 8-byte header, `rpc-log` in ASCII then the version byte `1`, then records. Each
/// record is a frame:
///
/// | bytes | content |
/// |---|---|
/// | 2 | frame magic `A5 4C` |
/// | 2 | `n`, the body's length, little endian, at most [`MAX_RECORD`] |
/// | `n` | the body: a postcard-encoded record |
/// | 8 | XXH3-64 of the magic, the length and the body, little endian |
///
/// A body is `Begin { id, address, transport, session, secret, slot, seq }` (postcard
/// enum variant 0: the fields of [`LoggedCall`] after a varint id; the address is a
/// length-prefixed UTF-8 string of at most [`MAX_ADDRESS_LEN`] bytes, the transport a
/// byte, the secret 16 raw bytes) or `End { id }` (variant 1). A `Begin` opens the call
/// `id`, an `End` closes it; ids are unique within one file. The calls open in a file
/// are the `Begin`s without a later `End`.
///
/// # Reading a damaged file
///
/// Every frame is checked: magic, length bound, checksum, a body that decodes exactly.
/// A frame that fails is not trusted, and reading resynchronizes: it looks for the next
/// valid frame one byte further on. Bytes skipped before a valid frame are a corrupt
/// region in the middle of the file (a warning is logged; what they held is lost);
/// bytes skipped up to the end are a torn tail (a crash in the middle of an append),
/// dropped silently. Skipping rather than failing is the choice that loses least: a
/// record lost in a skipped region is either an `End` (the call is then reported open:
/// one useless kill request) or a `Begin` (one call not exterminated), while refusing
/// the whole file would leave every call in it unexterminated. The frame magic and the
/// checksum make a false frame in garbage practically impossible. Reading holds one
/// frame in memory at a time (at most [`MAX_RECORD`] and a read buffer), and the calls
/// found open (at most [`MAX_OPEN_CALLS`]), whatever the file's size or content.
///
/// # Crash safety
///
/// `begin` appends a `Begin` and syncs the file before it returns, and the caller sends
/// the call only after that: every call sent has its `Begin` on disk. `End`s are
/// appended without a sync: one lost costs a useless kill request after a crash, never
/// a missed one. A crash in the middle of an append leaves a torn tail, which the next
/// open drops; only the unsynced records written since the last sync can be damaged
/// that way, i.e. `End`s (and the `Begin` being written, whose call was not sent). A
/// machine crash may also leave that unsynced part with zeroed or missing blocks in
/// any order: reading skips them and keeps every whole frame. A failed write or sync
/// marks the file suspect, and the next `begin` rewrites it rather than append to it
/// (after a failed `fsync` the kernel may have dropped the dirty pages).
///
/// The file is never rewritten in place. Opening, compacting and forgetting leftovers
/// write the records still open to a new file beside the log (`<name>.new`), sync it,
/// rename it over the log and sync the directory: whenever the process crashes, the log
/// is either the old file, complete up to its last sync, or the new one, complete. The
/// new file is locked before the rename, so the lock never lapses; an `open` racing
/// with a rename checks, once it holds its lock, that its file is still the one at the
/// path, and opens it again otherwise.
///
/// # Bounds
///
/// When appending a `Begin` would make the file longer than [`COMPACT_THRESHOLD`] and
/// the file is at least twice as long as its open records, the log is compacted to its
/// open records. The file therefore stays under `max(COMPACT_THRESHOLD, 2 × open
/// records)` plus the records appended since the last `Begin` (one `End` per call then
/// open): with few calls in flight, under [`COMPACT_THRESHOLD`] plus one `End`. Memory
/// holds the `Begin` frames of the calls open, which the client's slots bound, and at
/// most [`MAX_OPEN_CALLS`] of them.
#[derive(Clone)]
pub struct CallLog {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    durability: Durability,
    state: Mutex<State>,
    /// Ids of calls whose tickets were dropped while `state` was busy: their `End`s are
    /// written by whoever holds `state` next (see [`Shared::release`]), so that a drop
    /// never waits for a compaction's syncs.
    pending: Mutex<Vec<u64>>,
}

struct State {
    /// The file, positioned at its end. Shared with `begin`s syncing it outside the lock.
    file: Arc<File>,
    /// The file's length as written.
    len: u64,
    /// The `Begin` frame of every call open, leftovers included.
    open: FxHashMap<u64, Vec<u8>>,
    /// The header and the frames in `open`: the length of a compacted file.
    live: u64,
    /// The calls the previous run left open, not forgotten yet.
    leftovers: Vec<(u64, LoggedCall)>,
    next_id: u64,
    /// Whether the file may hold a damaged or unsynced tail (a write or sync failed):
    /// the next `begin` compacts first.
    dirty: bool,
}

impl State {
    /// Appends `bytes`; a failure marks the file dirty.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        match (&*self.file).write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.dirty = true;
                Err(e)
            }
        }
    }

    /// Closes call `id`: forgets its frame and appends its `End` (not synced). Never
    /// fails: a failure is logged and marks the file dirty.
    fn end(&mut self, id: u64, path: &Path) {
        let Some(frame) = self.open.remove(&id) else {
            return;
        };
        self.live -= frame.len() as u64;
        if let Err(e) = self.append(&end_frame(id)) {
            tracing::warn!(
                path = %path.display(),
                "call log: recording the end of a call failed (a kill request may be sent \
                 for it after a crash): {e}"
            );
        }
    }

    /// Replaces the file with one holding the header and the open frames.
    fn rewrite(&mut self, path: &Path, durability: Durability) -> io::Result<()> {
        let sync = durability == Durability::Synced;
        let mut ids: Vec<u64> = self.open.keys().copied().collect();
        ids.sort_unstable();
        let mut image = Vec::with_capacity(self.live as usize);
        image.extend_from_slice(&HEADER);
        for id in ids {
            image.extend_from_slice(&self.open[&id]);
        }
        let new = super::new_path(path)?;
        let file = super::write_new(&new, &image, sync)?;
        fs::rename(&new, path)?;
        self.file = Arc::new(file);
        self.len = image.len() as u64;
        self.dirty = false;
        if sync && let Err(e) = super::sync_dir(path) {
            self.dirty = true;
            return Err(e);
        }
        Ok(())
    }

    /// Whether appending `extra` bytes calls for a compaction first.
    fn should_compact(&self, extra: u64) -> bool {
        self.dirty || (self.len + extra > COMPACT_THRESHOLD && self.len >= 2 * self.live)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.drain(&mut state);
        state
    }

    /// Writes the `End`s of the tickets dropped while `state` was busy.
    fn drain(&self, state: &mut State) {
        let ids = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        for id in ids {
            state.end(id, &self.path);
        }
    }

    /// Unlocks `state`, then writes the `End`s queued meanwhile. A dropping ticket that
    /// finds `state` busy queues its id and then tries the lock again; the holder
    /// looks at the queue after unlocking: so an id is never left queued with nobody to
    /// write it (one of the two sees it).
    fn release(&self, state: MutexGuard<'_, State>) {
        drop(state);
        loop {
            if self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
            match self.state.try_lock() {
                Ok(mut state) => self.drain(&mut state),
                Err(TryLockError::Poisoned(p)) => self.drain(&mut p.into_inner()),
                Err(TryLockError::WouldBlock) => return,
            }
        }
    }

    /// Closes call `id` without waiting for the lock.
    fn end(&self, id: u64) {
        let state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(id);
                match self.state.try_lock() {
                    Ok(state) => state,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => return,
                }
            }
        };
        let mut state = state;
        self.drain(&mut state);
        state.end(id, &self.path);
        self.release(state);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let ids = std::mem::take(
            self.pending
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            state.end(id, &self.path);
        }
    }
}

impl CallLog {
    /// Opens the log at `path`, syncing (see [`open_with`](Self::open_with)).
    pub fn open(path: impl AsRef<Path>) -> Result<(CallLog, Vec<LoggedCall>), LogError> {
        Self::open_with(path, Durability::Synced)
    }

    /// Opens the log at `path`: creates it if missing (mode 0600), locks it exclusively
    /// (another open log holding it is [`LogError::Locked`]), reads it, and returns the
    /// log with the calls the previous run left open, in the order they were begun.
    ///
    /// The caller is now responsible for those calls: it asks their servers to kill
    /// them, then calls [`forget_leftovers`](Self::forget_leftovers) (or
    /// [`forget_leftover`](Self::forget_leftover) for each). Until then they stay in the
    /// file, so that a crash before the extermination is done returns them again.
    ///
    /// The file is rewritten at once with only those calls (beside it, then renamed
    /// over it: see the module's documentation), which drops any torn tail and corrupt
    /// region. A file that is not a call log, or of another version, or with more than
    /// [`MAX_OPEN_CALLS`] open calls, is refused and left as it is. Blocking: it reads
    /// and syncs the file.
    pub fn open_with(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<(CallLog, Vec<LoggedCall>), LogError> {
        let path = path.as_ref().to_owned();
        let file = super::open_locked(&path, false)
            .map_err(io_error(&path))?
            .ok_or_else(|| LogError::Locked { path: path.clone() })?;
        let parsed = parse(&file, &path)?;
        if let Some(first) = parsed.first_skipped {
            tracing::warn!(
                path = %path.display(),
                "call log: skipped {} corrupt region(s), {} bytes, the first at offset {first}; \
                 calls recorded there are lost",
                parsed.skipped_regions,
                parsed.skipped_bytes,
            );
        }
        if let Some((offset, len)) = parsed.tail {
            tracing::debug!(
                path = %path.display(),
                "call log: dropped a torn tail of {len} bytes at offset {offset}"
            );
        }
        let leftovers: Vec<(u64, LoggedCall)> = (0..).zip(parsed.open.into_values()).collect();
        let mut open = FxHashMap::default();
        let mut live = HEADER_LEN as u64;
        for (id, call) in &leftovers {
            // Read back, so within bounds.
            if let Some(frame) = begin_frame(*id, call) {
                live += frame.len() as u64;
                open.insert(*id, frame);
            }
        }
        let mut state = State {
            file: Arc::new(file),
            len: 0,
            open,
            live,
            next_id: leftovers.len() as u64,
            leftovers,
            dirty: true,
        };
        state.rewrite(&path, durability).map_err(io_error(&path))?;
        let calls = state.leftovers.iter().map(|(_, c)| c.clone()).collect();
        let log = CallLog {
            shared: Arc::new(Shared {
                path,
                durability,
                state: Mutex::new(state),
                pending: Mutex::new(Vec::new()),
            }),
        };
        Ok((log, calls))
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Records a call about to be sent, durably: with [`Durability::Synced`], the
    /// record is on disk when this returns. Send the call only after it returned `Ok`,
    /// and keep the ticket for as long as the call runs: dropping it (or
    /// [`LogTicket::end`]) records the call's end.
    ///
    /// Blocking (a sync takes milliseconds): from async code, use
    /// [`begin_async`](Self::begin_async). Concurrent `begin`s sync concurrently. Now
    /// and then (see [`COMPACT_THRESHOLD`]) it compacts the file first.
    pub fn begin(&self, call: &LoggedCall) -> Result<LogTicket, LogError> {
        let shared = &*self.shared;
        if call.address.len() > MAX_ADDRESS_LEN {
            return Err(LogError::AddressTooLong {
                len: call.address.len(),
            });
        }
        let mut state = shared.lock();
        if state.open.len() >= MAX_OPEN_CALLS {
            shared.release(state);
            return Err(LogError::TooManyOpen {
                path: shared.path.clone(),
            });
        }
        let id = state.next_id;
        state.next_id += 1;
        let Some(frame) = begin_frame(id, call) else {
            shared.release(state);
            return Err(LogError::AddressTooLong {
                len: call.address.len(),
            });
        };
        let len = frame.len() as u64;
        let written = if state.should_compact(len) {
            // The new file holds the frame, synced before the rename.
            state.open.insert(id, frame);
            state.live += len;
            state
                .rewrite(&shared.path, shared.durability)
                .map(|()| None)
        } else {
            let appended = state.append(&frame);
            state.open.insert(id, frame);
            state.live += len;
            appended.map(|()| {
                (shared.durability == Durability::Synced).then(|| Arc::clone(&state.file))
            })
        };
        let to_sync = match written {
            Ok(to_sync) => to_sync,
            Err(e) => {
                forget(&mut state, id);
                shared.release(state);
                return Err(io_error(&shared.path)(e));
            }
        };
        shared.release(state);
        if let Some(file) = to_sync
            && let Err(e) = file.sync_data()
        {
            // Not durable, and after a failed sync the kernel may have dropped the
            // pages: the next `begin` rewrites the file.
            let mut state = shared.lock();
            forget(&mut state, id);
            shared.release(state);
            return Err(io_error(&shared.path)(e));
        }
        Ok(LogTicket {
            shared: Arc::downgrade(&self.shared),
            id,
        })
    }

    /// [`begin`](Self::begin) on tokio's blocking threads (`spawn_blocking`), for async
    /// code. If this future is dropped before it completes, the call is still recorded
    /// and its ticket then dropped, which records its end.
    pub async fn begin_async(&self, call: LoggedCall) -> Result<LogTicket, LogError> {
        let log = self.clone();
        match tokio::task::spawn_blocking(move || log.begin(&call)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(LogError::Io {
                path: self.shared.path.clone(),
                source: io::Error::other("the runtime is shutting down"),
            }),
        }
    }

    /// The calls the previous run left open and not forgotten yet.
    pub fn leftovers(&self) -> Vec<LoggedCall> {
        let state = self.shared.lock();
        let calls = state.leftovers.iter().map(|(_, c)| c.clone()).collect();
        self.shared.release(state);
        calls
    }

    /// Forgets one call the previous run left open (returned by [`open`](Self::open)),
    /// once exterminated: records its end and syncs. Returns whether it was there.
    pub fn forget_leftover(&self, call: &LoggedCall) -> Result<bool, LogError> {
        let shared = &*self.shared;
        let mut state = shared.lock();
        let Some(at) = state.leftovers.iter().position(|(_, c)| c == call) else {
            shared.release(state);
            return Ok(false);
        };
        let (id, _) = state.leftovers.swap_remove(at);
        let Some(frame) = state.open.remove(&id) else {
            shared.release(state);
            return Ok(true);
        };
        state.live -= frame.len() as u64;
        let mut result = state.append(&end_frame(id));
        if result.is_ok() && shared.durability == Durability::Synced {
            result = state.file.sync_data();
            if result.is_err() {
                state.dirty = true;
            }
        }
        shared.release(state);
        result.map(|()| true).map_err(io_error(&shared.path))
    }

    /// Forgets every call the previous run left open, once exterminated: rewrites the
    /// file without them (synced). On an error they are forgotten all the same (the
    /// file is rewritten at the next `begin`), but a crash before that may return them
    /// again.
    pub fn forget_leftovers(&self) -> Result<(), LogError> {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.leftovers.is_empty() {
            shared.release(state);
            return Ok(());
        }
        for (id, _) in std::mem::take(&mut state.leftovers) {
            if let Some(frame) = state.open.remove(&id) {
                state.live -= frame.len() as u64;
            }
        }
        let result = state.rewrite(&shared.path, shared.durability);
        if result.is_err() {
            state.dirty = true;
        }
        shared.release(state);
        result.map_err(io_error(&shared.path))
    }

    /// The calls of this run open now (begun, tickets not dropped), leftovers of the
    /// previous run not counted.
    pub fn open_calls(&self) -> usize {
        let state = self.shared.lock();
        let n = state.open.len() - state.leftovers.len();
        self.shared.release(state);
        n
    }

    #[cfg(test)]
    fn file_len(&self) -> u64 {
        let state = self.shared.lock();
        let len = state.len;
        self.shared.release(state);
        len
    }
}

/// Forgets call `id` whose `Begin` may not be durable: the call will not be sent. The
/// file may hold its `Begin` (a crash then reports it open: one useless kill request);
/// the next `begin` rewrites the file without it.
fn forget(state: &mut State, id: u64) {
    if let Some(frame) = state.open.remove(&id) {
        state.live -= frame.len() as u64;
    }
    state.dirty = true;
}

impl fmt::Debug for CallLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallLog")
            .field("path", &self.shared.path)
            .field("durability", &self.shared.durability)
            .finish_non_exhaustive()
    }
}

/// A call recorded in a [`CallLog`]: dropping it records the call's end.
///
/// Dropping never blocks beyond a small write to the file (none while the log is busy
/// compacting: the end is then written by the log's next operation), and never panics:
/// a failure is logged (`tracing::warn!`).
#[must_use = "dropping the ticket records the call's end"]
pub struct LogTicket {
    shared: Weak<Shared>,
    id: u64,
}

impl LogTicket {
    /// Records the call's end (the same as dropping the ticket).
    pub fn end(self) {}
}

impl Drop for LogTicket {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.end(self.id);
        }
    }
}

impl fmt::Debug for LogTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogTicket").field("id", &self.id).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::orphans::test_support::TempDir;

    fn call(n: u64) -> LoggedCall {
        LoggedCall {
            address: format!("127.0.0.1:{}", 4000 + n),
            transport: (n % 3) as u8,
            session: 1000 + n,
            secret: [n as u8; 16],
            slot: n as u32,
            seq: n * 7,
        }
    }

    fn open_unsynced(path: &Path) -> (CallLog, Vec<LoggedCall>) {
        CallLog::open_with(path, Durability::Unsynced).unwrap()
    }

    /// A log image with `calls` begun and never ended, as a crashed run leaves it.
    fn crashed_image(dir: &TempDir, calls: &[LoggedCall]) -> Vec<u8> {
        let path = dir.path("image.log");
        let (log, _) = open_unsynced(&path);
        for c in calls {
            std::mem::forget(log.begin(c).unwrap());
        }
        drop(log);
        let image = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        image
    }

    fn names(dir: &TempDir) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn begin_end_reopen_returns_only_open_calls() {
        let dir = TempDir::new("log-reopen");
        let path = dir.path("calls.log");
        let (log, left) = CallLog::open(&path).unwrap();
        assert!(left.is_empty());
        let a = log.begin(&call(1)).unwrap();
        let b = log.begin(&call(2)).unwrap();
        let c = log.begin(&call(3)).unwrap();
        assert_eq!(log.open_calls(), 3);
        b.end();
        assert_eq!(log.open_calls(), 2);
        drop(c);
        assert_eq!(log.open_calls(), 1);
        std::mem::forget(a); // the process "crashes" with call 1 in flight
        drop(log);

        let (log, left) = CallLog::open(&path).unwrap();
        assert_eq!(left, vec![call(1)]);
        assert_eq!(log.leftovers(), vec![call(1)]);
        assert_eq!(log.open_calls(), 0);
        drop(log);
        // Kept until forgotten: a crash before the extermination returns them again.
        let (log, left) = CallLog::open(&path).unwrap();
        assert_eq!(left, vec![call(1)]);
        log.forget_leftovers().unwrap();
        assert!(log.leftovers().is_empty());
        drop(log);
        let (_log, left) = CallLog::open(&path).unwrap();
        assert!(left.is_empty());
        assert_eq!(names(&dir), ["calls.log"]);
    }

    #[test]
    fn crash_leaves_calls_open() {
        let dir = TempDir::new("log-crash");
        let path = dir.path("calls.log");
        let (log, _) = CallLog::open(&path).unwrap();
        let a = log.begin(&call(1)).unwrap();
        let b = log.begin(&call(2)).unwrap();
        log.begin(&call(3)).unwrap().end();
        std::mem::forget(a);
        drop(log);
        // The log is gone: this end is not recorded, the call is reported open.
        drop(b);
        let (log, left) = CallLog::open(&path).unwrap();
        assert_eq!(left, vec![call(1), call(2)]);
        // New calls get ids of their own, beside the leftovers.
        let d = log.begin(&call(4)).unwrap();
        assert!(log.forget_leftover(&call(1)).unwrap());
        assert!(!log.forget_leftover(&call(1)).unwrap());
        std::mem::forget(d);
        drop(log);
        let (_log, left) = CallLog::open(&path).unwrap();
        assert_eq!(left, vec![call(2), call(4)]);
    }

    #[test]
    fn torn_tail_is_dropped() {
        let dir = TempDir::new("log-torn");
        let calls = [call(1), call(2)];
        let image = crashed_image(&dir, &calls);
        let first_end = HEADER_LEN + begin_frame(0, &calls[0]).unwrap().len();
        // Cut anywhere: no error, and the calls whose records are whole are kept.
        for cut in 0..=image.len() {
            let left = __parse_log(&image[..cut]).unwrap();
            let whole = match cut {
                c if c == image.len() => 2,
                c if c >= first_end => 1,
                _ => 0,
            };
            assert_eq!(left, calls[..whole], "cut at {cut}");
        }
        // Through open: the tail is dropped from the file.
        let path = dir.path("calls.log");
        fs::write(&path, &image[..image.len() - 3]).unwrap();
        let (log, left) = open_unsynced(&path);
        assert_eq!(left, calls[..1]);
        assert_eq!(fs::read(&path).unwrap(), __encode_log(&calls[..1]));
        drop(log);
    }

    #[test]
    fn flipped_byte_is_detected() {
        let dir = TempDir::new("log-flip");
        let calls = [call(1), call(2), call(3)];
        let image = crashed_image(&dir, &calls);
        let f1 = HEADER_LEN + begin_frame(0, &calls[0]).unwrap().len();
        let f2 = f1 + begin_frame(1, &calls[1]).unwrap().len();
        for at in 0..image.len() {
            let mut bad = image.clone();
            bad[at] ^= 0x10;
            let parsed = parse(&bad[..], Path::new("t"));
            if at < HEADER_LEN {
                assert!(
                    matches!(
                        parsed,
                        Err(LogError::NotALog { .. } | LogError::Version { .. })
                    ),
                    "flip at {at}"
                );
                continue;
            }
            let parsed = parsed.unwrap();
            let left: Vec<_> = parsed.open.values().cloned().collect();
            let damaged = match at {
                a if a < f1 => 0,
                a if a < f2 => 1,
                _ => 2,
            };
            let mut expected = calls.to_vec();
            expected.remove(damaged);
            assert_eq!(left, expected, "flip at {at}");
            if damaged == 2 {
                assert!(parsed.tail.is_some(), "flip at {at}");
            } else {
                assert_eq!(parsed.skipped_regions, 1, "flip at {at}");
            }
        }
    }

    #[test]
    fn damaged_end_reports_the_call_open() {
        let dir = TempDir::new("log-end");
        let path = dir.path("calls.log");
        let (log, _) = open_unsynced(&path);
        let a = log.begin(&call(1)).unwrap();
        std::mem::forget(log.begin(&call(2)).unwrap());
        a.end();
        std::mem::forget(log.begin(&call(3)).unwrap());
        drop(log);
        let mut image = fs::read(&path).unwrap();
        let end_at = __encode_log(&[call(1), call(2)]).len();
        image[end_at + 5] ^= 1;
        // Never a missed kill: the call whose end is damaged is reported open.
        assert_eq!(
            __parse_log(&image[..]).unwrap(),
            [call(1), call(2), call(3)]
        );
    }

    /// A frame holding `body` as it is, with a valid checksum.
    fn raw_frame(body: &[u8]) -> Vec<u8> {
        let mut out = FRAME_MAGIC.to_vec();
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(body);
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    #[test]
    fn hostile_files_are_refused_or_ignored() {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let mut random = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        // Not a log at all.
        assert!(matches!(
            __parse_log(&random(65536)[..]),
            Err(LogError::NotALog { .. })
        ));
        let mut v2 = HEADER.to_vec();
        v2[7] = 2;
        assert!(matches!(
            __parse_log(&v2[..]),
            Err(LogError::Version { version: 2, .. })
        ));
        let with_header = |tail: &[u8]| [&HEADER[..], tail].concat();
        // Garbage after a valid header: ignored.
        assert!(
            __parse_log(&with_header(&random(1 << 20))[..])
                .unwrap()
                .is_empty()
        );
        assert!(
            __parse_log(&with_header(&[0; 1 << 20])[..])
                .unwrap()
                .is_empty()
        );
        // Huge length fields, over and over: never waited for nor allocated.
        let huge = [0xA5, 0x4C, 0xFF, 0xFF].repeat(1 << 16);
        assert!(__parse_log(&with_header(&huge)[..]).unwrap().is_empty());
        // A frame claiming the largest body, then the file ends.
        let mut short = vec![0xA5, 0x4C];
        short.extend_from_slice(&(MAX_RECORD as u16).to_le_bytes());
        assert!(__parse_log(&with_header(&short)[..]).unwrap().is_empty());
        // A checksummed frame whose body claims a 4 GiB address.
        let body = [0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, b'x'];
        assert!(
            __parse_log(&with_header(&raw_frame(&body))[..])
                .unwrap()
                .is_empty()
        );
        // A checksummed frame with an address over the bound.
        let mut body = vec![0, 0, 0x81, 0x10]; // Begin, id 0, a 2049-byte string
        body.extend(std::iter::repeat_n(b'a', 2049));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&[0, 0]);
        assert!(
            __parse_log(&with_header(&raw_frame(&body))[..])
                .unwrap()
                .is_empty()
        );
        // Trailing bytes after a record's body.
        let mut body = postcard::to_stdvec(&Record::End { id: 3 }).unwrap();
        body.push(0);
        assert!(
            __parse_log(&with_header(&raw_frame(&body))[..])
                .unwrap()
                .is_empty()
        );

        // Through open: a file that is not a log is refused and left as it was.
        let dir = TempDir::new("log-hostile");
        let path = dir.path("precious.txt");
        fs::write(&path, b"not a log, keep me").unwrap();
        assert!(matches!(
            CallLog::open_with(&path, Durability::Unsynced),
            Err(LogError::NotALog { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"not a log, keep me");
    }

    #[test]
    fn too_many_open_calls_are_refused() {
        let calls: Vec<LoggedCall> = (0..MAX_OPEN_CALLS as u64 + 1).map(call).collect();
        let image = __encode_log(&calls);
        assert!(matches!(
            __parse_log(&image[..]),
            Err(LogError::TooManyOpen { .. })
        ));
        assert_eq!(
            __parse_log(&__encode_log(&calls[1..])[..]).unwrap().len(),
            MAX_OPEN_CALLS
        );
    }

    #[test]
    fn second_open_is_locked() {
        let dir = TempDir::new("log-lock");
        let path = dir.path("calls.log");
        let (log, _) = open_unsynced(&path);
        assert!(matches!(
            CallLog::open_with(&path, Durability::Unsynced),
            Err(LogError::Locked { .. })
        ));
        // Still locked after the log replaced its file.
        let t = log.begin(&call(1)).unwrap();
        log.shared.state.lock().unwrap().dirty = true;
        let u = log.begin(&call(2)).unwrap();
        assert!(matches!(
            CallLog::open_with(&path, Durability::Unsynced),
            Err(LogError::Locked { .. })
        ));
        drop((t, u));
        drop(log);
        let (_log, left) = open_unsynced(&path);
        assert!(left.is_empty());
    }

    #[test]
    fn file_stays_bounded_over_100k_calls() {
        let dir = TempDir::new("log-bound");
        let path = dir.path("calls.log");
        let (log, _) = open_unsynced(&path);
        let bound = COMPACT_THRESHOLD + end_frame(u64::MAX).len() as u64;
        let mut largest = 0;
        for n in 0..100_000 {
            let ticket = log.begin(&call(n)).unwrap();
            largest = largest.max(log.file_len());
            drop(ticket);
            largest = largest.max(log.file_len());
        }
        let on_disk = fs::metadata(&path).unwrap().len();
        println!("100,000 calls: largest file {largest} bytes, now {on_disk} bytes, bound {bound}");
        assert_eq!(on_disk, log.file_len());
        assert!(largest <= bound, "{largest} > {bound}");
        assert!(largest > COMPACT_THRESHOLD / 2, "compaction too eager");
        assert_eq!(log.open_calls(), 0);
        drop(log);
        assert!(open_unsynced(&path).1.is_empty());
    }

    #[test]
    fn ends_while_busy_are_written_later() {
        let dir = TempDir::new("log-busy");
        let path = dir.path("calls.log");
        let (log, _) = open_unsynced(&path);
        let ticket = log.begin(&call(1)).unwrap();
        let guard = log.shared.state.lock().unwrap();
        drop(ticket); // does not wait for the lock
        assert_eq!(log.shared.pending.lock().unwrap().len(), 1);
        drop(guard);
        assert_eq!(log.open_calls(), 0);
        assert!(log.shared.pending.lock().unwrap().is_empty());
        // Queued ends are written when the log closes, too.
        let ticket = log.begin(&call(2)).unwrap();
        let guard = log.shared.state.lock().unwrap();
        drop(ticket);
        drop(guard);
        drop(log);
        assert!(open_unsynced(&path).1.is_empty());
    }

    #[test]
    fn concurrent_calls() {
        let dir = TempDir::new("log-threads");
        let path = dir.path("calls.log");
        let (log, _) = open_unsynced(&path);
        let mut left_open: Vec<LoggedCall> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4u64)
                .map(|w| {
                    let log = log.clone();
                    s.spawn(move || {
                        let mut kept = Vec::new();
                        for n in 0..5_000 {
                            let c = call(w * 1_000_000 + n);
                            let ticket = log.begin(&c).unwrap();
                            if n % 1_000 == 999 {
                                std::mem::forget(ticket);
                                kept.push(c);
                            }
                        }
                        kept
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        assert_eq!(log.open_calls(), left_open.len());
        drop(log);
        let (_log, mut left) = open_unsynced(&path);
        left.sort_by_key(|c| c.session);
        left_open.sort_by_key(|c| c.session);
        assert_eq!(left, left_open);
    }

    #[tokio::test]
    async fn begin_async_records_the_call() {
        let dir = TempDir::new("log-async");
        let path = dir.path("calls.log");
        let (log, _) = CallLog::open(&path).unwrap();
        let ticket = log.begin_async(call(1)).await.unwrap();
        assert_eq!(log.open_calls(), 1);
        drop(ticket);
        assert_eq!(log.open_calls(), 0);
    }

    #[test]
    fn limits_and_leftover_files() {
        let dir = TempDir::new("log-misc");
        let path = dir.path("calls.log");
        // A stale new file from a crash during a rewrite does not matter.
        fs::write(dir.path("calls.log.new"), b"half written").unwrap();
        let (log, _) = open_unsynced(&path);
        assert_eq!(names(&dir), ["calls.log"]);
        let mut long = call(1);
        long.address = "x".repeat(MAX_ADDRESS_LEN + 1);
        assert!(matches!(
            log.begin(&long),
            Err(LogError::AddressTooLong { .. })
        ));
        long.address.pop();
        let ticket = log.begin(&long).unwrap();
        std::mem::forget(ticket);
        drop(log);
        assert_eq!(open_unsynced(&path).1, [long]);
        let _ = format!("{:?}", call(1))
            .find("secret: \"<redacted>\"")
            .unwrap();
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<CallLog>();
    }
}
