//! [`Ref`]: a typed reference to a remote (or local) object.

use std::ops::Deref;

use crate::server::Service;

use super::Interface;

/// A reference to an object implementing interface `C` (a generated `...Client`).
pub struct Ref<C> {
    client: C,
}

impl<C: Interface> Ref<C> {
    /// A reference to `service`, an object of this process: exported into the sending
    /// side's object table when the reference is first sent.
    pub fn local(service: impl Service) -> Ref<C> {
        let _ = service;
        todo!()
    }
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
        }
    }
}

impl<C> std::fmt::Debug for Ref<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ref").finish_non_exhaustive()
    }
}

impl<C> PartialEq for Ref<C> {
    fn eq(&self, _other: &Self) -> bool {
        todo!()
    }
}

impl<C: Interface> Default for Ref<C> {
    fn default() -> Self {
        todo!()
    }
}

impl<C> serde::Serialize for Ref<C> {
    fn serialize<S: serde::Serializer>(&self, _serializer: S) -> Result<S::Ok, S::Error> {
        todo!()
    }
}

impl<'de, C: Interface> serde::Deserialize<'de> for Ref<C> {
    fn deserialize<D: serde::Deserializer<'de>>(_deserializer: D) -> Result<Self, D::Error> {
        todo!()
    }
}
