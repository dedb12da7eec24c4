//! Ed25519 key material in the forms ONDC participants exchange.
//!
//! Private keys arrive as standard base64 of either the 32-byte seed (Java and Ruby utilities,
//! beckn-onix) or the 64-byte libsodium secret key `seed ‖ public` (the ONDC SDK and the Python,
//! PHP and Go references). Both are accepted; the 64-byte form is what we export, because that is
//! what ONDC's own tooling requires. Public keys are base64 of the raw 32 bytes, as the registry
//! returns them. Neither type prints its secret: `Debug` is written by hand.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use std::fmt;

/// Why a key string was refused. The messages never include the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not standard padded base64.
    #[error("key is not standard base64 (RFC 4648, alphabet +/, with padding)")]
    Base64,
    /// A private key that is neither 32 nor 64 bytes long once decoded.
    #[error("private key decodes to {0} bytes; expected 32 (seed) or 64 (seed followed by public key)")]
    PrivateLength(usize),
    /// A 64-byte private key whose second half is not the public key of its first half.
    #[error("64-byte private key: the last 32 bytes are not the public key of the first 32")]
    MismatchedPublicHalf,
    /// A public key that is not 32 bytes long once decoded.
    #[error("public key decodes to {0} bytes; expected 32")]
    PublicLength(usize),
    /// 32 bytes that are not a point on the curve.
    #[error("public key is not a valid Ed25519 point")]
    InvalidPoint,
    /// A small-order point: signatures under it prove nothing, so it is never trusted.
    #[error("public key is a weak (small-order) Ed25519 point")]
    WeakKey,
}

/// An Ed25519 signing key. Zeroed on drop; never printed.
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Parses base64 of the 32-byte seed or of the 64-byte `seed ‖ public` form. Surrounding
    /// whitespace (a newline from a key file) is ignored.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = zeroize::Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| KeyError::Base64)?);
        match bytes.len() {
            32 => {
                let mut seed = zeroize::Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(&bytes);
                Ok(Self(SigningKey::from_bytes(&seed)))
            }
            64 => {
                let mut pair = zeroize::Zeroizing::new([0u8; 64]);
                pair.copy_from_slice(&bytes);
                SigningKey::from_keypair_bytes(&pair)
                    .map(Self)
                    .map_err(|_| KeyError::MismatchedPublicHalf)
            }
            n => Err(KeyError::PrivateLength(n)),
        }
    }

    /// Base64 of the 64-byte `seed ‖ public` form, as ONDC's SDK and references expect.
    pub fn to_base64_keypair(&self) -> String {
        STANDARD.encode(zeroize::Zeroizing::new(self.0.to_keypair_bytes()))
    }

    /// Base64 of the 32-byte seed, for tools that take only the seed (beckn-onix, Java).
    pub fn to_base64_seed(&self) -> String {
        STANDARD.encode(zeroize::Zeroizing::new(self.0.to_bytes()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message` (the signing string) with pure Ed25519.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }
}

impl<'de> serde::Deserialize<'de> for PrivateKey {
    /// From base64 text in either form; the error names the problem, never the text.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey(<redacted>, public {})",
            self.public_key().to_base64()
        )
    }
}

/// An Ed25519 verifying key, decoded once (point decompression costs about 4 µs, so callers keep
/// these in a cache rather than re-reading the registry's base64 per request).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses base64 of the raw 32-byte key and refuses weak (small-order) points.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::Base64)?;
        let raw: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::PublicLength(bytes.len()))?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self(key))
    }

    /// Standard padded base64 of the raw 32 bytes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_bytes())
    }

    /// Checks a pure Ed25519 signature over `message`.
    ///
    /// `verify` rather than `verify_strict`: weak keys are already refused at parse time, which is
    /// the case `verify_strict` exists for, and the strict variant costs about 5 µs more per call.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.0.verify(message, signature).is_ok()
    }

    /// The key as ed25519-dalek has it, for batch verification.
    pub(super) fn dalek(&self) -> VerifyingKey {
        self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The ONDC Python reference README's published pair (64-byte form).
    const PY_PRIV: &str =
        "G0Pme72u8Y1MwxHqvY4iBW+7VPtJ7dsX7SGs6zZ5yvVIzdRAyHR6YkwHG2ufOE+12lsbJRwBF4Hqd7dUEOZZkg==";
    const PY_PUB: &str = "SM3UQMh0emJMBxtrnzhPtdpbGyUcAReB6ne3VBDmWZI=";

    #[test]
    fn both_private_key_forms_give_the_same_key() {
        let long = PrivateKey::from_base64(PY_PRIV).unwrap();
        let short = PrivateKey::from_base64(&long.to_base64_seed()).unwrap();
        assert_eq!(long.public_key().to_base64(), PY_PUB);
        assert_eq!(short.to_base64_keypair(), PY_PRIV);
    }

    #[test]
    fn a_64_byte_key_with_a_foreign_public_half_is_refused() {
        let a = PrivateKey::generate();
        let b = PrivateKey::generate();
        let mut forged = STANDARD.decode(a.to_base64_keypair()).unwrap();
        forged[32..].copy_from_slice(&STANDARD.decode(b.public_key().to_base64()).unwrap());
        assert_eq!(
            PrivateKey::from_base64(&STANDARD.encode(forged)).unwrap_err(),
            KeyError::MismatchedPublicHalf
        );
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        assert_eq!(PrivateKey::from_base64("!!").unwrap_err(), KeyError::Base64);
        assert_eq!(
            PrivateKey::from_base64(&STANDARD.encode([1u8; 31])).unwrap_err(),
            KeyError::PrivateLength(31)
        );
        assert_eq!(
            PublicKey::from_base64(&STANDARD.encode([1u8; 33])).unwrap_err(),
            KeyError::PublicLength(33)
        );
        // The identity point is of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_base64(&STANDARD.encode(identity)).unwrap_err(),
            KeyError::WeakKey
        );
        // URL-safe alphabet is not what ONDC uses.
        let urlsafe = PY_PUB.replace('/', "_").replace('+', "-");
        if urlsafe != PY_PUB {
            assert_eq!(PublicKey::from_base64(&urlsafe).unwrap_err(), KeyError::Base64);
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = PrivateKey::from_base64(PY_PRIV).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_base64_seed()) && !shown.contains("G0Pme72u"));
        assert!(shown.contains("redacted"));
    }
}
