//! Signing a body and verifying a header against a body, a key and the current time.

use super::batch::Claim;
use super::digest::{BodyDigest, signing_string};
use super::header::{KeyId, SignatureHeader};
use super::keys::{PrivateKey, PublicKey};
use std::fmt;

/// How much clock disagreement verification tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidityPolicy {
    /// How far in the future `created` may be, in seconds, because the signer's clock runs ahead
    /// of ours. `expires` gets no such grace: an expired signature is refused at once.
    pub max_clock_skew_secs: i64,
}

impl Default for ValidityPolicy {
    /// Five seconds, as beckn-onix allows; ONDC's Python reference allows none.
    fn default() -> Self {
        Self {
            max_clock_skew_secs: 5,
        }
    }
}

/// Why a well-formed header does not authenticate a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `expires` is not after `created`.
    #[error("signature window is empty: expires {expires} is not after created {created}")]
    EmptyWindow {
        /// `(created)` from the header.
        created: i64,
        /// `(expires)` from the header.
        expires: i64,
    },
    /// `created` lies further in the future than the allowed skew.
    #[error("signature created at {created} is in the future (now {now}, allowed skew {skew}s)")]
    NotYetValid {
        /// `(created)` from the header.
        created: i64,
        /// Our clock.
        now: i64,
        /// The allowed skew in seconds.
        skew: i64,
    },
    /// `expires` has passed.
    #[error("signature expired at {expires} (now {now})")]
    Expired {
        /// `(expires)` from the header.
        expires: i64,
        /// Our clock.
        now: i64,
    },
    /// The Ed25519 signature does not match the body digest and timestamps under this key.
    #[error("signature does not match the body and key")]
    Mismatch,
}

impl VerifyError {
    /// A short stable name for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::EmptyWindow { .. } => "window_empty",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::Expired { .. } => "expired",
            Self::Mismatch => "signature_mismatch",
        }
    }
}

/// Checks `header` against the exact `body` bytes, the signer's `key` and the time `now` (Unix
/// seconds, from an injected clock). The cheap window checks run before the Ed25519 check.
pub fn verify(
    header: &SignatureHeader,
    body: &[u8],
    key: &PublicKey,
    now: i64,
    policy: &ValidityPolicy,
) -> Result<(), VerifyError> {
    check_window(header, now, policy)?;
    if claim(header, body, key).holds() {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The checks of [`verify`] that need no cryptography: the window is not empty, has begun
/// (allowing the policy's skew) and has not ended at `now`.
pub fn check_window(header: &SignatureHeader, now: i64, policy: &ValidityPolicy) -> Result<(), VerifyError> {
    let (created, expires) = (header.created, header.expires);
    if expires <= created {
        return Err(VerifyError::EmptyWindow { created, expires });
    }
    if created > now.saturating_add(policy.max_clock_skew_secs) {
        return Err(VerifyError::NotYetValid {
            created,
            now,
            skew: policy.max_clock_skew_secs,
        });
    }
    if now > expires {
        return Err(VerifyError::Expired { expires, now });
    }
    Ok(())
}

/// What `header` asserts about `body`: its signing string, signed under `key`. Checked alone
/// ([`Claim::holds`]) or with others ([`super::verify_all`]).
pub fn claim(header: &SignatureHeader, body: &[u8], key: &PublicKey) -> Claim {
    Claim {
        message: signing_string(header.created, header.expires, &BodyDigest::of(body)).into_bytes(),
        signature: header.signature,
        key: *key,
    }
}

/// Our own signing identity: a key and the `keyId` it is registered under.
#[derive(Clone)]
pub struct Signer {
    key: PrivateKey,
    key_id: KeyId,
}

impl Signer {
    /// Binds a private key to the `keyId` under which the registry publishes its public half.
    pub fn new(key: PrivateKey, key_id: KeyId) -> Self {
        Self { key, key_id }
    }

    /// The `keyId` this signer signs as.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The public key peers verify with.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Signs the exact `body` bytes for the window `[created, expires]` (Unix seconds). Use
    /// `created = floor(now)`, never a future value: strict peers refuse any future `created`.
    pub fn sign(&self, body: &[u8], created: i64, expires: i64) -> SignatureHeader {
        let message = signing_string(created, expires, &BodyDigest::of(body));
        SignatureHeader {
            key_id: self.key_id.clone(),
            created,
            expires,
            signature: self.key.sign(message.as_bytes()),
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(
            PrivateKey::generate(),
            "bap.example.com|k1|ed25519".parse().unwrap(),
        )
    }

    #[test]
    fn a_signed_body_verifies_inside_its_window_only() {
        let s = signer();
        let body = br#"{"context":{},"message":{}}"#;
        let h = s.sign(body, 1000, 1300);
        let key = s.public_key();
        let p = ValidityPolicy::default();
        assert_eq!(verify(&h, body, &key, 1000, &p), Ok(()));
        assert_eq!(verify(&h, body, &key, 1300, &p), Ok(()));
        assert_eq!(verify(&h, body, &key, 995, &p), Ok(()), "within the skew");
        assert_eq!(
            verify(&h, body, &key, 994, &p),
            Err(VerifyError::NotYetValid {
                created: 1000,
                now: 994,
                skew: 5
            })
        );
        assert_eq!(
            verify(&h, body, &key, 1301, &p),
            Err(VerifyError::Expired {
                expires: 1300,
                now: 1301
            })
        );
    }

    #[test]
    fn any_change_to_body_time_or_key_breaks_it() {
        let s = signer();
        let body = br#"{"a":1}"#;
        let h = s.sign(body, 1000, 1300);
        let p = ValidityPolicy::default();
        let key = s.public_key();
        assert_eq!(
            verify(&h, br#"{"a":1} "#, &key, 1000, &p),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&h, body, &signer().public_key(), 1000, &p),
            Err(VerifyError::Mismatch)
        );
        let moved = SignatureHeader {
            expires: 1299,
            ..h.clone()
        };
        assert_eq!(verify(&moved, body, &key, 1000, &p), Err(VerifyError::Mismatch));
        let empty = SignatureHeader { expires: 1000, ..h };
        assert_eq!(
            verify(&empty, body, &key, 1000, &p),
            Err(VerifyError::EmptyWindow {
                created: 1000,
                expires: 1000
            })
        );
    }
}
