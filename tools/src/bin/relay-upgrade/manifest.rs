//! The vendoring manifest (`relay-workflow/VENDORED.txt`): the SDK's version and each file's
//! git blob id as shipped; reading an SDK folder's files; the SDK's version from its
//! `Cargo.toml`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use sha1::{Digest, Sha1};

/// The manifest's file name, inside the vendored `relay-workflow/` folder.
pub const MANIFEST_FILE: &str = "VENDORED.txt";

/// The command that rewrites the SDK's manifest in this repository.
pub const REGENERATE: &str = "cargo run -p relay-tools --bin relay-upgrade -- manifest";

/// A git blob id: 40 lowercase hex digits.
pub type BlobId = String;

/// The git blob id of a file's content (what `git hash-object` prints): the SHA-1 of
/// `blob <length>\0<content>`. Text (no NUL byte) is read with CRLF line ends as LF, as git
/// stores it, so that a checkout with Windows line ends still matches what was shipped.
pub fn blob_id(content: &[u8]) -> BlobId {
    let normalized;
    let content = if !content.contains(&0) && content.windows(2).any(|w| w == b"\r\n") {
        normalized = crlf_to_lf(content);
        &normalized[..]
    } else {
        content
    };
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", content.len()).as_bytes());
    hasher.update(content);
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(40), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn crlf_to_lf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    for (i, &byte) in content.iter().enumerate() {
        if !(byte == b'\r' && content.get(i + 1) == Some(&b'\n')) {
            out.push(byte);
        }
    }
    out
}

/// What `VENDORED.txt` says: the SDK version and the blob id of each file (path relative to
/// `relay-workflow/`, `/`-separated), the manifest itself excepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The SDK's version, as in its `Cargo.toml`.
    pub version: String,
    /// Path → blob id.
    pub files: BTreeMap<String, BlobId>,
}

impl Manifest {
    /// The manifest of a set of files (path → content) and the version their `Cargo.toml` names.
    pub fn of(files: &BTreeMap<String, Vec<u8>>) -> Result<Manifest, String> {
        let cargo_toml = files.get("Cargo.toml").ok_or("the SDK has no Cargo.toml")?;
        let version = package_version(&String::from_utf8_lossy(cargo_toml))
            .ok_or("the SDK's Cargo.toml names no [package] version")?;
        Ok(Manifest {
            version,
            files: files
                .iter()
                .map(|(path, content)| (path.clone(), blob_id(content)))
                .collect(),
        })
    }

    /// The text of `VENDORED.txt`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "# The relay-workflow SDK vendored in this folder, as shipped: its version, then each\n\
             # file's git blob id (`git hash-object <file>`) and path. relay-upgrade compares the\n\
             # files with it to tell your edits from the SDK; do not edit it. In the SDK's\n\
             # repository, rewrite it after changing the SDK with:\n\
             #     {REGENERATE}\n\
             version {}\n",
            self.version
        );
        for (path, id) in &self.files {
            let _ = writeln!(out, "{id}  {path}");
        }
        out
    }

    /// Reads the text of `VENDORED.txt`.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut version = None;
        let mut files = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("line {}: unexpected {line:?}", number + 1);
            if version.is_none() {
                let v = line.strip_prefix("version ").ok_or_else(bad)?;
                version = Some(v.trim().to_owned());
                continue;
            }
            let (id, path) = line.split_once("  ").ok_or_else(bad)?;
            if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() {
                return Err(bad());
            }
            files.insert(path.to_owned(), id.to_ascii_lowercase());
        }
        let version = version.ok_or("no `version` line")?;
        Ok(Manifest { version, files })
    }
}

/// The `version` of the `[package]` table of a `Cargo.toml`.
pub fn package_version(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim() == "version" {
                    let value = value.trim();
                    return value
                        .strip_prefix('"')?
                        .split('"')
                        .next()
                        .map(str::to_owned);
                }
            }
        }
    }
    None
}

/// Every file under `dir` (path relative to it, `/`-separated → content), skipping `target`
/// folders (build output) and the manifest itself. Symbolic links are read as files.
pub fn read_folder(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    read_into(dir, "", &mut files)?;
    Ok(files)
}

fn read_into(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| format!("{}: the name is not UTF-8", path.display()))?;
        let relative = format!("{prefix}{name}");
        if path.is_dir() {
            if name != "target" {
                read_into(&path, &format!("{relative}/"), files)?;
            }
        } else if relative != MANIFEST_FILE {
            let content = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.insert(relative, content);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_git_hash_object() {
        // `printf 'hello\n' | git hash-object --stdin`, and the empty blob.
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        // CRLF text reads as LF text; binary content is taken as it is.
        assert_eq!(blob_id(b"hello\r\n"), blob_id(b"hello\n"));
        assert_ne!(blob_id(b"\0hello\r\n"), blob_id(b"\0hello\n"));
    }

    #[test]
    fn a_manifest_reads_back_what_it_wrote() {
        let files = BTreeMap::from([
            (
                "Cargo.toml".to_owned(),
                b"[package]\nname = \"relay-workflow\"\nversion = \"1.2.3\"\n".to_vec(),
            ),
            ("src/lib.rs".to_owned(), b"//! lib\n".to_vec()),
        ]);
        let manifest = Manifest::of(&files).unwrap();
        assert_eq!(manifest.version, "1.2.3");
        let text = manifest.render();
        assert!(text.contains(REGENERATE), "{text}");
        assert!(
            text.contains(&format!("{}  src/lib.rs\n", blob_id(b"//! lib\n"))),
            "{text}"
        );
        assert_eq!(Manifest::parse(&text).unwrap(), manifest);
        assert!(Manifest::parse("version 1.0.0\nnot-a-hash  x\n").is_err());
        assert!(Manifest::parse("# only a comment\n").is_err());
    }

    #[test]
    fn the_package_version_is_the_package_tables() {
        let toml = "[workspace]\nversion = \"9.9.9\"\n\n[package]\nname = \"x\"\nversion = \"0.2.0\" # now\n[dependencies]\nversion = \"1\"\n";
        assert_eq!(package_version(toml).as_deref(), Some("0.2.0"));
        assert_eq!(package_version("[dependencies]\nversion = \"1\"\n"), None);
    }
}
