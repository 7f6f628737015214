//! What the old template put in an app that the new SDK breaks: the `cargo sim`, `cargo
//! doctor` and `cargo load` aliases of `.cargo/config.toml`, which ran the tools out of the
//! vendored SDK with its `tools` feature (gone since 0.2.0: the tools are `relay-tools`).

/// What to do with `.cargo/config.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFix {
    /// It has no alias to remove.
    Unchanged,
    /// Only the tool aliases (and their comments) were in it: delete the file.
    Delete {
        /// The aliases removed.
        aliases: Vec<String>,
    },
    /// Write this text instead: the tool aliases and the comments just above them are gone.
    Rewrite {
        /// The new text.
        text: String,
        /// The aliases removed.
        aliases: Vec<String>,
    },
}

/// Whether a line is an alias that runs a binary of the vendored SDK with the `tools` feature;
/// returns its name.
fn tool_alias(line: &str) -> Option<&str> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    let runs_sdk_tools = value.contains("-p relay-workflow") && value.contains("--features tools");
    (runs_sdk_tools && !key.is_empty() && !key.starts_with('#')).then_some(key)
}

/// Removes the aliases that run the SDK's old tools from the text of `.cargo/config.toml`,
/// with the comment lines right above each one.
pub fn drop_tool_aliases(text: &str) -> ConfigFix {
    let lines: Vec<&str> = text.lines().collect();
    let mut drop = vec![false; lines.len()];
    let mut aliases = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(name) = tool_alias(line) {
            aliases.push(name.to_owned());
            drop[i] = true;
            let mut j = i;
            while j > 0 && lines[j - 1].trim_start().starts_with('#') && !drop[j - 1] {
                j -= 1;
                drop[j] = true;
            }
        }
    }
    if aliases.is_empty() {
        return ConfigFix::Unchanged;
    }
    let kept: Vec<&str> = lines
        .iter()
        .zip(&drop)
        .filter(|(_, d)| !**d)
        .map(|(l, _)| *l)
        .collect();
    let only_headers = kept.iter().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "[alias]"
    });
    if only_headers {
        ConfigFix::Delete { aliases }
    } else {
        let mut text = kept.join("\n");
        text.push('\n');
        ConfigFix::Rewrite { text, aliases }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` as the template shipped it up to SDK 0.1.0.
    const SHIPPED: &str = "[alias]\n\
        # `cargo sim ws://localhost:8080/<path> --say Alice` plays Relay against a running server.\n\
        sim = \"run --quiet -p relay-workflow --features tools --bin relay-sim --\"\n\
        # `cargo doctor check https://<app host> <path>` checks a deployed app the way Relay reaches it;\n\
        # `heroku logs --tail | cargo doctor logs` explains Heroku's router lines.\n\
        doctor = \"run --quiet -p relay-workflow --features tools --bin relay-doctor --\"\n\
        # `cargo load ws://localhost:8080/<path> -c 100 -n 10000` runs concurrent simulated sessions.\n\
        load = \"run --quiet --release -p relay-workflow --features tools --bin relay-load --\"\n";

    #[test]
    fn the_shipped_file_is_deleted() {
        assert_eq!(
            drop_tool_aliases(SHIPPED),
            ConfigFix::Delete {
                aliases: vec!["sim".into(), "doctor".into(), "load".into()]
            }
        );
    }

    #[test]
    fn the_users_own_settings_stay() {
        let text = format!("{SHIPPED}# mine\nt = \"test --all-features\"\n\n[build]\njobs = 2\n");
        let ConfigFix::Rewrite { text, aliases } = drop_tool_aliases(&text) else {
            panic!("expected a rewrite")
        };
        assert_eq!(
            text,
            "[alias]\n# mine\nt = \"test --all-features\"\n\n[build]\njobs = 2\n"
        );
        assert_eq!(aliases.len(), 3);
        assert_eq!(drop_tool_aliases(&text), ConfigFix::Unchanged);
    }
}
