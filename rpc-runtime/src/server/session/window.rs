//! The replay window of a session's oneway calls.
//!
//! Oneway calls get no reply, so a client never learns when the server is done with
//! one and cannot hold a slot for it. They are numbered in a sequence of their own
//! instead (slot [`ONEWAY_SLOT`](crate::wire::ONEWAY_SLOT)), and the server keeps, as
//! IPsec does against replayed packets, the highest number seen and a bitmap of the
//! [`WINDOW`] numbers below it: a number in the window runs once, a number below the
//! window is dropped. Memory is fixed (a few words per session) however many oneway
//! calls a session makes, and datagrams reordered by up to [`WINDOW`] calls still run.
//! A call dropped for being too old is allowed by the `maybe` semantics.

/// How many numbers below the highest one seen are remembered.
pub const WINDOW: u64 = 1024;

const WORDS: usize = (WINDOW / 64) as usize;

/// The oneway numbers a session has seen.
#[derive(Debug, Default)]
pub(super) struct ReplayWindow {
    highest: u64,
    /// Bit `i` (word `i / 64`, bit `i % 64`) stands for number `highest - i`.
    seen: [u64; WORDS],
}

impl ReplayWindow {
    /// Whether oneway call `seq` is new (and now seen).
    pub fn admit(&mut self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.highest {
            self.shift(seq - self.highest);
            self.highest = seq;
            self.seen[0] |= 1;
            return true;
        }
        let back = self.highest - seq;
        if back >= WINDOW {
            return false;
        }
        let (word, bit) = ((back / 64) as usize, back % 64);
        let new = self.seen[word] & (1 << bit) == 0;
        self.seen[word] |= 1 << bit;
        new
    }

    /// Moves every mark `by` numbers further back.
    fn shift(&mut self, by: u64) {
        if by >= WINDOW {
            self.seen = [0; WORDS];
            return;
        }
        let (words, bits) = ((by / 64) as usize, by % 64);
        for i in (0..WORDS).rev() {
            let from = i.checked_sub(words);
            let low = from.map_or(0, |f| self.seen[f]);
            let carry = from
                .and_then(|f| f.checked_sub(1))
                .map_or(0, |f| self.seen[f]);
            self.seen[i] = if bits == 0 {
                low
            } else {
                (low << bits) | (carry >> (64 - bits))
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_number_in_the_window_runs_once_in_any_order() {
        let mut w = ReplayWindow::default();
        let order = [5, 3, 4, 1, 2, 70, 6, 69, 200, 130, 131];
        for seq in order {
            assert!(w.admit(seq), "{seq} first time");
        }
        for seq in order {
            assert!(!w.admit(seq), "{seq} again");
        }
        assert!(w.admit(7) && w.admit(199));
        assert!(w.admit(5000));
        assert!(!w.admit(5000 - WINDOW), "below the window");
        assert!(w.admit(5000 - WINDOW + 1));
        assert!(!w.admit(0));
    }

    #[test]
    fn the_window_matches_a_set_of_seen_numbers() {
        // Against a plain set: every number within the window of the highest so far is
        // admitted exactly when it was not seen.
        let mut w = ReplayWindow::default();
        let mut seen = std::collections::HashSet::new();
        let mut highest = 0u64;
        let mut x = 12345u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let seq = 1 + (x >> 33) % 3000;
            let expected = if seq + WINDOW <= highest {
                false
            } else {
                !seen.contains(&seq)
            };
            assert_eq!(w.admit(seq), expected, "seq {seq}, highest {highest}");
            seen.insert(seq);
            highest = highest.max(seq);
        }
    }
}
