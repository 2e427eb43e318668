//! Fuzzes the suite parser, the value checks and the matrix expansion: any input
//! must end in `Ok` or a `SuiteError`, never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(suite) = batchbench::suite::Suite::parse(std::path::Path::new("fuzz.yaml"), text.to_string()) {
        let _ = suite.expand();
    }
});
