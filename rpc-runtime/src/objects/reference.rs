//! [`Ref`]: a typed reference to an object, remote or local, and its wire form.

use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use super::Interface;
use super::holder::{self, Held};
use super::scope;
use super::table::LocalObject;
use crate::ObjectRef;
use crate::client::{Channel, ChannelConfig, Client, Transport};
use crate::server::Service;

/// A reference to an object implementing an interface, whose generated client is `C`:
/// what an IDL parameter, field or result of an interface type is in generated code
/// (`FooRef` is `Ref<FooClient>`).
///
/// It dereferences to the client, so calls through it go to the object, wherever it
/// is: on the server that sent it (over the same channel), on a third process (the
/// reference carries its address), on the client that sent it to this server (over that
/// client's own connection: a callback), or in this process (a direct call, still
/// through the wire encoding, so arguments are copies as for a remote call).
///
/// Sending a reference to a local object ([`Ref::local`], or the generated
/// `Foo::into_ref`) exports the object: a reply exports it into the server's object
/// table, a request into this process's callback table. A received reference is leased
/// from its owner for as long as a copy of it lives here (distributed garbage
/// collection; `docs/OBJECTS.md`); dropping the last copy releases it.
///
/// `Ref::default()` is the null reference: calls through it fail with
/// [`CallError::UnknownObject`](crate::CallError::UnknownObject).
pub struct Ref<C> {
    client: C,
    handle: Handle,
}

#[derive(Clone)]
enum Handle {
    Null,
    Local(Arc<LocalObject>),
    Remote(Arc<Remote>),
}

/// A reference to an object of another process.
struct Remote {
    /// How it is sent on: `host:port`, `udp://…`, `unix:…`, or empty (the sender's own:
    /// a callback reference held over a connection, which only that peer can reach).
    address: String,
    binding: u64,
    object: u64,
    /// The token it arrived with, sent on only by a reference decoded outside a call
    /// (inert data, which must write back what it read).
    token: u64,
    /// Its lease; None for a reference decoded outside a call, or dead on arrival.
    _held: Option<Arc<Held>>,
}

impl<C: Interface> Ref<C> {
    /// A reference to `service`, an object of this process (a generated `FooServer`
    /// around an implementation): exported where it is sent, and called directly while
    /// it is used here.
    pub fn local(service: impl Service) -> Ref<C> {
        let service: Arc<dyn Service> = Arc::new(service);
        debug_assert_eq!(service.spec().name, C::spec().name);
        Ref::to_local(LocalObject::new(service))
    }

    /// A reference to `object`, called in-process.
    fn to_local(object: Arc<LocalObject>) -> Ref<C> {
        Ref {
            client: C::from_client(Client::local(object.service.clone(), C::spec())),
            handle: Handle::Local(object),
        }
    }

    /// A reference to a remote object, called through `client`.
    fn to_remote(
        client: Client,
        wire: &ObjectRef,
        address: String,
        token: u64,
        held: Option<Arc<Held>>,
    ) -> Ref<C> {
        Ref {
            client: C::from_client(client),
            handle: Handle::Remote(Arc::new(Remote {
                address,
                binding: wire.binding,
                object: wire.object,
                token,
                _held: held,
            })),
        }
    }

    /// The null reference.
    pub fn null() -> Ref<C> {
        Ref {
            client: C::from_client(Client::unreachable(C::spec(), "the reference is null")),
            handle: Handle::Null,
        }
    }
}

impl<C> Ref<C> {
    /// Whether this is the null reference.
    pub fn is_null(&self) -> bool {
        matches!(self.handle, Handle::Null)
    }

    /// Whether the object is in this process.
    pub fn is_local(&self) -> bool {
        matches!(self.handle, Handle::Local(_))
    }
}

impl<C: Interface> Ref<C> {
    /// The reference's wire form, as it would be sent now (a local object is exported
    /// only when sent in a call: outside one, this fails).
    pub fn to_wire(&self) -> Result<ObjectRef, String> {
        let interface = C::spec().name.to_string();
        Ok(match &self.handle {
            Handle::Null => ObjectRef {
                interface,
                ..ObjectRef::default()
            },
            Handle::Local(object) => {
                let Some(exported) = scope::export(object) else {
                    return Err("a reference to a local object can only be sent in a call".into());
                };
                let (binding, id, token) = exported.map_err(|e| e.to_string())?;
                ObjectRef {
                    address: String::new(),
                    binding,
                    object: id,
                    interface,
                    token,
                }
            }
            Handle::Remote(remote) => ObjectRef {
                address: remote.address.clone(),
                binding: remote.binding,
                object: remote.object,
                interface,
                token: remote.token,
            },
        })
    }

