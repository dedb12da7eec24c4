//! The fixture parser: a fixture file is a flow or an error naming what is wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ondc_gateway::replay::Fixture;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Fixture::parse(text, "fuzz");
});
