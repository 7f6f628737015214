//! The file plan of an upgrade, decided with no I/O: which vendored files the new SDK adds,
//! replaces or removes, which files are the user's, and, before anything is written, which
//! vendored files the user edited (the refusal).

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::{BlobId, Manifest};

/// What the app's SDK shipped with, to tell the user's edits from the SDK's files.
#[derive(Debug, Clone, Copy)]
pub enum Shipped<'a> {
    /// The app's `VENDORED.txt`: exactly the files of its SDK.
    Manifest(&'a Manifest),
    /// An app generated before manifests existed (SDK 0.1.0): every (path, blob id) that ever
    /// shipped then. Files the user deleted cannot be told apart here.
    Legacy(&'a BTreeSet<(String, BlobId)>),
}

impl Shipped<'_> {
    /// Whether the SDK shipped this content at this path.
    fn shipped(&self, path: &str, id: &str) -> bool {
        match self {
            Shipped::Manifest(manifest) => manifest
                .files
                .get(path)
                .is_some_and(|shipped| shipped == id),
            Shipped::Legacy(set) => set.contains(&(path.to_owned(), id.to_owned())),
        }
    }

    /// Whether the SDK shipped any file at this path.
    fn has_path(&self, path: &str) -> bool {
        match self {
            Shipped::Manifest(manifest) => manifest.files.contains_key(path),
            Shipped::Legacy(set) => set
                .range((path.to_owned(), String::new())..)
                .next()
                .is_some_and(|(p, _)| p == path),
        }
    }
}

/// Why a vendored file stops the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A file the SDK shipped, with other content now.
    Edited,
    /// A file the SDK did not ship, where the new SDK has one.
    Added,
}

/// A file of `relay-workflow/` that the upgrade would overwrite or remove although the SDK did
/// not ship it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Path relative to `relay-workflow/`.
    pub path: String,
    /// Why it is the user's.
    pub conflict: Conflict,
}

/// What the upgrade does to `relay-workflow/`; every list is sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files the new SDK adds.
    pub add: Vec<String>,
    /// Files the old SDK shipped and the user deleted: written again.
    pub restore: Vec<String>,
    /// Files whose content changes.
    pub replace: Vec<String>,
    /// Files the old SDK shipped that the new one no longer has.
    pub remove: Vec<String>,
    /// Files the SDK never shipped, left where they are.
    pub keep: Vec<String>,
    /// Edits overwritten or removed because of `--force` (also listed in `replace`/`remove`).
    pub forced: Vec<Edit>,
    /// How many files are already as the new SDK has them.
    pub unchanged: usize,
}

impl Plan {
    /// Whether the plan changes no file.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty()
            && self.restore.is_empty()
            && self.replace.is_empty()
            && self.remove.is_empty()
    }
}

