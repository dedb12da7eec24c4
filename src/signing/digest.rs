//! The body digest and the signing string.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blake2::{Blake2b512, Digest as _};
use std::fmt;

/// BLAKE2b-512 (unkeyed, 64-byte output) of the exact request body bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BodyDigest([u8; 64]);

impl BodyDigest {
    /// Digests `body` as it is: no parsing, no canonicalisation, no trimming.
    pub fn of(body: &[u8]) -> Self {
        Self(Blake2b512::digest(body).into())
    }

    /// The 64 raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// Standard padded base64 of the digest: 88 characters ending in `==`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyDigest({})", self.to_base64())
    }
}

/// The string that is signed: three lines joined by a single LF, no trailing newline.
pub fn signing_string(created: i64, expires: i64, digest: &BodyDigest) -> String {
    // 11 + 1 + 11 + 1 + 18 + 88 bytes for ten-digit timestamps; reserve once.
    let mut s = String::with_capacity(160);
    s.push_str("(created): ");
    s.push_str(&created.to_string());
    s.push_str("\n(expires): ");
    s.push_str(&expires.to_string());
    s.push_str("\ndigest: BLAKE-512=");
    STANDARD.encode_string(digest.0, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_the_beckn_006_sentence() {
        // BECKN-006's worked example of BLAKE2b-512.
        let d = BodyDigest::of(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            d.to_base64(),
            "qK3Uvd39k+SHfSdG5igXsRY2Sh+nvBSNlQkLxzM7NnP4JAHPeqLkyx7NkCluPxTLVBP47Xe+cwRbE5FM3NapGA=="
        );
    }

    #[test]
    fn signing_string_has_three_lf_lines_and_no_trailing_newline() {
        let s = signing_string(1, 2, &BodyDigest::of(b""));
        let lines: Vec<&str> = s.split('\n').collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "(created): 1");
        assert_eq!(lines[1], "(expires): 2");
        assert!(lines[2].starts_with("digest: BLAKE-512=") && lines[2].ends_with("=="));
    }
}
