//! Several hosts on one machine: Linux network namespaces joined by a bridge, for tests
//! of what crosses a network (multicast over real interfaces, links cut and healed).
//!
//! Each host is a namespace with one interface, `eth0`, at `10.77.S.N/24` (S is the
//! network's subnet, N the host's number from 1), the other end of a veth pair whose
//! near end is on the bridge `rb-TAG`; the bridge itself is `10.77.S.254`, this
//! process's address on that network. Multicast floods the bridge (snooping is off, as
//! there is no querier), and each host routes `224.0.0.0/4` through its `eth0`.
//!
//! Creating namespaces needs root (CI runs as root). Where it cannot be done,
//! [`Network::create`] prints why and returns None, and the test skips itself. Everything
//! made is removed on drop, and what an earlier run left behind under the same names
//! is removed before anything is made.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};

/// A bridge and the hosts on it; removed on drop.
pub struct Network {
    tag: String,
    subnet: u8,
    hosts: Vec<Host>,
}

/// One host: a network namespace with one interface on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    /// The namespace's name (for `ip netns exec`).
    pub namespace: String,
    /// Its address on the bridge's network.
    pub address: Ipv4Addr,
    /// The bridge end of its veth pair: down is a cut link.
    link: String,
}

/// Runs `ip ARGS`; the error says what failed.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Network {
    /// A bridge `rb-TAG` on `10.77.SUBNET.0/24` with `hosts` hosts (at most 200), or
    /// None, after printing why, where namespaces cannot be made here. `tag` (at most 6
    /// characters) and `subnet` must differ between tests that run at the same time.
    pub fn create(tag: &str, subnet: u8, hosts: usize) -> Option<Network> {
        assert!(tag.len() <= 6 && hosts <= 200, "names must fit in 15 bytes");
        let mut network = Network {
            tag: tag.to_string(),
            subnet,
            hosts: Vec::new(),
        };
        network.remove_leftovers(hosts + 4);
        let bridge = network.bridge();
        let bridge_address = format!("{}/24", network.bridge_address());
        let made = ip(&["link", "add", &bridge, "type", "bridge"])
            .and_then(|()| {
                ip(&[
                    "link",
                    "set",
                    &bridge,
                    "type",
                    "bridge",
                    "mcast_snooping",
                    "0",
                ])
            })
            .and_then(|()| ip(&["addr", "add", &bridge_address, "dev", &bridge]))
            .and_then(|()| ip(&["link", "set", &bridge, "up"]));
        if let Err(why) = made {
            eprintln!("skipped: cannot make network namespaces here ({why}); run as root");
            return None;
        }
        for _ in 0..hosts {
            if let Err(why) = network.add_host() {
                eprintln!("skipped: cannot make a network namespace here ({why})");
                return None;
            }
        }
        Some(network)
    }

    fn bridge(&self) -> String {
        format!("rb-{}", self.tag)
    }

    /// This process's address on the network (the bridge's).
    pub fn bridge_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, 254)
    }

    /// The hosts, in the order they were made.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Makes one more host; its index.
    pub fn add_host(&mut self) -> Result<usize, String> {
        let n = self.hosts.len();
        let namespace = format!("rpcgen-{}-{n}", self.tag);
        let link = format!("rv-{}-{n}", self.tag);
        let address = Ipv4Addr::new(10, 77, self.subnet, n as u8 + 1);
        let cidr = format!("{address}/24");
        ip(&["netns", "add", &namespace])?;
        // Recorded before the rest, so that drop removes a half-made host too.
        self.hosts.push(Host {
            namespace: namespace.clone(),
            address,
            link: link.clone(),
        });
        ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &namespace,
        ])?;
        ip(&["link", "set", &link, "master", &self.bridge(), "up"])?;
        ip(&["-n", &namespace, "addr", "add", &cidr, "dev", "eth0"])?;
        ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
        ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &namespace,
            "route",
            "add",
            "224.0.0.0/4",
            "dev",
            "eth0",
        ])?;
        Ok(n)
    }

    /// Starts `program ARGS` inside host `host` (its stdout piped, for the test to read).
    pub fn spawn(&self, host: usize, program: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.hosts[host].namespace, program])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a program in a namespace")
    }

    /// Cuts host `host` off the network (its link down), as a partition would.
    pub fn cut(&self, host: usize) {
        ip(&["link", "set", &self.hosts[host].link, "down"]).expect("cut a link");
    }

    /// Brings host `host`'s link back up.
    pub fn heal(&self, host: usize) {
        ip(&["link", "set", &self.hosts[host].link, "up"]).expect("heal a link");
    }

    /// Removes what a crashed earlier run may have left under this network's names.
    fn remove_leftovers(&self, hosts: usize) {
        for n in 0..hosts {
            let _ = ip(&["netns", "del", &format!("rpcgen-{}-{n}", self.tag)]);
            let _ = ip(&["link", "del", &format!("rv-{}-{n}", self.tag)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for host in &self.hosts {
            // Deleting the namespace deletes its end of the veth pair, and with it ours.
            let _ = ip(&["netns", "del", &host.namespace]);
            let _ = ip(&["link", "del", &host.link]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
