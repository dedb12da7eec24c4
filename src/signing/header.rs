//! The `Authorization: Signature …` header as a typed value, parsed tolerantly and printed
//! canonically.
//!
//! Parsing accepts what real peers send: parameters in any order, spaces around `,` and `=`,
//! unquoted values, a case-insensitive `Signature` scheme, and the extra pair of quotes the ONDC
//! Python reference CLI wraps around its output. It refuses what no correct signer produces:
//! missing or duplicated parameters, an algorithm other than `ed25519`, a `keyId` that is not
//! `subscriber|ukid|ed25519`, non-decimal timestamps, a `headers` list other than
//! `(created) (expires) digest`, and a signature that is not 64 bytes of standard padded base64.
//! The `keyId` is split on `|` only, so its subscriber part may hold `/` and `:` (ONDC's automation
//! signs as `dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5`); `|` and `"` cannot occur
//! inside a part, because [`SubscriberId`] and [`UniqueKeyId`] refuse them.
//! Unknown parameters are ignored, as HTTP signature drafts ask.
//!
//! Printing always gives the one canonical form every ONDC implementation emits (fixed order, no
//! spaces, every value quoted), because the Go and Java references parse by position.

use crate::protocol::{IdError, SubscriberId, UniqueKeyId};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;
use std::fmt;
use std::str::FromStr;

/// The only algorithm ONDC uses.
const ALGORITHM: &str = "ed25519";
/// The only covered-headers list ONDC uses.
const COVERED: [&str; 3] = ["(created)", "(expires)", "digest"];
/// Longest header we look at; a real one is about 300 bytes.
const MAX_HEADER_LEN: usize = 4096;
/// Longest error excerpt of peer-supplied text, so logs stay bounded.
const EXCERPT: usize = 48;

/// Which of the two signature headers a value came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRole {
    /// The originator's `Authorization` header.
    Authorization,
    /// The gateway's `X-Gateway-Authorization` header (legacy name `Proxy-Authorization`),
    /// same format and same signing string, over the same body bytes, with the gateway's key.
    Gateway,
}

impl HeaderRole {
    /// The HTTP header that carries the signature.
    pub fn header_name(self) -> &'static str {
        match self {
            Self::Authorization => "Authorization",
            Self::Gateway => "X-Gateway-Authorization",
        }
    }

    /// The header a receiver sets on a 401 when this signature fails (BECKN-006).
    pub fn challenge_header_name(self) -> &'static str {
        match self {
            Self::Authorization => "WWW-Authenticate",
            Self::Gateway => "Proxy-Authenticate",
        }
    }

    /// The challenge value: `Signature realm="<receiver>",headers="(created) (expires) digest"`.
    pub fn challenge(realm: &SubscriberId) -> String {
        format!("Signature realm=\"{realm}\",headers=\"{}\"", COVERED.join(" "))
    }
}

/// Why a header value is not a well-formed Beckn signature header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The value is empty or only whitespace.
    #[error("signature header is empty")]
    Empty,
    /// The value is longer than anything a signer produces.
    #[error("signature header is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    /// The scheme is not `Signature` (for example `Bearer Signature …`).
    #[error("signature header does not use the Signature scheme")]
    Scheme,
    /// The parameter list cannot be read.
    #[error("signature header is malformed at byte {at}: {what}")]
    Syntax {
        /// Byte offset into the parameter list.
        at: usize,
        /// What was expected there.
        what: &'static str,
    },
    /// A required parameter is absent.
    #[error("signature header lacks the {0} parameter")]
    Missing(&'static str),
    /// A parameter appears twice.
    #[error("signature header has the {0} parameter twice")]
    Duplicate(&'static str),
    /// `algorithm` is not `ed25519`.
    #[error("unsupported signature algorithm {0:?}; only ed25519 is accepted")]
    Algorithm(String),
    /// `keyId` is not three `|`-separated parts.
    #[error("keyId {0:?} is not subscriber_id|unique_key_id|ed25519")]
    KeyIdShape(String),
    /// The algorithm named inside `keyId` is not `ed25519`.
    #[error("keyId names the algorithm {0:?}; only ed25519 is accepted")]
    KeyIdAlgorithm(String),
    /// The subscriber id inside `keyId` is not a valid subscriber id.
    #[error("keyId subscriber_id {value:?} {reason}")]
    SubscriberId {
        /// The offending text (shortened).
        value: String,
        /// What is wrong with it.
        reason: IdError,
    },
    /// The unique key id inside `keyId` is not valid.
    #[error("keyId unique_key_id {value:?} {reason}")]
    UniqueKeyId {
        /// The offending text (shortened).
        value: String,
        /// What is wrong with it.
        reason: IdError,
    },
    /// `created` or `expires` is not a non-negative decimal integer of Unix seconds.
    #[error("{0} is not a Unix time in whole seconds")]
    Timestamp(&'static str),
    /// `headers` is not `(created) (expires) digest`.
    #[error("headers parameter must be \"(created) (expires) digest\", got {0:?}")]
    CoveredHeaders(String),
    /// `signature` is not 64 bytes of standard padded base64.
    #[error("signature is not 64 bytes of standard padded base64")]
    SignatureEncoding,
}

impl HeaderError {
    /// A short stable name for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "header_missing",
            Self::TooLong | Self::Scheme | Self::Syntax { .. } => "header_malformed",
            Self::Missing(_) | Self::Duplicate(_) => "header_parameters",
            Self::Algorithm(_) | Self::KeyIdAlgorithm(_) => "algorithm",
            Self::KeyIdShape(_) | Self::SubscriberId { .. } | Self::UniqueKeyId { .. } => "key_id",
            Self::Timestamp(_) => "timestamp",
            Self::CoveredHeaders(_) => "covered_headers",
            Self::SignatureEncoding => "signature_encoding",
        }
    }
}

