//! Checking many signatures at once.
//!
//! Ed25519 batch verification checks one random linear combination of the signatures'
//! equations with a single multiscalar multiplication, which costs about half as much per
//! signature as checking each alone once a batch holds a dozen or more. A batch that does not
//! hold says only that some signature in it is bad, so then each is checked alone and the
//! answers are exact.
//!
//! Batch and single verification can disagree only on signatures built with small-order
//! components, which only the key's holder can make, and only over messages that holder could
//! sign anyway: no signature is accepted here that someone without the key could have produced.

use super::keys::PublicKey;
use ed25519_dalek::Signature;

/// One signature to check: the signed bytes, the signature and the signer's key.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The signing string as bytes.
    pub message: Vec<u8>,
    /// The Ed25519 signature.
    pub signature: Signature,
    /// The key it must verify under.
    pub key: PublicKey,
}

impl Claim {
    /// This claim alone.
    pub fn holds(&self) -> bool {
        self.key.verify(&self.message, &self.signature)
    }
}

/// Below this many claims, checking each alone is cheaper than a batch.
const MIN_BATCH: usize = 3;

/// Whether each claim holds, in order.
pub fn verify_all(claims: &[Claim]) -> Vec<bool> {
    if claims.len() >= MIN_BATCH {
        let messages: Vec<&[u8]> = claims.iter().map(|c| c.message.as_slice()).collect();
        let signatures: Vec<Signature> = claims.iter().map(|c| c.signature).collect();
        let keys: Vec<_> = claims.iter().map(|c| c.key.dalek()).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            return vec![true; claims.len()];
        }
    }
    claims.iter().map(Claim::holds).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::PrivateKey;

    fn claims(n: usize) -> Vec<Claim> {
        (0..n)
            .map(|i| {
                let key = PrivateKey::generate();
                let message =
                    format!("(created): {i}\n(expires): {}\ndigest: BLAKE-512=x", i + 1).into_bytes();
                Claim {
                    signature: key.sign(&message),
                    key: key.public_key(),
                    message,
                }
            })
            .collect()
    }

    #[test]
    fn every_good_claim_holds_whatever_the_batch_size() {
        for n in [0, 1, 2, 3, 17, 64] {
            assert_eq!(verify_all(&claims(n)), vec![true; n], "batch of {n}");
        }
    }

    #[test]
    fn a_bad_claim_is_named_and_the_others_still_hold() {
        for n in [1, 2, 5, 40] {
            for bad in [0, n / 2, n - 1] {
                let mut batch = claims(n);
                // A different message under the same signature, a swapped key, a flipped bit.
                match bad % 3 {
                    0 => batch[bad].message.push(b'!'),
                    1 => batch[bad].key = PrivateKey::generate().public_key(),
                    _ => {
                        let mut raw = batch[bad].signature.to_bytes();
                        raw[5] ^= 1;
                        batch[bad].signature = Signature::from_bytes(&raw);
                    }
                }
                let expected: Vec<bool> = (0..n).map(|i| i != bad).collect();
                assert_eq!(verify_all(&batch), expected, "batch of {n}, bad {bad}");
            }
        }
    }
}
