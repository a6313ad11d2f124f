//! Content hashes: blake3, written as 64 hex digits.

use std::path::Path;

/// Files above this size are hashed memory-mapped on all cores.
const PARALLEL_FROM: u64 = 1 << 20;

/// The blake3 hash of a file's bytes, hex.
pub fn of_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    if std::fs::metadata(path)?.len() >= PARALLEL_FROM {
        hasher.update_mmap_rayon(path)?;
    } else {
        hasher.update(&std::fs::read(path)?);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// The blake3 hash of bytes, hex.
pub fn of_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
