//! Harnesses shared by the cargo-fuzz targets (`fuzz/`) and the corpus replay run by
//! plain `cargo test` (RELIABILITY G12). Not part of the stable API.
#![forbid(unsafe_code)]

use std::path::Path;

use crate::format::PAGE_SIZES;
use crate::sim::SimFs;
use crate::vfs::{OpenMode, Vfs};
use crate::{MetaUpdate, PageId, PageKind, Pager, PagerOptions};

/// F4 for the pager: treat `data` as a page file image (its first byte picks the
/// page size to ask for, 0 meaning "whatever the file says"), open it, read every
/// page, inspect it, and try one commit. Must never panic or hang.
pub fn open_image(data: &[u8]) {
    let Some((&choice, image)) = data.split_first() else {
        return;
    };
    let fs = SimFs::new(0);
    let dir = Path::new("/fuzz");
    // Durable like a real database directory, so a crash image keeps it.
    if crate::vfs::create_dir_durable(&fs, dir).is_err() {
        return;
    }
    let Ok(file) = fs.open(&dir.join(crate::DATA_FILE_NAME), OpenMode::CreateTruncate) else {
        return;
    };
    if file.write_at(image, 0).is_err() || file.sync_data().is_err() || fs.sync_dir(dir).is_err() {
        return;
    }
    drop(file);
    let _ = crate::inspect::inspect(&fs, dir, None);
    let page_size = PAGE_SIZES
        .get(usize::from(choice % 6).wrapping_sub(1))
        .copied();
    let Ok((pager, _)) = Pager::open(
        &fs,
        dir,
        PagerOptions {
            page_size,
            create: false,
            ..PagerOptions::default()
        },
    ) else {
        return;
    };
    if let Ok(view) = pager.view() {
        let count = pager.meta().page_count.min(4096);
        for id in 2..count {
            if let Ok(page) = view.page(PageId(id)) {
                let _ = page.header();
            }
        }
    }
    // The opened state must accept a commit (or refuse it cleanly).
    if let Ok(id) = pager.allocate() {
        let mut buf = pager.page_buffer();
        if pager.write_page(id, PageKind(9), 0, &mut buf).is_ok() {
            let _ = pager.commit(MetaUpdate {
                root: Some(id),
                ..MetaUpdate::default()
            });
        }
    }
}
