//! Accumulator DDL: creating one (a catalog record and, on its first write,
//! the tree `a<id>`), dropping one (the record and the tree).

use crate::catalog::{
    AccumulatorRecord, CatalogTxn, DdlOperation, ResourceType, accumulator_key, accumulator_tree,
    check_name, encode_record,
};
use crate::commit::now_micros;
use crate::error::AedbError;

pub(crate) fn accumulator_ddl(
    ct: &mut CatalogTxn<'_, '_>,
    op: DdlOperation,
) -> Result<(), AedbError> {
    match op {
        DdlOperation::CreateAccumulator {
            project_id,
            scope_id,
            accumulator_name,
            if_not_exists,
            value_type,
            dedupe_retain_commits,
            snapshot_every,
            exposure_margin_bps,
            exposure_ttl_commits,
        } => {
            check_name("accumulator", &accumulator_name)?;
            ct.catalog().scope(&project_id, &scope_id)?;
            let at = (project_id, scope_id, accumulator_name);
            if let Some(existing) = ct.catalog().accumulators.get(&at) {
                // Creating an accumulator that exists with the very same
                // settings is a no-op, so set-up code can run at every start;
                // other settings are a conflict to resolve, not to ignore.
                let same = existing.value_type == value_type
                    && existing.dedupe_retain_commits == dedupe_retain_commits
                    && existing.snapshot_every == snapshot_every
                    && existing.exposure_margin_bps == exposure_margin_bps
                    && existing.exposure_ttl_commits == exposure_ttl_commits;
                return if if_not_exists || same {
                    Ok(())
                } else {
                    Err(AedbError::exists(
                        ResourceType::Accumulator,
                        format!("{}.{}.{}", at.0, at.1, at.2),
                    ))
                };
            }
            if snapshot_every == 0 {
                return Err(AedbError::Validation(
                    "snapshot_every must be at least 1 (the projector runs every that many deltas)"
                        .into(),
                ));
            }
            if exposure_margin_bps > 10_000 {
                return Err(AedbError::Validation(format!(
                    "exposure_margin_bps {exposure_margin_bps} is more than 10,000 (100 %)"
                )));
            }
            if exposure_ttl_commits == Some(0) || dedupe_retain_commits == Some(0) {
                return Err(AedbError::Validation(
                    "exposure_ttl_commits and dedupe_retain_commits are at least 1 when given"
                        .into(),
                ));
            }
            let rec = AccumulatorRecord {
                id: ct.alloc_id(),
                value_type,
                dedupe_retain_commits,
                snapshot_every,
                exposure_margin_bps,
                exposure_ttl_commits,
                created_at_micros: now_micros(),
            };
            ct.put(&accumulator_key(&at.0, &at.1, &at.2), &encode_record(&rec)?)?;
            ct.catalog_mut().accumulators.insert(at, rec);
            Ok(())
        }
        DdlOperation::DropAccumulator {
            project_id,
            scope_id,
            accumulator_name,
            if_exists,
        } => match ct
            .catalog()
            .accumulator(&project_id, &scope_id, &accumulator_name)
        {
            Ok(_) => drop_accumulator(ct, &project_id, &scope_id, &accumulator_name),
            Err(AedbError::NotFound {
                resource_type: ResourceType::Accumulator,
                ..
            }) if if_exists => Ok(()),
            Err(e) => Err(e),
        },
        _ => Err(AedbError::Validation(
            "accumulator_ddl called with another DDL operation".into(),
        )),
    }
}

fn drop_accumulator(
    ct: &mut CatalogTxn<'_, '_>,
    project: &str,
    scope: &str,
    name: &str,
) -> Result<(), AedbError> {
    let at = (project.to_string(), scope.to_string(), name.to_string());
    let Some(rec) = ct.catalog_mut().accumulators.remove(&at) else {
        return Ok(());
    };
    ct.txn.delete_tree(&accumulator_tree(rec.id))?;
    ct.delete(&accumulator_key(project, scope, name))
}

/// Drops every accumulator of a scope (with the scope).
pub(crate) fn drop_accumulators_in(
    ct: &mut CatalogTxn<'_, '_>,
    project: &str,
    scope: &str,
) -> Result<(), AedbError> {
    let names: Vec<String> = ct
        .catalog()
        .accumulators
        .keys()
        .filter(|(p, s, _)| p == project && s == scope)
        .map(|(_, _, n)| n.clone())
        .collect();
    for n in names {
        drop_accumulator(ct, project, scope, &n)?;
    }
    Ok(())
}
