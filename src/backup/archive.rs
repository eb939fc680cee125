//! Backup archives: a backup directory as one file (FORMAT "Backup archives"),
//! optionally encrypted with XChaCha20-Poly1305 in 1 MiB chunks, each sealed
//! with the file's random nonce and its index, the last one marked, so a
//! chunk cannot be changed, reordered, dropped or the archive cut short
//! without the extract failing.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path};

use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::backup::{bad, files_of, io};
use crate::error::AedbError;

const MAGIC: &[u8; 8] = b"AEDBARC1";
const HEADER_LEN: usize = 32;
const FLAG_ENCRYPTED: u32 = 1;
/// Plaintext bytes per encrypted chunk.
const CHUNK: usize = 1 << 20;
const TAG_LEN: usize = 16;

/// Where the body goes: as is, or sealed chunk by chunk.
struct BodyWriter<W: Write> {
    out: W,
    cipher: Option<(XChaCha20Poly1305, [u8; 16], [u8; HEADER_LEN])>,
    buf: Vec<u8>,
    index: u64,
}

fn nonce(file_nonce: &[u8; 16], index: u64) -> XNonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(file_nonce);
    n[16..].copy_from_slice(&index.to_be_bytes());
    XNonce::from(n)
}

fn aad(header: &[u8; HEADER_LEN], last: bool) -> Vec<u8> {
    let mut a = header.to_vec();
    a.push(u8::from(last));
    a
}

