//! A small JSON path dialect for fixtures: `$.a.b[0].c`, plus `[key=value]` to pick the first
//! array element whose `key` equals `value` (Beckn tag lists: `tags[code=cancel_request]`).

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
    Filter(String, String),
}

/// A path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad JSON path {0:?}: {1}")]
pub struct PathError(String, &'static str);

fn parse(path: &str) -> Result<Vec<Segment>, PathError> {
    let rest = path
        .strip_prefix('$')
        .ok_or(PathError(path.into(), "must start with $"))?;
    let mut out = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '.' => {
                let start = i + 1;
                let mut end = rest.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d == '.' || d == '[' {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                let key = &rest[start..end];
                if key.is_empty() {
                    return Err(PathError(path.into(), "empty key"));
                }
                out.push(Segment::Key(key.to_owned()));
            }
            '[' => {
                let close = rest[i..].find(']').ok_or(PathError(path.into(), "unclosed ["))? + i;
                let inner = &rest[i + 1..close];
                while chars.peek().is_some_and(|&(j, _)| j <= close) {
                    chars.next();
                }
                if let Some((k, v)) = inner.split_once('=') {
                    out.push(Segment::Filter(k.to_owned(), v.trim_matches('"').to_owned()));
                } else if let Ok(n) = inner.parse() {
                    out.push(Segment::Index(n));
                } else {
                    out.push(Segment::Key(inner.trim_matches('"').to_owned()));
                }
            }
            _ => return Err(PathError(path.into(), "expected . or [")),
        }
    }
    Ok(out)
}

/// The value at `path` in `root`, if any.
pub fn get<'v>(root: &'v Value, path: &str) -> Result<Option<&'v Value>, PathError> {
    let mut cur = root;
    for seg in parse(path)? {
        let next = match (&seg, cur) {
            (Segment::Key(k), Value::Object(m)) => m.get(k),
            (Segment::Index(n), Value::Array(a)) => a.get(*n),
            (Segment::Filter(k, v), Value::Array(a)) => {
                a.iter().find(|e| e.get(k).and_then(Value::as_str) == Some(v))
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_keys_indexes_and_tag_filters() {
        let v = json!({"message": {"descriptor": {"tags": [
            {"code": "params", "list": []},
            {"code": "cancel_request", "list": [{"code": "initiated_by", "value": "lsp.com"}]}
        ]}, "items": [{"id": "I1"}]}});
        assert_eq!(get(&v, "$.message.items[0].id").unwrap(), Some(&json!("I1")));
        assert_eq!(
            get(
                &v,
                "$.message.descriptor.tags[code=cancel_request].list[code=initiated_by].value"
            )
            .unwrap(),
            Some(&json!("lsp.com"))
        );
        assert_eq!(get(&v, "$.message.nope").unwrap(), None);
        assert!(get(&v, "message").is_err());
        assert!(get(&v, "$.a[").is_err());
    }
}
