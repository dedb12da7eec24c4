//! Every real example in `../shared/ondc/examples/` whose action the gateway receives, re-addressed
//! to the test parties, signed, POSTed, and compared with the outcome this table expects.
//!
//! Re-addressing changes only who speaks to whom: `bap_id`/`bap_uri`, `bpp_id`/`bpp_uri`, and a fresh
//! `message_id` (so every file is a distinct message). Domain, core_version, timestamps, ttl and the
//! whole message are sent as in the file. A file whose action is one of ours but which has no row
//! here fails the test, so a new example is never skipped silently; so does a row without a file.

use crate::app::{GATEWAY, Options, Party, TestApp, spawn_app, spawn_app_with, uuid};
use crate::support::shared_dir;
use ondc_gateway::protocol::format_timestamp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The actions the gateway receives.
const ACTIONS: [&str; 5] = ["cancel", "on_cancel", "update", "on_update", "on_status"];

/// What must happen to an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ack,
    /// A 400 NACK at `path`, for `why` (a property of the example itself); `fix` is the repair
    /// that makes it acceptable, which proves `why` is its only defect.
    Nack {
        path: &'static str,
        why: &'static str,
        fix: Fix,
    },
}

/// The least change that makes a refused example acceptable, checked by
/// [`each_refusal_is_the_examples_only_defect`] on a gateway that also accepts 1.2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    /// None to the body: accepting core_version 1.2.0 is enough.
    AcceptV120,
    /// Give the doc fragment a complete context and drop its `".."` elisions.
    CompleteFragment,
    /// Send the tag value at the NACK's path as this string.
    QuoteTagValue(&'static str),
}

use Expect::{Ack, Nack};

const V120: &str = "core_version 1.2.0: the gateway accepts 1.2.5 only ([protocol] core_versions)";
const FRAGMENT: &str =
    "BNP-doc fragment: its context is only {action, core_version, \"..\"}, so there is no domain to route on";

