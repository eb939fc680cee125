//! Which grant covers which need. A `Need` is what one call asks for (read this
//! table, write this KV key, change this scope's schema); `IndexRead` grants
//! are not a need but a narrower way to read (`auth::authorize_table_read`,
//! checked against the plan by the query room); `Permission::covers`
//! answers whether one grant allows it, `Permission::implies` whether one grant
//! gives every right of another (delegation), and `Permission::realm` which
//! admin right may grant or revoke a permission.
//!
//! Invariant: names compare exactly (bytewise), prefixes by `starts_with` on
//! bytes; nothing here normalises, trims or case-folds, so a grant can never
//! reach a resource whose name merely looks like its own.

use crate::permission::Permission;

/// What one call needs, on which resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need<'a> {
    /// Creating projects, granting `GlobalAdmin`.
    Global,
    /// Administering a project: its scopes, grants bounded to it, its ownership.
    Project { project: &'a str },
    /// Administering a scope: read policies, grants bounded to it.
    Scope { project: &'a str, scope: &'a str },
    /// Creating, altering and dropping tables and indexes in a scope; `table`
    /// names the existing table an alteration, drop or new index is about.
    Ddl {
        project: &'a str,
        scope: &'a str,
        table: Option<&'a str>,
    },
    TableRead {
        project: &'a str,
        scope: &'a str,
        table: &'a str,
    },
    TableWrite {
        project: &'a str,
        scope: &'a str,
        table: &'a str,
    },
    KvRead {
        project: &'a str,
        scope: &'a str,
        key: &'a [u8],
    },
    /// Reading every key that starts with `prefix`.
    KvScan {
        project: &'a str,
        scope: &'a str,
        prefix: &'a [u8],
    },
    KvWrite {
        project: &'a str,
        scope: &'a str,
        key: &'a [u8],
    },
    /// Reading (`write: false`) or changing an accumulator: a KV grant over
    /// the whole scope (no prefix), as in 0.1.9.
    Accumulator {
        project: &'a str,
        scope: &'a str,
        name: &'a str,
        write: bool,
    },
    /// Emitting (`write`) or reading events of a scope: a KV grant over the
    /// whole scope, like accumulators.
    Events {
        project: &'a str,
        scope: &'a str,
        write: bool,
    },
    /// Moving a processor's checkpoint: only `GlobalAdmin` (processors are
    /// the database's, not a project's).
    Processor { name: &'a str },
    /// Reading a table past its read policy.
    Bypass {
        project: &'a str,
        scope: &'a str,
        table: &'a str,
    },
}

impl<'a> Need<'a> {
    pub(crate) fn project(&self) -> Option<&'a str> {
        match *self {
            Need::Global | Need::Processor { .. } => None,
            Need::Project { project }
            | Need::Scope { project, .. }
            | Need::Ddl { project, .. }
            | Need::TableRead { project, .. }
            | Need::TableWrite { project, .. }
            | Need::KvRead { project, .. }
            | Need::KvScan { project, .. }
            | Need::KvWrite { project, .. }
            | Need::Accumulator { project, .. }
            | Need::Events { project, .. }
            | Need::Bypass { project, .. } => Some(project),
        }
    }

    pub(crate) fn scope(&self) -> Option<&'a str> {
        match *self {
            Need::Global | Need::Project { .. } | Need::Processor { .. } => None,
            Need::Scope { scope, .. }
            | Need::Ddl { scope, .. }
            | Need::TableRead { scope, .. }
            | Need::TableWrite { scope, .. }
            | Need::KvRead { scope, .. }
            | Need::KvScan { scope, .. }
            | Need::KvWrite { scope, .. }
            | Need::Accumulator { scope, .. }
            | Need::Events { scope, .. }
            | Need::Bypass { scope, .. } => Some(scope),
        }
    }

    /// The table the need is about, if one.
    pub(crate) fn table(&self) -> Option<&'a str> {
        match *self {
            Need::TableRead { table, .. }
            | Need::TableWrite { table, .. }
            | Need::Bypass { table, .. } => Some(table),
            Need::Ddl { table, .. } => table,
            _ => None,
        }
    }

    /// Whether the need changes state (as opposed to reading it).
    pub(crate) fn writes(&self) -> bool {
        !matches!(
            self,
            Need::TableRead { .. }
                | Need::KvRead { .. }
                | Need::KvScan { .. }
                | Need::Bypass { .. }
                | Need::Accumulator { write: false, .. }
                | Need::Events { write: false, .. }
        )
    }
}