    /// The reference a received wire form stands for, here: null, one of the receiving
    /// side's own objects come back (local), or a remote one (leased, when it arrived in
    /// a call; inert data otherwise).
    pub fn from_wire(wire: ObjectRef) -> Result<Ref<C>, String> {
        let spec = C::spec();
        if wire.object == 0 {
            return Ok(Ref::null());
        }
        if wire.interface != spec.name {
            return Err(format!(
                "a reference to a `{}` where a `{}` is expected",
                wire.interface, spec.name
            ));
        }
        let Some(arrival) = scope::arrival() else {
            // Decoded outside a call: inert data, callable if it says where it lives.
            let client = match parse_address(&wire.address) {
                Some((transport, address)) => Client::new(channel_to(transport, address), spec)
                    .with_target(wire.binding, wire.object),
                None => Client::unreachable(
                    spec,
                    "a reference decoded outside a call cannot reach its sender",
                ),
            };
            let address = wire.address.clone();
            return Ok(Ref::to_remote(client, &wire, address, wire.token, None));
        };
        // A reference to one of the receiver's own objects, come back.
        let home = arrival.home();
        if wire.binding == home.uid {
            return Ok(match home.get(wire.object) {
                Some(object) => Ref::to_local(object),
                None => Ref::dead(wire, "the object was collected here (its leases ran out)"),
            });
        }
        let channel = match parse_address(&wire.address) {
            Some((transport, address)) => channel_to(transport, address),
            None if wire.address.is_empty() => match arrival.channel() {
                Ok(channel) => channel,
                Err(why) => return Ok(Ref::dead(wire, why)),
            },
            None => {
                return Err(format!(
                    "a reference with a malformed address `{}`",
                    wire.address
                ));
            }
        };
        let held = holder::hold(&channel, wire.binding, wire.object, wire.token);
        let client = Client::new(channel.clone(), spec).with_target(wire.binding, wire.object);
        Ok(Ref::to_remote(
            client,
            &wire,
            channel.reference_address(),
            0,
            held,
        ))
    }

    /// A reference that cannot be called, for `why`; it is sent on as it came.
    fn dead(wire: ObjectRef, why: &'static str) -> Ref<C> {
        let client = Client::unreachable(C::spec(), why);
        Ref::to_remote(client, &wire, wire.address.clone(), 0, None)
    }
}

/// The transport and address a reference's address names; None when it is empty or
/// malformed.
fn parse_address(address: &str) -> Option<(Transport, &str)> {
    if let Some(rest) = address.strip_prefix("udp://") {
        Some((Transport::Udp, rest))
    } else if let Some(rest) = address.strip_prefix("unix:") {
        Some((Transport::Unix, rest))
    } else if !address.is_empty() && !address.contains("://") {
        Some((Transport::Tcp, address))
    } else {
        None
    }
}

/// The address a reference reached over `transport` at `address` carries.
pub(crate) fn reference_address(transport: Transport, address: &str) -> String {
    match transport {
        Transport::Udp => format!("udp://{address}"),
        Transport::Unix => format!("unix:{address}"),
        _ => address.to_string(),
    }
}

/// One channel per server that references name, shared by every reference to it while
/// any lives (the pool lets go of a channel nobody else uses).
fn channel_to(transport: Transport, address: &str) -> Channel {
    static POOL: OnceLock<Mutex<FxHashMap<String, Channel>>> = OnceLock::new();
    let mut pool = POOL
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    pool.retain(|_, channel| !channel.is_unshared());
    let key = reference_address(transport, address);
    if let Some(channel) = pool.get(&key) {
        return channel.clone();
    }
    let config = ChannelConfig {
        transport,
        ..ChannelConfig::default()
    };
    let channel = Channel::lazy(address, config);
    pool.insert(key, channel.clone());
    channel
}

impl<C> Deref for Ref<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.client
    }
}

impl<C: Clone> Clone for Ref<C> {
    fn clone(&self) -> Self {
        Ref {
            client: self.client.clone(),
            handle: self.handle.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Ref<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.handle {
            Handle::Null => f.write_str("Ref(null)"),
            Handle::Local(object) => write!(f, "Ref(local {})", object.service.spec().name),
            Handle::Remote(r) => write!(
                f,
                "Ref({:?} binding {:#x} object {:#x})",
                r.address, r.binding, r.object
            ),
        }
    }
}

/// Two references are equal when they name the same object.
impl<C> PartialEq for Ref<C> {
    fn eq(&self, other: &Self) -> bool {
        match (&self.handle, &other.handle) {
            (Handle::Null, Handle::Null) => true,
            (Handle::Local(a), Handle::Local(b)) => Arc::ptr_eq(a, b),
            (Handle::Remote(a), Handle::Remote(b)) => {
                (a.binding, a.object, &a.address) == (b.binding, b.object, &b.address)
            }
            _ => false,
        }
    }
}

impl<C: Interface> Default for Ref<C> {
    fn default() -> Self {
        Ref::null()
    }
}

impl<C: Interface> serde::Serialize for Ref<C> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_wire()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de, C: Interface> serde::Deserialize<'de> for Ref<C> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ObjectRef::deserialize(deserializer)?;
        Ref::from_wire(wire).map_err(serde::de::Error::custom)
    }
}
