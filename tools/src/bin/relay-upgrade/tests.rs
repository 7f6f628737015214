//! Tests of relay-upgrade against this repository: the SDK's VENDORED.txt is current, the
//! embedded SDK is the template's, the legacy data knows SDK 0.1.0, how an app's old SDK is
//! detected, and a whole upgrade of a 0.1.0 app in a temporary folder.

use super::*;

fn repo_sdk() -> BTreeMap<String, Vec<u8>> {
    read_folder(Path::new(REPO_SDK)).expect("reading template/relay-workflow")
}

#[test]
fn the_sdk_manifest_is_current() {
    let expected = Manifest::of(&repo_sdk()).unwrap().render();
    let path = Path::new(REPO_SDK).join(MANIFEST_FILE);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == expected,
        "{} is stale (the SDK's files or version changed). Rewrite it with:\n\n    {}\n",
        path.display(),
        manifest::REGENERATE
    );
}

#[test]
fn the_embedded_sdk_is_the_template_one() {
    let embedded: BTreeMap<String, Vec<u8>> = new_sdk(None).unwrap();
    let on_disk = repo_sdk();
    assert_eq!(
        embedded.keys().collect::<Vec<_>>(),
        on_disk.keys().collect::<Vec<_>>()
    );
    assert!(
        embedded == on_disk,
        "the embedded SDK differs from template/relay-workflow"
    );
    assert!(embedded.contains_key("CHANGELOG.md") && embedded.contains_key("src/lib.rs"));
    assert!(!embedded.contains_key(MANIFEST_FILE));
}

#[test]
fn the_legacy_data_knows_sdk_0_1_0() {
    let set = legacy_set();
    // template/relay-workflow/Cargo.toml at 3cd0e47 and bdc168a (`git rev-parse <commit>:<path>`).
    for known in [
        "a1d15b10f7f635c9a778479695edb2e568cd2eca",
        "ad021147cf24272365bc091e1fa7d04617298562",
    ] {
        assert!(
            set.contains(&("Cargo.toml".to_owned(), known.to_owned())),
            "{known}"
        );
    }
    assert!(set
        .iter()
        .any(|(path, _)| path == "src/bin/relay-sim/main.rs"));
    assert!(set
        .iter()
        .all(|(path, id)| id.len() == 40 && !path.is_empty() && !path.starts_with('/')));
}

fn legacy_cargo_toml() -> Vec<u8> {
    b"[package]\nname = \"relay-workflow\"\nversion = \"0.1.0\"\n".to_vec()
}

