//! Arbitrary bytes through `flow_contract::decode`: never a panic; an accepted message
//! re-encodes to bytes that decode to the same message; `decode` and serde's derived decoder
//! agree on the shape, and every rejection has a path.
#![no_main]

use flow_contract::{decode, FlowMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let by_serde = serde_json::from_slice::<FlowMessage>(data);
    match decode(data, "demo") {
        Ok(message) => {
            assert!(by_serde.is_ok(), "decode accepted what serde rejects");
            let bytes = message.to_json();
            let again = decode(&bytes, "demo").expect("re-encoded message decodes");
            assert_eq!(again, message);
            assert_eq!(again.to_json(), bytes);
        }
        Err(err) => {
            assert!(err.path().starts_with('$'));
            let semantic = matches!(
                err.code(),
                "empty" | "too_long" | "too_large" | "flow_mismatch" | "negative"
            );
            assert_eq!(by_serde.is_ok(), semantic, "disagreement: {err}");
        }
    }
});
