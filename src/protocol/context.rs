//! The Beckn `context` of a received message: a typed view checked once, kept beside the raw JSON.

use super::action::{Action, DomainFamily};
use super::ids::{MessageId, SubscriberId, TransactionId};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// A context field that is missing, of the wrong type, or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ContextError {
    /// JSON path of the field (`$.context.core_version`).
    pub path: &'static str,
    /// What is wrong.
    pub message: String,
}

/// At most 64 characters of a received value, so an error never echoes a large input.
pub fn excerpt(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

fn err(path: &'static str, message: impl Into<String>) -> ContextError {
    ContextError {
        path,
        message: message.into(),
    }
}

/// The context fields the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `domain`, e.g. `ONDC:RET10`.
    pub domain: String,
    /// The leg the domain belongs to.
    pub family: DomainFamily,
    /// `action`.
    pub action: Action,
    /// `core_version`.
    pub core_version: String,
    /// `bap_id`: the buyer side.
    pub bap_id: SubscriberId,
    /// `bap_uri`.
    pub bap_uri: String,
    /// `bpp_id`: the seller or logistics provider.
    pub bpp_id: SubscriberId,
    /// `bpp_uri`.
    pub bpp_uri: String,
    /// `transaction_id`.
    pub transaction_id: TransactionId,
    /// `message_id`.
    pub message_id: MessageId,
    /// `timestamp`.
    pub timestamp: DateTime<Utc>,
    /// `ttl`, when given.
    pub ttl: Option<String>,
    /// `city` (`std:080`, or `*`), when given in that form.
    pub city: Option<String>,
    /// `country` (`IND`), when given as three capital letters.
    pub country: Option<String>,
}

impl Context {
    /// The subscriber that must have signed a message with this context: the buyer app for
    /// `/cancel` and `/update`, the seller or LSP for callbacks.
    pub fn sender(&self) -> &SubscriberId {
        if self.action.is_callback() {
            &self.bpp_id
        } else {
            &self.bap_id
        }
    }
}

/// Reads the `domain` of a body so the matching schema can be chosen, before full validation.
pub fn peek_family(body: &Value) -> Result<DomainFamily, ContextError> {
    let context = body
        .get("context")
        .filter(|c| c.is_object())
        .ok_or_else(|| err("$.context", "context is missing or not an object"))?;
    let domain = context
        .get("domain")
        .and_then(Value::as_str)
        .ok_or_else(|| err("$.context.domain", "domain is missing or not a string"))?;
    DomainFamily::of(domain).ok_or_else(|| {
        err(
            "$.context.domain",
            format!(
                "domain {:?} is not a retail or logistics domain this gateway serves",
                excerpt(domain)
            ),
        )
    })
}

