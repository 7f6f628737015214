//! Replays the fuzz corpus (fuzz/corpus/decode_frame) through the fuzz target's check, so the
//! property holds in every `cargo test`, with or without cargo-fuzz. Add a file there for
//! every crash a fuzz run finds.

include!("../fuzz/check.rs");

#[test]
fn the_fuzz_corpus_decodes_without_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_frame");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus directory") {
        let path = entry.expect("a corpus entry").path();
        let data = std::fs::read(&path).expect("a readable corpus file");
        check(&data);
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} corpus files in {}", dir.display());
}

#[test]
fn hostile_bytes_do_not_panic_the_check() {
    // Non-UTF-8 input is refused quietly; malformed JSON is an error, not a panic.
    check(&[0xff, 0xfe, 0x00]);
    check(b"{\"_type\":");
    check(b"");
}