/// `keyId="subscriber_id|unique_key_id|ed25519"`: who signed, and with which registered key.
///
/// Parsed by splitting on `|` into exactly three parts; the subscriber part may be path-like
/// (`dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5|key-1|ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId {
    /// The signer's registered subscriber id.
    pub subscriber_id: SubscriberId,
    /// The registry `ukId` of the signing key.
    pub unique_key_id: UniqueKeyId,
}

impl FromStr for KeyId {
    type Err = HeaderError;

    fn from_str(s: &str) -> Result<Self, HeaderError> {
        let mut parts = s.split('|');
        let (Some(sub), Some(ukid), Some(alg), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HeaderError::KeyIdShape(excerpt(s)));
        };
        if !alg.eq_ignore_ascii_case(ALGORITHM) {
            return Err(HeaderError::KeyIdAlgorithm(excerpt(alg)));
        }
        let subscriber_id = SubscriberId::parse(sub).map_err(|reason| HeaderError::SubscriberId {
            value: excerpt(sub),
            reason,
        })?;
        let unique_key_id = UniqueKeyId::parse(ukid).map_err(|reason| HeaderError::UniqueKeyId {
            value: excerpt(ukid),
            reason,
        })?;
        Ok(Self {
            subscriber_id,
            unique_key_id,
        })
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}|{ALGORITHM}", self.subscriber_id, self.unique_key_id)
    }
}

/// A parsed Beckn signature header. `Display` prints the canonical form.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// Who signed and with which key.
    pub key_id: KeyId,
    /// `(created)`: Unix seconds.
    pub created: i64,
    /// `(expires)`: Unix seconds.
    pub expires: i64,
    /// The Ed25519 signature over the signing string.
    pub signature: Signature,
}

impl fmt::Debug for SignatureHeader {
    // The signature is a bearer credential until it expires: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureHeader")
            .field("key_id", &self.key_id)
            .field("created", &self.created)
            .field("expires", &self.expires)
            .field("signature", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature keyId=\"{}\",algorithm=\"{ALGORITHM}\",created=\"{}\",expires=\"{}\",headers=\"{}\",signature=\"{}\"",
            self.key_id,
            self.created,
            self.expires,
            COVERED.join(" "),
            STANDARD.encode(self.signature.to_bytes()),
        )
    }
}

/// The six parameters we read, in canonical order.
const PARAMS: [&str; 6] = ["keyId", "algorithm", "created", "expires", "headers", "signature"];

impl FromStr for SignatureHeader {
    type Err = HeaderError;

