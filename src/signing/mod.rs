//! Beckn/ONDC HTTP message signing, pure: no HTTP types, no clock of its own, no I/O.
//!
//! A signature covers a three-line signing string built from the `created` and `expires` Unix
//! seconds and the BLAKE2b-512 digest of the exact body bytes:
//!
//! ```text
//! (created): 1641287875
//! (expires): 1641291475
//! digest: BLAKE-512=b6lf6lRg…Ug7sw==
//! ```
//!
//! It is signed with Ed25519 and carried in an `Authorization` (or, from a gateway,
//! `X-Gateway-Authorization`) header of the form
//! `Signature keyId="sub|ukid|ed25519",algorithm="ed25519",created="…",expires="…",headers="(created) (expires) digest",signature="…"`.
//! [`SignatureHeader`] is that header as a typed value; [`Signer`] makes one and [`verify`] checks
//! one against a body, a public key and the current time.

mod batch;
mod digest;
mod header;
mod keys;
mod verify;

pub use batch::{Claim, verify_all};
pub use digest::{BodyDigest, signing_string};
pub use header::{HeaderError, HeaderRole, KeyId, SignatureHeader};
pub use keys::{KeyError, PrivateKey, PublicKey};
pub use verify::{Signer, ValidityPolicy, VerifyError, check_window, claim, verify};
