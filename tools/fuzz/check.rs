// The property every fuzz input is checked against, shared by the cargo-fuzz target
// (fuzz_targets/decode_frame.rs) and the corpus replay in tests/fuzz_corpus.rs.

/// Whatever arrives in a text frame: `decode_frame` must return, never panic, and an event it
/// accepts must decode to the same event from its own wire form.
pub fn check(data: &[u8]) {
    use relay_workflow::protocol::{decode_frame, Incoming};
    // Text frames are UTF-8; anything else is refused before decoding.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Incoming::Event(event)) = decode_frame(text) {
        let wire = event.to_json().to_string();
        match decode_frame(&wire) {
            Ok(Incoming::Event(again)) => {
                // serde_json's default float parser may move the last bit of a long
                // mantissa on a second trip; compare the wire forms, which are stable.
                assert_eq!(
                    again.to_json().to_string(),
                    wire,
                    "the event's wire form changed on a second trip: {text}"
                );
            }
            other => panic!("{text} decoded as an event, but its wire form {wire} gave {other:?}"),
        }
    }
}
