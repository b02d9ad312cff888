//! A serde [`Deserializer`] adapter that bounds nesting depth and element counts, so that
//! decoding a payload from an untrusted peer can neither crash, nor hang, nor allocate
//! absurdly.
//!
//! postcard on its own trusts the shape the bytes declare, and three shapes are hostile:
//!
//! - deep nesting: a recursive type (`struct Node { next: Option<Box<Node>> }`) nested
//!   30,000 levels deep fits in 30 KB and recurses once per level until the stack
//!   overflows, which aborts the whole process;
//! - huge declared lengths: postcard's map size hint is the declared length, unchecked,
//!   so a 10-byte payload declaring 2^60 entries makes serde reserve up to 1 MiB, once
//!   per nesting level;
//! - zero-size elements: a `Vec<()>` declared with 2^60 elements reads no byte per
//!   element, so it never runs out of input and loops for years.
//!
//! [`Limited`] wraps any deserializer and everything it hands out (visitors,
//! [`SeqAccess`], [`MapAccess`], [`EnumAccess`], [`VariantAccess`], seeds), and counts
//! in a [`Limits`] that lives on the caller's stack:
//!
//! - nesting: every struct, tuple, tuple struct, seq, map, `Some`, newtype and enum
//!   variant open at once is one level; more than [`MAX_DEPTH`] is an error;
//! - elements: every seq element and map entry of the payload, at any depth, counts
//!   against one budget of the payload's length plus [`ELEMENT_ALLOWANCE`]; spending
//!   more is an error. Elements of at least one byte can never exhaust it, so the
//!   budget only stops elements that occupy no bytes;
//! - size hints: seq hints are capped by the elements left in that budget (postcard
//!   already caps them by the bytes left); map hints are withheld (`None`), since
//!   postcard says nothing about the bytes left under a map.
//!
//! The wrappers hold only a reference to the [`Limits`]: decoding through them allocates
//! nothing more than decoding without them.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// The most levels of nesting a payload may open at once: each struct, tuple, tuple
/// struct, seq, map, `Some`, newtype and enum variant is one level.
///
/// 512 levels is far beyond what a non-recursive argument type nests, and little enough
/// that decoding fits half a tokio worker's 2 MiB stack even unoptimized (the unit tests
/// decode at the limit on a 1 MiB stack). A recursive type spends a level on every
/// struct and every `Some` or list it nests through, so a
/// `struct Node { next: Option<Box<Node>> }` list can be at most 256 nodes long; deeper
/// data wants a `list` rather than recursion.
pub const MAX_DEPTH: usize = 512;

/// How many seq elements and map entries a payload may hold beyond one per byte.
///
/// Elements that occupy at least one byte are bounded by the payload's length anyway;
/// this allowance is for elements that occupy none (`()`, unit structs, empty structs),
/// of which an honest payload has few.
pub const ELEMENT_ALLOWANCE: usize = 65_536;

/// Which limit a payload broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// More than [`MAX_DEPTH`] levels of nesting were open at once.
    Depth,
    /// More seq elements and map entries than the payload's budget.
    Elements {
        /// The budget: the payload's length plus [`ELEMENT_ALLOWANCE`].
        limit: usize,
    },
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Depth => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
            Exceeded::Elements { limit } => write!(
                f,
                "more than {limit} sequence elements and map entries in one payload"
            ),
        }
    }
}

/// The counters of one payload's decoding, shared by reference by every wrapper.
///
/// Cells rather than `&mut`: visitors and accessors are handed out by value and nest,
/// so many wrappers hold the state at once, all on one thread.
#[derive(Debug)]
pub struct Limits {
    /// Levels open now.
    depth: Cell<usize>,
    /// Seq elements and map entries still allowed.
    elements_left: Cell<usize>,
    /// The element budget at the start, for the error message.
    element_limit: usize,
    /// The limit that failed the decoding, if one did. Formats such as postcard drop
    /// the message of a custom error, so the caller reads the reason here.
    exceeded: Cell<Option<Exceeded>>,
}

