//! Sealing: XChaCha20-Poly1305 with associated data that says where a value belongs.
//!
//! Its 192-bit nonces are safe to draw at random (no counter to keep across workers and
//! gateways), and it is constant-time and fast in software, which matters in Wasm where there
//! are no AES instructions. The associated data binds the format version, the purpose, the
//! cookie name and the issuer, so a sealed value is only ever accepted where it was issued: a
//! login-state cookie is not a session, and a cookie moved to another name or gateway fails.
//!
//! Sealed format: `v1.` + `base64url-no-pad(nonce[24] || ciphertext || tag[16])`.
//!
//! Every way a sealed value can be wrong ends in the same [`OpenError`], and tags are compared
//! in constant time by the AEAD, so the answer to a forged cookie tells nothing about it.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::MAX_SEALED_BYTES;

/// Prefix of every sealed value; a new format gets a new prefix (and new associated data).
pub(super) const VERSION_PREFIX: &str = "v1.";
/// The version as it enters the associated data.
const VERSION_LABEL: &str = "oidc-gate/v1";
pub(super) const NONCE_BYTES: usize = 24;
pub(super) const TAG_BYTES: usize = 16;

/// What a sealed value is for; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    LoginState,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::LoginState => "login-state",
        }
    }
}

/// Where a sealed value belongs. Opening with any other context fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealContext<'a> {
    pub purpose: Purpose,
    pub cookie_name: &'a str,
    pub issuer: &'a str,
}

/// A sealed value did not open. Deliberately carries no reason: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sealed value rejected")
    }
}

/// Seals `plaintext` under `key`. `nonce` must come from a CSPRNG, fresh for every call.
pub fn seal(key: &[u8; 32], context: &SealContext, plaintext: &[u8], nonce: &[u8; 24]) -> String {
    let aad = associated_data(context);
    let payload = Payload {
        msg: plaintext,
        aad: &aad,
    };
    // Encryption fails only for plaintexts over 256 GiB. Should it ever fail, the value is a
    // bare nonce, which `open` rejects as too short: a broken cookie, never an unsealed one.
    let ciphertext = XChaCha20Poly1305::new(&(*key).into())
        .encrypt(&XNonce::from(*nonce), payload)
        .unwrap_or_default();
    let mut raw = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    raw.extend_from_slice(nonce);
    raw.extend_from_slice(&ciphertext);
    format!("{VERSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// Opens a value sealed by [`seal`] under any of `keys` (the first seals; the others are kept
/// to open cookies issued before a rotation).
pub fn open(keys: &[[u8; 32]], context: &SealContext, sealed: &str) -> Result<Vec<u8>, OpenError> {
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(OpenError);
    }
    let encoded = sealed.strip_prefix(VERSION_PREFIX).ok_or(OpenError)?;
    let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| OpenError)?;
    if raw.len() < NONCE_BYTES + TAG_BYTES {
        return Err(OpenError);
    }
    let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| OpenError)?;
    let nonce = XNonce::from(nonce);
    let aad = associated_data(context);
    keys.iter()
        .find_map(|key| {
            let payload = Payload {
                msg: ciphertext,
                aad: &aad,
            };
            XChaCha20Poly1305::new(&(*key).into())
                .decrypt(&nonce, payload)
                .ok()
        })
        .ok_or(OpenError)
}

/// Length of the sealed form of `plaintext_len` bytes, known before sealing.
pub(super) fn sealed_len(plaintext_len: usize) -> usize {
    let raw = NONCE_BYTES + plaintext_len + TAG_BYTES;
    VERSION_PREFIX.len() + (raw * 4).div_ceil(3)
}

/// Each field length-prefixed, so no two contexts share an encoding (`a` + `bc` ≠ `ab` + `c`).
pub(super) fn associated_data(context: &SealContext) -> Vec<u8> {
    let fields = [
        VERSION_LABEL,
        context.purpose.label(),
        context.cookie_name,
        context.issuer,
    ];
    let mut aad = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}
