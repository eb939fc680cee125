//! Where a tree's pages come from: the pager's verified views, or a write
//! transaction's own dirty pages layered over one.
#![forbid(unsafe_code)]

use std::path::Path;

use aedb_pager::{Expect, PageId, PageRef, PagerError, ReadView};

/// A source of verified pages.
pub trait PageSource {
    /// Page `id`, checked against what its referrer recorded (rule P6).
    fn page(&self, id: PageId, expect: Expect) -> Result<PageRef<'_>, PagerError>;
    /// The file the pages come from (for error reports).
    fn file(&self) -> &Path;
    /// Page size in bytes of the file the pages come from.
    fn page_size(&self) -> u32;
}

impl PageSource for ReadView {
    #[inline]
    fn page(&self, id: PageId, expect: Expect) -> Result<PageRef<'_>, PagerError> {
        self.page_expect(id, expect)
    }

    fn file(&self) -> &Path {
        self.path()
    }

    fn page_size(&self) -> u32 {
        ReadView::page_size(self)
    }
}
