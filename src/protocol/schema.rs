//! JSON Schema validation of received messages, against the schemas in `schemas/` (compiled into
//! the binary so the gateway runs from any directory).
//!
//! One validator per (leg, action). The schemas are open (unknown members are kept) and tolerant
//! where the public sources disagree; see `schemas/README.md`.

use super::action::{Action, DomainFamily};
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use std::collections::HashMap;

const SOURCES: [(&str, &str); 12] = [
    ("context", include_str!("../../schemas/context.schema.json")),
    ("common", include_str!("../../schemas/common.schema.json")),
    (
        "retail/cancel",
        include_str!("../../schemas/retail/cancel.schema.json"),
    ),
    (
        "retail/on_cancel",
        include_str!("../../schemas/retail/on_cancel.schema.json"),
    ),
    (
        "retail/update",
        include_str!("../../schemas/retail/update.schema.json"),
    ),
    (
        "retail/on_update",
        include_str!("../../schemas/retail/on_update.schema.json"),
    ),
    (
        "retail/on_status",
        include_str!("../../schemas/retail/on_status.schema.json"),
    ),
    (
        "logistics/cancel",
        include_str!("../../schemas/logistics/cancel.schema.json"),
    ),
    (
        "logistics/on_cancel",
        include_str!("../../schemas/logistics/on_cancel.schema.json"),
    ),
    (
        "logistics/update",
        include_str!("../../schemas/logistics/update.schema.json"),
    ),
    (
        "logistics/on_update",
        include_str!("../../schemas/logistics/on_update.schema.json"),
    ),
    (
        "logistics/on_status",
        include_str!("../../schemas/logistics/on_status.schema.json"),
    ),
];

/// The first schema violation of a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaViolation {
    /// JSON path of the offending field (`$.message.order.fulfillments[0].id`).
    pub path: String,
    /// What is wrong (without echoing the received value).
    pub message: String,
}

/// A schema that does not compile: a defect in `schemas/`, caught at start-up.
#[derive(Debug, thiserror::Error)]
#[error("schema {name}: {message}")]
pub struct SchemaError {
    name: &'static str,
    message: String,
}

/// The compiled validators.
pub struct Schemas {
    validators: HashMap<(DomainFamily, Action), jsonschema::Validator>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schemas({} validators)", self.validators.len())
    }
}

impl Schemas {
    /// Compiles every schema; fails if one is malformed.
    pub fn compile() -> Result<Self, SchemaError> {
        let mut parsed = Vec::with_capacity(SOURCES.len());
        for (name, text) in SOURCES {
            let value: Value = serde_json::from_str(text).map_err(|e| SchemaError {
                name,
                message: e.to_string(),
            })?;
            parsed.push((name, value));
        }
        let mut builder = jsonschema::Registry::new();
        for (name, value) in &parsed {
            let id = value["$id"].as_str().ok_or(SchemaError {
                name,
                message: "no $id".into(),
            })?;
            builder = builder.add(id, value.clone()).map_err(|e| SchemaError {
                name,
                message: e.to_string(),
            })?;
        }
        let registry = builder.prepare().map_err(|e| SchemaError {
            name: "registry",
            message: e.to_string(),
        })?;
        let mut validators = HashMap::new();
        for (name, value) in &parsed {
            let Some((family, action)) = name.split_once('/') else {
                continue;
            };
            let family = match family {
                "retail" => DomainFamily::Retail,
                _ => DomainFamily::Logistics,
            };
            let action: Action = action.parse().map_err(|_| SchemaError {
                name,
                message: "unknown action".into(),
            })?;
            let validator = jsonschema::options()
                .with_registry(&registry)
                .build(value)
                .map_err(|e| SchemaError {
                    name,
                    message: e.to_string(),
                })?;
            validators.insert((family, action), validator);
        }
        Ok(Self { validators })
    }

    /// Validates `body` as `action` on the `family` leg; reports the first violation.
    pub fn check(&self, family: DomainFamily, action: Action, body: &Value) -> Result<(), SchemaViolation> {
        let Some(validator) = self.validators.get(&(family, action)) else {
            return Err(SchemaViolation {
                path: "$.context.action".into(),
                message: format!("{action} is not accepted on the {} leg", family.as_str()),
            });
        };
        let Some(error) = validator.iter_errors(body).next() else {
            return Ok(());
        };
        let mut path = json_path(&error.instance_path().to_string());
        let message = match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                path = format!("{path}.{name}");
                format!("{name} is required")
            }
            _ => {
                let mut m = error.masked().to_string();
                m.truncate(200);
                m
            }
        };
        Err(SchemaViolation { path, message })
    }
}

/// `/message/order/items/0/id` → `$.message.order.items[0].id` (JSON Pointer escapes undone).
fn json_path(pointer: &str) -> String {
    let mut path = String::from("$");
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{token}]"));
        } else if token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !token.is_empty() {
            path.push('.');
            path.push_str(&token);
        } else {
            path.push_str(&format!("[{}]", serde_json::Value::String(token)));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_json_paths() {
        assert_eq!(json_path(""), "$");
        assert_eq!(
            json_path("/message/order/fulfillments/0/tags"),
            "$.message.order.fulfillments[0].tags"
        );
        assert_eq!(
            json_path("/message/order/payment/@ondc~1org~1settlement_details/1"),
            "$.message.order.payment[\"@ondc/org/settlement_details\"][1]"
        );
    }

    #[test]
    fn all_schemas_compile_and_report_the_first_bad_field() {
        let s = Schemas::compile().unwrap();
        assert_eq!(s.validators.len(), 10);
        let body = serde_json::json!({"context": {}, "message": {"order_id": "O1"}});
        let v = s.check(DomainFamily::Retail, Action::Cancel, &body).unwrap_err();
        assert!(
            v.path.starts_with("$.context.") || v.path.starts_with("$.message."),
            "{v:?}"
        );
    }
}
