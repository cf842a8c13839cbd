//! Credentials already checked — bearer tokens and session cookies — so a client that repeats
//! one pays for its signature check or decryption once, not per request.
//!
//! Per worker, bounded, with CLOCK eviction (second chance: an approximation of least recently
//! used whose cost per insertion is constant on average, however many entries there are). An
//! entry never outlives its credential (`exp` of a token, expiry of a session), nor comes
//! alive before a token's `nbf`; the owner drops the whole cache when key sets change, so a
//! token signed by a retired key stops working at the next JWKS fetch.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::core::identity::{Identity, IdentityError};

/// Entries per worker and kind, unless configured (`credential_cache_entries`). A hit saves one
/// signature check (0.1-1 ms in V8) or one decryption.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Larger tokens are not cached (like Envoy's jwt_authn), bounding the cache's memory.
pub const MAX_CACHED_TOKEN_BYTES: usize = 4096;

/// What verification concluded for a token: its issuer and who it is (or why it is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub issuer: usize,
    pub identity: Result<Identity, IdentityError>,
}

struct Slot<V> {
    key: Box<str>,
    /// `fingerprint(key)`, which indexes the slot.
    fingerprint: u64,
    value: V,
    /// First second at which the token is no longer accepted (`exp` + clock skew).
    invalid_from: u64,
    /// First second at which it is accepted (`nbf` - clock skew).
    valid_from: u64,
    /// Used since the clock hand last passed: spared once.
    referenced: bool,
}

/// Slots are found by a 64-bit fingerprint of their credential, and a hit compares the whole
/// credential: two credentials with one fingerprint only cost each other their entry (the
/// newer takes the slot), never a hit for the wrong one. So the fingerprint need not be a
/// secret or collision-resistant: whoever makes two credentials collide gains nothing but a
/// cache miss.
pub struct TokenCache<V = Verdict> {
    index: HashMap<u64, usize, FxBuildHasher>,
    slots: Vec<Slot<V>>,
    /// The CLOCK hand: the next slot considered for eviction.
    hand: usize,
    capacity: usize,
    max_key_bytes: usize,
}

impl<V: Clone> Default for TokenCache<V> {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CAPACITY, MAX_CACHED_TOKEN_BYTES)
    }
}

impl<V: Clone> TokenCache<V> {
    /// At most `capacity` entries (at least 1), of keys up to `max_key_bytes`.
    pub fn new(capacity: usize, max_key_bytes: usize) -> Self {
        TokenCache {
            index: HashMap::default(),
            slots: Vec::new(),
            hand: 0,
            capacity: capacity.max(1),
            max_key_bytes,
        }
    }

    pub fn get(&mut self, token: &str, now_s: u64) -> Option<V> {
        let at = *self.index.get(&fingerprint(token.as_bytes()))?;
        let slot = &mut self.slots[at];
        if !same_bytes(slot.key.as_bytes(), token.as_bytes()) {
            return None;
        }
        if now_s >= slot.invalid_from {
            self.remove_at(at);
            return None;
        }
        if now_s < slot.valid_from {
            return None;
        }
        slot.referenced = true;
        Some(slot.value.clone())
    }

    pub fn insert(&mut self, token: &str, value: V, valid_from: u64, invalid_from: u64) {
        if token.len() > self.max_key_bytes {
            return;
        }
        let fingerprint = fingerprint(token.as_bytes());
        let slot = Slot {
            key: token.into(),
            fingerprint,
            value,
            invalid_from,
            valid_from,
            // New entries go first, before any that was used again: a burst of one-off
            // credentials cannot push out the ones clients repeat.
            referenced: false,
        };
        if let Some(&at) = self.index.get(&fingerprint) {
            // The same credential again, or another with its fingerprint: either way the
            // newest takes the slot.
            self.slots[at] = slot;
            return;
        }
        let at = if self.slots.len() < self.capacity {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let at = self.victim();
            let old = std::mem::replace(&mut self.slots[at], slot);
            self.index.remove(&old.fingerprint);
            at
        };
        self.index.insert(fingerprint, at);
    }

    /// The slot to reuse: the first from the hand on not used since the hand last passed it
    /// (each slot passed over loses its second chance, so this ends within one sweep).
    fn victim(&mut self) -> usize {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let at = self.hand;
            self.hand += 1;
            let slot = &mut self.slots[at];
            if !std::mem::take(&mut slot.referenced) {
                return at;
            }
        }
    }

    /// Drops the slot at `at`; the last slot takes its place.
    fn remove_at(&mut self, at: usize) {
        let removed = self.slots.swap_remove(at);
        self.index.remove(&removed.fingerprint);
        if let Some(moved) = self.slots.get(at) {
            self.index.insert(moved.fingerprint, at);
        }
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// A 64-bit hash of a credential, eight bytes per step: in WebAssembly, 64-bit arithmetic is
/// native, while the general-purpose hashers take the 32-bit `usize` steps of wasm32.
fn fingerprint(bytes: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;
    let step = |hash: u64, word: u64| (hash.rotate_left(26) ^ word).wrapping_mul(MULTIPLIER);
    let (words, tail) = words(bytes);
    let hash = words.fold(bytes.len() as u64, step);
    step(hash, tail)
}

/// Whether two credentials are the same, compared eight bytes at a time: `==` on slices is a
/// byte-by-byte `memcmp` in wasm32's runtime, and credentials run to kilobytes.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((a_words, a_tail), (b_words, b_tail)) = (words(a), words(b));
    a_tail == b_tail && a_words.eq(b_words)
}

