//! Integration tests of `flow-contract`, driven by the shared golden vectors in
//! `testdata/contract/`. `UPDATE_GOLDEN=1 cargo test -p flow-contract` rewrites the expected
//! error of every invalid vector.

mod invalid;
mod properties;
mod valid;

use std::path::{Path, PathBuf};

/// The flow every vector is posted to.
pub const FLOW: &str = "demo";

/// The vectors of one directory, `(name, bytes)`, sorted by name.
pub fn vectors(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/contract")
        .join(dir);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("read vector"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no vectors in {}", root.display());
    out
}

/// Path of a file beside the vectors.
pub fn vector_path(dir: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/contract")
        .join(dir)
        .join(file)
}