/// Plans the upgrade of `app` (path → blob id of each file now in `relay-workflow/`, the
/// manifest excepted) to `new` (the new SDK's files). A file already as the new SDK has it is
/// never a conflict, so that an interrupted upgrade can be run again. Without `force`, any
/// edit stops the plan: the error lists them all.
pub fn plan(
    app: &BTreeMap<String, BlobId>,
    shipped: Shipped<'_>,
    new: &BTreeMap<String, BlobId>,
    force: bool,
) -> Result<Plan, Vec<Edit>> {
    let mut plan = Plan::default();
    let mut edits = Vec::new();
    for (path, id) in app {
        let in_new = new.get(path);
        if in_new == Some(id) {
            plan.unchanged += 1;
            continue;
        }
        let conflict = if shipped.shipped(path, id) {
            None
        } else if shipped.has_path(path) {
            Some(Conflict::Edited)
        } else if in_new.is_some() {
            Some(Conflict::Added)
        } else {
            plan.keep.push(path.clone());
            continue;
        };
        if let Some(conflict) = conflict {
            edits.push(Edit {
                path: path.clone(),
                conflict,
            });
        }
        if in_new.is_some() {
            plan.replace.push(path.clone());
        } else {
            plan.remove.push(path.clone());
        }
    }
    for path in new.keys().filter(|path| !app.contains_key(*path)) {
        if shipped.has_path(path) && matches!(shipped, Shipped::Manifest(_)) {
            plan.restore.push(path.clone());
        } else {
            plan.add.push(path.clone());
        }
    }
    if edits.is_empty() || force {
        plan.forced = edits;
        Ok(plan)
    } else {
        Err(edits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, BlobId> {
        entries
            .iter()
            .map(|(path, id)| (path.to_string(), id.to_string()))
            .collect()
    }

    fn manifest(entries: &[(&str, &str)]) -> Manifest {
        Manifest {
            version: "0.2.0".into(),
            files: files(entries),
        }
    }

    #[test]
    fn an_unedited_app_gets_the_new_files_and_loses_the_dropped_ones() {
        let old = manifest(&[
            ("Cargo.toml", "c1"),
            ("src/lib.rs", "l1"),
            ("src/old.rs", "o1"),
            ("docs/a.md", "d1"),
        ]);
        // The user deleted docs/a.md and added notes.txt; src/lib.rs is as shipped.
        let app = files(&[
            ("Cargo.toml", "c1"),
            ("src/lib.rs", "l1"),
            ("src/old.rs", "o1"),
            ("notes.txt", "n"),
        ]);
        let new = files(&[
            ("Cargo.toml", "c2"),
            ("src/lib.rs", "l1"),
            ("src/new.rs", "x"),
            ("docs/a.md", "d2"),
        ]);
        let plan = plan(&app, Shipped::Manifest(&old), &new, false).unwrap();
        assert_eq!(
            plan,
            Plan {
                add: vec!["src/new.rs".into()],
                restore: vec!["docs/a.md".into()],
                replace: vec!["Cargo.toml".into()],
                remove: vec!["src/old.rs".into()],
                keep: vec!["notes.txt".into()],
                forced: vec![],
                unchanged: 1,
            }
        );
    }

    #[test]
    fn edited_files_refuse_the_upgrade_and_are_all_named() {
        let old = manifest(&[
            ("Cargo.toml", "c1"),
            ("src/lib.rs", "l1"),
            ("src/old.rs", "o1"),
        ]);
        // src/lib.rs edited; src/old.rs (dropped by the new SDK) edited; src/new.rs added by
        // the user where the new SDK has a file.
        let app = files(&[
            ("Cargo.toml", "c1"),
            ("src/lib.rs", "mine"),
            ("src/old.rs", "mine too"),
            ("src/new.rs", "mine 3"),
        ]);
        let new = files(&[
            ("Cargo.toml", "c2"),
            ("src/lib.rs", "l2"),
            ("src/new.rs", "n2"),
        ]);
        let edits = plan(&app, Shipped::Manifest(&old), &new, false).unwrap_err();
        assert_eq!(
            edits,
            vec![
                Edit {
                    path: "src/lib.rs".into(),
                    conflict: Conflict::Edited
                },
                Edit {
                    path: "src/new.rs".into(),
                    conflict: Conflict::Added
                },
                Edit {
                    path: "src/old.rs".into(),
                    conflict: Conflict::Edited
                },
            ]
        );
        // --force goes ahead, and says what it overwrites.
        let forced = plan(&app, Shipped::Manifest(&old), &new, true).unwrap();
        assert_eq!(forced.forced, edits);
        assert_eq!(
            forced.replace,
            vec!["Cargo.toml", "src/lib.rs", "src/new.rs"]
        );
        assert_eq!(forced.remove, vec!["src/old.rs"]);
    }

    #[test]
    fn files_already_as_the_new_sdk_has_them_are_no_edit() {
        // An upgrade interrupted after writing src/lib.rs: the manifest is still the old one.
        let old = manifest(&[("Cargo.toml", "c1"), ("src/lib.rs", "l1")]);
        let app = files(&[("Cargo.toml", "c1"), ("src/lib.rs", "l2")]);
        let new = files(&[("Cargo.toml", "c2"), ("src/lib.rs", "l2")]);
        let plan = plan(&app, Shipped::Manifest(&old), &new, false).unwrap();
        assert_eq!(
            (plan.replace, plan.unchanged),
            (vec!["Cargo.toml".to_owned()], 1)
        );
    }

    #[test]
    fn a_legacy_app_is_checked_against_every_blob_that_shipped() {
        let set: BTreeSet<(String, BlobId)> = [
            ("src/lib.rs", "l1"),
            ("src/lib.rs", "l0"),
            ("src/bin/sim.rs", "s1"),
            ("Cargo.toml", "c1"),
        ]
        .iter()
        .map(|(p, i)| (p.to_string(), i.to_string()))
        .collect();
        // Any version that shipped is unedited; the tools the new SDK dropped go.
        let app = files(&[
            ("Cargo.toml", "c1"),
            ("src/lib.rs", "l0"),
            ("src/bin/sim.rs", "s1"),
        ]);
        let new = files(&[
            ("Cargo.toml", "c2"),
            ("src/lib.rs", "l2"),
            ("CHANGELOG.md", "ch"),
        ]);
        let ok = plan(&app, Shipped::Legacy(&set), &new, false).unwrap();
        assert_eq!(ok.replace, vec!["Cargo.toml", "src/lib.rs"]);
        assert_eq!(ok.remove, vec!["src/bin/sim.rs"]);
        assert_eq!(ok.add, vec!["CHANGELOG.md"]);
        assert!(ok.restore.is_empty() && ok.keep.is_empty());
        // Content that never shipped at its path is an edit, even if it shipped elsewhere.
        let edited = files(&[
            ("Cargo.toml", "c1"),
            ("src/lib.rs", "s1"),
            ("src/bin/sim.rs", "s1x"),
        ]);
        let edits = plan(&edited, Shipped::Legacy(&set), &new, false).unwrap_err();
        let paths: Vec<_> = edits.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["src/bin/sim.rs", "src/lib.rs"]);
    }
}
