//! Lookups by borrowed names in the catalog's maps, which are keyed by owned
//! `(project, scope)` and `(project, scope, name)` tuples: a lookup by
//! `&str`s allocates nothing (every call reads the catalog at least once).
//! The maps' order is unchanged: a tuple of `String`s orders exactly as the
//! tuple of its `&str`s, which `Borrow` requires.

use std::borrow::Borrow;
use std::cmp::Ordering;

/// A `(project, scope)` pair, owned or borrowed.
pub(crate) trait Names2 {
    fn names(&self) -> (&str, &str);
}

/// A `(project, scope, name)` triple, owned or borrowed.
pub(crate) trait Names3 {
    fn names(&self) -> (&str, &str, &str);
}

impl Names2 for (String, String) {
    fn names(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl Names2 for (&str, &str) {
    fn names(&self) -> (&str, &str) {
        *self
    }
}

impl Names3 for (String, String, String) {
    fn names(&self) -> (&str, &str, &str) {
        (&self.0, &self.1, &self.2)
    }
}

impl Names3 for (&str, &str, &str) {
    fn names(&self) -> (&str, &str, &str) {
        *self
    }
}

impl<'a> Borrow<dyn Names2 + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn Names2 + 'a) {
        self
    }
}

impl<'a> Borrow<dyn Names3 + 'a> for (String, String, String) {
    fn borrow(&self) -> &(dyn Names3 + 'a) {
        self
    }
}

macro_rules! ordered_by_names {
    ($t:ident) => {
        impl PartialEq for dyn $t + '_ {
            fn eq(&self, other: &Self) -> bool {
                self.names() == other.names()
            }
        }
        impl Eq for dyn $t + '_ {}
        impl PartialOrd for dyn $t + '_ {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for dyn $t + '_ {
            fn cmp(&self, other: &Self) -> Ordering {
                self.names().cmp(&other.names())
            }
        }
    };
}

ordered_by_names!(Names2);
ordered_by_names!(Names3);