    fn from_str(raw: &str) -> Result<Self, HeaderError> {
        if raw.len() > MAX_HEADER_LEN {
            return Err(HeaderError::TooLong);
        }
        let mut text = raw.trim();
        if text.is_empty() {
            return Err(HeaderError::Empty);
        }
        // The ONDC Python reference CLI prints `"Signature …""`: one quote before, one extra after.
        if let Some(inner) = text.strip_prefix('"') {
            text = inner
                .strip_suffix('"')
                .filter(|t| t.ends_with('"'))
                .unwrap_or(inner);
        }
        let (scheme, params) = text
            .split_once(|c: char| c.is_ascii_whitespace())
            .ok_or(HeaderError::Scheme)?;
        if !scheme.eq_ignore_ascii_case("Signature") {
            return Err(HeaderError::Scheme);
        }

        let mut values: [Option<String>; 6] = Default::default();
        for pair in Params::new(params) {
            let (name, value) = pair?;
            if let Some(i) = PARAMS.iter().position(|p| *p == name)
                && values[i].replace(value).is_some()
            {
                return Err(HeaderError::Duplicate(PARAMS[i]));
            }
        }
        let [key_id, algorithm, created, expires, headers, signature] = values;
        let key_id = key_id.ok_or(HeaderError::Missing("keyId"))?;
        let algorithm = algorithm.ok_or(HeaderError::Missing("algorithm"))?;
        let created = created.ok_or(HeaderError::Missing("created"))?;
        let expires = expires.ok_or(HeaderError::Missing("expires"))?;
        let headers = headers.ok_or(HeaderError::Missing("headers"))?;
        let signature = signature.ok_or(HeaderError::Missing("signature"))?;

        if !algorithm.eq_ignore_ascii_case(ALGORITHM) {
            return Err(HeaderError::Algorithm(excerpt(&algorithm)));
        }
        if !headers.split_ascii_whitespace().eq(COVERED) {
            return Err(HeaderError::CoveredHeaders(excerpt(&headers)));
        }
        Ok(Self {
            key_id: key_id.parse()?,
            created: unix_seconds(&created, "created")?,
            expires: unix_seconds(&expires, "expires")?,
            signature: decode_signature(&signature)?,
        })
    }
}

/// A decimal count of seconds: digits only (no sign, no fraction), at most 15 of them, which is
/// far beyond any real date and keeps `i64` arithmetic on it from overflowing.
fn unix_seconds(text: &str, name: &'static str) -> Result<i64, HeaderError> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::Timestamp(name));
    }
    text.parse().map_err(|_| HeaderError::Timestamp(name))
}

fn decode_signature(text: &str) -> Result<Signature, HeaderError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| HeaderError::SignatureEncoding)?;
    let raw: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| HeaderError::SignatureEncoding)?;
    Ok(Signature::from_bytes(&raw))
}

fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Iterates `name=value` pairs separated by commas, with optional spaces, values quoted (with
/// backslash escapes) or bare. Stops after the first syntax error.
struct Params<'a> {
    text: &'a str,
    pos: usize,
    failed: bool,
}

