//! G12-F3: arbitrary bytes as a WAL segment (keyed and unkeyed), recovered in strict
//! and permissive mode. Corpus: `fuzz/corpus/wal_decode`, replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aedb::storage::fuzzing::wal_decode(data);
});
