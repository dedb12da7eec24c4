//! The REST bodies a platform posts: a registration is an order or a 4xx, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ondc_gateway::http::rest::orders::parse_registration;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_registration(data, chrono::Utc::now()) {
        assert!((400..500).contains(&e.status.as_u16()), "{e}");
    }
});
