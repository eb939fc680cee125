//! The seed README's code blocks run unchanged: the Quick Start is
//! `examples/quickstart.rs` byte for byte, and the consistency-modes and
//! low-latency blocks are embedded verbatim in their examples. `data/seed-README.md`
//! is a copy of the product spec (`shared/seed/aedb-README.md`). These tests run
//! the examples and check the embedded text still matches the README.

mod quickstart {
    include!("../examples/quickstart.rs");
    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

mod consistency_modes {
    include!("../examples/consistency_modes.rs");
    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

mod low_latency {
    include!("../examples/low_latency.rs");
    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

mod accumulators {
    include!("../examples/accumulators.rs");
    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

mod events {
    include!("../examples/events.rs");
    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

mod processors {
    include!("../examples/processors.rs");
    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

const SEED_README: &str = include_str!("data/seed-README.md");

fn rust_blocks(md: &str) -> Vec<String> {
    md.split("```rust\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or("").to_string())
        .collect()
}

fn embedded(example: &str) -> String {
    embedded_all(example).remove(0)
}

/// Every region between the markers, unindented by one level.
fn embedded_all(example: &str) -> Vec<String> {
    const BEGIN: &str = "// --- README block begins ---\n";
    const END: &str = "    // --- README block ends ---";
    example
        .split(BEGIN)
        .skip(1)
        .map(|rest| {
            rest[..rest.find(END).expect("end marker")]
                .lines()
                .map(|l| l.strip_prefix("    ").unwrap_or(l))
                .map(|l| format!("{l}\n"))
                .collect()
        })
        .collect()
}

#[test]
fn examples_hold_the_readme_blocks_verbatim() {
    let blocks = rust_blocks(SEED_README);
    let quick = include_str!("../examples/quickstart.rs");
    assert!(
        quick.ends_with(&blocks[0]),
        "examples/quickstart.rs must end with the README's Quick Start"
    );
    let cons = blocks
        .iter()
        .find(|b| b.contains("QueryOptions {"))
        .expect("consistency block");
    assert_eq!(
        &embedded(include_str!("../examples/consistency_modes.rs")),
        cons
    );
    let low = blocks
        .iter()
        .find(|b| b.contains("AedbConfig::low_latency"))
        .expect("low-latency block");
    assert_eq!(&embedded(include_str!("../examples/low_latency.rs")), low);
    // The accumulator blocks: the first up to its event-stream part (issue
    // #15's), the hand lifecycle, the batch reserve.
    let first = blocks
        .iter()
        .find(|b| b.contains("db.create_accumulator(\"casino\""))
        .expect("accumulator block");
    let first = &first[..first.find("// Tier-2 event stream").expect("event part")];
    let lifecycle = blocks
        .iter()
        .find(|b| b.contains("1) Reserve max loss"))
        .expect("hand lifecycle block");
    let batch = blocks
        .iter()
        .find(|b| b.contains("expose_accumulator_many_atomic"))
        .expect("batch reserve block");
    let regions = embedded_all(include_str!("../examples/accumulators.rs"));
    assert_eq!(
        regions,
        vec![first.to_string(), lifecycle.clone(), batch.clone()]
    );
}

#[test]
fn quickstart_runs() {
    quickstart::run().expect("quick start");
}

#[test]
fn consistency_modes_block_runs() {
    consistency_modes::run().expect("consistency block");
}

#[test]
fn low_latency_block_runs() {
    low_latency::run().expect("low-latency block");
}

#[test]
fn accumulator_blocks_run() {
    accumulators::run().expect("accumulator blocks");
}

#[test]
fn event_blocks_run() {
    events::run().expect("event blocks");
}

#[test]
fn processor_blocks_run() {
    processors::run().expect("processor blocks");
}
