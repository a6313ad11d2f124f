//! Content hashes: blake3, written as 64 hex digits.

use std::io::Read;
use std::path::Path;

/// Files above this size are hashed on all cores, a block at a time.
const PARALLEL_FROM: u64 = 1 << 20;
/// Read, not memory-mapped: a mapped file counts whole in the process's
/// resident memory while it is hashed (at 5 M events the 1.4 GB sqlite.db
/// made the pipeline's peak RSS), where a block costs 16 MiB and a copy
/// from the page cache.
const BLOCK: usize = 16 << 20;

/// The blake3 hash of a file's bytes, hex.
pub fn of_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.len() >= PARALLEL_FROM {
        let mut block = vec![0; BLOCK];
        loop {
            let n = file.read(&mut block)?;
            if n == 0 {
                break;
            }
            hasher.update_rayon(&block[..n]);
        }
    } else {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// The blake3 hash of bytes, hex.
pub fn of_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file read in blocks, small or spanning several blocks with a short
    /// last one, hashes as its bytes do.
    #[test]
    fn blocks_hash_as_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 5, PARALLEL_FROM as usize + 1, 2 * BLOCK + 12_345] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(of_file(&path).unwrap(), of_bytes(&bytes), "{len} bytes");
        }
    }
}
