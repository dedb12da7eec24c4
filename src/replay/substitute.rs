//! Placeholders: `{{name}}` in fixture values replaced by what the flow has bound (`run`,
//! `gateway`, `<party>.id`, and every `bind`).

use super::error::ReplayError;
use serde_json::Value;
use std::collections::HashMap;

/// Replaces `{{name}}` in every string of `v`; a string that is only `{{name}}` becomes the
/// bound value with its type. An unbound name is an error.
pub fn substitute(v: &Value, bindings: &HashMap<String, Value>) -> Result<Value, ReplayError> {
    Ok(match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
                && !name.contains("{{")
            {
                return bindings
                    .get(name)
                    .cloned()
                    .ok_or_else(|| ReplayError::Fixture(format!("unbound placeholder {{{{{name}}}}}")));
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                let end = rest[start..]
                    .find("}}")
                    .ok_or_else(|| ReplayError::Fixture(format!("unclosed placeholder in {s:?}")))?
                    + start;
                let name = &rest[start + 2..end];
                let value = bindings
                    .get(name)
                    .ok_or_else(|| ReplayError::Fixture(format!("unbound placeholder {{{{{name}}}}}")))?;
                out.push_str(&rest[..start]);
                out.push_str(&value.as_str().map_or(value.to_string(), str::to_owned));
                rest = &rest[end + 2..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, bindings))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o {
                m.insert(k.clone(), substitute(x, bindings)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_substitute_whole_values_and_inside_strings() {
        let mut b = HashMap::new();
        b.insert("mid".to_owned(), json!("M-1"));
        b.insert("n".to_owned(), json!(3));
        let v = substitute(
            &json!({"a": "{{mid}}", "b": "x-{{mid}}-{{n}}", "c": ["{{n}}"]}),
            &b,
        )
        .unwrap();
        assert_eq!(v, json!({"a": "M-1", "b": "x-M-1-3", "c": [3]}));
        assert!(substitute(&json!("{{nope}}"), &b).is_err());
    }
}
