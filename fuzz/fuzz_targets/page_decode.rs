//! G12-F2: arbitrary bytes as a (checksum-valid) tree page, decoded, read as a tree
//! and checked. Corpus: `fuzz/corpus/page_decode`, replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aedb_btree::fuzzing::page_decode(data);
});
