//! Versions and the SDK's `CHANGELOG.md`: comparing `major.minor.patch` versions, and the
//! entries between the version an app vendors and the one it gets.

/// `major.minor.patch` as numbers; a pre-release or build suffix is ignored.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.trim().split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// The sections of a Keep a Changelog file for the versions after `old` up to `new`
/// (`## [x.y.z] …` up to the next `## `), newest first as written, without HTML comments.
/// Empty when none is there.
pub fn entries_between(changelog: &str, old: &str, new: &str) -> String {
    let (Some(old), Some(new)) = (parse_version(old), parse_version(new)) else {
        return String::new();
    };
    let mut out = Vec::new();
    let mut taking = false;
    let mut in_comment = false;
    for line in changelog.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let version = heading
                .strip_prefix('[')
                .and_then(|rest| rest.split(']').next())
                .and_then(parse_version);
            taking = version.is_some_and(|v| old < v && v <= new);
        }
        if !taking {
            continue;
        }
        if in_comment || line.trim_start().starts_with("<!--") {
            in_comment = !line.contains("-->");
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|line| line.trim().is_empty()) {
        out.pop();
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse_version("0.10.2"), Some((0, 10, 2)));
        assert_eq!(parse_version("1.0.0-rc.1"), Some((1, 0, 0)));
        assert!(parse_version("0.10.0") > parse_version("0.9.9"));
        assert_eq!(parse_version("1.0"), None);
        assert_eq!(parse_version("1.0.0.0"), None);
    }

    #[test]
    fn only_the_versions_in_between_are_printed() {
        let changelog = "# Changelog\n\n## [Unreleased]\n\n- next\n\n## [0.3.0] - later\n\n### Changed\n\n- three\n<!-- a note\n     for maintainers -->\n\n## [0.2.0]\n\n- two\n\n## [0.1.0]\n\n- one\n";
        assert_eq!(
            entries_between(changelog, "0.1.0", "0.3.0"),
            "## [0.3.0] - later\n\n### Changed\n\n- three\n\n## [0.2.0]\n\n- two"
        );
        assert_eq!(entries_between(changelog, "0.2.0", "0.2.0"), "");
        assert_eq!(
            entries_between(changelog, "0.1.0", "0.2.0"),
            "## [0.2.0]\n\n- two"
        );
    }
}
