//! A client's identity across restarts, for reincarnation ([`Incarnation`]).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::{Durability, MAX_ADDRESS_LEN};

/// The most servers an identity remembers: beyond, the one remembered first is
/// forgotten.
pub const MAX_SERVERS: usize = 256;

/// The longest identity file read, in bytes: comfortably above the largest one written
/// (about 257 KiB, for [`MAX_SERVERS`] addresses of the longest length).
pub const MAX_IDENTITY_FILE: usize = 512 << 10;

const MAGIC: [u8; 7] = *b"rpc-inc";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 8;
/// Header and length field.
const PREFIX_LEN: usize = HEADER_LEN + 4;
const CHECKSUM_LEN: usize = 8;

/// What can go wrong with an identity file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Reading, writing, syncing or renaming failed.
    #[error("identity file {}: {source}", path.display())]
    Io {
        /// The file's path.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file does not start like an identity file. It is left untouched.
    #[error("{} is not an identity file", path.display())]
    NotAnIdentity {
        /// The file's path.
        path: PathBuf,
    },
    /// The file is an identity of a format version this build does not read. It is
    /// left untouched.
    #[error("identity file {} has format version {version}; this build reads version {VERSION}", path.display())]
    Version {
        /// The file's path.
        path: PathBuf,
        /// The version found.
        version: u8,
    },
    /// The file is damaged (truncated, checksum mismatch, malformed, out of bounds). It
    /// is left untouched: restore it, or remove it to start a new identity (whose
    /// servers will not know the old one's calls).
    #[error("identity file {} is damaged: {reason}", path.display())]
    Corrupt {
        /// The file's path.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file now holds another identity (it was replaced since this one started).
    #[error("identity file {} now holds another identity", path.display())]
    Replaced {
        /// The file's path.
        path: PathBuf,
    },
    /// The epoch reached `u64::MAX`.
    #[error("identity file {}: no epoch left", path.display())]
    EpochExhausted {
        /// The file's path.
        path: PathBuf,
    },
    /// A server's address is longer than [`MAX_ADDRESS_LEN`].
    #[error(
        "a server address of {len} bytes is longer than the {MAX_ADDRESS_LEN} an identity holds"
    )]
    AddressTooLong {
        /// The address's length in bytes.
        len: usize,
    },
}

/// The body of the file. Field order is the file format.
#[derive(Serialize, Deserialize)]
struct Identity {
    secret: [u8; 16],
    epoch: u64,
    servers: Vec<(String, u8)>,
}

fn encode(identity: &Identity) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&[0; 4]);
    // Serializing to a Vec cannot fail.
    let mut out = postcard::to_extend(identity, out).unwrap_or_default();
    let len = (out.len().saturating_sub(PREFIX_LEN)) as u32;
    if let Some(field) = out.get_mut(HEADER_LEN..PREFIX_LEN) {
        field.copy_from_slice(&len.to_le_bytes());
    }
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn decode(bytes: &[u8], path: &Path) -> Result<Identity, IdentityError> {
    let corrupt = |reason| IdentityError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(IdentityError::NotAnIdentity {
            path: path.to_owned(),
        });
    }
    if bytes.len() < PREFIX_LEN + CHECKSUM_LEN {
        return Err(corrupt("truncated"));
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err(IdentityError::Version {
            path: path.to_owned(),
            version: bytes[MAGIC.len()],
        });
    }
    let mut len = [0; 4];
    len.copy_from_slice(&bytes[HEADER_LEN..PREFIX_LEN]);
    let len = u32::from_le_bytes(len) as usize;
    if Some(bytes.len()) != len.checked_add(PREFIX_LEN + CHECKSUM_LEN) {
        return Err(corrupt("its length does not match its length field"));
    }
    let (covered, sum) = bytes.split_at(PREFIX_LEN + len);
    let mut expected = [0; CHECKSUM_LEN];
    expected.copy_from_slice(sum);
    if xxh3_64(covered) != u64::from_le_bytes(expected) {
        return Err(corrupt("checksum mismatch"));
    }
    let identity = match postcard::take_from_bytes::<Identity>(&covered[PREFIX_LEN..]) {
        Ok((identity, [])) => identity,
        _ => return Err(corrupt("malformed content")),
    };
    if identity.servers.len() > MAX_SERVERS
        || identity
            .servers
            .iter()
            .any(|(address, _)| address.len() > MAX_ADDRESS_LEN)
    {
        return Err(corrupt("more or longer server addresses than allowed"));
    }
    Ok(identity)
}

