//! Metadata: a small map of strings a caller attaches to its calls (an auth token, a
//! trace context), carried on the wire beside the arguments and read by the handler from
//! its [`CallContext`](crate::server::CallContext).
//!
//! Bounded on both sides: at most
//! [`MAX_METADATA_ENTRIES`](crate::wire::context::MAX_METADATA_ENTRIES) entries and
//! [`MAX_METADATA_BYTES`](crate::wire::context::MAX_METADATA_BYTES) bytes of keys and
//! values. A client refuses to send more; a server refuses a request carrying more.

/// Keys and values, keys unique, in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(String, String)>,
}

/// The metadata of a call that carries none.
pub(crate) static EMPTY: Metadata = Metadata {
    entries: Vec::new(),
};

impl Metadata {
    /// No entries.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key`; its value, if it had one.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// The entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as the wire carries them.
    pub(crate) fn as_slice(&self) -> &[(String, String)] {
        &self.entries
    }

    /// Metadata received: the wire's entries, already checked.
    pub(crate) fn from_entries(entries: Vec<(String, String)>) -> Metadata {
        Metadata { entries }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Metadata {
        let mut metadata = Metadata::new();
        for (k, v) in iter {
            metadata.insert(k, v);
        }
        metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_keep_their_order() {
        let mut m: Metadata = [("a", "1"), ("b", "2")].into_iter().collect();
        m.insert("a", "3");
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(m.remove("a").as_deref(), Some("3"));
        assert_eq!((m.get("b"), m.get("a"), m.len()), (Some("2"), None, 1));
    }
}