impl<'a> Params<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            failed: false,
        }
    }

    fn skip_spaces(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn fail(&mut self, what: &'static str) -> HeaderError {
        self.failed = true;
        HeaderError::Syntax { at: self.pos, what }
    }

    fn next_pair(&mut self) -> Result<(&'a str, String), HeaderError> {
        let rest = &self.text[self.pos..];
        let name_len = rest.find(['=', ',', ' ', '\t']).unwrap_or(rest.len());
        if name_len == 0 {
            return Err(self.fail("a parameter name"));
        }
        let name = &rest[..name_len];
        self.pos += name_len;
        self.skip_spaces();
        if self.peek() != Some('=') {
            return Err(self.fail("'=' after the parameter name"));
        }
        self.pos += 1;
        self.skip_spaces();
        let value = if self.peek() == Some('"') {
            self.pos += 1;
            let mut value = String::new();
            let mut chars = self.text[self.pos..].char_indices();
            loop {
                match chars.next() {
                    Some((i, '"')) => {
                        self.pos += i + 1;
                        break;
                    }
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err(self.fail("a closing quote")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(self.fail("a closing quote")),
                }
            }
            value
        } else {
            let rest = &self.text[self.pos..];
            let len = rest.find(',').unwrap_or(rest.len());
            self.pos += len;
            let bare = rest[..len].trim_end_matches([' ', '\t']);
            if bare.is_empty() || bare.contains(['"', ' ', '\t']) {
                return Err(self.fail("a quoted or bare value"));
            }
            bare.to_owned()
        };
        self.skip_spaces();
        match self.peek() {
            None => {}
            Some(',') => self.pos += 1,
            Some(_) => return Err(self.fail("',' between parameters")),
        }
        Ok((name, value))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, String), HeaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        self.skip_spaces();
        if self.pos >= self.text.len() {
            return None;
        }
        Some(self.next_pair())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CANONICAL: &str = "Signature keyId=\"example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519\",algorithm=\"ed25519\",created=\"1641287875\",expires=\"1641291475\",headers=\"(created) (expires) digest\",signature=\"cjbhP0PFyrlSCNszJM1F/YmHDVAWsZqJUPzojnE/7TJU3fJ/rmIlgaUHEr5E0/2PIyf0tpSnWtT6cyNNlpmoAQ==\"";

    fn parse(s: &str) -> Result<SignatureHeader, HeaderError> {
        s.parse()
    }

    #[test]
    fn canonical_header_round_trips_byte_for_byte() {
        let h = parse(CANONICAL).unwrap();
        assert_eq!(h.key_id.subscriber_id.as_str(), "example-bap.com");
        assert_eq!(h.created, 1641287875);
        assert_eq!(h.to_string(), CANONICAL);
    }

    #[test]
    fn tolerates_order_spaces_unquoted_numbers_and_python_quotes() {
        let shuffled = "signature  keyId = \"example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519\" , created=1641287875, expires=1641291475 ,headers=\"(created) (expires) digest\",signature=\"cjbhP0PFyrlSCNszJM1F/YmHDVAWsZqJUPzojnE/7TJU3fJ/rmIlgaUHEr5E0/2PIyf0tpSnWtT6cyNNlpmoAQ==\", algorithm=ed25519";
        assert_eq!(parse(shuffled).unwrap(), parse(CANONICAL).unwrap());
        let wrapped = format!("\"{CANONICAL}\"");
        assert_eq!(parse(&wrapped).unwrap(), parse(CANONICAL).unwrap());
        let with_unknown = format!("{CANONICAL},nonce=\"x\"");
        assert_eq!(parse(&with_unknown).unwrap(), parse(CANONICAL).unwrap());
    }

    #[test]
    fn strict_cases_name_what_is_wrong() {
        let cases: Vec<(String, HeaderError)> = vec![
            (String::new(), HeaderError::Empty),
            (format!("Bearer {CANONICAL}"), HeaderError::Scheme),
            (
                CANONICAL.replace(",algorithm=\"ed25519\"", ""),
                HeaderError::Missing("algorithm"),
            ),
            (
                CANONICAL.replace(",signature=", ",created=\"1\",signature="),
                HeaderError::Duplicate("created"),
            ),
            (
                CANONICAL.replace("algorithm=\"ed25519\"", "algorithm=\"rsa-sha256\""),
                HeaderError::Algorithm("rsa-sha256".into()),
            ),
            (
                CANONICAL.replace("|ed25519\"", "|rsa\""),
                HeaderError::KeyIdAlgorithm("rsa".into()),
            ),
            (
                CANONICAL.replace("ac|ed25519", "ac|x|ed25519"),
                HeaderError::KeyIdShape("example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef1…".into()),
            ),
            (
                CANONICAL.replace("example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|", "k|"),
                HeaderError::KeyIdShape("k|ed25519".into()),
            ),
            (
                CANONICAL.replace("example-bap.com|", "https://example-bap.com|"),
                HeaderError::SubscriberId {
                    value: "https://example-bap.com".into(),
                    reason: IdError::Url,
                },
            ),
            (
                CANONICAL.replace("example-bap.com|", "example-bap.com/a,b|"),
                HeaderError::SubscriberId {
                    value: "example-bap.com/a,b".into(),
                    reason: IdError::Forbidden(','),
                },
            ),
            (
                CANONICAL.replace("example-bap.com|", "example-bap.com/a\\\\b|"),
                HeaderError::SubscriberId {
                    value: "example-bap.com/a\\b".into(),
                    reason: IdError::Forbidden('\\'),
                },
            ),
            (
                CANONICAL.replace("example-bap.com|", "dev.ondc.org/ONDC:LOG10|x|"),
                HeaderError::KeyIdShape("dev.ondc.org/ONDC:LOG10|x|ae3ea24b-cfec-495e-81f…".into()),
            ),
            (
                CANONICAL.replace("\"1641287875\"", "\"-1641287875\""),
                HeaderError::Timestamp("created"),
            ),
            (
                CANONICAL.replace("\"1641291475\"", "\"1641291475000.5\""),
                HeaderError::Timestamp("expires"),
            ),
            (
                CANONICAL.replace("(created) (expires) digest", "(created)(expires)digest"),
                HeaderError::CoveredHeaders("(created)(expires)digest".into()),
            ),
            (
                CANONICAL.replace("moAQ==", "moAQ"),
                HeaderError::SignatureEncoding,
            ),
            (CANONICAL.replace("F/Y", "F_Y"), HeaderError::SignatureEncoding),
            (
                CANONICAL.replace("\"cjbh", "\"AAAAcjbh"),
                HeaderError::SignatureEncoding,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(&input), Err(expected), "input: {input}");
        }
        assert!(matches!(
            parse("Signature keyId=\"a"),
            Err(HeaderError::Syntax { .. })
        ));
        assert!(matches!(
            parse("Signature keyId"),
            Err(HeaderError::Syntax { .. })
        ));
        assert!(matches!(
            parse("Signature a=b c=d"),
            Err(HeaderError::Syntax { .. })
        ));
        assert_eq!(parse(&"x".repeat(5000)), Err(HeaderError::TooLong));
    }

    #[test]
    fn a_path_like_subscriber_round_trips_byte_for_byte() {
        let id = "dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5";
        let header = CANONICAL.replace("example-bap.com|", &format!("{id}|"));
        let h = parse(&header).unwrap();
        assert_eq!(h.key_id.subscriber_id.as_str(), id);
        assert_eq!(
            h.key_id.unique_key_id.as_str(),
            "ae3ea24b-cfec-495e-81f8-044aaef164ac"
        );
        assert_eq!(h.to_string(), header);
        // Bare (unquoted) and spaced, as tolerant parsing allows, it is the same key.
        let bare = header.replace(
            &format!("keyId=\"{id}|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519\""),
            &format!("keyId = {id}|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519 "),
        );
        assert_ne!(bare, header);
        assert_eq!(parse(&bare).unwrap(), h);
    }

    #[test]
    fn debug_hides_the_signature() {
        let shown = format!("{:?}", parse(CANONICAL).unwrap());
        assert!(!shown.contains("cjbhP0PF") && shown.contains("redacted"));
    }

    #[test]
    fn challenge_names_the_realm_and_covered_headers() {
        let realm = SubscriberId::parse("gw.example.com").unwrap();
        assert_eq!(
            HeaderRole::challenge(&realm),
            "Signature realm=\"gw.example.com\",headers=\"(created) (expires) digest\""
        );
    }

    fn arb_header() -> impl Strategy<Value = SignatureHeader> {
        (
            // Host names, the path-like names ONDC's automation registers, and inner spaces.
            "[a-z0-9][a-z0-9.-]{0,30}(/[A-Za-z0-9:.-]{1,12}){0,3}( [a-z]{1,5})?",
            "[A-Za-z0-9][A-Za-z0-9_.:/-]{0,40}",
            0i64..=999_999_999_999_999,
            0i64..=999_999_999_999_999,
            proptest::array::uniform32(any::<u8>()),
            proptest::array::uniform32(any::<u8>()),
        )
            .prop_map(|(sub, ukid, created, expires, a, b)| {
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&a);
                sig[32..].copy_from_slice(&b);
                SignatureHeader {
                    key_id: KeyId {
                        subscriber_id: SubscriberId::parse(&sub).unwrap(),
                        unique_key_id: UniqueKeyId::parse(&ukid).unwrap(),
                    },
                    created,
                    expires,
                    signature: Signature::from_bytes(&sig),
                }
            })
    }

    proptest! {
        #[test]
        fn parse_of_display_is_identity(h in arb_header()) {
            prop_assert_eq!(parse(&h.to_string()), Ok(h));
        }

        #[test]
        fn reordered_and_spaced_forms_parse_to_the_same_value(h in arb_header(), order in Just(()).prop_perturb(|_, mut rng| {
            let mut idx: Vec<usize> = (0..6).collect();
            for i in (1..6).rev() { idx.swap(i, (rng.next_u32() as usize) % (i + 1)); }
            idx
        }), sep in "[ \t]{0,2},[ \t]{0,2}") {
            let canonical = h.to_string();
            let params: Vec<&str> = canonical["Signature ".len()..].split("\",").collect();
            let mut parts: Vec<String> = params.iter().map(|p| if p.ends_with('"') { (*p).to_owned() } else { format!("{p}\"") }).collect();
            let shuffled: Vec<String> = order.iter().map(|&i| std::mem::take(&mut parts[i])).collect();
            let text = format!("Signature {}", shuffled.join(&sep));
            prop_assert_eq!(parse(&text), Ok(h));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = parse(&s);
            let _ = parse(&format!("Signature {s}"));
        }

        #[test]
        fn arbitrary_parameter_soup_never_panics(s in "[a-zA-Z=,\" \\\\|()0-9+/]{0,200}") {
            let _ = parse(&format!("Signature {s}"));
        }
    }
}