impl<W: Write> BodyWriter<W> {
    fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        if self.cipher.is_none() {
            return self.out.write_all(bytes);
        }
        while !bytes.is_empty() {
            let n = (CHUNK - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == CHUNK {
                self.seal(false)?;
            }
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> std::io::Result<()> {
        let Some((cipher, file_nonce, header)) = &self.cipher else {
            return Ok(());
        };
        let sealed = cipher
            .encrypt(
                &nonce(file_nonce, self.index),
                Payload {
                    msg: &self.buf,
                    aad: &aad(header, last),
                },
            )
            .map_err(|e| std::io::Error::other(format!("encrypting: {e}")))?;
        self.out.write_all(&(sealed.len() as u32).to_le_bytes())?;
        self.out.write_all(&sealed)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<W> {
        self.seal(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes the backup in `dir` into one archive file at `archive_path`
/// (through a temporary file renamed into place), encrypted when a key is
/// given.
pub fn write_backup_archive(
    dir: &Path,
    archive_path: &Path,
    encryption_key: Option<&[u8; 32]>,
) -> Result<(), AedbError> {
    if !dir.join(super::MANIFEST_FILE).exists() {
        return Err(bad(dir, "no manifest.json: not a backup"));
    }
    let tmp = archive_path.with_extension("partial");
    let file = File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    let mut file_nonce = [0u8; 16];
    let cipher = encryption_key.map(|key| {
        OsRng.fill_bytes(&mut file_nonce);
        header[8..12].copy_from_slice(&FLAG_ENCRYPTED.to_le_bytes());
        header[16..32].copy_from_slice(&file_nonce);
        XChaCha20Poly1305::new(key.into())
    });
    let mut out = BufWriter::new(file);
    out.write_all(&header).map_err(|e| io("writing", &tmp, e))?;
    let mut body = BodyWriter {
        out,
        cipher: cipher.map(|c| (c, file_nonce, header)),
        buf: Vec::new(),
        index: 0,
    };
    let write = |body: &mut BodyWriter<BufWriter<File>>, b: &[u8]| {
        body.write(b).map_err(|e| io("writing", &tmp, e))
    };
    for name in files_of(dir)? {
        let path = dir.join(&name);
        let mut src = File::open(&path).map_err(|e| io("opening", &path, e))?;
        let len = src.metadata().map_err(|e| io("measuring", &path, e))?.len();
        write(&mut body, &(name.len() as u16).to_le_bytes())?;
        write(&mut body, name.as_bytes())?;
        write(&mut body, &len.to_le_bytes())?;
        let mut buf = vec![0u8; 1 << 16];
        let mut left = len;
        while left > 0 {
            let n = src.read(&mut buf).map_err(|e| io("reading", &path, e))?;
            if n == 0 {
                return Err(bad(dir, format!("{name} shrank while it was archived")));
            }
            let n = n.min(left as usize);
            write(&mut body, &buf[..n])?;
            left -= n as u64;
        }
    }
    write(&mut body, &0u16.to_le_bytes())?;
    let out = body.finish().map_err(|e| io("writing", &tmp, e))?;
    out.into_inner()
        .map_err(|e| io("writing", &tmp, e.into_error()))?
        .sync_all()
        .map_err(|e| io("syncing", &tmp, e))?;
    std::fs::rename(&tmp, archive_path).map_err(|e| io("renaming", archive_path, e))
}

/// Reads the body back: plain bytes, or chunks opened and checked in order.
struct BodyReader<R: Read> {
    input: R,
    cipher: Option<(XChaCha20Poly1305, [u8; 16], [u8; HEADER_LEN])>,
    buf: Vec<u8>,
    at: usize,
    index: u64,
    ended: bool,
}

impl<R: Read> BodyReader<R> {
    fn fill(&mut self, path: &Path) -> Result<(), AedbError> {
        let Some((cipher, file_nonce, header)) = &self.cipher else {
            return Ok(());
        };
        if self.ended {
            return Err(bad(path, "the archive's body ends inside an entry"));
        }
        let mut len = [0u8; 4];
        self.input
            .read_exact(&mut len)
            .map_err(|_| bad(path, "the archive is cut short (no final chunk)"))?;
        let len = u32::from_le_bytes(len) as usize;
        if !(TAG_LEN..=CHUNK + TAG_LEN).contains(&len) {
            return Err(bad(path, format!("chunk {} has length {len}", self.index)));
        }
        let mut sealed = vec![0u8; len];
        self.input
            .read_exact(&mut sealed)
            .map_err(|_| bad(path, "the archive is cut short inside a chunk"))?;
        for last in [false, true] {
            if let Ok(plain) = cipher.decrypt(
                &nonce(file_nonce, self.index),
                Payload {
                    msg: &sealed,
                    aad: &aad(header, last),
                },
            ) {
                self.buf = plain;
                self.at = 0;
                self.index += 1;
                self.ended = last;
                return Ok(());
            }
        }
        Err(bad(
            path,
            format!(
                "chunk {} does not open: a wrong key, or a damaged or reordered archive",
                self.index
            ),
        ))
    }

    fn read_exact(&mut self, out: &mut [u8], path: &Path) -> Result<(), AedbError> {
        if self.cipher.is_none() {
            return self
                .input
                .read_exact(out)
                .map_err(|_| bad(path, "the archive is cut short"));
        }
        let mut done = 0;
        while done < out.len() {
            if self.at == self.buf.len() {
                self.fill(path)?;
            }
            let n = (self.buf.len() - self.at).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.at..self.at + n]);
            self.at += n;
            done += n;
        }
        Ok(())
    }
}

/// A relative name with no way out of the target directory.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Extracts the archive at `archive_path` into `dir` (new or empty); an
/// encrypted archive needs its key.
pub fn extract_backup_archive(
    archive_path: &Path,
    dir: &Path,
    encryption_key: Option<&[u8; 32]>,
) -> Result<(), AedbError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| io("listing", dir, e))?
            .next()
            .is_some()
    {
        return Err(bad(dir, "not empty: extract into a new directory"));
    }
    let file = File::open(archive_path).map_err(|e| io("opening", archive_path, e))?;
    let mut input = BufReader::new(file);
    let mut header = [0u8; HEADER_LEN];
    input
        .read_exact(&mut header)
        .map_err(|_| bad(archive_path, "shorter than an archive header"))?;
    if &header[..8] != MAGIC {
        return Err(bad(archive_path, "not an aedb backup archive (magic)"));
    }
    let encrypted =
        u32::from_le_bytes([header[8], header[9], header[10], header[11]]) & FLAG_ENCRYPTED != 0;
    let cipher = match (encrypted, encryption_key) {
        (true, None) => return Err(bad(archive_path, "the archive is encrypted; give its key")),
        (false, Some(_)) => {
            return Err(bad(
                archive_path,
                "the archive is not encrypted, and a key was given",
            ));
        }
        (true, Some(key)) => {
            let mut file_nonce = [0u8; 16];
            file_nonce.copy_from_slice(&header[16..32]);
            Some((XChaCha20Poly1305::new(key.into()), file_nonce, header))
        }
        (false, None) => None,
    };
    let mut body = BodyReader {
        input,
        cipher,
        buf: Vec::new(),
        at: 0,
        index: 0,
        ended: false,
    };
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    loop {
        let mut n = [0u8; 2];
        body.read_exact(&mut n, archive_path)?;
        let n = u16::from_le_bytes(n) as usize;
        if n == 0 {
            break;
        }
        let mut name = vec![0u8; n];
        body.read_exact(&mut name, archive_path)?;
        let name = String::from_utf8(name)
            .ok()
            .filter(|n| safe_name(n))
            .ok_or_else(|| bad(archive_path, "an entry's name leaves the directory"))?;
        let mut len = [0u8; 8];
        body.read_exact(&mut len, archive_path)?;
        let mut left = u64::from_le_bytes(len);
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        }
        let mut out = BufWriter::new(File::create(&path).map_err(|e| io("creating", &path, e))?);
        let mut buf = vec![0u8; 1 << 16];
        while left > 0 {
            let k = (buf.len() as u64).min(left) as usize;
            body.read_exact(&mut buf[..k], archive_path)?;
            out.write_all(&buf[..k])
                .map_err(|e| io("writing", &path, e))?;
            left -= k as u64;
        }
        out.into_inner()
            .map_err(|e| io("writing", &path, e.into_error()))?
            .sync_all()
            .map_err(|e| io("syncing", &path, e))?;
    }
    if body.cipher.is_some() && !body.ended {
        return Err(bad(
            archive_path,
            "the archive is cut short (no final chunk)",
        ));
    }
    let mut rest = [0u8; 1];
    if body.at < body.buf.len()
        || body
            .input
            .read(&mut rest)
            .map_err(|e| io("reading", archive_path, e))?
            != 0
    {
        return Err(bad(archive_path, "bytes follow the archive's end"));
    }
    Ok(())
}
