//! Page deltas: the pages of a page file written since a parent backup's
//! checkpoint, for incremental backups (FORMAT "Backups").
//!
//! A page carries the generation that wrote it, and a copy-on-write page is
//! never rewritten in place (a freed page that is reused is written with the
//! new generation), so the pages whose generation is above the parent's
//! newest meta generation are exactly the ones that may differ from the
//! parent's copy. The two meta pages are always included.
//!
//! ```text
//! header (48 bytes): magic "AEDBPDLT" | version u32 = 1 | page size u32 |
//!   file length u64 | generation u64 | parent generation u64 | pages u64
//! then per page: page id u64 | the page's bytes
//! ```
//! Integers little-endian; the file's SHA-256 is in the manifest.

use std::path::Path;

use crate::backup::{bad, io, read_file};
use crate::error::AedbError;
use crate::pager::format::meta::Meta;
use crate::pager::format::page::GENERATION_AT;
use crate::pager::format::{read_u32, read_u64};
use crate::pager::vfs::{OpenMode, Vfs};

const MAGIC: &[u8; 8] = b"AEDBPDLT";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 48;
/// Pages read from the source at a time.
const CHUNK_PAGES: u64 = 256;

/// The newest valid meta generation of a page file image.
pub(crate) fn meta_generation(image: &[u8], path: &Path) -> Result<u64, AedbError> {
    let page_size = image
        .get(12..16)
        .map(|_| read_u32(image, 12) as usize)
        .filter(|p| p.is_power_of_two() && *p >= 4096)
        .ok_or_else(|| bad(path, "the page file's first meta has no valid page size"))?;
    (0..2u64)
        .filter_map(|slot| {
            let at = slot as usize * page_size;
            image
                .get(at..at + page_size)
                .and_then(|page| Meta::decode(slot, page).ok())
        })
        .map(|m| m.generation)
        .max()
        .ok_or_else(|| bad(path, "neither meta page of the page file is valid"))
}

/// The decoded header of a delta.
pub(crate) struct Delta<'b> {
    pub(crate) page_size: usize,
    pub(crate) file_len: u64,
    pub(crate) generation: u64,
    /// (page id, bytes)
    pub(crate) pages: Vec<(u64, &'b [u8])>,
}

/// Writes the delta of the first `len` bytes of page file `src` over a parent
/// whose newest meta generation is `parent_generation`; returns its bytes.
pub(crate) fn build(
    vfs: &dyn Vfs,
    src: &Path,
    len: u64,
    page_size: u32,
    generation: u64,
    parent_generation: u64,
) -> Result<Vec<u8>, AedbError> {
    let file = vfs
        .open(src, OpenMode::ReadOnly)
        .map_err(|e| io("opening", src, e))?;
    let ps = u64::from(page_size);
    let pages = len / ps;
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&page_size.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&parent_generation.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    let mut buf = vec![0u8; (CHUNK_PAGES * ps) as usize];
    let mut first = 0;
    while first < pages {
        let n = CHUNK_PAGES.min(pages - first);
        let chunk = &mut buf[..(n * ps) as usize];
        file.read_at(chunk, first * ps)
            .map_err(|e| io("reading", src, e))?;
        for (i, page) in chunk.chunks(ps as usize).enumerate() {
            let id = first + i as u64;
            if id < 2 || read_u64(page, GENERATION_AT) > parent_generation {
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(page);
                count += 1;
            }
        }
        first += n;
    }
    out[40..48].copy_from_slice(&count.to_le_bytes());
    Ok(out)
}

/// Decodes a delta, checking its shape.
pub(crate) fn decode<'b>(bytes: &'b [u8], path: &Path) -> Result<Delta<'b>, AedbError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(bad(path, "not a page delta (magic)"));
    }
    if read_u32(bytes, 8) != VERSION {
        return Err(bad(path, "a page delta of an unknown version"));
    }
    let page_size = read_u32(bytes, 12) as usize;
    if !page_size.is_power_of_two() || page_size < 4096 {
        return Err(bad(path, format!("page delta: page size {page_size}")));
    }
    let (file_len, generation) = (read_u64(bytes, 16), read_u64(bytes, 24));
    let count = read_u64(bytes, 40);
    let record = 8 + page_size;
    if (bytes.len() - HEADER_LEN) as u64 != count.saturating_mul(record as u64) {
        return Err(bad(
            path,
            format!(
                "page delta: {count} pages do not fill its {} bytes",
                bytes.len()
            ),
        ));
    }
    let pages = bytes[HEADER_LEN..]
        .chunks(record)
        .map(|r| (read_u64(r, 0), &r[8..]))
        .collect::<Vec<_>>();
    if let Some((id, _)) = pages
        .iter()
        .find(|(id, _)| id.saturating_add(1).saturating_mul(page_size as u64) > file_len)
    {
        return Err(bad(
            path,
            format!("page delta: page {id} is past its file length {file_len}"),
        ));
    }
    Ok(Delta {
        page_size,
        file_len,
        generation,
        pages,
    })
}

/// The newest meta generation of a backup's page state (its full page file,
/// or its delta's recorded generation).
pub(crate) fn generation_of(
    vfs: &dyn Vfs,
    dir: &Path,
    checkpoint_file: &str,
) -> Result<u64, AedbError> {
    let path = dir.join(checkpoint_file);
    if checkpoint_file != crate::pager::DATA_FILE_NAME {
        return Ok(decode(&read_file(vfs, &path)?, &path)?.generation);
    }
    // The two metas lie in the first two pages (64 KiB at most each).
    let file = vfs
        .open(&path, OpenMode::ReadOnly)
        .map_err(|e| io("opening", &path, e))?;
    let len = file.len().map_err(|e| io("measuring", &path, e))?;
    let mut head = vec![0u8; len.min(2 << 16) as usize];
    file.read_at(&mut head, 0)
        .map_err(|e| io("reading", &path, e))?;
    meta_generation(&head, &path)
}
