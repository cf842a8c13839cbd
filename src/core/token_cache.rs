//! Credentials already checked — bearer tokens and session cookies — so a client that repeats
//! one pays for its signature check or decryption once, not per request.
//!
//! Per worker, bounded, least-recently-used eviction. An entry never outlives its credential
//! (`exp` of a token, expiry of a session), nor comes alive before a token's `nbf`; the owner
//! drops the whole cache when key sets change, so a token signed by a retired key stops
//! working at the next JWKS fetch.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::core::identity::{Identity, IdentityError};

/// Entries per worker. A hit saves one signature check (0.1-1 ms in V8) or one decryption.
pub const CAPACITY: usize = 1024;
/// Larger tokens are not cached (like Envoy's jwt_authn), bounding the cache's memory.
pub const MAX_CACHED_TOKEN_BYTES: usize = 4096;

/// What verification concluded for a token: its issuer and who it is (or why it is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub issuer: usize,
    pub identity: Result<Identity, IdentityError>,
}

struct Entry<V> {
    value: V,
    /// First second at which the token is no longer accepted (`exp` + clock skew).
    invalid_from: u64,
    /// First second at which it is accepted (`nbf` - clock skew).
    valid_from: u64,
    last_used: u64,
}

/// Keys are whole credentials, compared in full on a hit; the fast non-cryptographic hash only
/// spreads them (keys cannot be chosen to collide usefully: every entry was verified first).
pub struct TokenCache<V = Verdict> {
    entries: HashMap<Box<str>, Entry<V>, FxBuildHasher>,
    max_key_bytes: usize,
    /// Logical clock for LRU order.
    uses: u64,
}

impl<V: Clone> Default for TokenCache<V> {
    fn default() -> Self {
        TokenCache::with_max_key_bytes(MAX_CACHED_TOKEN_BYTES)
    }
}

impl<V: Clone> TokenCache<V> {
    pub fn with_max_key_bytes(max_key_bytes: usize) -> Self {
        TokenCache {
            entries: HashMap::default(),
            max_key_bytes,
            uses: 0,
        }
    }

    pub fn get(&mut self, token: &str, now_s: u64) -> Option<V> {
        self.uses += 1;
        let uses = self.uses;
        let entry = self.entries.get_mut(token)?;
        if now_s >= entry.invalid_from {
            self.entries.remove(token);
            return None;
        }
        if now_s < entry.valid_from {
            return None;
        }
        entry.last_used = uses;
        Some(entry.value.clone())
    }

    pub fn insert(&mut self, token: &str, value: V, valid_from: u64, invalid_from: u64) {
        if token.len() > self.max_key_bytes {
            return;
        }
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(token) {
            self.evict_least_recently_used();
        }
        self.uses += 1;
        let entry = Entry {
            value,
            invalid_from,
            valid_from,
            last_used: self.uses,
        };
        self.entries.insert(token.into(), entry);
    }

    /// Runs only on a miss at capacity, which already costs a signature check.
    fn evict_least_recently_used(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(token, _)| token.clone());
        if let Some(token) = oldest {
            self.entries.remove(&token);
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
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
    fn bounded_with_least_recently_used_eviction() {
        let mut cache: TokenCache = TokenCache::default();
        for i in 0..CAPACITY {
            cache.insert(&format!("t{i}"), verdict("a"), 0, 1000);
        }
        assert!(
            cache.get("t0", 1).is_some(),
            "t0 is now the most recently used"
        );
        cache.insert("new", verdict("b"), 0, 1000);
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get("t0", 1).is_some());
        assert!(
            cache.get("t1", 1).is_none(),
            "the least recently used entry went"
        );
        assert!(cache.get("new", 1).is_some());
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
        for i in 0..3 * CAPACITY {
            cache.insert(&format!("token-{i}"), verdict("a"), 0, 1000);
        }
        assert_eq!(cache.len(), CAPACITY);
    }
}
