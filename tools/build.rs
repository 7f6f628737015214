//! Build script of relay-tools: embeds the SDK (`../template/relay-workflow`, every file but
//! build output and `VENDORED.txt`) into `relay-upgrade`, so that an installed tool carries the
//! SDK of the same commit (`cargo install --git <url> relay-tools` builds from a full checkout).
//! It writes `$OUT_DIR/embedded_sdk.rs`: one `(path, bytes)` pair per file, sorted by path.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The vendoring manifest is computed from the files, never embedded: the upgrade writes the
/// one that matches what it installs.
const MANIFEST: &str = "VENDORED.txt";

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let sdk = manifest_dir.join("../template/relay-workflow");
    println!("cargo::rerun-if-changed=build.rs");
    // A directory: cargo reruns this script when anything inside it changes.
    println!("cargo::rerun-if-changed={}", sdk.display());
    let sdk = sdk.canonicalize().unwrap_or_else(|e| {
        panic!(
            "relay-tools embeds the SDK from {}: {e} (build relay-tools from a full checkout of its repository)",
            sdk.display()
        )
    });
    let mut files = Vec::new();
    collect(&sdk, &sdk, &mut files);
    files.sort();
    let mut out = String::from(
        "/// The SDK (`template/relay-workflow`) as this tool was built with it: `(path, bytes)`, sorted by path.\n\
         pub static EMBEDDED_SDK: &[(&str, &[u8])] = &[\n",
    );
    for (relative, absolute) in &files {
        writeln!(
            out,
            "    ({relative:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("embedded_sdk.rs"), out).expect("writing embedded_sdk.rs");
}

/// Every file under `dir`, with its path relative to `root` (`/`-separated); skips `target`
/// folders (build output) and the manifest.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let path = entry.path();
        let kind = entry
            .file_type()
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let relative = path
            .strip_prefix(root)
            .expect("a path under the root")
            .iter()
            .map(|part| {
                part.to_str()
                    .unwrap_or_else(|| panic!("not UTF-8: {}", path.display()))
            })
            .collect::<Vec<_>>()
            .join("/");
        if kind.is_dir() {
            if relative != "target" && !relative.ends_with("/target") {
                collect(root, &path, files);
            }
        } else if relative != MANIFEST {
            files.push((relative, path));
        }
    }
}