/// The little-endian words of `bytes`, and the bytes after the last whole word, zero-padded.
fn words(bytes: &[u8]) -> (impl Iterator<Item = u64> + '_, u64) {
    let chunks = bytes.chunks_exact(8);
    let mut tail = [0u8; 8];
    for (to, from) in tail.iter_mut().zip(chunks.remainder()) {
        *to = *from;
    }
    let words = chunks.map(|chunk| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    });
    (words, u64::from_le_bytes(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(user: &str) -> Verdict {
        Verdict {
            issuer: 0,
            identity: Ok(Identity {
                userid: user.into(),
                groups: vec![],
                sub: user.into(),
                issuer: 0,
                grants: Default::default(),
                forward_token: None,
            }),
        }
    }

    #[test]
    fn only_the_very_same_credential_hits() {
        let mut cache: TokenCache = TokenCache::default();
        let token = "eyJhbGciOiJSUzI1NiJ9.payload.signature-of-odd-length";
        cache.insert(token, verdict("a"), 0, 100);
        for at in 0..token.len() {
            let mut other = token.as_bytes().to_vec();
            other[at] ^= 0x01;
            let other = String::from_utf8(other).unwrap();
            assert_eq!(cache.get(&other, 1), None, "differs at byte {at}");
        }
        for other in [&token[..token.len() - 1], &format!("{token}\0"), ""] {
            assert_eq!(cache.get(other, 1), None, "{other:?}");
        }
        assert_eq!(cache.get(token, 1), Some(verdict("a")));
    }

    #[test]
    fn a_credential_inserted_again_takes_its_new_verdict() {
        let mut cache: TokenCache = TokenCache::default();
        cache.insert("t", verdict("a"), 0, 100);
        cache.insert("t", verdict("b"), 0, 100);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("t", 1), Some(verdict("b")));
    }

    #[test]
    fn hits_until_expiry_then_forgets() {
        let mut cache: TokenCache = TokenCache::default();
        cache.insert("t", verdict("a"), 0, 100);
        assert_eq!(cache.get("t", 99), Some(verdict("a")));
        assert_eq!(cache.get("t", 100), None);
        assert!(cache.is_empty(), "expired entries are dropped");
    }

    #[test]
    fn not_before_is_respected() {
        let mut cache: TokenCache = TokenCache::default();
        cache.insert("t", verdict("a"), 50, 100);
        assert_eq!(cache.get("t", 49), None);
        assert_eq!(cache.get("t", 50), Some(verdict("a")));
    }

    #[test]
    fn bounded_and_entries_in_use_outlive_those_not_used_again() {
        let mut cache: TokenCache = TokenCache::new(4, MAX_CACHED_TOKEN_BYTES);
        for i in 0..4 {
            cache.insert(&format!("t{i}"), verdict("a"), 0, 1000);
        }
        assert!(cache.get("t0", 1).is_some(), "t0 is used again");
        cache.insert("new", verdict("b"), 0, 1000);
        assert_eq!(cache.len(), 4);
        assert!(cache.get("t0", 1).is_some());
        assert!(
            cache.get("t1", 1).is_none(),
            "the first entry not used again went"
        );
        assert!(cache.get("new", 1).is_some());
        // A burst of one-off entries takes each other's place, not those in use.
        for i in 0..100 {
            cache.insert(&format!("burst{i}"), verdict("c"), 0, 1000);
            assert!(cache.get("t0", 1).is_some() && cache.get("new", 1).is_some());
        }
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn expired_entries_leave_and_the_rest_stay_findable() {
        let mut cache: TokenCache = TokenCache::new(8, MAX_CACHED_TOKEN_BYTES);
        for i in 0..8 {
            cache.insert(&format!("t{i}"), verdict(&format!("u{i}")), 0, 10 + i);
        }
        for i in 0..4 {
            assert_eq!(cache.get(&format!("t{i}"), 20), None, "expired");
        }
        assert_eq!(cache.len(), 4);
        for i in 4..8 {
            let user = format!("u{i}");
            assert_eq!(cache.get(&format!("t{i}"), 13), Some(verdict(&user)));
        }
        cache.insert("t5", verdict("renewed"), 0, 100);
        assert_eq!(cache.get("t5", 50), Some(verdict("renewed")));
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn large_tokens_are_not_cached_and_clear_empties() {
        let mut cache: TokenCache = TokenCache::default();
        cache.insert(
            &"x".repeat(MAX_CACHED_TOKEN_BYTES + 1),
            verdict("a"),
            0,
            100,
        );
        assert!(cache.is_empty());
        cache.insert("t", verdict("a"), 0, 100);
        cache.clear();
        assert_eq!(cache.get("t", 1), None);
    }

    #[test]
    fn many_distinct_tokens_stay_bounded() {
        let mut cache: TokenCache = TokenCache::default();
        for i in 0..3 * DEFAULT_CAPACITY {
            cache.insert(&format!("token-{i}"), verdict("a"), 0, 1000);
            assert_eq!(cache.get(&format!("token-{i}"), 1), Some(verdict("a")));
        }
        assert_eq!(cache.len(), DEFAULT_CAPACITY);
    }
}