/// Builds the typed context of a schema-valid body and applies the checks a schema cannot
/// express: the action matches the endpoint, an accepted `core_version`, an RFC 3339 UTC
/// timestamp with milliseconds, an ISO 8601 `ttl`, and `transaction_id != message_id`.
pub fn check_context(
    body: &Value,
    endpoint: Action,
    core_versions: &[String],
) -> Result<Context, ContextError> {
    let c = body
        .get("context")
        .ok_or_else(|| err("$.context", "context is missing"))?;
    let text = |path: &'static str, name: &str| -> Result<String, ContextError> {
        c.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| err(path, format!("{name} is missing or not a string")))
    };

    let action = text("$.context.action", "action")?;
    if action != endpoint.as_str() {
        return Err(err(
            "$.context.action",
            format!(
                "action {:?} does not match the endpoint /{endpoint}",
                excerpt(&action)
            ),
        ));
    }
    let domain = text("$.context.domain", "domain")?;
    let family = DomainFamily::of(&domain).ok_or_else(|| {
        err(
            "$.context.domain",
            format!("domain {:?} is not served here", excerpt(&domain)),
        )
    })?;
    let core_version = text("$.context.core_version", "core_version")?;
    if !core_versions.contains(&core_version) {
        return Err(err(
            "$.context.core_version",
            format!(
                "core_version {:?} is not accepted (accepted: {})",
                excerpt(&core_version),
                core_versions.join(", ")
            ),
        ));
    }
    let bap_id = SubscriberId::parse(&text("$.context.bap_id", "bap_id")?)
        .map_err(|e| err("$.context.bap_id", format!("bap_id {e}")))?;
    let bpp_id = SubscriberId::parse(&text("$.context.bpp_id", "bpp_id")?)
        .map_err(|e| err("$.context.bpp_id", format!("bpp_id {e}")))?;
    let transaction_id = TransactionId::parse(&text("$.context.transaction_id", "transaction_id")?)
        .map_err(|e| err("$.context.transaction_id", format!("transaction_id {e}")))?;
    let message_id = MessageId::parse(&text("$.context.message_id", "message_id")?)
        .map_err(|e| err("$.context.message_id", format!("message_id {e}")))?;
    if transaction_id.as_str() == message_id.as_str() {
        return Err(err(
            "$.context.message_id",
            "message_id must differ from transaction_id",
        ));
    }
    let timestamp = parse_timestamp(&text("$.context.timestamp", "timestamp")?).ok_or_else(|| {
        err(
            "$.context.timestamp",
            "timestamp must be RFC 3339 UTC with milliseconds, like 2025-01-03T11:00:30.000Z",
        )
    })?;
    let ttl = match c.get("ttl") {
        None => None,
        Some(Value::String(t)) if is_iso8601_duration(t) => Some(t.clone()),
        Some(_) => {
            return Err(err(
                "$.context.ttl",
                "ttl must be an ISO 8601 duration such as PT30S",
            ));
        }
    };
    Ok(Context {
        domain,
        family,
        action: endpoint,
        core_version,
        bap_id,
        bap_uri: text("$.context.bap_uri", "bap_uri")?,
        bpp_id,
        bpp_uri: text("$.context.bpp_uri", "bpp_uri")?,
        transaction_id,
        message_id,
        timestamp,
        ttl,
        city: c
            .get("city")
            .and_then(Value::as_str)
            .filter(|v| is_city_code(v))
            .map(str::to_owned),
        country: c
            .get("country")
            .and_then(Value::as_str)
            .filter(|v| v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()))
            .map(str::to_owned),
    })
}

/// `std:` and 3 to 5 digits (an STD code), or `*`, as ONDC's validators accept.
pub fn is_city_code(v: &str) -> bool {
    v == "*"
        || v.strip_prefix("std:")
            .is_some_and(|d| (3..=5).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, exactly as ONDC's validators require.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let shape = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDateTime::parse_from_str(&s[..23], "%Y-%m-%dT%H:%M:%S%.3f")
        .ok()
        .map(|t| t.and_utc())
}

/// Formats a time the way [`parse_timestamp`] reads it.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The length of an ISO 8601 duration in whole seconds, for the forms whose length is fixed:
/// weeks, days, hours, minutes and seconds (`PT30S`, `PT1H`, `P1DT12H`). Years and months, which
/// have no fixed length, and fractions give `None`, as does anything that is not a duration.
pub fn duration_secs(s: &str) -> Option<u64> {
    if !is_iso8601_duration(s) {
        return None;
    }
    let rest = s.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total: u64 = 0;
    for (part, units) in [
        (date, &[('W', 604_800u64), ('D', 86_400)][..]),
        (time, &[('H', 3_600), ('M', 60), ('S', 1)][..]),
    ] {
        let mut number = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let (_, scale) = units.iter().find(|(u, _)| *u == ch)?;
            let n: u64 = number.parse().ok()?;
            total = total.checked_add(n.checked_mul(*scale)?)?;
            number.clear();
        }
    }
    Some(total)
}

