//! Stable storage for the remedies against orphan computations.
//!
//! When a client crashes while its calls run on servers, those calls become orphans:
//! they go on using the servers and may act on data nobody waits for any more. The
//! remedies (extermination, expiration, reincarnation, gentle reincarnation) need the
//! client to remember something across its own crash; this module keeps it, in plain
//! files, with no networking:
//!
//! - [`CallLog`], for extermination: a write-ahead log of the calls in flight. A call is
//!   recorded durably before its request is first sent and closed when it ends; after a
//!   crash, [`CallLog::open`] returns the calls left open, whose servers the client then
//!   asks to kill them.
//! - [`Incarnation`], for reincarnation: the client's identity across restarts, a secret
//!   and an epoch that grows at every start, with the servers it has talked to, to which
//!   a restart announces the new epoch.
//!
//! Both files are versioned, checksummed and bounded; reading them never panics and
//! never allocates more than a documented bound, whatever the bytes. Both are locked
//! with [`File::lock`](std::fs::File::lock) (`flock` on Unix) and replaced whole by
//! writing a new file beside them, syncing it, renaming it over the old one and syncing
//! the directory, so that a crash at any point leaves either the old content or the new
//! one. Files are created with mode 0600: they hold session secrets.

mod incarnation;
mod log;

pub use incarnation::{IdentityError, Incarnation, MAX_IDENTITY_FILE, MAX_SERVERS};
pub use log::{
    COMPACT_THRESHOLD, CallLog, Durability, LogError, LogTicket, LoggedCall, MAX_OPEN_CALLS,
    MAX_RECORD,
};

pub use super::remedies::{Extermination, announce, exterminate};

#[doc(hidden)]
pub use incarnation::__parse_identity;
#[doc(hidden)]
pub use log::{__encode_log, __parse_log};

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::client::Transport;

/// The longest server address, in bytes, that the call log and the identity file hold.
///
/// Host names are at most 253 bytes and Unix socket paths at most 108; the bound keeps
/// every record small.
pub const MAX_ADDRESS_LEN: usize = 1024;

/// Transport code of TCP in [`LoggedCall::transport`] and [`Incarnation::servers`].
pub const TRANSPORT_TCP: u8 = 0;
/// Transport code of UDP.
pub const TRANSPORT_UDP: u8 = 1;
/// Transport code of Unix domain sockets.
pub const TRANSPORT_UNIX: u8 = 2;

/// The code that stands for `transport` in the files of this module.
///
/// Codes are part of the file formats: they never change meaning.
pub fn transport_code(transport: Transport) -> u8 {
    match transport {
        Transport::Tcp => TRANSPORT_TCP,
        Transport::Udp => TRANSPORT_UDP,
        Transport::Unix => TRANSPORT_UNIX,
    }
}

/// The transport a code stands for, `None` for a code this version does not know.
pub fn transport_from_code(code: u8) -> Option<Transport> {
    match code {
        TRANSPORT_TCP => Some(Transport::Tcp),
        TRANSPORT_UDP => Some(Transport::Udp),
        TRANSPORT_UNIX => Some(Transport::Unix),
        _ => None,
    }
}

/// How many times [`open_locked`] opens the file again after finding that the file it
/// locked had been replaced meanwhile.
const LOCK_ATTEMPTS: usize = 64;

/// Opens `path` (creating it empty, mode 0600, if missing) and locks it exclusively:
/// waiting for the lock when `wait`, otherwise returning `Ok(None)` if another open
/// file holds it.
///
/// The owner of a file replaces it by renaming a new file over it (see [`replace`]),
/// so the file this opened may have been replaced before the lock was granted; the
/// lock is then on a file nobody else will look at. The file locked is therefore
/// compared with the one at `path` (device and inode) and opened again when they
/// differ.
fn open_locked(path: &Path, wait: bool) -> io::Result<Option<File>> {
    for _ in 0..LOCK_ATTEMPTS {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        if wait {
            file.lock()?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        let locked = file.metadata()?;
        match fs::metadata(path) {
            Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {
                return Ok(Some(file));
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "the file was replaced every time it was locked",
    ))
}

/// The file beside `path` that [`replace`] writes before renaming it: `path` with
/// `.new` appended to its name.
fn new_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut name = name.to_os_string();
    name.push(".new");
    Ok(path.with_file_name(name))
}

/// Writes `contents` to a new file at `new` (mode 0600; truncating a stale one), locks
/// it exclusively and, when `sync`, syncs it. Returns it positioned at its end. The
/// first half of [`replace`].
fn write_new(new: &Path, contents: &[u8], sync: bool) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(new)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", new.display()),
            ));
        }
        Err(TryLockError::Error(e)) => return Err(e),
    }
    file.write_all(contents)?;
    if sync {
        file.sync_data()?;
    }
    Ok(file)
}

/// Replaces the file at `path` with `contents`, atomically: writes them to a new file
/// beside it ([`new_path`], mode 0600), syncs it, renames it over `path`, and syncs the
/// directory (the two syncs only when `sync`). Returns the new file, locked exclusively
/// (before the rename, so that nobody can lock the file at `path` in between) and
/// positioned at its end.
///
/// The caller must hold the lock on the file at `path`: the new file's name is fixed,
/// so only the lock holder may write it. A crash before the rename leaves the old file
/// in place (and a stale new file, truncated by the next replace); after the rename
/// and the directory sync, the new file, already synced, is in place.
fn replace(path: &Path, contents: &[u8], sync: bool) -> io::Result<File> {
    let new = new_path(path)?;
    let file = write_new(&new, contents, sync)?;
    fs::rename(&new, path)?;
    if sync {
        sync_dir(path)?;
    }
    Ok(file)
}

/// Syncs the directory holding `path`, making a rename into it durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod test_support {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A directory of its own under the system's temporary directory, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(name: &str) -> TempDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "rpc-orphans-{name}-{}-{}-{:x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                crate::id::random_u64(),
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub fn path(&self, file: &str) -> PathBuf {
            self.0.join(file)
        }

        pub fn dir(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_codes_round_trip() {
        for t in [Transport::Tcp, Transport::Udp, Transport::Unix] {
            assert_eq!(transport_from_code(transport_code(t)), Some(t));
        }
        assert_eq!(transport_from_code(3), None);
    }

    #[test]
    fn files_are_private() {
        let dir = test_support::TempDir::new("mode");
        let path = dir.path("f");
        let file = open_locked(&path, false).unwrap().unwrap();
        assert_eq!(file.metadata().unwrap().mode() & 0o777, 0o600);
        let file = replace(&path, b"x", false).unwrap();
        assert_eq!(file.metadata().unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
    }
}
