//! `relay-upgrade`: replaces the SDK vendored in an app generated from the template
//! (`relay-workflow/`) with the SDK this tool was built with (or `--from <dir>`).
//!
//! ```text
//! $ cd my-relay && relay-upgrade --dry-run
//! $ relay-upgrade
//! ```
//!
//! It refuses when vendored files were edited, and names them: it compares them with the
//! app's `relay-workflow/VENDORED.txt` (the version and the git blob id of every file as
//! shipped), or, for an app generated before manifests existed (SDK 0.1.0), with every file
//! that ever shipped then (`shipped-0.1.0.txt`). It removes the files the new SDK no longer
//! has (only those it shipped), removes the old `cargo sim`/`doctor`/`load` aliases, refreshes
//! `Cargo.lock` (`cargo update -p relay-workflow`), and prints the changelog in between.
//!
//! Maintainers: `cargo run -p relay-tools --bin relay-upgrade -- manifest` rewrites the SDK's
//! `VENDORED.txt` after the SDK changes (a test fails while it is stale).

mod app_fixes;
mod changelog;
mod manifest;
mod plan;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Args, Parser, Subcommand};

use app_fixes::{drop_tool_aliases, ConfigFix};
use changelog::{entries_between, parse_version};
use manifest::{blob_id, package_version, read_folder, BlobId, Manifest, MANIFEST_FILE};
use plan::{Conflict, Plan, Shipped};

include!(concat!(env!("OUT_DIR"), "/embedded_sdk.rs"));

/// Every (path, blob id) shipped under `relay-workflow/` while the SDK was 0.1.0 with no
/// manifest; the file's header says how it was made.
const SHIPPED_0_1_0: &str = include_str!("shipped-0.1.0.txt");

/// The version of apps generated before manifests existed.
const LEGACY_VERSION: &str = "0.1.0";

/// The SDK folder of the repository this tool was built from (`manifest`'s default).
const REPO_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../template/relay-workflow");

/// The vendored SDK's folder in an app.
const SDK_DIR: &str = "relay-workflow";

#[derive(Debug, Parser)]
#[command(
    name = "relay-upgrade",
    version,
    about = "Upgrade the relay-workflow SDK vendored in an app generated from the template",
    long_about = "Upgrade the relay-workflow SDK vendored in an app generated from the template.\n\n\
        Run in the app's folder (or give --app). Replaces relay-workflow/ with the SDK built into \
        this tool (or --from), refuses when you edited vendored files (and names them), removes \
        the files the new SDK no longer has, refreshes Cargo.lock (cargo update -p relay-workflow) \
        and prints the changelog in between. --dry-run shows all of it and changes nothing.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Maintainer>,
    #[command(flatten)]
    upgrade: Upgrade,
}

