//! G12-F1: the input chooses operations, a crash point, the surviving image and
//! damage; the database is then reopened, read and checked. Corpus: `fuzz/corpus/recovery`, replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aedb::storage::fuzzing::recovery(data);
});