impl Limits {
    /// Fresh counters for a payload of `len` bytes: no level open, and a budget of
    /// `len` + [`ELEMENT_ALLOWANCE`] elements.
    pub fn for_payload(len: usize) -> Limits {
        let element_limit = len.saturating_add(ELEMENT_ALLOWANCE);
        Limits {
            depth: Cell::new(0),
            elements_left: Cell::new(element_limit),
            element_limit,
            exceeded: Cell::new(None),
        }
    }

    /// The limit that failed the decoding, if one did: the true reason behind the
    /// deserializer's error, whose message the format may have dropped.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded.get()
    }

    /// Opens one level of nesting; it closes when the guard drops, on success, error
    /// or unwinding alike.
    fn enter<E: de::Error>(&self) -> Result<Level<'_>, E> {
        let depth = self.depth.get();
        if depth >= MAX_DEPTH {
            return Err(self.fail(Exceeded::Depth));
        }
        self.depth.set(depth + 1);
        Ok(Level(&self.depth))
    }

    /// Spends one element of the budget, before the element is decoded.
    fn charge<E: de::Error>(&self) -> Result<(), E> {
        match self.elements_left.get().checked_sub(1) {
            Some(left) => {
                self.elements_left.set(left);
                Ok(())
            }
            None => Err(self.fail(Exceeded::Elements {
                limit: self.element_limit,
            })),
        }
    }

    /// Records which limit broke, for [`Limits::exceeded`], and makes the error.
    fn fail<E: de::Error>(&self, exceeded: Exceeded) -> E {
        self.exceeded.set(Some(exceeded));
        E::custom(exceeded)
    }
}

/// One open level of nesting; dropping it closes the level.
struct Level<'a>(&'a Cell<usize>);

impl Drop for Level<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A deserializer that forwards to `D`, counting nesting and elements in a [`Limits`].
///
/// Wrap a postcard deserializer as `Limited::new(&mut deserializer, &limits)`, deserialize
/// through it, and then read what is left with `deserializer.finalize()`.
pub struct Limited<'a, D> {
    inner: D,
    limits: &'a Limits,
}

impl<'a, D> Limited<'a, D> {
    /// Wraps `inner`, counting in `limits`.
    pub fn new(inner: D, limits: &'a Limits) -> Self {
        Limited { inner, limits }
    }
}

/// Forwards `deserialize_*` methods, wrapping their visitor. `$counted` says whether the
/// elements the visitor gets are seq elements or map entries (charged to the budget) or
/// fields of a tuple or struct, whose count the type fixes and the bytes cannot inflate.
macro_rules! forward_deserialize {
    ($counted:literal => $($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[inline]
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method($($arg,)* Wrapped::<V, $counted>::new(visitor, self.limits))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'_, D> {
    type Error = D::Error;

    // Only tuples and structs, whose length the type fixes, go uncounted. Everything
    // else is counted: postcard calls `visit_seq` and `visit_map` only from
    // `deserialize_seq` and `deserialize_map`, but a self-describing format may call
    // them from `deserialize_any` or anywhere else.
    forward_deserialize! { false =>
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
    }

    forward_deserialize! { true =>
        deserialize_any();
        deserialize_ignored_any();
        deserialize_seq();
        deserialize_map();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor that forwards to `V`, opening a level for whatever nests and wrapping what
/// it hands on. `COUNTED`: whether the seq elements or map entries it visits are charged
/// to the budget (a constant rather than a field, so that the check costs nothing).
struct Wrapped<'a, V, const COUNTED: bool> {
    inner: V,
    limits: &'a Limits,
}

impl<'a, V, const COUNTED: bool> Wrapped<'a, V, COUNTED> {
    fn new(inner: V, limits: &'a Limits) -> Self {
        Wrapped { inner, limits }
    }
}

/// Forwards `visit_*` methods that carry a plain value and so cannot nest.
macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            #[inline]
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>, const COUNTED: bool> Visitor<'de> for Wrapped<'_, V, COUNTED> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let _level = self.limits.enter::<D::Error>()?;
        self.inner
            .visit_some(Limited::new(deserializer, self.limits))
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        let _level = self.limits.enter::<D::Error>()?;
        self.inner
            .visit_newtype_struct(Limited::new(deserializer, self.limits))
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let _level = self.limits.enter::<A::Error>()?;
        self.inner.visit_seq(Seq::<A, COUNTED> {
            inner: seq,
            limits: self.limits,
        })
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let _level = self.limits.enter::<A::Error>()?;
        self.inner.visit_map(Map::<A, COUNTED> {
            inner: map,
            limits: self.limits,
        })
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        // The level spans the variant's content, which the visitor decodes through the
        // `VariantAccess` it gets from `data`.
        let _level = self.limits.enter::<A::Error>()?;
        self.inner.visit_enum(Enum {
            inner: data,
            limits: self.limits,
        })
    }
}

/// A seed that forwards to `S` with a [`Limited`] deserializer, first charging one
/// element to the budget if `COUNTED`.
struct Seed<'a, S, const COUNTED: bool> {
    inner: S,
    limits: &'a Limits,
}