/// Decodes an identity file image and returns its canonical encoding. For the fuzz
/// target and tests.
#[doc(hidden)]
pub fn __parse_identity(bytes: &[u8]) -> Result<Vec<u8>, IdentityError> {
    decode(bytes, Path::new("<input>")).map(|identity| encode(&identity))
}

/// Reads the whole file, at most [`MAX_IDENTITY_FILE`] bytes.
fn read(file: &File, path: &Path) -> Result<Vec<u8>, IdentityError> {
    let mut bytes = Vec::new();
    file.take(MAX_IDENTITY_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() > MAX_IDENTITY_FILE {
        return Err(IdentityError::Corrupt {
            path: path.to_owned(),
            reason: "longer than an identity file can be",
        });
    }
    Ok(bytes)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    }
}

fn lock(path: &Path) -> Result<File, IdentityError> {
    super::open_locked(path, true)
        .map_err(io_error(path))?
        .ok_or_else(|| io_error(path)(io::Error::other("the file could not be locked")))
}

/// A client's identity across restarts: a secret that names it to servers, and an
/// epoch number that grows at every start.
///
/// Kept in a file ([`start`](Self::start)), which several processes may share (one
/// host's clients): each start gets an epoch of its own. The file also remembers the
/// servers the identity has talked to, so that a restart can announce the new epoch to
/// each. Methods that write are blocking (they sync): from async code, run them on
/// `tokio::task::spawn_blocking`.
///
/// # File format (version 1)
///
/// | bytes | content |
/// |---|---|
/// | 8 | `rpc-inc` in ASCII, then the version byte `1` |
/// | 4 | `n`, the body's length, little endian |
/// | `n` | the body: postcard of `{ secret: [u8; 16], epoch: u64, servers: [(address: string, transport: u8)] }` |
/// | 8 | XXH3-64 of everything before, little endian |
///
/// The file is exactly `20 + n` bytes and at most [`MAX_IDENTITY_FILE`]; it holds at
/// most [`MAX_SERVERS`] servers, of addresses of at most
/// [`MAX_ADDRESS_LEN`](super::MAX_ADDRESS_LEN) bytes, oldest first. Anything else is an
/// error naming the file: a damaged identity is never replaced by a new one, which
/// would orphan every call of the old one. An empty file is an identity not created yet
/// (the file is created empty to be locked, and only ever written whole).
///
/// # Updates
///
/// Every change (an epoch, a server) is made under an exclusive lock of the file, on
/// its current content read again, and written whole beside it, synced, renamed over
/// it and the directory synced: a crash leaves the old identity or the new one, and
/// processes sharing the file never lose each other's changes or share an epoch.
pub struct Incarnation {
    path: PathBuf,
    durability: Durability,
    secret: [u8; 16],
    epoch: u64,
    servers: Mutex<Vec<(String, u8)>>,
}

impl Incarnation {
    /// Starts an incarnation of the identity at `path`, syncing (see
    /// [`start_with`](Self::start_with)).
    pub fn start(path: impl AsRef<Path>) -> Result<Incarnation, IdentityError> {
        Self::start_with(path, Durability::Synced)
    }

