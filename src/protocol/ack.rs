//! The synchronous Beckn answer: `{"message":{"ack":{"status":"ACK"}}}` or a NACK with an error.

use serde::Serialize;

/// The Beckn error `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorType {
    /// The context is invalid or inconsistent.
    #[serde(rename = "CONTEXT-ERROR")]
    Context,
    /// A transport- or protocol-level problem.
    #[serde(rename = "CORE-ERROR")]
    Core,
    /// The message makes no sense for the order.
    #[serde(rename = "DOMAIN-ERROR")]
    Domain,
    /// The sender is not allowed (signature, registry).
    #[serde(rename = "POLICY-ERROR")]
    Policy,
    /// The body does not match the message schema.
    #[serde(rename = "JSON-SCHEMA-ERROR")]
    JsonSchema,
}

/// The `error` member of a NACK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NackError {
    /// Beckn error type.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// ONDC error code, as a string (`"10001"`).
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// JSON path of the offending field, when there is one (`$.context.action`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Serialize)]
struct AckStatus {
    status: &'static str,
}

#[derive(Serialize)]
struct AckMessage {
    ack: AckStatus,
}

#[derive(Serialize)]
struct AckBody<'a> {
    message: AckMessage,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a NackError>,
}

/// The ACK body, byte for byte.
pub const ACK_BODY: &[u8] = ACK_TEXT.as_bytes();

/// The ACK body as text.
pub const ACK_TEXT: &str = r#"{"message":{"ack":{"status":"ACK"}}}"#;

/// Serialises a NACK body for `error`.
pub fn nack_body(error: &NackError) -> String {
    let body = AckBody {
        message: AckMessage {
            ack: AckStatus { status: "NACK" },
        },
        error: Some(error),
    };
    // Serialising plain structs of strings cannot fail.
    serde_json::to_string(&body).unwrap_or_else(|_| r#"{"message":{"ack":{"status":"NACK"}}}"#.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_beckn_shape() {
        let v: serde_json::Value = serde_json::from_slice(ACK_BODY).unwrap();
        assert_eq!(v["message"]["ack"]["status"], "ACK");
        let e = NackError {
            kind: ErrorType::Policy,
            code: "10001",
            message: "bad".into(),
            path: None,
        };
        let v: serde_json::Value = serde_json::from_str(&nack_body(&e)).unwrap();
        assert_eq!(v["message"]["ack"]["status"], "NACK");
        assert_eq!(
            v["error"],
            serde_json::json!({"type": "POLICY-ERROR", "code": "10001", "message": "bad"})
        );
    }
}
