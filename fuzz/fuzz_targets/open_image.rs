//! G12-F4: an arbitrary directory image (page file + WAL segment) is opened, read,
//! checked and committed to. Corpus: `fuzz/corpus/open_image`, replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aedb::storage::fuzzing::open_image(data);
});