#[test]
fn an_app_without_a_manifest_is_legacy_only_at_0_1_0() {
    let mut files = BTreeMap::from([("Cargo.toml".to_owned(), legacy_cargo_toml())]);
    assert!(matches!(OldSdk::detect(None, &files), Ok(OldSdk::Legacy)));
    files.insert(
        "Cargo.toml".into(),
        b"[package]\nversion = \"0.3.0\"\n".to_vec(),
    );
    let err = OldSdk::detect(None, &files).unwrap_err();
    assert!(
        err.contains("VENDORED.txt is missing") && err.contains("0.3.0"),
        "{err}"
    );
    let manifest = "version 0.2.0\n0123456789012345678901234567890123456789  src/lib.rs\n";
    match OldSdk::detect(Some(manifest), &files) {
        Ok(OldSdk::Manifest(m)) => assert_eq!((m.version.as_str(), m.files.len()), ("0.2.0", 1)),
        other => panic!("{other:?}"),
    }
    assert!(OldSdk::detect(Some("garbage"), &files).is_err());
}

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("relay-upgrade-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(root: &Path, path: &str, content: &[u8]) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// An app with a manifest upgraded from a `--from` folder: the dry run, the upgrade, then a
/// refusal and --force. No Cargo.lock, so no cargo runs.
#[test]
fn an_upgrade_writes_the_plan_the_manifest_and_drops_the_aliases() {
    let tmp = TempDir::new("apply");
    let (app, from) = (tmp.0.join("app"), tmp.0.join("sdk"));
    write(&app, "Cargo.toml", b"[package]\nname = \"app\"\n");
    write(
        &app,
        ".cargo/config.toml",
        b"[alias]\nsim = \"run -p relay-workflow --features tools --bin relay-sim --\"\n",
    );
    let old_files = BTreeMap::from([
        (
            "Cargo.toml".to_owned(),
            b"[package]\nname = \"relay-workflow\"\nversion = \"0.2.0\"\n".to_vec(),
        ),
        ("src/lib.rs".to_owned(), b"// old\n".to_vec()),
        ("src/bin/tool/main.rs".to_owned(), b"// tool\n".to_vec()),
    ]);
    for (path, content) in &old_files {
        write(&app.join(SDK_DIR), path, content);
    }
    write(
        &app.join(SDK_DIR),
        MANIFEST_FILE,
        Manifest::of(&old_files).unwrap().render().as_bytes(),
    );
    write(&app.join(SDK_DIR), "notes.md", b"mine\n");
    write(
        &from,
        "Cargo.toml",
        b"[package]\nname = \"relay-workflow\"\nversion = \"0.3.0\"\n",
    );
    write(&from, "src/lib.rs", b"// new\n");
    write(
        &from,
        "CHANGELOG.md",
        b"## [0.3.0]\n\n- three\n\n## [0.2.0]\n\n- two\n",
    );

    let args = |dry_run, force| Upgrade {
        app: app.clone(),
        from: Some(from.clone()),
        dry_run,
        force,
    };
    // A dry run changes nothing.
    let before = read_folder(&app.join(SDK_DIR)).unwrap();
    upgrade(&args(true, false)).unwrap();
    assert_eq!(read_folder(&app.join(SDK_DIR)).unwrap(), before);
    assert!(app.join(".cargo/config.toml").exists());

    upgrade(&args(false, false)).unwrap();
    let after = read_folder(&app.join(SDK_DIR)).unwrap();
    let paths: Vec<&str> = after.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        ["CHANGELOG.md", "Cargo.toml", "notes.md", "src/lib.rs"]
    );
    assert_eq!(after["src/lib.rs"], b"// new\n");
    assert!(
        !app.join(SDK_DIR).join("src/bin").exists(),
        "the emptied folders go"
    );
    assert!(!app.join(".cargo").exists(), "the alias-only config goes");
    let manifest =
        Manifest::parse(&std::fs::read_to_string(app.join(SDK_DIR).join(MANIFEST_FILE)).unwrap())
            .unwrap();
    assert_eq!(manifest.version, "0.3.0");
    assert_eq!(
        manifest.files.len(),
        3,
        "notes.md is the user's, not the SDK's"
    );

    // Now an edit: refused, and named.
    write(&app.join(SDK_DIR), "src/lib.rs", b"// new, and mine\n");
    write(&from, "src/lib.rs", b"// newer\n");
    let err = upgrade(&args(false, false)).unwrap_err();
    assert!(err.contains("relay-workflow/src/lib.rs (edited)"), "{err}");
    assert_eq!(
        std::fs::read(app.join(SDK_DIR).join("src/lib.rs")).unwrap(),
        b"// new, and mine\n"
    );
    upgrade(&args(false, true)).unwrap();
    assert_eq!(
        std::fs::read(app.join(SDK_DIR).join("src/lib.rs")).unwrap(),
        b"// newer\n"
    );
}

#[test]
fn a_folder_that_is_not_an_app_is_refused() {
    let tmp = TempDir::new("not-an-app");
    let err = upgrade(&Upgrade {
        app: tmp.0.clone(),
        from: None,
        dry_run: true,
        force: false,
    })
    .unwrap_err();
    assert!(
        err.contains("is not an app generated from the relay-workflow template"),
        "{err}"
    );
}
