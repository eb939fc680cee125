//! G12-F4 (pager part): an arbitrary page-file image is opened, read, inspected and
//! committed to. Corpus: `fuzz/corpus/pager_open`, replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aedb_pager::fuzzing::open_image(data);
});
