//! What the example programs share: serving one service over several transports at
//! once (`bank-server`, `calc-server`), and connecting over the transport the command
//! line names (`bank-client`, `calc-client`).
//!
//! A [`Server`] is consumed when it binds, so [`Listeners::bind`] takes a function that
//! builds a fresh one for each transport; the services those servers hold share their
//! state (a generated `…Server` is a cheap clone of an `Arc` of the implementation).

use std::io;
use std::path::{Path, PathBuf};

use rpc_runtime::{Channel, ChannelConfig, ConnectError, Server, ServerHandle, Transport};

/// Connects to a server over UDP at `udp` if given, else over the Unix domain socket
/// `unix` if given, else over TCP at `tcp`. Returns the channel and what it connects to,
/// such as `udp 127.0.0.1:7878`.
pub async fn connect(
    tcp: &str,
    udp: Option<&str>,
    unix: Option<&Path>,
) -> Result<(Channel, String), ConnectError> {
    let (transport, name, address) = match (udp, unix) {
        (Some(address), _) => (Transport::Udp, "udp", address.to_string()),
        (None, Some(path)) => (Transport::Unix, "unix", path.display().to_string()),
        (None, None) => (Transport::Tcp, "tcp", tcp.to_string()),
    };
    let config = ChannelConfig {
        transport,
        ..ChannelConfig::default()
    };
    let channel = Channel::connect_with(address.clone(), config).await?;
    Ok((channel, format!("{name} {address}")))
}

/// The running servers of one program: always TCP, and UDP and a Unix domain socket if
/// asked for.
#[derive(Debug)]
pub struct Listeners {
    /// The server listening on TCP.
    pub tcp: ServerHandle,
    /// The server on UDP, if any.
    pub udp: Option<ServerHandle>,
    /// The server on a Unix domain socket, if any, and the socket's path.
    pub unix: Option<(PathBuf, ServerHandle)>,
}

impl Listeners {
    /// Serves a server built by `make` on TCP at `tcp`, and another on UDP at `udp` and
    /// another on the Unix domain socket `unix` for those given. A socket file left at
    /// `unix` by a server that is gone is removed first (see [`remove_stale_socket`]).
    pub async fn bind(
        make: impl Fn() -> Server,
        tcp: &str,
        udp: Option<&str>,
        unix: Option<&Path>,
    ) -> io::Result<Listeners> {
        let tcp_handle = make().bind(tcp).await.map_err(|e| context("tcp", tcp, e))?;
        let udp_handle = match udp {
            Some(address) => Some(
                make()
                    .bind_udp(address)
                    .await
                    .map_err(|e| context("udp", address, e))?,
            ),
            None => None,
        };
        let unix_handle = match unix {
            Some(path) => {
                let shown = path.display().to_string();
                remove_stale_socket(path)
                    .await
                    .map_err(|e| context("unix", &shown, e))?;
                let handle = make()
                    .bind_unix(path)
                    .map_err(|e| context("unix", &shown, e))?;
                Some((path.to_path_buf(), handle))
            }
            None => None,
        };
        Ok(Listeners {
            tcp: tcp_handle,
            udp: udp_handle,
            unix: unix_handle,
        })
    }

    /// One line per transport served, such as `tcp  127.0.0.1:7878`.
    pub fn addresses(&self) -> Vec<String> {
        let mut lines = vec![format!("tcp  {}", self.tcp.local_addr())];
        if let Some(udp) = &self.udp {
            lines.push(format!("udp  {}", udp.local_addr()));
        }
        if let Some((path, _)) = &self.unix {
            lines.push(format!("unix {}", path.display()));
        }
        lines
    }

    /// Shuts every server down gracefully (see [`ServerHandle::shutdown`]), all at once,
    /// then removes the Unix domain socket's file.
    pub async fn shutdown(self) {
        let (path, unix) = self.unix.unzip();
        tokio::join!(
            self.tcp.shutdown(),
            async {
                if let Some(udp) = self.udp {
                    udp.shutdown().await;
                }
            },
            async {
                if let Some(unix) = unix {
                    unix.shutdown().await;
                }
            },
        );
        if let Some(path) = path
            && let Err(e) = remove_stale_socket(&path).await
        {
            eprintln!("{}: {e}", path.display());
        }
    }
}

/// Removes the Unix domain socket at `path` if no server listens on it any more, so a
/// new server can bind there. Nothing at `path` is fine; anything else there is an error
/// and is left alone: a file that is not a socket, or a socket a live server accepts on.
pub async fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;

    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a socket (not removed)",
        ));
    }
    match tokio::net::UnixStream::connect(path).await {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "a running server listens on this socket (not removed)",
        )),
        Err(_) => std::fs::remove_file(path),
    }
}

/// `e`, prefixed with the transport and address it concerns.
fn context(transport: &str, address: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{transport} {address}: {e}"))
}