/// Expected outcome per file (name without `.json`).
const EXPECTED: &[(&str, Expect)] = &[
    ("autospec-LOG11-1.2.5__lbnp-cancel__08_cancel", Ack),
    ("autospec-LOG11-1.2.5__lbnp-cancel__09_on_cancel_solicited", Ack),
    ("autospec-LOG11-1.2.5__lsp-cancel__10_on_cancel_unsolicited", Ack),
    ("autospec-LOG11-1.2.5__rto__06_update_ready_to_ship", Ack),
    ("autospec-LOG11-1.2.5__rto__07_on_update", Ack),
    ("autospec-LOG11-1.2.5__rto__14_on_cancel_rto_unsolicited", Ack),
    ("autospec-RET10-1.2.5__buyer-cancel__06_cancel", Ack),
    ("autospec-RET10-1.2.5__buyer-cancel__07_on_cancel_solicited", Ack),
    (
        "autospec-RET10-1.2.5__buyer-delivery__08_on_status_ready_to_ship",
        Ack,
    ),
    (
        "autospec-RET10-1.2.5__buyer-delivery__09_update_update_state_picked_up",
        Ack,
    ),
    (
        "autospec-RET10-1.2.5__force-cancel__10_on_status_out_for_delivery",
        Ack,
    ),
    ("autospec-RET10-1.2.5__force-cancel__11_cancel_force_no", Ack),
    ("autospec-RET10-1.2.5__force-cancel__12_cancel_force_yes", Ack),
    ("autospec-RET10-1.2.5__force-cancel__13_on_cancel_solicited", Ack),
    (
        "autospec-RET10-1.2.5__force-cancel__14_update_payment_refund_settlement",
        Ack,
    ),
    (
        "autospec-RET11-1.2.5__rto-part-cancel__06_on_update_part_cancel_unsolicited",
        Ack,
    ),
    (
        "autospec-RET11-1.2.5__rto-part-cancel__07_update_payment_settlement_part_cancel",
        Ack,
    ),
    (
        "autospec-RET11-1.2.5__rto-part-cancel__13_on_status_at_delivery",
        Ack,
    ),
    (
        "autospec-RET11-1.2.5__rto-part-cancel__14_on_cancel_rto_unsolicited",
        Ack,
    ),
    (
        "autospec-RET12-1.2.5__seller-cancel__13_on_cancel_rto_unsolicited",
        Ack,
    ),
    (
        "bnpdoc-RET1.2.5-004__lsp-cancels__1_cancel_cascaded",
        Nack {
            path: "$.context.domain",
            why: FRAGMENT,
            fix: Fix::CompleteFragment,
        },
    ),
    (
        "bnpdoc-RET1.2.5-004__lsp-cancels__2_on_cancel_rto",
        Nack {
            path: "$.context.domain",
            why: FRAGMENT,
            fix: Fix::CompleteFragment,
        },
    ),
    (
        "bnpdoc-RET1.2.5-004__lsp-cancels__3_update_rto_delivered_receivables_claim",
        Nack {
            path: "$.context.domain",
            why: FRAGMENT,
            fix: Fix::CompleteFragment,
        },
    ),
    (
        "bnpdoc-RET1.2.5-004__lsp-cancels__4_on_update_cancelled",
        Nack {
            path: "$.context.domain",
            why: FRAGMENT,
            fix: Fix::CompleteFragment,
        },
    ),
    (
        "bnpdoc-RET1.2.5-004__status-update__update_state_picked_up",
        Nack {
            path: "$.context.domain",
            why: FRAGMENT,
            fix: Fix::CompleteFragment,
        },
    ),
    ("logspec-fork-LOG1.2.5__cancel", Ack),
    ("logspec-fork-LOG1.2.5__on_cancel", Ack),
    ("logspec-fork-LOG1.2.5__on_cancel_rto", Ack),
    ("logspec-fork-LOG1.2.5__on_status_rto", Ack),
    ("logspec-fork-LOG1.2.5__on_update", Ack),
    ("logspec-fork-LOG1.2.5__update", Ack),
    (
        "retspec-draft-1.x-RET1.2.0__cancel",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "retspec-draft-1.x-RET1.2.0__on_cancel",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "retspec-draft-1.x-RET1.2.0__on_cancel_rto",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "retspec-draft-1.x-RET1.2.0__on_update_merchant_cancels_non_customized",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "retspec-draft-1.x-RET1.2.0__on_update_part_cancel",
        Nack {
            path: "$.message.order.fulfillments[1].tags[0].list[0].value",
            why: "tag value is the integer 2 (upstream YAML `value: 002` unquoted); tag values must be strings. \
                  The schema runs before the context checks, so this shows before its 1.2.0 core_version",
            fix: Fix::QuoteTagValue("002"),
        },
    ),
    (
        "retspec-draft-1.x-RET1.2.0__update_settlement_trail_for_refund_initiation",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "v120logs-LOG1.2.0-addble__lbnp-cancel__cancel",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "v120logs-LOG1.2.0-addble__lbnp-cancel__on_cancel_solicited",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "v120logs-LOG1.2.0-bluedart__rto-liquidation__on_status_rto_disposed",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "v120logs-LOG1.2.0-bluedart__rto-return__on_cancel_rto_unsolicited",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "v120logs-LOG1.2.0-bluedart__rto-return__on_status_rto_delivered",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "v120logs-RET1.2.0-costbo__seller-rto__on_cancel_rto_unsolicited",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
    (
        "v120logs-RET1.2.0-pickso__part-cancel__update_settlement_part_cancel",
        Nack {
            path: "$.context.core_version",
            why: V120,
            fix: Fix::AcceptV120,
        },
    ),
];

/// The context members re-addressing writes; a refusal must never be about one of them.
const READDRESSED: [&str; 5] = ["bap_id", "bap_uri", "bpp_id", "bpp_uri", "message_id"];

/// Whether the example is on the logistics leg: by `context.domain`, or for the doc fragments
/// (no domain) by the source tag in the file name (`bnpdoc-RET…`).
fn is_logistics(name: &str, example: &Value) -> bool {
    match example["context"]["domain"].as_str() {
        Some(d) if d.starts_with("ONDC:RET") || d.starts_with("ONDC:AGR") => false,
        Some(d) if d.starts_with("ONDC:LOG") || d == "nic2004:60232" => true,
        Some(d) => {
            panic!("{name}: domain {d} is neither retail nor logistics; decide who sends it")
        }
        None => {
            let source = name.split("__").next().unwrap();
            assert!(
                source.contains("-RET") != source.contains("-LOG"),
                "{name}: no domain, and the name names no leg"
            );
            source.contains("-LOG")
        }
    }
}

/// The example's body as the test parties send it, and who signs it.
fn readdress<'a>(app: &'a TestApp, name: &str, action: &str, mut example: Value) -> (&'a Party, Value) {
    let p = &app.parties;
    let counterpart = if is_logistics(name, &example) {
        &p.lsp
    } else {
        &p.seller
    };
    let callback = action.starts_with("on_");
    let (bap, sender) = if callback {
        (GATEWAY, counterpart)
    } else {
        (p.buyer.subscriber_id, &p.buyer)
    };
    let ctx = example["context"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("{name}: context is not an object"));
    ctx.insert("bap_id".into(), json!(bap));
    ctx.insert("bap_uri".into(), json!(format!("https://{bap}/ondc")));
    ctx.insert("bpp_id".into(), json!(counterpart.subscriber_id));
    ctx.insert(
        "bpp_uri".into(),
        json!(format!("https://{}/ondc", counterpart.subscriber_id)),
    );
    ctx.insert("message_id".into(), json!(uuid()));
    (sender, example)
}

