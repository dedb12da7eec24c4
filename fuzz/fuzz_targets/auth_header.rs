//! The `Authorization` header parser: never panics, and what it accepts it writes back in the
//! canonical form, which parses to the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ondc_gateway::signing::SignatureHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(header) = text.parse::<SignatureHeader>() {
        let canonical = header.to_string();
        let again: SignatureHeader = canonical.parse().expect("the canonical form parses");
        assert_eq!(again.to_string(), canonical, "the canonical form is a fixed point");
    }
});
