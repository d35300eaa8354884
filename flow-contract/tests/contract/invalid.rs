//! Every invalid vector is rejected with the error recorded beside it (`<name>.error`).

use flow_contract::{FlowMessage, decode};

use crate::{FLOW, vector_path, vectors};

#[test]
fn invalid_vectors_fail_with_their_recorded_error() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for (name, bytes) in vectors("invalid") {
        let got = match decode(&bytes, FLOW) {
            Ok(message) => format!("accepted: {message:?}"),
            Err(err) => format!("{}: {err}\n", err.code()),
        };
        let path = vector_path("invalid", &format!("{name}.error"));
        if update {
            std::fs::write(&path, &got).expect("write expected error");
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            failures.push(format!("{name}:\n  want: {want}  got:  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_invalid_vector_names_line_zero_column_zero() {
    for (name, bytes) in vectors("invalid") {
        let err = decode(&bytes, FLOW).expect_err(&name);
        let text = err.to_string();
        assert!(!text.contains("line 0"), "{name}: {text}");
        assert!(err.path().starts_with('$'), "{name}: {}", err.path());
    }
}

/// Vectors that break only a validation rule are well-formed for serde; every other invalid
/// vector must be rejected by serde's derived decoder too, so the strict shape lives in the types
/// and not only in `decode`.
#[test]
fn serde_rejects_every_structural_vector() {
    let semantic = ["empty", "flow_mismatch", "negative_lag", "too_"];
    for (name, bytes) in vectors("invalid") {
        let parsed = serde_json::from_slice::<FlowMessage>(&bytes);
        if semantic.iter().any(|prefix| name.starts_with(prefix)) {
            assert!(parsed.is_ok(), "{name} should be well-formed for serde");
        } else {
            assert!(parsed.is_err(), "{name} was accepted by serde");
        }
    }
}
