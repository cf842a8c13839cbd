//! Pinned-secret issuers: tokens signed HS256 (RFC 7518 §3.2) with one secret the operator
//! configured, for services that sign their own tokens with a shared key (DataHub's metadata
//! service signs its personal access and session tokens so).
//!
//! Only the issuer's `iss` selects the secret: no header member (`kid`, `jku`) chooses it, and
//! no JWKS can yield one (`jwks` drops symmetric keys), so a published public key is never used
//! as an HMAC secret (the RS256/HS256 confusion). The set is built at configure time and
//! nothing fetches or replaces it.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::IssuerConfig;
use crate::core::jwks::KeySet;

/// Shortest accepted secret: HS256 needs a key at least as long as its hash (RFC 7518 §3.2);
/// DataHub's own JWT library refuses shorter ones too.
pub const MIN_SECRET_BYTES: usize = 32;

/// An HS256 secret, already keyed into the MAC. Never printed, not even through `{:?}`.
#[derive(Clone)]
pub struct Hs256Key {
    mac: Hmac<Sha256>,
}

impl Hs256Key {
    /// The key for `secret`'s bytes as they are (no decoding); `None` when it is shorter than
    /// [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Option<Hs256Key> {
        if secret.len() < MIN_SECRET_BYTES {
            return None;
        }
        keyed(secret)
    }

    /// Checks a full-length HS256 `signature` over `signing_input`, in constant time.
    pub fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(signing_input);
        // `verify_slice` refuses any other length (a truncated tag) and compares without
        // an early exit, so timing tells nothing about how much of a forgery was right.
        mac.verify_slice(signature).is_ok()
    }
}

/// Keys the MAC with a secret of any length (the length policy is [`Hs256Key::new`]'s). HMAC
/// takes keys of every length (longer ones are hashed first), so this is always `Some`.
fn keyed(secret: &[u8]) -> Option<Hs256Key> {
    let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    Some(Hs256Key { mac })
}

impl fmt::Debug for Hs256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hs256Key(***)")
    }
}

/// The key sets of the pinned-secret issuers among `issuers`, with their indexes: known at
/// configure time, so their tokens never wait for a fetch.
pub fn pinned_key_sets(issuers: &[IssuerConfig]) -> Vec<(usize, KeySet)> {
    issuers
        .iter()
        .enumerate()
        .filter_map(|(index, issuer)| {
            let key = issuer.hs256_secret.clone()?;
            Some((index, KeySet::pinned_hs256(key)))
        })
        .collect()
}

#[cfg(test)]
mod tests;
