//! The settings are written down in six places besides the code: the root `app.json`, the
//! template's `app.json.liquid` and `.env.example`, both READMEs and the SDK's crate
//! documentation. Each must agree with `relay_workflow::server::SETTINGS`: the same names,
//! the same defaults, and every description about its own variable.

use relay_workflow::server::{Setting, SETTINGS};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

fn mentions(text: &str, keyword: &str) -> bool {
    text.to_lowercase().contains(&keyword.to_lowercase())
}

/// `app.json` lists every Heroku setting with its default, and each description mentions
/// what its own row of the table is about and nothing that identifies another row (so a
/// description shifted onto its neighbour is caught).
fn check_app_json(path: &str, text: &str) {
    let json: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let env = json["env"]
        .as_object()
        .unwrap_or_else(|| panic!("{path}: no env"));
    let listed: BTreeSet<&str> = env.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = SETTINGS
        .iter()
        .filter(|s| s.heroku)
        .map(|s| s.name)
        .collect();
    assert_eq!(
        listed, expected,
        "{path}: the variables differ from SETTINGS"
    );
    for (name, entry) in env {
        let s = setting(name).unwrap();
        let value = entry.get("value").and_then(Value::as_str);
        assert_eq!(
            value, s.default,
            "{path}: {name}'s value is not its default"
        );
        let description = entry["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {name} has no description"));
        assert!(
            mentions(description, s.keyword),
            "{path}: {name}'s description does not mention {:?} ({}): {description}",
            s.keyword,
            s.meaning
        );
        for other in SETTINGS.iter().filter(|o| o.heroku && o.name != *name) {
            assert!(
                !mentions(description, other.keyword),
                "{path}: {name}'s description mentions {:?}, which is {}'s: {description}",
                other.keyword,
                other.name
            );
        }
    }
}

#[test]
fn app_json_agrees_with_the_settings_table() {
    check_app_json("app.json", &read("app.json"));
    // The template's placeholders (`{{project-name}}`, …) are not JSON; any word will do.
    let template = read("template/app.json.liquid");
    let mut plain = String::new();
    let mut rest = template.as_str();
    while let Some(start) = rest.find("{{") {
        plain.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("an unclosed {{") + start + 2;
        plain.push_str("placeholder");
        rest = &rest[end..];
    }
    plain.push_str(rest);
    check_app_json("template/app.json.liquid", &plain);
}

#[test]
fn env_example_agrees_with_the_settings_table() {
    let text = read("template/.env.example");
    for s in SETTINGS {
        let prefix = format!("{}=", s.name);
        let value = text
            .lines()
            .map(|l| l.trim_start_matches('#'))
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!(".env.example has no {} line", s.name));
        // Heroku's settings show their default; PORT and the TLS files show an example.
        if s.heroku {
            assert_eq!(
                value,
                s.default.unwrap_or(value),
                ".env.example: {} is not its default",
                s.name
            );
            if s.default.is_none() {
                assert!(
                    text.contains(&format!("#{prefix}")),
                    ".env.example: {} has no default, so its line must be commented out",
                    s.name
                );
            }
        }
    }
    for line in text.lines().map(|l| l.trim_start_matches('#')) {
        if let Some((name, _)) = line.split_once('=') {
            let looks_like_a_variable = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if looks_like_a_variable {
                assert!(
                    setting(name).is_some(),
                    ".env.example sets {name}, not in SETTINGS"
                );
            }
        }
    }
}

/// The rows of a Markdown table whose first cell names variables (`` `A` `` or
/// `` `A`, `B` ``): the names, the default cell and the meaning cell.
fn variable_rows(text: &str) -> Vec<(Vec<String>, String, String)> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches("//!").trim();
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[0].is_empty() {
            continue;
        }
        let names: Vec<String> = cells[1]
            .split(',')
            .map(|n| n.trim().trim_matches('`').to_owned())
            .collect();
        let all_variables = names.iter().all(|n| {
            !n.is_empty()
                && n.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && n.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        });
        if all_variables && cells[1].starts_with('`') {
            let meaning = cells[3..cells.len() - 1].join("|");
            rows.push((names, cells[2].trim_matches('`').to_owned(), meaning));
        }
    }
    rows
}

fn check_table(path: &str) {
    let rows = variable_rows(&read(path));
    let mut seen = BTreeSet::new();
    for (names, default, meaning) in &rows {
        for name in names {
            let s = setting(name).unwrap_or_else(|| panic!("{path}: {name} is not in SETTINGS"));
            assert!(seen.insert(name.clone()), "{path}: {name} is listed twice");
            assert_eq!(
                default,
                s.default.unwrap_or("unset"),
                "{path}: {name}'s default differs from SETTINGS"
            );
            assert!(
                mentions(meaning, s.keyword),
                "{path}: {name}'s row does not mention {:?} ({}): {meaning}",
                s.keyword,
                s.meaning
            );
        }
    }
    let missing: Vec<&str> = SETTINGS
        .iter()
        .map(|s| s.name)
        .filter(|n| !seen.contains(*n))
        .collect();
    assert!(missing.is_empty(), "{path} does not list {missing:?}");
}

#[test]
fn the_readmes_and_the_crate_docs_agree_with_the_settings_table() {
    check_table("README.md");
    check_table("template/README.md");
    check_table("template/relay-workflow/src/lib.rs");
}

#[test]
fn the_table_parser_finds_rows_and_their_cells() {
    let rows = variable_rows(
        "| Variable | Default | Meaning |\n|---|---|---|\n| `A_B` | `25` | the ping |\n\
         //! | `C`, `D` | unset | x \\| y |\n| `src/x.rs` | not | a variable |\n",
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0],
        (
            vec!["A_B".to_owned()],
            "25".to_owned(),
            "the ping".to_owned()
        )
    );
    assert_eq!(rows[1].0, ["C", "D"]);
    assert_eq!(rows[1].1, "unset");
}
