//! `ES384` (ECDSA over P-384 with SHA-384, RFC 7518 §3.4) as a jwt-compact [`Algorithm`].
//!
//! jwt-compact 0.8 ships `ES256` only; this fills the gap with the `p384` crate so that every
//! signature check in `jwks.rs` goes through the same `Algorithm::verify_signature` path.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};

/// JWS ES384 signatures are the raw `r || s` concatenation, 48 bytes each (RFC 7518 §3.4).
pub const SIGNATURE_LEN: usize = 96;

/// An ES384 signature: exactly 96 bytes with `r` and `s` in range (checked on construction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Es384Signature(Signature);

impl AlgorithmSignature for Es384Signature {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(SIGNATURE_LEN);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        if slice.len() != SIGNATURE_LEN {
            anyhow::bail!("an ES384 signature is {SIGNATURE_LEN} bytes");
        }
        // `from_slice` also rejects r or s that are zero or not below the group order.
        Signature::from_slice(slice)
            .map(Es384Signature)
            .map_err(|_| anyhow::anyhow!("r or s out of range"))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

/// The `ES384` algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Es384;

impl Algorithm for Es384 {
    type SigningKey = SigningKey;
    type VerifyingKey = VerifyingKey;
    type Signature = Es384Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES384")
    }

    /// Signs with RFC 6979 deterministic nonces. The filter never signs; the trait requires it
    /// and the tests use it to mint tokens.
    fn sign(&self, signing_key: &SigningKey, message: &[u8]) -> Es384Signature {
        Es384Signature(signing_key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Es384Signature,
        verifying_key: &VerifyingKey,
        message: &[u8],
    ) -> bool {
        verifying_key.verify(message, &signature.0).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn sign_and_bytes(key: &SigningKey, message: &[u8]) -> Vec<u8> {
        Es384.sign(key, message).as_bytes().into_owned()
    }

    /// Malformed signatures fail at construction, as jwt-compact's `verify` path does.
    fn verify_bytes(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
        Es384Signature::try_from_slice(signature)
            .is_ok_and(|signature| Es384.verify_signature(&signature, key, message))
    }

    #[test]
    fn name_is_es384() {
        assert_eq!(Es384.name(), "ES384");
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let key = SigningKey::random(&mut OsRng);
        let signature = sign_and_bytes(&key, b"header.payload");
        assert_eq!(signature.len(), SIGNATURE_LEN);
        assert!(verify_bytes(
            key.verifying_key(),
            b"header.payload",
            &signature
        ));
    }

    #[test]
    fn rejects_other_message_key_and_flipped_bits() {
        let key = SigningKey::random(&mut OsRng);
        let other = SigningKey::random(&mut OsRng);
        let signature = sign_and_bytes(&key, b"header.payload");
        assert!(!verify_bytes(
            key.verifying_key(),
            b"header.payloaD",
            &signature
        ));
        assert!(!verify_bytes(
            other.verifying_key(),
            b"header.payload",
            &signature
        ));
        for bit in [0, 7, 383, 384, 767] {
            let mut flipped = signature.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!verify_bytes(
                key.verifying_key(),
                b"header.payload",
                &flipped
            ));
        }
    }

    #[test]
    fn rejects_wrong_lengths_and_zero_scalars() {
        let key = SigningKey::random(&mut OsRng);
        let signature = sign_and_bytes(&key, b"m");
        let public = key.verifying_key();
        assert!(!verify_bytes(public, b"m", &[]));
        assert!(!verify_bytes(public, b"m", &[0x01]));
        assert!(!verify_bytes(public, b"m", &signature[..95]));
        let mut longer = signature.clone();
        longer.push(0);
        assert!(!verify_bytes(public, b"m", &longer));
        assert!(!verify_bytes(public, b"m", &[0u8; SIGNATURE_LEN]));
        // A DER-encoded signature is not the JWS format.
        let der = Signature::from_slice(&signature).unwrap().to_der();
        assert!(!verify_bytes(public, b"m", der.as_bytes()));
    }
}
