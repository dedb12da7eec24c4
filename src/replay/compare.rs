//! Matching: an actual JSON value against a map of path → expected value, as `match` and
//! `expect_order` use it, reporting every difference rather than the first.

use super::jsonpath;
use serde_json::Value;

/// The expected value that asks only that the path finds something (`null` included).
pub const PRESENT: &str = "*";

/// The expected value that asks that the path finds nothing: a member that is not there, an
/// index past the end, no element matching a filter.
pub const ABSENT: &str = "<absent>";

/// Every `path: expected X, got Y` where `actual` differs from `expected` (an object of path →
/// value; anything else expects nothing), in the order of the paths.
pub fn compare(actual: &Value, expected: &Value) -> Vec<String> {
    let Some(map) = expected.as_object() else {
        return vec![];
    };
    let mut problems = vec![];
    for (path, want) in map {
        match jsonpath::get(actual, path) {
            Err(e) => problems.push(e.to_string()),
            Ok(None) if want == ABSENT => {}
            Ok(Some(got)) if want == ABSENT => problems.push(format!("{path}: expected nothing, got {got}")),
            Ok(Some(_)) if want == PRESENT => {}
            Ok(Some(got)) if got == want => {}
            Ok(got) => problems.push(format!(
                "{path}: expected {want}, got {}",
                got.map_or("nothing".to_owned(), |g| g.to_string())
            )),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compare_names_each_differing_path() {
        let actual = json!({"state": "Cancelled", "legs": [{"s": "a"}]});
        assert!(compare(&actual, &json!({"$.state": "Cancelled", "$.legs[0].s": "*"})).is_empty());
        let p = compare(&actual, &json!({"$.state": "Created", "$.missing": 1}));
        assert_eq!(
            p,
            vec![
                "$.missing: expected 1, got nothing",
                "$.state: expected \"Created\", got \"Cancelled\""
            ]
        );
    }

    #[test]
    fn absent_passes_only_when_the_path_finds_nothing() {
        let actual = json!({"quote": null, "fs": [{"id": "F1"}]});
        let expected = json!({"$.nope": ABSENT, "$.fs[1]": ABSENT, "$.fs[id=F2]": ABSENT});
        assert!(compare(&actual, &expected).is_empty());
        assert_eq!(
            compare(&actual, &json!({"$.quote": ABSENT, "$.fs[0].id": ABSENT})),
            vec![
                "$.fs[0].id: expected nothing, got \"F1\"",
                "$.quote: expected nothing, got null"
            ]
        );
        assert_eq!(
            compare(&actual, &json!({"$.nope": PRESENT})),
            vec!["$.nope: expected \"*\", got nothing"]
        );
    }
}
