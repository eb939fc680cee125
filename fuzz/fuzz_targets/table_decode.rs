//! G12: arbitrary bytes as a table row, as order-preserving keys and as a catalog
//! table record (with the index keys built from it). Corpus:
//! `fuzz/corpus/table_decode`, replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aedb::table::fuzzing::table_decode(data);
});