impl<'a, S, const COUNTED: bool> Seed<'a, S, COUNTED> {
    fn new(inner: S, limits: &'a Limits) -> Self {
        Seed { inner, limits }
    }
}

impl<'de, S: DeserializeSeed<'de>, const COUNTED: bool> DeserializeSeed<'de>
    for Seed<'_, S, COUNTED>
{
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        // Charged here rather than in `next_element_seed`: the seed runs only when there
        // is an element, so the end of a seq costs nothing.
        if COUNTED {
            self.limits.charge::<D::Error>()?;
        }
        self.inner
            .deserialize(Limited::new(deserializer, self.limits))
    }
}

/// The elements of a seq, tuple or struct, each decoded through a [`Limited`].
struct Seq<'a, A, const COUNTED: bool> {
    inner: A,
    limits: &'a Limits,
}

impl<'de, A: SeqAccess<'de>, const COUNTED: bool> SeqAccess<'de> for Seq<'_, A, COUNTED> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.inner
            .next_element_seed(Seed::<T, COUNTED>::new(seed, self.limits))
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        let hint = self.inner.size_hint();
        if COUNTED {
            // More elements than the budget allows would fail anyway: never reserve
            // room for them.
            hint.map(|n| n.min(self.limits.elements_left.get()))
        } else {
            // A tuple's or struct's length comes from the type, not from the bytes.
            hint
        }
    }
}

/// The entries of a map, each key and value decoded through a [`Limited`].
struct Map<'a, A, const COUNTED: bool> {
    inner: A,
    limits: &'a Limits,
}

impl<'de, A: MapAccess<'de>, const COUNTED: bool> MapAccess<'de> for Map<'_, A, COUNTED> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // The key is charged, the value is not: one entry, one element.
        self.inner
            .next_key_seed(Seed::<K, COUNTED>::new(seed, self.limits))
    }

    #[inline]
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner
            .next_value_seed(Seed::<S, false>::new(seed, self.limits))
    }

    #[inline]
    fn next_entry_seed<K: DeserializeSeed<'de>, S: DeserializeSeed<'de>>(
        &mut self,
        key: K,
        value: S,
    ) -> Result<Option<(K::Value, S::Value)>, A::Error> {
        self.inner.next_entry_seed(
            Seed::<K, COUNTED>::new(key, self.limits),
            Seed::<S, false>::new(value, self.limits),
        )
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        // postcard's hint is the declared length, unchecked against the bytes left, and
        // nothing here knows how many bytes are left: no hint at all is the safe answer.
        // Maps then grow as their entries arrive, which costs a few reallocations.
        None
    }
}