/// The value at a NACK path such as `$.message.order.fulfillments[1].tags[0].list[0].value` or
/// `$.message.order.payment["@ondc/org/settlement_details"]`; `None` when absent.
fn at<'a>(mut v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut rest = path.strip_prefix('$').unwrap();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            v = v.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").unwrap();
            v = v.get(&r[..end])?;
            rest = &r[end + 2..];
        } else {
            let r = rest.strip_prefix('[').unwrap();
            let end = r.find(']').unwrap();
            v = v.get(r[..end].parse::<usize>().unwrap())?;
            rest = &r[end + 1..];
        }
    }
    Some(v)
}

/// What came back, in the table's terms.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ack,
    Nack {
        status: u16,
        code: String,
        path: Option<String>,
        message: String,
    },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ack => f.write_str("ACK"),
            Self::Nack {
                status,
                code,
                path,
                message,
            } => {
                write!(
                    f,
                    "NACK {status} {code} at {} ({message})",
                    path.as_deref().unwrap_or("-")
                )
            }
        }
    }
}

/// The examples whose action the gateway receives: file stem → (action, JSON).
fn relevant_examples() -> BTreeMap<String, (String, Value)> {
    let dir = shared_dir().join("ondc/examples");
    assert!(dir.is_dir(), "missing {} (set ONDC_SHARED_DIR)", dir.display());
    let mut examples = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let example: Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Some(action) = example["context"]["action"].as_str().map(str::to_owned) else {
            panic!("{name}: no context.action");
        };
        if ACTIONS.contains(&action.as_str()) {
            examples.insert(name, (action, example));
        }
    }
    examples
}

#[tokio::test]
async fn every_relevant_example_gets_its_expected_answer() {
    let examples = relevant_examples();
    let expected: BTreeMap<&str, Expect> = EXPECTED.iter().copied().collect();
    assert_eq!(expected.len(), EXPECTED.len(), "a file is listed twice");
    let unlisted: Vec<&String> = examples
        .keys()
        .filter(|n| !expected.contains_key(n.as_str()))
        .collect();
    let stale: Vec<&&str> = expected.keys().filter(|n| !examples.contains_key(**n)).collect();

    let app = spawn_app().await;
    let mut failures = Vec::new();
    let mut acks = 0;
    for (name, (action, original)) in &examples {
        let (sender, body) = readdress(&app, name, action, original.clone());
        let answer = app
            .post_signed(action, sender, &serde_json::to_vec(&body).unwrap())
            .await;
        let outcome = if answer.is_ack() {
            acks += 1;
            Outcome::Ack
        } else {
            Outcome::Nack {
                status: answer.status,
                code: answer.body["error"]["code"].as_str().unwrap_or("?").to_owned(),
                path: answer.path().map(str::to_owned),
                message: answer.body["error"]["message"]
                    .as_str()
                    .unwrap_or(&answer.raw)
                    .to_owned(),
            }
        };
        println!("{name:<82} /{action:<10} {outcome}");
        let Some(want) = expected.get(name.as_str()) else {
            continue;
        };
        match (want, &outcome) {
            (Ack, Outcome::Ack) => {}
            (
                Nack {
                    path: want_path, why, ..
                },
                Outcome::Nack {
                    status, code, path, ..
                },
            ) => {
                let want_code = if action.starts_with("on_") {
                    "20006"
                } else {
                    "10000"
                };
                if (*status, code.as_str(), path.as_deref()) != (400, want_code, Some(*want_path)) {
                    failures.push(format!(
                        "{name}: expected NACK 400 {want_code} at {want_path} ({why}), got {outcome}"
                    ));
                    continue;
                }
                // The refusal is the example's own: not about a member we rewrote, and the value
                // there (or its absence) is exactly what the file has.
                let field = want_path.strip_prefix("$.context.").unwrap_or("");
                assert!(
                    !READDRESSED.contains(&field),
                    "{name}: refused at re-addressed {want_path}"
                );
                assert_eq!(
                    at(&body, want_path),
                    at(original, want_path),
                    "{name}: {want_path} differs from the file"
                );
            }
            (want, got) => failures.push(format!("{name}: expected {want:?}, got {got}")),
        }
    }
    assert!(
        unlisted.is_empty(),
        "examples with no expected outcome in EXPECTED (add a row): {unlisted:#?}"
    );
    assert!(
        stale.is_empty(),
        "rows in EXPECTED whose file is gone: {stale:#?}"
    );
    assert!(
        failures.is_empty(),
        "{} unexpected outcomes:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(app.audit().await.len(), acks, "every ACK is stored, nothing else");
}

/// Removes the `".."` elisions of the BNP doc: members named `..` and array elements `".."`.
fn drop_elisions(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("..");
            map.values_mut().for_each(drop_elisions);
        }
        Value::Array(items) => {
            items.retain(|i| i != "..");
            items.iter_mut().for_each(drop_elisions);
        }
        _ => {}
    }
}

