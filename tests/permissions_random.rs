//! Randomized grants never reach past their bounds (issue #12): quickcheck
//! draws grants and probes from pools of tricky caller ids, project and scope
//! names and KV prefixes (empty, overlapping, with `\0`, unicode, prefixes of
//! one another), commits the grants through `commit`, and runs every probe
//! through the public `*_as` doors of an instance on the simulated file system.
//!
//! Pass criterion: a probe is refused with `PermissionDenied` exactly when an
//! independent oracle (exact string equality, byte-prefix `starts_with`) says
//! no grant of that caller covers it. Probes name resources that need not
//! exist: with a covering grant the answer is "not found" or data, without
//! one it is `PermissionDenied`, so existence never decides. Each case prints
//! its quickcheck seed on failure through the case itself (`Debug`).

use std::path::Path;
use std::sync::Arc;

use aedb::catalog::DdlOperation;
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::pager::sim::SimFs;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::{ConsistencyMode, Query};
use aedb::{AedbErrorCode, AedbInstance};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

const CALLERS: &[&str] = &["u", "u\0", "ü", "U", "uu", "\0", " u"];
const NAMES: &[&str] = &["a", "ab", "a.b", "é", "A", "a\0b", "app"];
const PREFIXES: &[&[u8]] = &[b"", b"a", b"ab", b"a\0", b"\xff", b"b"];
const KEYS: &[&[u8]] = &[b"", b"a", b"ab", b"abc", b"a\0x", b"\xff\x00", b"b"];

fn pick<T: Copy>(g: &mut Gen, pool: &[T]) -> T {
    *g.choose(pool).expect("non-empty pool")
}

#[derive(Debug, Clone)]
struct Grant {
    caller: &'static str,
    permission: Permission,
}

#[derive(Debug, Clone, Copy)]
enum Probe {
    KvGet(&'static str, &'static str, &'static str, &'static [u8]),
    KvScan(&'static str, &'static str, &'static str, &'static [u8]),
    KvSet(&'static str, &'static str, &'static str, &'static [u8]),
    Query(&'static str, &'static str, &'static str, &'static str),
}

#[derive(Debug, Clone)]
struct Case {
    grants: Vec<Grant>,
    probes: Vec<Probe>,
}

fn opt<T: Copy>(g: &mut Gen, pool: &[T]) -> Option<T> {
    bool::arbitrary(g).then(|| pick(g, pool))
}

impl Arbitrary for Grant {
    fn arbitrary(g: &mut Gen) -> Self {
        let p = pick(g, NAMES).to_string();
        let permission = match u8::arbitrary(g) % 5 {
            0 => Permission::KvRead {
                project_id: p,
                scope_id: opt(g, NAMES).map(Into::into),
                prefix: opt(g, PREFIXES).map(<[u8]>::to_vec),
            },
            1 => Permission::KvWrite {
                project_id: p,
                scope_id: opt(g, NAMES).map(Into::into),
                prefix: opt(g, PREFIXES).map(<[u8]>::to_vec),
            },
            2 | 3 => Permission::TableRead {
                project_id: p,
                scope_id: pick(g, NAMES).into(),
                table_name: pick(g, NAMES).into(),
            },
            _ => Permission::ProjectAdmin { project_id: p },
        };
        Grant {
            caller: pick(g, CALLERS),
            permission,
        }
    }
}

impl Arbitrary for Probe {
    fn arbitrary(g: &mut Gen) -> Self {
        let (c, p, s) = (pick(g, CALLERS), pick(g, NAMES), pick(g, NAMES));
        match u8::arbitrary(g) % 4 {
            0 => Probe::KvGet(c, p, s, pick(g, KEYS)),
            1 => Probe::KvScan(c, p, s, pick(g, KEYS)),
            2 => Probe::KvSet(c, p, s, pick(g, KEYS)),
            _ => Probe::Query(c, p, s, pick(g, NAMES)),
        }
    }
}

