//! RSA signature verification as jwt-compact [`Algorithm`]s: RS256/384/512
//! (RSASSA-PKCS1-v1_5) and PS256/384/512 (RSASSA-PSS), per RFC 8017 and RFC 7518 §3.3, §3.5.
//!
//! Why our own rather than RustCrypto `rsa`: verification only needs s^e mod n for a public
//! key, and in V8 (where Envoy runs the filter) `rsa` 0.9's general big-number code makes an
//! uncached RS256 check cost about 1.3 ms. Montgomery multiplication with 32-bit limbs fits
//! WebAssembly's 64-bit multiply and is several times faster; `bench/rsa` has the numbers.
//! Everything checked here is public (key, message, signature), so nothing is constant time.

mod montgomery;

use std::borrow::Cow;
use std::fmt;

use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::{Digest, Sha256, Sha384, Sha512};

use montgomery::Modulus;

/// Smallest accepted modulus (RFC 7518 §3.3 requires 2048 bits).
pub const MIN_MODULUS_BITS: usize = 2048;
/// Largest accepted modulus: verification cost grows with its size, so a JWKS must not be able
/// to make every request expensive.
pub const MAX_MODULUS_BITS: usize = 4096;
/// Largest accepted public exponent, the same bound as RustCrypto `rsa`: it caps the number of
/// multiplications per verification at 66. Real keys use 65537.
pub const MAX_PUBLIC_EXPONENT: u64 = (1 << 33) - 1;

/// An RSA public key that has passed the size and sanity checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaVerifyingKey {
    modulus: Modulus,
    exponent: u64,
}

/// Why RSA key components were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The modulus is outside 2048..=4096 bits.
    ModulusSize,
    /// The modulus is even, so not a product of two odd primes.
    EvenModulus,
    /// The exponent is even, below 3 or above [`MAX_PUBLIC_EXPONENT`].
    Exponent,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::ModulusSize => "RSA modulus is not 2048 to 4096 bits",
            KeyError::EvenModulus => "RSA modulus is even",
            KeyError::Exponent => "RSA exponent is not odd and in 3..=2^33-1",
        })
    }
}

impl std::error::Error for KeyError {}

impl RsaVerifyingKey {
    /// Builds a key from big-endian `n` and `e` (a JWK's decoded members). Leading zero bytes
    /// are allowed. The size is checked before any arithmetic.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<RsaVerifyingKey, KeyError> {
        let bits = bit_length(n);
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(KeyError::ModulusSize);
        }
        let exponent = parse_exponent(e).ok_or(KeyError::Exponent)?;
        let modulus = Modulus::from_be_bytes(n).ok_or(KeyError::EvenModulus)?;
        Ok(RsaVerifyingKey { modulus, exponent })
    }

    /// Number of significant bits in n.
    pub fn modulus_bits(&self) -> usize {
        self.modulus.bits()
    }

    /// The RSAVP1 primitive (RFC 8017 §5.2.2): s^e mod n as a k-byte string, where k is the
    /// modulus length. `None` when the signature is not exactly k bytes or not below n.
    fn open(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.modulus.byte_len() {
            return None;
        }
        self.modulus.pow_be(signature, self.exponent)
    }
}

/// The exponent as a number, if it is odd and in 3..=[`MAX_PUBLIC_EXPONENT`].
fn parse_exponent(bytes: &[u8]) -> Option<u64> {
    let significant = &bytes[bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len())..];
    if significant.len() > 8 {
        return None;
    }
    let e = significant
        .iter()
        .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
    (e % 2 == 1 && (3..=MAX_PUBLIC_EXPONENT).contains(&e)).then_some(e)
}

/// Bit length of a big-endian unsigned integer, ignoring leading zero bytes.
pub fn bit_length(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&byte| byte != 0) {
        None => 0,
        Some(first) => {
            let significant = bytes.len() - first;
            let top_bits = bytes
                .get(first)
                .map_or(0, |byte| 8 - byte.leading_zeros() as usize);
            (significant - 1) * 8 + top_bits
        }
    }
}

