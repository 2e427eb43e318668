//! Fuzzes the IDX reader (raw and gzipped): any input must end in `Ok` or an
//! `IdxError`, never a panic or an allocation beyond what the header declares.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = batchbench::data::idx::parse_idx(std::path::Path::new("fuzz.idx"), data);
});