impl Arbitrary for Case {
    fn arbitrary(g: &mut Gen) -> Self {
        let n = 1 + usize::arbitrary(g) % 3;
        let m = 4 + usize::arbitrary(g) % 12;
        Case {
            grants: (0..n).map(|_| Grant::arbitrary(g)).collect(),
            probes: (0..m).map(|_| Probe::arbitrary(g)).collect(),
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let c = self.clone();
        Box::new((0..c.probes.len()).map(move |i| {
            let mut smaller = c.clone();
            smaller.probes.remove(i);
            smaller
        }))
    }
}

/// The oracle: does this grant cover this probe? Written from the rules in
/// `Permission`'s documentation, not from the engine's matching code.
fn covers(g: &Grant, probe: &Probe) -> bool {
    let kv = |p: &str,
              s: &str,
              bytes: &[u8],
              project: &str,
              scope: &Option<String>,
              prefix: &Option<Vec<u8>>| {
        p == project
            && scope.as_deref().is_none_or(|x| x == s)
            && prefix.as_deref().is_none_or(|x| bytes.starts_with(x))
    };
    let (caller, project) = match *probe {
        Probe::KvGet(c, p, ..)
        | Probe::KvScan(c, p, ..)
        | Probe::KvSet(c, p, ..)
        | Probe::Query(c, p, ..) => (c, p),
    };
    if g.caller != caller {
        return false;
    }
    match (&g.permission, *probe) {
        (Permission::ProjectAdmin { project_id }, _) => project_id == project,
        (
            Permission::KvRead {
                project_id,
                scope_id,
                prefix,
            },
            Probe::KvGet(_, p, s, key) | Probe::KvScan(_, p, s, key),
        ) => kv(p, s, key, project_id, scope_id, prefix),
        (
            Permission::KvWrite {
                project_id,
                scope_id,
                prefix,
            },
            Probe::KvSet(_, p, s, key),
        ) => kv(p, s, key, project_id, scope_id, prefix),
        (
            Permission::TableRead {
                project_id,
                scope_id,
                table_name,
            },
            Probe::Query(_, p, s, t),
        ) => project_id == p && scope_id == s && table_name == t,
        _ => false,
    }
}

async fn denied(db: &AedbInstance, probe: Probe) -> bool {
    let at = ConsistencyMode::AtLatest;
    let code = match probe {
        Probe::KvGet(c, p, s, k) => db
            .kv_get(p, s, k, at, &CallerContext::new(c))
            .await
            .err()
            .map(|e| e.code()),
        Probe::KvScan(c, p, s, k) => db
            .kv_scan_prefix(p, s, k, 10, None, at, &CallerContext::new(c))
            .await
            .err()
            .map(|e| e.code()),
        Probe::KvSet(c, p, s, k) => db
            .kv_set_as(CallerContext::new(c), p, s, k.to_vec(), b"v".to_vec())
            .await
            .err()
            .map(|e| e.code()),
        Probe::Query(c, p, s, t) => db
            .query_as(&CallerContext::new(c), p, s, Query::select(&["*"]).from(t))
            .await
            .err()
            .map(|e| e.code()),
    };
    code == Some(AedbErrorCode::PermissionDenied)
}

fn check(case: Case) -> TestResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let fs = SimFs::new(7);
        let db = AedbInstance::open_with_vfs(AedbConfig::default(), Arc::new(fs), Path::new("/db"))
            .expect("open");
        for g in &case.grants {
            db.commit(Mutation::Ddl(DdlOperation::GrantPermission {
                caller_id: g.caller.into(),
                permission: g.permission.clone(),
                actor_id: None,
                delegable: false,
            }))
            .await
            .expect("grant");
        }
        for probe in &case.probes {
            let expect_allowed = case.grants.iter().any(|g| covers(g, probe));
            if denied(&db, *probe).await == expect_allowed {
                return TestResult::error(format!(
                    "{probe:?}: the oracle says {}, the engine {}",
                    if expect_allowed { "allowed" } else { "denied" },
                    if expect_allowed { "denied" } else { "allowed" },
                ));
            }
        }
        TestResult::passed()
    })
}

#[test]
fn grants_never_reach_past_their_bounds() {
    QuickCheck::new()
        .tests(150)
        .quickcheck(check as fn(Case) -> TestResult);
}