/// The SHA-2 function of an RS*/PS* algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Hash of the concatenation of `parts`.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            HashAlg::Sha256 => run::<Sha256>(parts),
            HashAlg::Sha384 => run::<Sha384>(parts),
            HashAlg::Sha512 => run::<Sha512>(parts),
        }
    }

    /// DER of `DigestInfo` up to the hash value, with NULL parameters (RFC 8017 §9.2, note 1).
    /// Only this exact form is accepted: comparing whole encodings, not parsing them, is what
    /// keeps PKCS#1 v1.5 verification safe from Bleichenbacher-style forgeries.
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            HashAlg::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            HashAlg::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            HashAlg::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// The signature encoding of an RSA algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Pkcs1v15,
    Pss,
}

/// One of RS256, RS384, RS512, PS256, PS384, PS512. Verification only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaAlg {
    hash: HashAlg,
    padding: Padding,
}

impl RsaAlg {
    pub const RS256: RsaAlg = RsaAlg::new(HashAlg::Sha256, Padding::Pkcs1v15);
    pub const RS384: RsaAlg = RsaAlg::new(HashAlg::Sha384, Padding::Pkcs1v15);
    pub const RS512: RsaAlg = RsaAlg::new(HashAlg::Sha512, Padding::Pkcs1v15);
    pub const PS256: RsaAlg = RsaAlg::new(HashAlg::Sha256, Padding::Pss);
    pub const PS384: RsaAlg = RsaAlg::new(HashAlg::Sha384, Padding::Pss);
    pub const PS512: RsaAlg = RsaAlg::new(HashAlg::Sha512, Padding::Pss);

    pub const fn new(hash: HashAlg, padding: Padding) -> RsaAlg {
        RsaAlg { hash, padding }
    }

    pub fn name(self) -> &'static str {
        match (self.padding, self.hash) {
            (Padding::Pkcs1v15, HashAlg::Sha256) => "RS256",
            (Padding::Pkcs1v15, HashAlg::Sha384) => "RS384",
            (Padding::Pkcs1v15, HashAlg::Sha512) => "RS512",
            (Padding::Pss, HashAlg::Sha256) => "PS256",
            (Padding::Pss, HashAlg::Sha384) => "PS384",
            (Padding::Pss, HashAlg::Sha512) => "PS512",
        }
    }

    /// Whether `signature` is this algorithm's signature of `message` under `key`.
    pub fn verify(self, key: &RsaVerifyingKey, message: &[u8], signature: &[u8]) -> bool {
        let Some(encoded) = key.open(signature) else {
            return false;
        };
        let message_hash = self.hash.digest(&[message]);
        match self.padding {
            Padding::Pkcs1v15 => pkcs1v15_matches(&encoded, self.hash, &message_hash),
            Padding::Pss => pss_matches(&encoded, key.modulus_bits(), self.hash, &message_hash),
        }
    }
}

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2) compared as a whole: `00 01 FF…FF 00 DigestInfo H`, with
/// at least 8 bytes of FF.
fn pkcs1v15_matches(encoded: &[u8], hash: HashAlg, message_hash: &[u8]) -> bool {
    let prefix = hash.digest_info_prefix();
    let t_len = prefix.len() + message_hash.len();
    let Some(ff_len) = encoded.len().checked_sub(t_len + 3) else {
        return false;
    };
    if ff_len < 8 {
        return false;
    }
    let mut expected = Vec::with_capacity(encoded.len());
    expected.extend_from_slice(&[0x00, 0x01]);
    expected.resize(2 + ff_len, 0xff);
    expected.push(0x00);
    expected.extend_from_slice(prefix);
    expected.extend_from_slice(message_hash);
    encoded == expected
}