/// `P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]` with at least one component.
fn is_iso8601_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    fn parts(s: &str, units: &[char], fraction_last: bool) -> Option<usize> {
        let mut count = 0;
        let mut number = String::new();
        let mut allowed = units;
        for ch in s.chars() {
            if ch.is_ascii_digit()
                || (fraction_last && ch == '.' && !number.is_empty() && !number.contains('.'))
            {
                number.push(ch);
                continue;
            }
            let i = allowed.iter().position(|u| *u == ch)?;
            if number.is_empty() || number.ends_with('.') || (number.contains('.') && ch != 'S') {
                return None;
            }
            number.clear();
            allowed = &allowed[i + 1..];
            count += 1;
        }
        number.is_empty().then_some(count)
    }
    let Some(date_parts) = parts(date, &['Y', 'M', 'W', 'D'], false) else {
        return false;
    };
    match time {
        None => date_parts > 0,
        Some(t) => matches!(parts(t, &['H', 'M', 'S'], true), Some(n) if n > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"context": {
            "domain": "ONDC:RET10", "action": "on_cancel", "core_version": "1.2.5",
            "bap_id": "gw.example.com", "bap_uri": "https://gw.example.com/ondc",
            "bpp_id": "seller.example.com", "bpp_uri": "https://seller.example.com",
            "transaction_id": "T1", "message_id": "M1", "timestamp": "2025-01-03T11:00:30.000Z", "ttl": "PT30S"
        }, "message": {}})
    }

    fn check(b: &Value) -> Result<Context, ContextError> {
        check_context(b, Action::OnCancel, &["1.2.5".to_owned()])
    }

    #[test]
    fn a_good_context_is_typed() {
        let c = check(&body()).unwrap();
        assert_eq!(c.sender().as_str(), "seller.example.com");
        assert_eq!(c.family, DomainFamily::Retail);
        assert_eq!(format_timestamp(c.timestamp), "2025-01-03T11:00:30.000Z");
    }

    #[test]
    fn a_path_like_sender_as_ondc_automation_registers_it_is_accepted() {
        let mut b = body();
        b["context"]["bpp_id"] = json!("dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5");
        let c = check(&b).unwrap();
        assert_eq!(
            c.sender().as_str(),
            "dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5"
        );
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            ("action", json!("cancel"), "$.context.action"),
            ("core_version", json!("1.2.0"), "$.context.core_version"),
            ("timestamp", json!("2025-01-03T11:00:30Z"), "$.context.timestamp"),
            (
                "timestamp",
                json!("2025-01-03T11:00:30.000+05:30"),
                "$.context.timestamp",
            ),
            (
                "timestamp",
                json!("2025-02-30T11:00:30.000Z"),
                "$.context.timestamp",
            ),
            ("ttl", json!("30s"), "$.context.ttl"),
            ("ttl", json!("PT"), "$.context.ttl"),
            ("message_id", json!("T1"), "$.context.message_id"),
            ("bpp_id", json!("https://seller.example.com"), "$.context.bpp_id"),
            ("domain", json!("ONDC:TRV10"), "$.context.domain"),
        ];
        for (field, value, path) in cases {
            let mut b = body();
            b["context"][field] = value.clone();
            assert_eq!(check(&b).map_err(|e| e.path), Err(path), "{field} = {value}");
        }
    }

    #[test]
    fn errors_never_echo_large_values() {
        let mut b = body();
        b["context"]["core_version"] = json!("9".repeat(100_000));
        let e = check(&b).unwrap_err();
        assert!(e.message.len() < 200, "{}", e.message.len());
    }

    #[test]
    fn durations_in_seconds() {
        assert_eq!(duration_secs("PT30S"), Some(30));
        assert_eq!(duration_secs("PT1H"), Some(3600));
        assert_eq!(duration_secs("PT10M30S"), Some(630));
        assert_eq!(duration_secs("P1DT12H"), Some(129_600));
        assert_eq!(duration_secs("P2W"), Some(1_209_600));
        for none in ["P1M", "P1Y", "PT1.5S", "30S", "PT", ""] {
            assert_eq!(duration_secs(none), None, "{none}");
        }
    }

    #[test]
    fn iso_durations() {
        for ok in ["PT30S", "P1D", "PT1H30M", "P1Y2M3DT4H5M6.5S", "P2W"] {
            assert!(is_iso8601_duration(ok), "{ok}");
        }
        for bad in [
            "", "P", "PT", "30S", "PT30", "PTS", "P1S", "PT1.S", "PT1.5M", "PT30S ", "P-1D", "PT1M1H",
        ] {
            assert!(!is_iso8601_duration(bad), "{bad}");
        }
    }
}