/// Whether a held KV grant's scope and prefix reach `scope` and `bytes`
/// (a key, or every key under a scanned prefix: both must start with the grant's).
fn kv_reaches(
    held_scope: &Option<String>,
    held_prefix: &Option<Vec<u8>>,
    scope: &str,
    bytes: &[u8],
) -> bool {
    held_scope.as_deref().is_none_or(|s| s == scope)
        && held_prefix.as_deref().is_none_or(|p| bytes.starts_with(p))
}

impl Permission {
    /// Whether holding this permission allows `need`.
    pub(crate) fn covers(&self, need: &Need<'_>) -> bool {
        use Permission as P;
        match (self, *need) {
            (P::GlobalAdmin, _) => true,
            (P::ProjectAdmin { project_id }, n) => n.project() == Some(project_id.as_str()),
            (
                P::ScopeAdmin {
                    project_id,
                    scope_id,
                },
                n,
            ) => n.project() == Some(project_id.as_str()) && n.scope() == Some(scope_id.as_str()),
            (P::TableDdl { project_id }, Need::Ddl { project, .. }) => project_id == project,
            (
                P::TableRead {
                    project_id,
                    scope_id,
                    table_name,
                },
                Need::TableRead {
                    project,
                    scope,
                    table,
                },
            ) => project_id == project && scope_id == scope && table_name == table,
            (
                P::TableWrite {
                    project_id,
                    scope_id,
                    table_name,
                },
                Need::TableWrite {
                    project,
                    scope,
                    table,
                },
            ) => project_id == project && scope_id == scope && table_name == table,
            (
                P::KvRead {
                    project_id,
                    scope_id,
                    prefix,
                },
                Need::KvRead {
                    project,
                    scope,
                    key: bytes,
                }
                | Need::KvScan {
                    project,
                    scope,
                    prefix: bytes,
                },
            )
            | (
                P::KvWrite {
                    project_id,
                    scope_id,
                    prefix,
                },
                Need::KvWrite {
                    project,
                    scope,
                    key: bytes,
                },
            ) => project_id == project && kv_reaches(scope_id, prefix, scope, bytes),
            (
                P::PolicyBypass {
                    project_id,
                    table_name,
                },
                Need::Bypass { project, table, .. },
            ) => project_id == project && table_name.as_deref().is_none_or(|t| t == table),
            (
                P::KvRead {
                    project_id,
                    scope_id,
                    prefix,
                },
                Need::Accumulator {
                    project,
                    scope,
                    write: false,
                    ..
                }
                | Need::Events {
                    project,
                    scope,
                    write: false,
                },
            )
            | (
                P::KvWrite {
                    project_id,
                    scope_id,
                    prefix,
                },
                Need::Accumulator {
                    project,
                    scope,
                    write: true,
                    ..
                }
                | Need::Events {
                    project,
                    scope,
                    write: true,
                },
            ) => project_id == project && kv_reaches(scope_id, prefix, scope, b""),
            _ => false,
        }
    }

    /// Whether holding this permission gives every right `other` gives (so a
    /// delegable grant of it may grant `other`).
    pub(crate) fn implies(&self, other: &Permission) -> bool {
        use Permission as P;
        if self == other {
            return true;
        }
        match (self, other) {
            (P::GlobalAdmin, _) => true,
            (P::ProjectAdmin { project_id }, o) => o.project_id() == Some(project_id.as_str()),
            (
                P::ScopeAdmin {
                    project_id,
                    scope_id,
                },
                o,
            ) => {
                o.project_id() == Some(project_id.as_str())
                    && o.scope_id() == Some(scope_id.as_str())
            }
            (
                P::TableRead {
                    project_id,
                    scope_id,
                    table_name,
                },
                P::IndexRead {
                    project_id: p,
                    scope_id: s,
                    table_name: t,
                    ..
                },
            ) => project_id == p && scope_id == s && table_name == t,
            (
                P::KvRead {
                    project_id,
                    scope_id,
                    prefix,
                },
                P::KvRead {
                    project_id: p,
                    scope_id: s,
                    prefix: x,
                },
            )
            | (
                P::KvWrite {
                    project_id,
                    scope_id,
                    prefix,
                },
                P::KvWrite {
                    project_id: p,
                    scope_id: s,
                    prefix: x,
                },
            ) => {
                project_id == p
                    && (scope_id.is_none() || scope_id == s)
                    && (prefix.is_none()
                        || x.as_deref()
                            .zip(prefix.as_deref())
                            .is_some_and(|(x, mine)| x.starts_with(mine)))
            }
            (
                P::PolicyBypass {
                    project_id,
                    table_name,
                },
                P::PolicyBypass {
                    project_id: p,
                    table_name: t,
                },
            ) => project_id == p && (table_name.is_none() || table_name == t),
            _ => false,
        }
    }

