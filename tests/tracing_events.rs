//! `tracing` (issue #17): an open, a checkpoint, a backup, a restore and a
//! poisoned engine each emit their event to an installed subscriber (and
//! without one, nothing is paid beyond a disabled call site).

use std::sync::{Arc, Mutex};

use aedb::AedbInstance;
use aedb::pager::sim::{FaultPlan, SimFs};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every event's message and level.
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        let line = format!("{} {}", event.metadata().level(), m.0);
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_emit_tracing_events() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Recorder(seen.clone())).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(Default::default(), tmp.path().join("db")).unwrap();
    db.create_project("p").await.unwrap();
    db.checkpoint_now().await.unwrap();
    db.backup_full(&tmp.path().join("b")).await.unwrap();
    AedbInstance::restore_from_backup(
        &tmp.path().join("b"),
        &tmp.path().join("r"),
        &Default::default(),
    )
    .unwrap();
    // A failing sync poisons the engine.
    let fs = SimFs::new(3);
    let sim = AedbInstance::open_with_vfs(Default::default(), Arc::new(fs.clone()), "/db".as_ref())
        .unwrap();
    fs.set_plan(FaultPlan {
        eio_at: Some(fs.calls()),
        eio_forever: true,
        ..FaultPlan::default()
    });
    assert!(sim.create_project("q").await.is_err());
    let seen = seen.lock().unwrap().clone();
    for want in [
        "INFO aedb opened",
        "DEBUG aedb checkpoint",
        "INFO aedb backup taken",
        "INFO aedb restore finished",
    ] {
        assert!(seen.iter().any(|l| l == want), "no {want:?} in {seen:#?}");
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("ERROR aedb") && l.contains("poisoned")),
        "no poisoning event in {seen:#?}"
    );
}