/// An enum's variant tag, decoded through a [`Limited`], and then its content.
struct Enum<'a, A> {
    inner: A,
    limits: &'a Limits,
}

impl<'de, 'a, A: EnumAccess<'de>> EnumAccess<'de> for Enum<'a, A> {
    type Error = A::Error;
    type Variant = Variant<'a, A::Variant>;

    #[inline]
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (tag, variant) = self
            .inner
            .variant_seed(Seed::<S, false>::new(seed, self.limits))?;
        Ok((
            tag,
            Variant {
                inner: variant,
                limits: self.limits,
            },
        ))
    }
}

/// An enum variant's content, decoded through a [`Limited`].
struct Variant<'a, A> {
    inner: A,
    limits: &'a Limits,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<'_, A> {
    type Error = A::Error;

    #[inline]
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    #[inline]
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.inner
            .newtype_variant_seed(Seed::<S, false>::new(seed, self.limits))
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner
            .tuple_variant(len, Wrapped::<V, false>::new(visitor, self.limits))
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner
            .struct_variant(fields, Wrapped::<V, false>::new(visitor, self.limits))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::time::{Duration, Instant};

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::wire::{DecodeError, decode};

    /// A linked list: each node is a struct level, each `Some` another.
    #[derive(Debug, Deserialize)]
    struct Node {
        #[allow(dead_code)] // Only its shape matters.
        next: Option<Box<Node>>,
    }

    /// A tree: each tree is a struct level, each list of children another.
    #[derive(Debug, Deserialize)]
    struct Tree {
        children: Vec<Tree>,
    }

    /// `n` nested nodes (or trees): every level but the last says "one more" with a 1
    /// (`Some`, or a list of one child), the last says "no more" with a 0. Built by hand,
    /// since building the value would take the recursion this module guards against.
    fn nested(n: usize) -> Vec<u8> {
        let mut bytes = vec![1; n - 1];
        bytes.push(0);
        bytes
    }

    /// Runs `f` on a thread with a 1 MiB stack, half a tokio worker's. Decoding at the
    /// depth limit takes about 640 KiB of it unoptimized, under 100 KiB optimized;
    /// without the limit, 30,000 levels overflow it (and any stack) and abort.
    fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(f)
            .expect("a thread")
            .join()
            .expect("no panic, no overflow")
    }

    fn malformed(result: Result<impl std::fmt::Debug, DecodeError>) -> String {
        match result {
            Err(DecodeError::Malformed { message, .. }) => message,
            other => panic!("expected a malformed payload, got {other:?}"),
        }
    }

    /// Decodes `bytes` through [`Limited`] without `decode`'s trailing-bytes check,
    /// returning the counters too.
    fn limited<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> (Result<T, postcard::Error>, Limits) {
        let limits = Limits::for_payload(bytes.len());
        let mut deserializer = postcard::Deserializer::from_bytes(bytes);
        let result = T::deserialize(Limited::new(&mut deserializer, &limits));
        (result, limits)
    }

    fn varint(mut n: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        while n >= 0x80 {
            bytes.push(n as u8 | 0x80);
            n >>= 7;
        }
        bytes.push(n as u8);
        bytes
    }

    #[test]
    fn a_30000_deep_list_is_refused_on_a_small_stack() {
        let message = on_small_stack(|| malformed(decode::<Node>(&nested(30_000), "args")));
        assert_eq!(message, "nesting deeper than 512 levels");
    }

    #[test]
    fn a_30000_deep_tree_is_refused_on_a_small_stack() {
        let message = on_small_stack(|| malformed(decode::<Tree>(&nested(30_000), "args")));
        assert_eq!(message, "nesting deeper than 512 levels");
    }

    #[test]
    fn nesting_up_to_the_limit_decodes_on_a_small_stack() {
        // n nodes open n struct levels and n - 1 `Some`s: 256 nodes are 511 levels.
        on_small_stack(|| decode::<Node>(&nested(256), "args")).unwrap();
        assert!(decode::<Node>(&nested(257), "args").is_err());
        // n trees open n struct levels and n lists: 256 trees are exactly 512 levels.
        let tree = on_small_stack(|| decode::<Tree>(&nested(256), "args")).unwrap();
        let mut depth = 1;
        let mut at = &tree;
        while let Some(child) = at.children.first() {
            depth += 1;
            at = child;
        }
        assert_eq!(depth, 256);
        assert!(decode::<Tree>(&nested(257), "args").is_err());
    }

    #[test]
    fn levels_close_on_errors_too() {
        let (result, limits) = limited::<Tree>(&nested(1_000));
        assert!(result.is_err());
        assert_eq!(limits.exceeded(), Some(Exceeded::Depth));
        assert_eq!(limits.depth.get(), 0);
        // An error deep inside (the input ends) unwinds every level as well.
        let (result, limits) = limited::<Tree>(&[1; 30]);
        assert!(matches!(
            result,
            Err(postcard::Error::DeserializeUnexpectedEnd)
        ));
        assert_eq!(limits.exceeded(), None);
        assert_eq!(limits.depth.get(), 0);
    }

    #[test]
    fn a_map_declaring_2_pow_60_entries_is_refused_quickly() {
        let bytes = varint(1 << 60);
        assert!(bytes.len() <= 10);
        let start = Instant::now();
        assert!(decode::<HashMap<u64, String>>(&bytes, "args").is_err());
        assert!(decode::<BTreeMap<u64, String>>(&bytes, "args").is_err());
        // Entries of no bytes never run out of input: the element budget stops them.
        let message = malformed(decode::<BTreeMap<(), ()>>(&bytes, "args"));
        assert_eq!(
            message,
            "more than 65545 sequence elements and map entries in one payload"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_list_of_2_pow_60_empty_elements_is_refused_quickly() {
        #[derive(Debug, Deserialize)]
        struct Empty {}

        let bytes = varint(1 << 60);
        let start = Instant::now();
        let message = malformed(decode::<Vec<()>>(&bytes, "args"));
        assert_eq!(
            message,
            "more than 65545 sequence elements and map entries in one payload"
        );
        assert!(decode::<Vec<Empty>>(&bytes, "args").is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_element_budget_is_the_payload_length_plus_the_allowance() {
        // 65,539 and 65,540 both take a 3-byte length: the budget is 65,539.
        let fits = postcard::to_allocvec(&vec![(); 65_539]).unwrap();
        assert_eq!(fits.len(), 3);
        assert_eq!(decode::<Vec<()>>(&fits, "args").unwrap().len(), 65_539);
        let over = postcard::to_allocvec(&vec![(); 65_540]).unwrap();
        assert!(decode::<Vec<()>>(&over, "args").is_err());
        // One budget for the whole payload, not one per list.
        let split = postcard::to_allocvec(&vec![vec![(); 40_000]; 2]).unwrap();
        assert!(decode::<Vec<Vec<()>>>(&split, "args").is_err());
        // Struct and tuple fields come from the type, so they are not charged.
        let fields = postcard::to_allocvec(&vec![((), (), ()); 65_000]).unwrap();
        assert_eq!(
            decode::<Vec<((), (), ())>>(&fields, "args").unwrap().len(),
            65_000
        );
    }

    /// Records the size hint a visitor is given, and consumes nothing.
    #[derive(Debug, PartialEq)]
    struct Hint(Option<usize>);

    impl<'de> Deserialize<'de> for Hint {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Hint, D::Error> {
            struct HintVisitor;
            impl<'de> Visitor<'de> for HintVisitor {
                type Value = Hint;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a seq or a map")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Hint, A::Error> {
                    Ok(Hint(seq.size_hint()))
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Hint, A::Error> {
                    Ok(Hint(map.size_hint()))
                }
            }
            // The first element of the tuple picks the kind: 0 a seq, 1 a map.
            struct Kind;
            impl<'de> Visitor<'de> for Kind {
                type Value = Hint;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a kind and a seq or a map")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Hint, A::Error> {
                    let map = seq.next_element::<bool>()?.unwrap_or_default();
                    let hint = if map {
                        seq.next_element::<AsMap>()?.map(|m| m.0)
                    } else {
                        seq.next_element::<AsSeq>()?.map(|s| s.0)
                    };
                    Ok(hint.unwrap_or(Hint(None)))
                }
            }
            struct AsSeq(Hint);
            impl<'de> Deserialize<'de> for AsSeq {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AsSeq, D::Error> {
                    d.deserialize_seq(HintVisitor).map(AsSeq)
                }
            }
            struct AsMap(Hint);
            impl<'de> Deserialize<'de> for AsMap {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AsMap, D::Error> {
                    d.deserialize_map(HintVisitor).map(AsMap)
                }
            }
            deserializer.deserialize_tuple(2, Kind)
        }
    }

    #[test]
    fn size_hints_never_exceed_the_bytes_left() {
        let hint = |map: bool, len: u64, body: usize| {
            let mut bytes = vec![u8::from(map)];
            bytes.extend(varint(len));
            bytes.extend(vec![0; body]);
            limited::<Hint>(&bytes).0.unwrap()
        };
        // Seqs: the declared length when the bytes could hold it, else none.
        assert_eq!(hint(false, 3, 3), Hint(Some(3)));
        assert_eq!(hint(false, 1 << 60, 3), Hint(None));
        // Maps: postcard cannot tell the bytes left, so never a hint.
        assert_eq!(hint(true, 3, 6), Hint(None));
        assert_eq!(hint(true, 1 << 60, 0), Hint(None));
    }

    #[test]
    fn seq_hints_are_capped_by_the_element_budget() {
        #[derive(Debug, Deserialize)]
        struct Spent(Vec<()>, Hint);

        // 65,586 units (3 bytes) leave 105 - 50 = 55 elements of the budget of this
        // 105-byte payload, fewer than the 100 bytes of the list after them.
        let mut bytes = varint(65_586);
        bytes.push(0);
        bytes.extend(varint(100));
        bytes.extend([0; 100]);
        assert_eq!(bytes.len(), 105);
        let (result, limits) = limited::<Spent>(&bytes);
        let Spent(units, hint) = result.unwrap();
        assert_eq!(units.len(), 65_586);
        assert_eq!(limits.elements_left.get(), 55);
        assert_eq!(hint, Hint(Some(55)));
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Unit;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Meters(u32);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Point,
        Circle(Meters),
        Line(i16, String),
        Rect { w: f64, h: Option<f32> },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Everything {
        flag: bool,
        small: i8,
        wide: i128,
        big: u128,
        letter: char,
        text: String,
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
        shapes: Vec<Shape>,
        by_name: BTreeMap<String, Shape>,
        by_id: HashMap<u32, Vec<u8>>,
        nested: Vec<Vec<Option<u16>>>,
        fixed: (u8, Meters, Unit, [i64; 3]),
        maybe: Option<Box<Shape>>,
    }

    /// Floats without NaN, so that values compare equal to themselves.
    fn float() -> impl Strategy<Value = f64> {
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            Just(Shape::Point),
            any::<u32>().prop_map(|m| Shape::Circle(Meters(m))),
            (any::<i16>(), ".{0,8}").prop_map(|(a, b)| Shape::Line(a, b)),
            (float(), prop::option::of(float())).prop_map(|(w, h)| Shape::Rect {
                w,
                h: h.map(|h| h as f32),
            }),
        ]
    }

    fn everything() -> impl Strategy<Value = Everything> {
        let scalars = (
            any::<bool>(),
            any::<i8>(),
            any::<i128>(),
            any::<u128>(),
            any::<char>(),
            ".{0,16}",
            prop::collection::vec(any::<u8>(), 0..64),
        );
        let compounds = (
            prop::collection::vec(shape(), 0..6),
            prop::collection::btree_map(".{0,6}", shape(), 0..6),
            prop::collection::hash_map(
                any::<u32>(),
                prop::collection::vec(any::<u8>(), 0..6),
                0..6,
            ),
            prop::collection::vec(prop::collection::vec(any::<Option<u16>>(), 0..4), 0..4),
            (any::<u8>(), any::<u32>(), any::<[i64; 3]>()),
            prop::option::of(shape()),
        );
        (scalars, compounds).prop_map(
            |(
                (flag, small, wide, big, letter, text, blob),
                (shapes, by_name, by_id, nested, (a, m, fixed), maybe),
            )| Everything {
                flag,
                small,
                wide,
                big,
                letter,
                text,
                blob,
                shapes,
                by_name,
                by_id,
                nested,
                fixed: (a, Meters(m), Unit, fixed),
                maybe: maybe.map(Box::new),
            },
        )
    }

    /// What plain postcard makes of `bytes`, refusing leftovers as `decode` does.
    fn plain<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        match postcard::take_from_bytes(bytes) {
            Ok((value, [])) => Some(value),
            _ => None,
        }
    }

    /// A value as bytes, comparable even when damaged bytes made a float NaN; the hash
    /// map is set apart, since its encoding follows its random iteration order.
    fn canonical(mut value: Everything) -> (Vec<u8>, BTreeMap<u32, Vec<u8>>) {
        let by_id = std::mem::take(&mut value.by_id).into_iter().collect();
        (postcard::to_allocvec(&value).unwrap(), by_id)
    }

    /// A value as bytes, comparable even when damaged bytes made a float NaN.
    fn encoded<T: Serialize>(value: T) -> Vec<u8> {
        postcard::to_allocvec(&value).unwrap()
    }

    proptest! {
        #[test]
        fn values_round_trip_as_through_plain_postcard(value in everything()) {
            let bytes = postcard::to_allocvec(&value).unwrap();
            prop_assert_eq!(decode::<Everything>(&bytes, "args").unwrap(), value.clone());
            prop_assert_eq!(plain::<Everything>(&bytes), Some(value));
        }

        #[test]
        fn damaged_bytes_decode_as_through_plain_postcard(
            value in everything(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut bytes = postcard::to_allocvec(&value).unwrap();
            let at = at.index(bytes.len());
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] = byte;
            }
            prop_assert_eq!(
                decode::<Everything>(&bytes, "args").ok().map(canonical),
                plain::<Everything>(&bytes).map(canonical),
            );
        }

        #[test]
        fn random_bytes_decode_as_through_plain_postcard(
            bytes in prop::collection::vec(any::<u8>(), 0..48),
        ) {
            prop_assert_eq!(
                decode::<Vec<Shape>>(&bytes, "args").ok().map(encoded),
                plain::<Vec<Shape>>(&bytes).map(encoded),
            );
            prop_assert_eq!(
                decode::<BTreeMap<u8, Option<Shape>>>(&bytes, "args").ok().map(encoded),
                plain::<BTreeMap<u8, Option<Shape>>>(&bytes).map(encoded),
            );
        }
    }

    #[test]
    fn borrowed_strings_and_bytes_stay_borrowed() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Borrowed<'a> {
            text: &'a str,
            #[serde(with = "serde_bytes")]
            blob: &'a [u8],
        }

        let value = Borrowed {
            text: "héllo",
            blob: &[0, 1, 2, 255],
        };
        let bytes = postcard::to_allocvec(&value).unwrap();
        let (result, _) = limited::<Borrowed<'_>>(&bytes);
        let decoded = result.unwrap();
        assert_eq!(decoded, value);
        // Borrowed from the payload, not copied.
        assert!(bytes.as_ptr_range().contains(&decoded.text.as_ptr()));
        assert!(bytes.as_ptr_range().contains(&decoded.blob.as_ptr()));
    }
}