#[derive(Debug, Args)]
struct Upgrade {
    /// The app's folder: the one with Cargo.toml and relay-workflow/
    #[arg(long, value_name = "DIR", default_value = ".")]
    app: PathBuf,
    /// Install the SDK in this folder (a relay-workflow crate) instead of the one built in
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// Show what would change, and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Overwrite or remove vendored files you edited, and allow a downgrade
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum Maintainer {
    /// Rewrite the SDK's VENDORED.txt from its files (after changing the SDK)
    Manifest {
        /// The SDK's folder [default: template/relay-workflow of the repository this tool was
        /// built from]
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
        /// Only check that VENDORED.txt is up to date (exit status 1 if not)
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Maintainer::Manifest { sdk, check }) => {
            let repo_sdk = Path::new(REPO_SDK)
                .canonicalize()
                .unwrap_or_else(|_| REPO_SDK.into());
            write_manifest(sdk.as_deref().unwrap_or(&repo_sdk), check)
        }
        None => upgrade(&cli.upgrade),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("relay-upgrade: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `manifest`: writes (or checks) `<sdk>/VENDORED.txt`.
fn write_manifest(sdk: &Path, check: bool) -> Result<(), String> {
    let path = sdk.join(MANIFEST_FILE);
    let text = Manifest::of(&read_folder(sdk)?)?.render();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == text {
        println!("{} is up to date", path.display());
        Ok(())
    } else if check {
        Err(format!(
            "{} is stale; rewrite it with: {}",
            path.display(),
            manifest::REGENERATE
        ))
    } else {
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
        Ok(())
    }
}

/// The SDK this tool installs: `--from`, or the one built in.
fn new_sdk(from: Option<&Path>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    match from {
        Some(dir) => read_folder(dir).map_err(|e| format!("--from: {e}")),
        None => Ok(EMBEDDED_SDK
            .iter()
            .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
            .collect()),
    }
}

/// The (path, blob id) pairs of `shipped-0.1.0.txt`.
fn legacy_set() -> BTreeSet<(String, BlobId)> {
    SHIPPED_0_1_0
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split_once("  "))
        .map(|(id, path)| (path.to_owned(), id.to_owned()))
        .collect()
}

/// What the app's SDK shipped with: its `VENDORED.txt`, or, for an app generated before
/// manifests existed (SDK 0.1.0 and no manifest), the legacy set.
#[derive(Debug)]
enum OldSdk {
    Manifest(Manifest),
    Legacy,
}

impl OldSdk {
    /// Reads the app's `VENDORED.txt` (if any) and the vendored `Cargo.toml`.
    fn detect(manifest: Option<&str>, files: &BTreeMap<String, Vec<u8>>) -> Result<OldSdk, String> {
        if let Some(text) = manifest {
            return Manifest::parse(text)
                .map(OldSdk::Manifest)
                .map_err(|e| format!("{SDK_DIR}/{MANIFEST_FILE}: {e}"));
        }
        let version = files
            .get("Cargo.toml")
            .and_then(|toml| package_version(&String::from_utf8_lossy(toml)))
            .ok_or_else(|| format!("{SDK_DIR}/Cargo.toml names no version"))?;
        if version == LEGACY_VERSION {
            Ok(OldSdk::Legacy)
        } else {
            Err(format!(
                "{SDK_DIR}/{MANIFEST_FILE} is missing, and the SDK's version is {version}: without it the files \
                 the SDK shipped cannot be told from your edits (only {LEGACY_VERSION} had none)"
            ))
        }
    }

    fn version(&self) -> &str {
        match self {
            OldSdk::Manifest(manifest) => &manifest.version,
            OldSdk::Legacy => LEGACY_VERSION,
        }
    }
}

/// The upgrade, or its dry run.
fn upgrade(args: &Upgrade) -> Result<(), String> {
    let app = &args.app;
    let sdk_dir = app.join(SDK_DIR);
    if !app.join("Cargo.toml").is_file() || !sdk_dir.join("Cargo.toml").is_file() {
        return Err(format!(
            "{} is not an app generated from the relay-workflow template (no Cargo.toml and {SDK_DIR}/Cargo.toml \
             there); run relay-upgrade in the app's folder, or give --app <DIR>",
            app.display()
        ));
    }
    let shown = app.canonicalize().unwrap_or_else(|_| app.clone());
    let new_files = new_sdk(args.from.as_deref())?;
    let new_manifest = Manifest::of(&new_files)?;
    let app_files = read_folder(&sdk_dir)?;
    let app_manifest = match std::fs::read_to_string(sdk_dir.join(MANIFEST_FILE)) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{SDK_DIR}/{MANIFEST_FILE}: {e}")),
    };
    let old = OldSdk::detect(app_manifest.as_deref(), &app_files)?;
    let (old_version, new_version) = (old.version().to_owned(), new_manifest.version.clone());
    if parse_version(&new_version) < parse_version(&old_version) && !args.force {
        return Err(format!(
            "the app vendors relay-workflow {old_version}, newer than this tool's {new_version}: refusing to \
             downgrade (--force does it)"
        ));
    }

    let legacy;
    let shipped = match &old {
        OldSdk::Manifest(manifest) => Shipped::Manifest(manifest),
        OldSdk::Legacy => {
            legacy = legacy_set();
            Shipped::Legacy(&legacy)
        }
    };
    let app_ids: BTreeMap<String, BlobId> = app_files
        .iter()
        .map(|(path, content)| (path.clone(), blob_id(content)))
        .collect();
    let plan = plan::plan(&app_ids, shipped, &new_manifest.files, args.force)
        .map_err(|edits| refusal(&old_version, &edits))?;

    let config_path = app.join(".cargo/config.toml");
    let config_fix = match std::fs::read_to_string(&config_path) {
        Ok(text) => drop_tool_aliases(&text),
        Err(_) => ConfigFix::Unchanged,
    };
    let manifest_text = new_manifest.render();
    let manifest_current = app_manifest.as_deref() == Some(manifest_text.as_str());
    if plan.is_empty() && manifest_current && config_fix == ConfigFix::Unchanged {
        println!(
            "relay-upgrade: {} already vendors relay-workflow {new_version}; nothing to do",
            shown.display()
        );
        return Ok(());
    }

    let would = if args.dry_run { "would " } else { "" };
    println!(
        "relay-upgrade: relay-workflow {old_version} -> {new_version} in {}{}",
        shown.display(),
        if args.dry_run {
            " (dry run: nothing changes)"
        } else {
            ""
        }
    );
    print_plan(&plan, would);
    if !args.dry_run {
        apply(&sdk_dir, &plan, &new_files, &manifest_text)?;
    }
    println!("  {would}write    {SDK_DIR}/{MANIFEST_FILE} (relay-workflow {new_version})");

    let removed_aliases = fix_config(&config_path, &config_fix, args.dry_run, would)?;
    refresh_lock(app, args.dry_run)?;

    let changes = new_files
        .get("CHANGELOG.md")
        .map(|text| entries_between(&String::from_utf8_lossy(text), &old_version, &new_version))
        .unwrap_or_default();
    if !changes.is_empty() {
        println!("\nWhat changed from {old_version} to {new_version} ({SDK_DIR}/CHANGELOG.md):\n\n{changes}");
    }
    if !removed_aliases.is_empty() {
        let list = removed_aliases
            .iter()
            .map(|a| format!("`cargo {a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "\nThe developer tools are no longer part of the SDK, so {list} {would}stop working. Install them once per machine:\n\n    \
             cargo install --locked --git <url of the SDK's repository> relay-tools\n\n\
             (or `cargo install --locked --path <clone>/tools`), then run `relay-sim …`, `relay-doctor …` and `relay-load …` \
             where you ran `cargo sim …`, `cargo doctor …` and `cargo load …` (your README.md may still say so)."
        );
    }
    if !args.dry_run {
        println!("\nDone. Check the app with `cargo test` and `cargo build --release --locked`, then commit.");
    }
    Ok(())
}

/// The message of a refusal: every edited file, and the ways out.
fn refusal(old_version: &str, edits: &[plan::Edit]) -> String {
    let mut message = format!("refusing to upgrade: these files of {SDK_DIR}/ are not as relay-workflow {old_version} shipped them:\n");
    for edit in edits {
        let why = match edit.conflict {
            Conflict::Edited => "edited",
            Conflict::Added => "not shipped by the SDK, and the new SDK has a file there",
        };
        message.push_str(&format!("    {SDK_DIR}/{} ({why})\n", edit.path));
    }
    message.push_str(&format!(
        "Move your changes out of {SDK_DIR}/ (or undo them: `git checkout -- {SDK_DIR}`), then run relay-upgrade \
         again; --force overwrites them."
    ));
    message
}

fn print_plan(plan: &Plan, would: &str) {
    let forced: BTreeSet<&str> = plan.forced.iter().map(|edit| edit.path.as_str()).collect();
    let note = |path: &str| {
        if forced.contains(path) {
            " (your edits are overwritten: --force)"
        } else {
            ""
        }
    };
    for (verb, paths) in [
        ("add", &plan.add),
        ("restore", &plan.restore),
        ("replace", &plan.replace),
        ("remove", &plan.remove),
    ] {
        for path in paths {
            println!("  {would}{verb:<8} {SDK_DIR}/{path}{}", note(path));
        }
    }
    for path in &plan.keep {
        println!("  {would}keep     {SDK_DIR}/{path} (yours: the SDK never shipped it)");
    }
    println!("  {} files already up to date", plan.unchanged);
}

/// Writes the plan into `sdk_dir`; the manifest last, so that an interrupted upgrade can be
/// run again.
fn apply(
    sdk_dir: &Path,
    plan: &Plan,
    new_files: &BTreeMap<String, Vec<u8>>,
    manifest_text: &str,
) -> Result<(), String> {
    for path in plan.add.iter().chain(&plan.restore).chain(&plan.replace) {
        let target = sdk_dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&target, &new_files[path])
            .map_err(|e| format!("{}: {e}", target.display()))?;
    }
    for path in &plan.remove {
        let target = sdk_dir.join(path);
        std::fs::remove_file(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        // Folders left empty go too, up to relay-workflow/ (remove_dir fails on one that is not).
        let mut dir = target.parent();
        while let Some(d) = dir.filter(|d| *d != sdk_dir && d.starts_with(sdk_dir)) {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    let path = sdk_dir.join(MANIFEST_FILE);
    std::fs::write(&path, manifest_text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Applies the `.cargo/config.toml` fix; returns the aliases removed.
fn fix_config(
    path: &Path,
    fix: &ConfigFix,
    dry_run: bool,
    would: &str,
) -> Result<Vec<String>, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    match fix {
        ConfigFix::Unchanged => Ok(Vec::new()),
        ConfigFix::Delete { aliases } => {
            println!(
                "  {would}delete   .cargo/config.toml (it held only the old tool aliases: {})",
                aliases.join(", ")
            );
            if !dry_run {
                std::fs::remove_file(path).map_err(err)?;
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir(dir); // only if empty
                }
            }
            Ok(aliases.clone())
        }
        ConfigFix::Rewrite { text, aliases } => {
            println!(
                "  {would}edit     .cargo/config.toml (remove the old tool aliases: {})",
                aliases.join(", ")
            );
            if !dry_run {
                std::fs::write(path, text).map_err(err)?;
            }
            Ok(aliases.clone())
        }
    }
}

/// `cargo update -p relay-workflow` in the app: the SDK's new version and any new dependency
/// enter `Cargo.lock`; every other pin stays. Versions that need a newer Rust than the app's
/// `rust-version` are avoided where possible.
fn refresh_lock(app: &Path, dry_run: bool) -> Result<(), String> {
    if !app.join("Cargo.lock").is_file() {
        println!("  no Cargo.lock: cargo writes one at the next build");
        return Ok(());
    }
    if dry_run {
        println!("  would run cargo update -p relay-workflow (refreshes Cargo.lock)");
        return Ok(());
    }
    println!("  running cargo update -p relay-workflow (refreshes Cargo.lock)");
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .args(["update", "-p", "relay-workflow"])
        .current_dir(app);
    if std::env::var_os("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS").is_none() {
        command.env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback");
    }
    let status = command
        .status()
        .map_err(|e| format!("running cargo update: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the SDK's files are upgraded, but `cargo update -p relay-workflow` failed ({status}); run it in {} \
             once the cause is fixed",
            app.display()
        ))
    }
}