    /// The admin need that may grant or revoke this permission.
    pub(crate) fn realm(&self) -> Need<'_> {
        use Permission as P;
        match self {
            P::GlobalAdmin => Need::Global,
            P::ProjectAdmin { project_id }
            | P::TableDdl { project_id }
            | P::PolicyBypass { project_id, .. }
            | P::ScopeAdmin { project_id, .. }
            | P::KvRead {
                project_id,
                scope_id: None,
                ..
            }
            | P::KvWrite {
                project_id,
                scope_id: None,
                ..
            } => Need::Project {
                project: project_id,
            },
            P::KvRead {
                project_id,
                scope_id: Some(scope_id),
                ..
            }
            | P::KvWrite {
                project_id,
                scope_id: Some(scope_id),
                ..
            }
            | P::TableRead {
                project_id,
                scope_id,
                ..
            }
            | P::TableWrite {
                project_id,
                scope_id,
                ..
            }
            | P::IndexRead {
                project_id,
                scope_id,
                ..
            } => Need::Scope {
                project: project_id,
                scope: scope_id,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Need;
    use crate::permission::Permission;

    fn kv_read(scope: Option<&str>, prefix: Option<&[u8]>) -> Permission {
        Permission::KvRead {
            project_id: "p".into(),
            scope_id: scope.map(Into::into),
            prefix: prefix.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn kv_grants_reach_only_their_scope_and_prefix() {
        let key = |k: &'static [u8]| Need::KvRead {
            project: "p",
            scope: "s",
            key: k,
        };
        assert!(kv_read(None, None).covers(&key(b"x")));
        assert!(kv_read(Some("s"), Some(b"ab")).covers(&key(b"abc")));
        assert!(!kv_read(Some("s"), Some(b"ab")).covers(&key(b"a")));
        assert!(!kv_read(Some("t"), None).covers(&key(b"abc")));
        let scan = |p: &'static [u8]| Need::KvScan {
            project: "p",
            scope: "s",
            prefix: p,
        };
        assert!(kv_read(None, Some(b"ab")).covers(&scan(b"abc")));
        assert!(!kv_read(None, Some(b"ab")).covers(&scan(b"a")));
        assert!(
            !kv_read(None, None).covers(&Need::KvWrite {
                project: "p",
                scope: "s",
                key: b"x"
            }),
            "reading is not writing"
        );
    }

    #[test]
    fn admins_are_bounded_to_their_project_and_scope() {
        let read = |p, s| Need::TableRead {
            project: p,
            scope: s,
            table: "t",
        };
        let pa = Permission::ProjectAdmin {
            project_id: "p".into(),
        };
        assert!(pa.covers(&read("p", "s")) && !pa.covers(&read("q", "s")));
        let sa = Permission::ScopeAdmin {
            project_id: "p".into(),
            scope_id: "s".into(),
        };
        assert!(sa.covers(&read("p", "s")) && !sa.covers(&read("p", "s2")));
        assert!(!sa.covers(&Need::Project { project: "p" }));
        assert!(Permission::GlobalAdmin.covers(&Need::Global));
        assert!(!pa.covers(&Need::Global));
    }

    #[test]
    fn delegation_never_widens() {
        assert!(kv_read(None, Some(b"a")).implies(&kv_read(Some("s"), Some(b"ab"))));
        assert!(!kv_read(None, Some(b"ab")).implies(&kv_read(None, Some(b"a"))));
        assert!(!kv_read(None, Some(b"ab")).implies(&kv_read(None, None)));
        assert!(!kv_read(Some("s"), None).implies(&kv_read(None, None)));
    }
}
