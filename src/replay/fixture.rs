//! The fixture format: parties, an order to register, and ordered steps. See `fixtures/README.md`.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A conformance flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Its title.
    pub name: String,
    /// What it proves.
    #[serde(default)]
    pub description: String,
    /// The parties the engine plays, by the names steps use (`seller`, `lsp`, `buyer`, …).
    pub parties: BTreeMap<String, PartySpec>,
    /// The REST registration body of the order (see `POST /api/v1/orders`), registered first.
    #[serde(default)]
    pub order: Option<Value>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// A network participant the engine plays.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartySpec {
    /// Its subscriber id.
    pub subscriber_id: String,
    /// Its registry `ukId`.
    pub unique_key_id: String,
    /// `BAP` (a buyer app) or `BPP` (a seller or LSP).
    #[serde(rename = "type")]
    pub kind: String,
    /// `retail` or `logistics`: which leg of the order it is on.
    pub leg: String,
    /// Its signing key (either form); generated when absent (in-process runs only).
    #[serde(default)]
    pub signing_private_key: Option<String>,
}

/// One step; exactly one of the actions is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Shown on the step's line.
    pub name: String,
    /// A party posts a signed message to the gateway.
    #[serde(default)]
    pub send: Option<SendStep>,
    /// The gateway must send a message to a party.
    #[serde(default)]
    pub receive: Option<ReceiveStep>,
    /// A REST call.
    #[serde(default)]
    pub rest: Option<RestStep>,
    /// The order view must match (`GET /api/v1/orders/{id}`), polled until it does or times out.
    #[serde(default)]
    pub expect_order: Option<BTreeMap<String, Value>>,
    /// Change how a counterpart answers.
    #[serde(default)]
    pub script: Option<Script>,
}

/// A message a party sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendStep {
    /// The party.
    pub from: String,
    /// The Beckn action (endpoint).
    pub action: String,
    /// The body; missing context fields are filled in (domain, transaction, ids, a fresh
    /// message_id, the current timestamp …); `{{name}}` placeholders are substituted.
    pub body: Value,
    /// Sign one body and send a different one (a tampered message).
    #[serde(default)]
    pub tamper: bool,
    /// The expected answer (default: HTTP 200 ACK).
    #[serde(default)]
    pub expect: Option<AnswerExpect>,
    /// Values to remember from the body as sent: name → JSON path.
    #[serde(default)]
    pub bind: BTreeMap<String, String>,
}

/// The synchronous answer a step expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerExpect {
    /// HTTP status.
    pub status: u16,
    /// `error.code` of a NACK.
    #[serde(default)]
    pub nack_code: Option<String>,
}

/// A message the gateway must send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveStep {
    /// The party that receives it.
    pub to: String,
    /// The Beckn action.
    pub action: String,
    /// JSON path → expected value (`"*"` means present).
    #[serde(default, rename = "match")]
    pub matches: BTreeMap<String, Value>,
    /// Values to remember: name → JSON path.
    #[serde(default)]
    pub bind: BTreeMap<String, String>,
    /// How long to wait (default 10 000 ms).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A REST call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestStep {
    /// The caller: `{"sub": …, "role": "customer" | "provider" | "platform"}`.
    #[serde(rename = "as")]
    pub caller: Caller,
    /// `GET`, `POST`, `PATCH`.
    pub method: String,
    /// Path, with placeholders.
    pub path: String,
    /// JSON body.
    #[serde(default)]
    pub body: Option<Value>,
    /// Expected status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// JSON path → expected value in the answer.
    #[serde(default, rename = "match")]
    pub matches: BTreeMap<String, Value>,
    /// Values to remember from the answer.
    #[serde(default)]
    pub bind: BTreeMap<String, String>,
}

/// A REST caller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caller {
    /// `sub`.
    pub sub: String,
    /// `role`.
    pub role: String,
}

/// A counterpart's scripted behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// The party.
    pub party: String,
    /// NACK this many of its next requests.
    pub nack_next: usize,
    /// The NACK's `error.type`: `CORE-ERROR` (the default, a transient failure the gateway
    /// retries), or `DOMAIN-ERROR`, `CONTEXT-ERROR`, `JSON-SCHEMA-ERROR`, `POLICY-ERROR`.
    #[serde(default = "core_error")]
    pub nack_type: String,
    /// The NACK's `error.code` (default `31001`, internal error).
    #[serde(default = "internal_error")]
    pub nack_code: String,
    /// The NACK's HTTP status (default 400).
    #[serde(default = "bad_request")]
    pub nack_status: u16,
}

fn core_error() -> String {
    "CORE-ERROR".into()
}

fn internal_error() -> String {
    "31001".into()
}

fn bad_request() -> u16 {
    400
}

/// A fixture that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FixtureError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Fixture {
    /// Reads and checks a fixture file.
    pub fn load(path: &Path) -> Result<Self, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|e| FixtureError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks fixture text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, FixtureError> {
        let err = |message: String| FixtureError {
            path: origin.to_owned(),
            message,
        };
        let fx: Fixture = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        for (i, s) in fx.steps.iter().enumerate() {
            let set = [
                s.send.is_some(),
                s.receive.is_some(),
                s.rest.is_some(),
                s.expect_order.is_some(),
                s.script.is_some(),
            ];
            if set.iter().filter(|x| **x).count() != 1 {
                return Err(err(format!(
                    "step {} ({}) must have exactly one of send, receive, rest, expect_order, script",
                    i + 1,
                    s.name
                )));
            }
            let named = [
                s.send.as_ref().map(|x| &x.from),
                s.receive.as_ref().map(|x| &x.to),
                s.script.as_ref().map(|x| &x.party),
            ];
            for party in named.into_iter().flatten() {
                if !fx.parties.contains_key(party) {
                    return Err(err(format!(
                        "step {} ({}) names unknown party {party:?}",
                        i + 1,
                        s.name
                    )));
                }
            }
        }
        for (name, p) in &fx.parties {
            if p.leg != "retail" && p.leg != "logistics" {
                return Err(err(format!("party {name}: leg must be retail or logistics")));
            }
        }
        Ok(fx)
    }
}