/// EMSA-PSS verification (RFC 8017 §9.1.2) with MGF1 over the same hash and a salt exactly as
/// long as the hash. RFC 7518 §3.5 fixes that length for PS256/384/512 and every JOSE signer
/// uses it; RFC 8017 would let a verifier recover any length, but accepting lengths no JWA
/// signer produces (0, the deterministic case, included) only widens what verifies.
fn pss_matches(encoded: &[u8], modulus_bits: usize, hash: HashAlg, message_hash: &[u8]) -> bool {
    let Some(em_bits) = modulus_bits.checked_sub(1) else {
        return false;
    };
    let em_len = em_bits.div_ceil(8);
    let h_len = hash.output_len();
    let salt_len = h_len;
    // RSAVP1 gave k bytes; I2OSP to emLen (k - 1 when the modulus has 8j + 1 bits) must not
    // drop a non-zero byte. Step 3: room for H, the salt, the 0x01 separator and the trailer.
    let Some(unused_len) = encoded.len().checked_sub(em_len) else {
        return false;
    };
    let (unused, em) = encoded.split_at(unused_len);
    if unused.iter().any(|&byte| byte != 0) || em_len < h_len + salt_len + 2 {
        return false;
    }
    // Steps 4–5: EM = maskedDB || H || 0xbc.
    let (masked_db, rest) = em.split_at(em_len - h_len - 1);
    let (h, trailer) = rest.split_at(h_len);
    // Step 6: the bits above emBits must be zero.
    let top_mask = 0xffu8 >> (8 * em_len - em_bits);
    let top_ok = masked_db.first().is_some_and(|&byte| byte & !top_mask == 0);
    if trailer != [0xbc] || !top_ok {
        return false;
    }
    // Steps 7–9: DB = maskedDB XOR MGF1(H), top bits cleared.
    let mut db = mgf1(hash, h, masked_db.len());
    db.iter_mut().zip(masked_db).for_each(|(d, m)| *d ^= m);
    if let Some(first) = db.first_mut() {
        *first &= top_mask;
    }
    // Step 10: DB = PS || 01 || salt, PS all zeros and the salt the last sLen bytes.
    let (padding, separator_and_salt) = db.split_at(db.len() - salt_len - 1);
    let Some((&separator, salt)) = separator_and_salt.split_first() else {
        return false;
    };
    if padding.iter().any(|&byte| byte != 0) || separator != 0x01 {
        return false;
    }
    // Steps 12–14: H' = Hash(00×8 || mHash || salt) must equal H.
    hash.digest(&[&[0u8; 8], message_hash, salt]) == h
}

/// MGF1 (RFC 8017 B.2.1): Hash(seed || counter) for counter = 0, 1, …, truncated to `len`.
fn mgf1(hash: HashAlg, seed: &[u8], len: usize) -> Vec<u8> {
    let mut mask = Vec::with_capacity(len + hash.output_len());
    let mut counter: u32 = 0;
    while mask.len() < len {
        mask.extend(hash.digest(&[seed, &counter.to_be_bytes()]));
        counter = counter.wrapping_add(1);
    }
    mask.truncate(len);
    mask
}

/// An RSA signature as received; its length is checked against the key when verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaSignature(Vec<u8>);

impl AlgorithmSignature for RsaSignature {
    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Ok(RsaSignature(slice.to_vec()))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
}

/// No value of this type exists: the filter verifies RSA signatures and never makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSigningKey {}

impl Algorithm for RsaAlg {
    type SigningKey = NoSigningKey;
    type VerifyingKey = RsaVerifyingKey;
    type Signature = RsaSignature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(RsaAlg::name(*self))
    }

    fn sign(&self, signing_key: &NoSigningKey, _message: &[u8]) -> RsaSignature {
        match *signing_key {}
    }

    fn verify_signature(
        &self,
        signature: &RsaSignature,
        verifying_key: &RsaVerifyingKey,
        message: &[u8],
    ) -> bool {
        self.verify(verifying_key, message, &signature.0)
    }
}

#[cfg(test)]
mod tests;
