//! The Beckn intake after the signature: strict JSON, the domain family, the JSON Schema of the
//! endpoint, the context checks, and reading the message as an event of an order. Never panics,
//! whatever the body and whichever endpoint it is posted to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ondc_gateway::orchestrator::{order_id_of, read_event};
use ondc_gateway::protocol::{Action, Schemas, check_context, parse_strict, peek_family};
use std::sync::OnceLock;

static SCHEMAS: OnceLock<Schemas> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let actions = [Action::Cancel, Action::OnCancel, Action::Update, Action::OnUpdate, Action::OnStatus];
    let action = actions[usize::from(which) % actions.len()];
    let schemas = SCHEMAS.get_or_init(|| Schemas::compile().expect("compiled-in schemas"));
    let Ok(json) = parse_strict(body) else { return };
    let Ok(family) = peek_family(&json) else { return };
    if schemas.check(family, action, &json).is_err() {
        return;
    }
    let Ok(context) = check_context(&json, action, &["1.2.5".to_owned()]) else { return };
    let _ = read_event(&context, &json);
    let _ = order_id_of(&context, &json);
});