/// `at`, mutably.
fn at_mut<'a>(v: &'a mut Value, path: &str) -> &'a mut Value {
    let mut rest = path.strip_prefix('$').unwrap();
    let mut v = v;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            v = &mut v[&r[..end]];
            rest = &r[end..];
        } else {
            let r = rest.strip_prefix('[').unwrap();
            let end = r.find(']').unwrap();
            v = &mut v[r[..end].parse::<usize>().unwrap()];
            rest = &r[end + 1..];
        }
    }
    v
}

#[tokio::test]
async fn each_refusal_is_the_examples_only_defect() {
    // A gateway that also accepts 1.2.0: a refused example, repaired as its row says, is ACKed, so
    // the stated reason is the whole story (not the first of several defects, not our doing).
    let app = spawn_app_with(Options {
        extra_toml: "[protocol]\ncore_versions = [\"1.2.5\", \"1.2.0\"]\n".into(),
        ..Options::default()
    })
    .await;
    let examples = relevant_examples();
    let mut failures = Vec::new();
    for (name, want) in EXPECTED {
        let Nack { path, fix, .. } = want else {
            continue;
        };
        let Some((action, original)) = examples.get(*name) else {
            continue;
        };
        let mut example = original.clone();
        match fix {
            Fix::AcceptV120 => assert_eq!(example["context"]["core_version"], "1.2.0", "{name}"),
            Fix::CompleteFragment => {
                assert!(
                    example["context"].get("domain").is_none(),
                    "{name} is not a fragment"
                );
                drop_elisions(&mut example);
                let ctx = example["context"].as_object_mut().unwrap();
                ctx.insert("domain".into(), json!("ONDC:RET10"));
                ctx.insert("transaction_id".into(), json!("T-fragment"));
                ctx.insert("timestamp".into(), json!(format_timestamp(chrono::Utc::now())));
                ctx.insert("ttl".into(), json!("PT30S"));
                ctx.insert("city".into(), json!("std:080"));
                ctx.insert("country".into(), json!("IND"));
            }
            Fix::QuoteTagValue(text) => {
                let value = at_mut(&mut example, path);
                assert!(value.is_number(), "{name}: {path} is {value}");
                *value = json!(text);
            }
        }
        let (sender, body) = readdress(&app, name, action, example);
        let answer = app
            .post_signed(action, sender, &serde_json::to_vec(&body).unwrap())
            .await;
        println!(
            "{name:<82} {fix:?}: {}",
            if answer.is_ack() { "ACK" } else { &answer.raw }
        );
        if !answer.is_ack() {
            failures.push(format!("{name} after {fix:?}: {} {}", answer.status, answer.raw));
        }
    }
    assert!(
        failures.is_empty(),
        "repaired examples still refused:\n{}",
        failures.join("\n")
    );
}
