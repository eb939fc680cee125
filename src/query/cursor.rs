//! Cursors: where a paginated query resumes, and its text form.
//!
//! `c1.<table id>.k.<hex key>` resumes a streaming query after that access-path
//! key; `c1.<table id>.o.<n>` resumes a buffered (sorted) one after `n` output
//! rows. A cursor names the base table's id, so it cannot be replayed on
//! another table; anything that does not parse is `InvalidQuery`, never a panic.

use crate::error::QueryError;
use crate::vocab::hex;

/// Where a paginated query resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// After this key of the access path (streaming queries).
    After(Vec<u8>),
    /// After this many output rows (buffered queries).
    Offset(usize),
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(crate) fn encode_cursor(table_id: u64, r: &Resume) -> String {
    match r {
        Resume::After(k) => format!("c1.{table_id}.k.{}", hex(k)),
        Resume::Offset(n) => format!("c1.{table_id}.o.{n}"),
    }
}

pub(crate) fn parse_cursor(table_id: u64, s: &str) -> Result<Resume, QueryError> {
    let bad = || QueryError::invalid(format!("cursor {s:?} is not a cursor of this query"));
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 || parts[0] != "c1" || parts[1].parse::<u64>().ok() != Some(table_id) {
        return Err(bad());
    }
    match parts[2] {
        "k" => unhex(parts[3]).map(Resume::After).ok_or_else(bad),
        "o" => parts[3].parse().map(Resume::Offset).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Resume, encode_cursor, parse_cursor};

    #[test]
    fn cursors_round_trip_and_refuse_other_tables_and_garbage() {
        for r in [
            Resume::After(vec![0, 0xAB, 0xFF]),
            Resume::After(Vec::new()),
            Resume::Offset(42),
        ] {
            assert_eq!(parse_cursor(7, &encode_cursor(7, &r)).unwrap(), r);
            assert!(parse_cursor(8, &encode_cursor(7, &r)).is_err());
        }
        for bad in [
            "",
            "c1",
            "c1.7.k.abc",
            "c1.7.k.zz",
            "c1.7.o.-1",
            "c1.7.x.1",
            "c2.7.o.1",
            "c1.7.k.é1",
        ] {
            assert!(parse_cursor(7, bad).is_err(), "{bad:?}");
        }
    }
}
