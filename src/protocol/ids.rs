//! Identifier newtypes: a subscriber id and a registry key id.
//!
//! A subscriber id is the network participant's registered name (usually its FQDN). It travels in
//! the `keyId` of every signature, split on `|`, and in `bap_id`/`bpp_id` of every context.

use std::fmt;
use std::str::FromStr;

/// Longest identifier we accept; registry names are FQDNs (at most 253 bytes).
const MAX_ID_LEN: usize = 255;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("is empty")]
    Empty,
    /// The string is longer than [`MAX_ID_LEN`] bytes.
    #[error("is longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// The string starts or ends with whitespace.
    #[error("starts or ends with whitespace")]
    EdgeWhitespace,
    /// The string holds a character that the identifier may not contain.
    #[error("contains the forbidden character {0:?}")]
    Forbidden(char),
}

/// Checks the rules both identifier kinds share: non-empty, bounded, no control characters, no
/// whitespace at either end, and none of the characters that delimit a `keyId` (`|`) or a header
/// parameter (`"`, `,`, `\`). Inner spaces are allowed: a published ONDC signing vector has one.
fn check_common(s: &str, extra_forbidden: &[char]) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if s.trim() != s {
        return Err(IdError::EdgeWhitespace);
    }
    match s
        .chars()
        .find(|c| c.is_control() || matches!(c, '|' | '"' | ',' | '\\') || extra_forbidden.contains(c))
    {
        Some(c) => Err(IdError::Forbidden(c)),
        None => Ok(()),
    }
}

/// A network participant's `subscriber_id`, as registered with the ONDC registry.
///
/// `/` and `:` are refused: a value holding them is a URL or a path (the commonest mistake is to put
/// the `subscriber_url` where the id belongs), not a registered name. This is stricter than ONDC's
/// own workbench, which names some test subscribers with paths; see the README.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(String);

impl SubscriberId {
    /// Parses and checks a subscriber id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_common(s, &['/', ':'])?;
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The registry's `ukId`: which of a subscriber's keys signed a message.
///
/// Real values include `207`, UUIDs and `ONDC:LOG10-1.2.5-protocol-workbench`, so `:` and `/` are
/// allowed here.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UniqueKeyId(String);

impl UniqueKeyId {
    /// Parses and checks a unique key id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_common(s, &[])?;
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `context.transaction_id`: one order's conversation, from `/select` on.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(String);

/// `context.message_id`: one request and its callback.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

macro_rules! opaque_id {
    ($t:ty) => {
        impl $t {
            /// Parses an opaque protocol id (ids in the wild are UUIDs, `T1`, `M5`, …).
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check_common(s, &[])?;
                Ok(Self(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

opaque_id!(TransactionId);
opaque_id!(MessageId);

impl MessageId {
    /// A fresh random (v4 UUID) message id for a message we originate.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

macro_rules! text_id_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_id_impls!(SubscriberId);
text_id_impls!(UniqueKeyId);
text_id_impls!(TransactionId);
text_id_impls!(MessageId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_ids_are_registered_names() {
        assert!(SubscriberId::parse("buyer-app.ondc.org").is_ok());
        assert_eq!(SubscriberId::parse(""), Err(IdError::Empty));
        assert_eq!(SubscriberId::parse("https://x.org"), Err(IdError::Forbidden(':')));
        assert_eq!(SubscriberId::parse("x.org/api"), Err(IdError::Forbidden('/')));
        assert_eq!(SubscriberId::parse("a|b"), Err(IdError::Forbidden('|')));
        assert!(SubscriberId::parse("your subscriber_id").is_ok());
        assert_eq!(SubscriberId::parse(" a"), Err(IdError::EdgeWhitespace));
        assert_eq!(SubscriberId::parse("a\tb"), Err(IdError::Forbidden('\t')));
        assert_eq!(SubscriberId::parse(&"a".repeat(256)), Err(IdError::TooLong));
    }

    #[test]
    fn unique_key_ids_may_hold_colons() {
        assert!(UniqueKeyId::parse("ONDC:LOG10-1.2.5-protocol-workbench").is_ok());
        assert_eq!(UniqueKeyId::parse("a\"b"), Err(IdError::Forbidden('"')));
    }
}