    /// Starts an incarnation of the identity at `path`: loads it (creating it, mode
    /// 0600, with a fresh random 128-bit secret at epoch 0 if the file is missing or
    /// empty), increments its epoch durably, and returns it. The first start's epoch is
    /// thus 1: 0 is never an incarnation's.
    ///
    /// Concurrent starts, in this process or others, wait for each other (an exclusive
    /// lock on the file) and get distinct epochs. A file that is not an identity, or is
    /// damaged, is an error and left as it is. With [`Durability::Unsynced`] (for tests
    /// only) a crash of the machine may give two incarnations one epoch.
    pub fn start_with(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<Incarnation, IdentityError> {
        let path = path.as_ref().to_owned();
        let file = lock(&path)?;
        let bytes = read(&file, &path)?;
        let mut identity = if bytes.is_empty() {
            Identity {
                secret: fresh_secret(),
                epoch: 0,
                servers: Vec::new(),
            }
        } else {
            decode(&bytes, &path)?
        };
        identity.epoch = identity
            .epoch
            .checked_add(1)
            .ok_or_else(|| IdentityError::EpochExhausted { path: path.clone() })?;
        super::replace(&path, &encode(&identity), durability == Durability::Synced)
            .map_err(io_error(&path))?;
        drop(file);
        Ok(Incarnation {
            path,
            durability,
            secret: identity.secret,
            epoch: identity.epoch,
            servers: Mutex::new(identity.servers),
        })
    }

    /// The identity's secret.
    pub fn secret(&self) -> [u8; 16] {
        self.secret
    }

    /// This incarnation's epoch: greater than that of every earlier start of the
    /// identity.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The servers the identity has talked to (address, transport code as in
    /// [`transport_code`](super::transport_code)), oldest first: the
    /// [`MAX_SERVERS`] remembered last, as the file held them when this incarnation last
    /// read it (at its start, or its last [`remember_server`](Self::remember_server)
    /// that wrote), so including those of other processes sharing the file.
    pub fn servers(&self) -> Vec<(String, u8)> {
        self.servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Remembers a server, durably, if it is new (known ones cost nothing: no lock, no
    /// write). A new one beyond [`MAX_SERVERS`] makes the identity forget the one it
    /// remembered first. Blocking when it writes.
    pub fn remember_server(&self, address: &str, transport: u8) -> Result<(), IdentityError> {
        if address.len() > MAX_ADDRESS_LEN {
            return Err(IdentityError::AddressTooLong { len: address.len() });
        }
        let known =
            |servers: &[(String, u8)]| servers.iter().any(|(a, t)| a == address && *t == transport);
        if known(&self.servers()) {
            return Ok(());
        }
        let path = &self.path;
        let file = lock(path)?;
        let bytes = read(&file, path)?;
        if bytes.is_empty() {
            return Err(IdentityError::Corrupt {
                path: path.clone(),
                reason: "emptied",
            });
        }
        let mut identity = decode(&bytes, path)?;
        if identity.secret != self.secret {
            return Err(IdentityError::Replaced { path: path.clone() });
        }
        if !known(&identity.servers) {
            identity.servers.push((address.to_owned(), transport));
            if identity.servers.len() > MAX_SERVERS {
                let excess = identity.servers.len() - MAX_SERVERS;
                identity.servers.drain(..excess);
            }
            super::replace(
                path,
                &encode(&identity),
                self.durability == Durability::Synced,
            )
            .map_err(io_error(path))?;
        }
        drop(file);
        *self.servers.lock().unwrap_or_else(PoisonError::into_inner) = identity.servers;
        Ok(())
    }
}

impl fmt::Debug for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incarnation")
            .field("path", &self.path)
            .field("epoch", &self.epoch)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// 128 random bits (see [`crate::id::random_u64`]).
fn fresh_secret() -> [u8; 16] {
    let mut secret = [0; 16];
    secret[..8].copy_from_slice(&crate::id::random_u64().to_le_bytes());
    secret[8..].copy_from_slice(&crate::id::random_u64().to_le_bytes());
    secret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::orphans::test_support::TempDir;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    fn start(path: &Path) -> Incarnation {
        Incarnation::start_with(path, Durability::Unsynced).unwrap()
    }

    #[test]
    fn epochs_grow_across_starts() {
        let dir = TempDir::new("inc-epochs");
        let path = dir.path("identity");
        let first = Incarnation::start(&path).unwrap();
        assert_eq!(first.epoch(), 1);
        assert_ne!(first.secret(), [0; 16]);
        let second = Incarnation::start(&path).unwrap();
        let third = Incarnation::start(&path).unwrap();
        assert_eq!((second.epoch(), third.epoch()), (2, 3));
        assert_eq!(second.secret(), first.secret());
        assert_eq!(third.secret(), first.secret());
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert!(format!("{first:?}").contains("<redacted>"));
        // Another identity has another secret.
        assert_ne!(start(&dir.path("other")).secret(), first.secret());
    }

    #[test]
    fn concurrent_starts_get_distinct_epochs() {
        let dir = TempDir::new("inc-threads");
        let path = dir.path("identity");
        let started: Vec<Incarnation> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8).map(|_| s.spawn(|| start(&path))).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut epochs: Vec<u64> = started.iter().map(Incarnation::epoch).collect();
        epochs.sort_unstable();
        assert_eq!(epochs, (1..=8).collect::<Vec<_>>());
        assert!(started.iter().all(|i| i.secret() == started[0].secret()));
        assert_eq!(start(&path).epoch(), 9);
    }

    #[test]
    fn servers_are_remembered_bounded_and_survive_restarts() {
        let dir = TempDir::new("inc-servers");
        let path = dir.path("identity");
        let inc = start(&path);
        let server = |n: usize| (format!("10.0.0.{}:{}", n % 250, 4000 + n), (n % 3) as u8);
        for n in 0..MAX_SERVERS + 44 {
            let (address, transport) = server(n);
            inc.remember_server(&address, transport).unwrap();
        }
        let latest: Vec<_> = (44..MAX_SERVERS + 44).map(server).collect();
        assert_eq!(inc.servers(), latest);
        // A known server costs no write: the file is not replaced.
        let inode = fs::metadata(&path).unwrap().ino();
        let (address, transport) = server(MAX_SERVERS + 43);
        inc.remember_server(&address, transport).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        // Another incarnation sharing the file: the two merge.
        let other = start(&path);
        assert_eq!(other.epoch(), 2);
        assert_eq!(other.servers(), latest);
        other.remember_server("/run/other.sock", 2).unwrap();
        inc.remember_server("127.0.0.1:1", 0).unwrap();
        drop((inc, other));
        let restarted = start(&path);
        assert_eq!(restarted.epoch(), 3);
        let servers = restarted.servers();
        assert_eq!(servers.len(), MAX_SERVERS);
        assert_eq!(
            servers[MAX_SERVERS - 2..],
            [("/run/other.sock".into(), 2), ("127.0.0.1:1".into(), 0)]
        );
        assert!(matches!(
            restarted.remember_server(&"x".repeat(MAX_ADDRESS_LEN + 1), 0),
            Err(IdentityError::AddressTooLong { .. })
        ));
    }

    #[test]
    fn garbled_files_are_errors() {
        let dir = TempDir::new("inc-garbled");
        let path = dir.path("identity");
        let inc = start(&path);
        inc.remember_server("127.0.0.1:4000", 0).unwrap();
        let good = fs::read(&path).unwrap();
        assert_eq!(__parse_identity(&good).unwrap(), good);
        let check = |bad: &[u8], what: &str| {
            fs::write(&path, bad).unwrap();
            let err = Incarnation::start_with(&path, Durability::Unsynced).unwrap_err();
            assert!(err.to_string().contains("identity"), "{what}: {err}");
            assert!(!matches!(err, IdentityError::Io { .. }), "{what}: {err}");
            // Never replaced by a new identity.
            assert_eq!(fs::read(&path).unwrap(), bad, "{what}");
        };
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x04;
            check(&bad, &format!("flip at {at}"));
        }
        for cut in 1..good.len() {
            check(&good[..cut], &format!("cut at {cut}"));
        }
        check(&[&good[..], b"x"].concat(), "extended");
        check(b"definitely not an identity", "foreign");
        let mut huge = good.clone();
        huge.resize(MAX_IDENTITY_FILE + 10, 0);
        check(&huge, "huge");
        // A checksummed body out of bounds (too many servers).
        let many = Identity {
            secret: [1; 16],
            epoch: 1,
            servers: vec![(String::new(), 0); MAX_SERVERS + 1],
        };
        check(&encode(&many), "too many servers");
        let err = __parse_identity(&encode(&many)).unwrap_err();
        assert!(matches!(err, IdentityError::Corrupt { .. }), "{err}");
        // A file emptied under a running incarnation.
        fs::write(&path, b"").unwrap();
        assert!(matches!(
            inc.remember_server("127.0.0.1:4001", 0),
            Err(IdentityError::Corrupt { .. })
        ));
        // A file holding another identity now.
        fs::remove_file(&path).unwrap();
        let _new = start(&path);
        assert!(matches!(
            inc.remember_server("127.0.0.1:4001", 0),
            Err(IdentityError::Replaced { .. })
        ));
    }
}
