//! `ES384` (ECDSA over P-384 with SHA-384, RFC 7518 §3.4) as a jwt-compact [`Algorithm`].
//!
//! jwt-compact 0.8 ships `ES256` only; this fills the gap with the `p384` crate so that every
//! signature check in `jwks.rs` goes through the same `Algorithm::verify_signature` path.

use std::borrow::Cow;

use jwt_compact::alg::RsaSignature;
use jwt_compact::{Algorithm, AlgorithmSignature};
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};

/// JWS ES384 signatures are the raw `r || s` concatenation, 48 bytes each (RFC 7518 §3.4).
pub const SIGNATURE_LEN: usize = 96;

/// Byte container for ES384 signatures.
///
/// This is jwt-compact's variable-length signature type. We reuse it instead of writing our own
/// `AlgorithmSignature` because that trait's constructor returns `anyhow::Result`, and `anyhow`
/// is not a direct dependency of this crate. The length and scalar-range checks therefore happen
/// in [`Es384::verify_signature`], which rejects anything that is not a valid 96-byte `r || s`.
pub type Es384Signature = RsaSignature;

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

    /// Signs with RFC 6979 deterministic nonces. The filter never signs; this exists because the
    /// trait requires it and the tests use it to mint tokens.
    #[allow(clippy::expect_used)] // `RsaSignature::try_from_slice` only copies bytes: it cannot fail.
    fn sign(&self, signing_key: &SigningKey, message: &[u8]) -> Es384Signature {
        let signature: Signature = signing_key.sign(message);
        Es384Signature::try_from_slice(&signature.to_bytes())
            .expect("copying signature bytes is infallible")
    }

    fn verify_signature(
        &self,
        signature: &Es384Signature,
        verifying_key: &VerifyingKey,
        message: &[u8],
    ) -> bool {
        let bytes = signature.as_bytes();
        if bytes.len() != SIGNATURE_LEN {
            return false;
        }
        // `from_slice` also rejects r or s that are zero or not below the group order.
        match Signature::from_slice(&bytes) {
            Ok(signature) => verifying_key.verify(message, &signature).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn sign_and_bytes(key: &SigningKey, message: &[u8]) -> Vec<u8> {
        Es384.sign(key, message).as_bytes().into_owned()
    }

    fn verify_bytes(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
        let signature = Es384Signature::try_from_slice(signature).unwrap();
        Es384.verify_signature(&signature, key, message)
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
        assert!(verify_bytes(key.verifying_key(), b"header.payload", &signature));
    }

    #[test]
    fn rejects_other_message_key_and_flipped_bits() {
        let key = SigningKey::random(&mut OsRng);
        let other = SigningKey::random(&mut OsRng);
        let signature = sign_and_bytes(&key, b"header.payload");
        assert!(!verify_bytes(key.verifying_key(), b"header.payloaD", &signature));
        assert!(!verify_bytes(other.verifying_key(), b"header.payload", &signature));
        for bit in [0, 7, 383, 384, 767] {
            let mut flipped = signature.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!verify_bytes(key.verifying_key(), b"header.payload", &flipped));
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
