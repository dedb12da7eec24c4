//! Identifier newtypes: a subscriber id and a registry key id.
//!
//! A subscriber id is the network participant's registered name: usually its FQDN, but ONDC's own
//! automation registers path-like names such as `dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5`.
//! It travels in the `keyId` of every signature, split on `|`, and in `bap_id`/`bpp_id` of every
//! context.

use std::fmt;
use std::str::FromStr;

/// Longest identifier we accept: an FQDN is at most 253 bytes, and the path-like names ONDC's
/// automation registers are far shorter than this.
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
    /// A subscriber id that holds `://`: a URL (usually the `subscriber_url`), not a registered name.
    #[error("is a URL (it contains \"://\"); a subscriber id is the registered name, not the subscriber_url")]
    Url,
}

/// Checks the rules every identifier kind shares: non-empty, bounded, no control characters, no
/// whitespace at either end, and none of the characters that delimit a `keyId` (`|`) or a header
/// parameter (`"`, `,`, `\`). Inner spaces are allowed: a published ONDC signing vector has one.
fn check_common(s: &str) -> Result<(), IdError> {
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
        .find(|c| c.is_control() || matches!(c, '|' | '"' | ',' | '\\'))
    {
        Some(c) => Err(IdError::Forbidden(c)),
        None => Ok(()),
    }
}

/// A network participant's `subscriber_id`, as registered with the ONDC registry.
///
/// `/` and `:` are allowed: the registry accepts them, and ONDC's own automation registers
/// subscribers such as `dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5` and signs with them,
/// so refusing them locks real peers out. Neither can break a `keyId` (split on `|`) or a header
/// parameter (delimited by `"` and `,`), which stay forbidden. What is still refused is `://`:
/// no registered name holds it, and it catches the commonest mistake, a `subscriber_url` where
/// the id belongs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(String);

impl SubscriberId {
    /// Parses and checks a subscriber id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_common(s)?;
        if s.contains("://") {
            return Err(IdError::Url);
        }
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
        check_common(s)?;
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
                check_common(s)?;
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
    ($t:ty, $what:literal) => {
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
                Self::parse(&s).map_err(|e| serde::de::Error::custom(format_args!("{} {e}", $what)))
            }
        }
    };
}

text_id_impls!(SubscriberId, "subscriber_id");
text_id_impls!(UniqueKeyId, "ukId");
text_id_impls!(TransactionId, "transaction_id");
text_id_impls!(MessageId, "message_id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_ids_are_registered_names() {
        assert!(SubscriberId::parse("buyer-app.ondc.org").is_ok());
        assert_eq!(SubscriberId::parse(""), Err(IdError::Empty));
        assert_eq!(SubscriberId::parse("https://x.org"), Err(IdError::Url));
        assert_eq!(SubscriberId::parse("x.org/api|k1"), Err(IdError::Forbidden('|')));
        assert_eq!(SubscriberId::parse("a|b"), Err(IdError::Forbidden('|')));
        assert!(SubscriberId::parse("your subscriber_id").is_ok());
        assert_eq!(SubscriberId::parse(" a"), Err(IdError::EdgeWhitespace));
        assert_eq!(SubscriberId::parse("a\tb"), Err(IdError::Forbidden('\t')));
        assert_eq!(SubscriberId::parse(&"a".repeat(256)), Err(IdError::TooLong));
    }

    #[test]
    fn subscriber_ids_may_be_paths_as_ondc_automation_registers_them() {
        for id in [
            "dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5",
            "x.org/api",
            "ONDC:RET10",
            "host:8080/buyer",
        ] {
            let parsed = SubscriberId::parse(id).unwrap_or_else(|e| panic!("{id:?} {e}"));
            assert_eq!(parsed.as_str(), id);
            let json = serde_json::to_string(&parsed).unwrap();
            assert_eq!(serde_json::from_str::<SubscriberId>(&json).unwrap(), parsed);
        }
        // What would break a keyId or a header parameter stays out, path or not.
        let base = "dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5";
        for c in ['|', '"', ',', '\\', '\n', '\u{7f}'] {
            assert_eq!(
                SubscriberId::parse(&format!("{base}{c}x")),
                Err(IdError::Forbidden(c)),
                "{c:?}"
            );
        }
        assert_eq!(
            SubscriberId::parse(&format!("{base} ")),
            Err(IdError::EdgeWhitespace)
        );
        assert_eq!(
            SubscriberId::parse(&format!("/{}", "a".repeat(255))),
            Err(IdError::TooLong)
        );
        assert_eq!(SubscriberId::parse("dev.ondc.org/x://y"), Err(IdError::Url));
    }

    #[test]
    fn unique_key_ids_may_hold_colons() {
        assert!(UniqueKeyId::parse("ONDC:LOG10-1.2.5-protocol-workbench").is_ok());
        assert_eq!(UniqueKeyId::parse("a\"b"), Err(IdError::Forbidden('"')));
    }
}
