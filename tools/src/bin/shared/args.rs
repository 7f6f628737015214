//! Command-line pieces shared by `relay-load` and `relay-attack` (included by path: this
//! folder has no `main.rs`, so it is not a binary of its own).

use std::time::Duration;

/// `value` as a number, or an error that names `flag`.
pub fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} needs a number, got {value:?}"))
}

/// `value` as a number of seconds (a fraction is fine, a negative is not).
pub fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    let secs: f64 = number(flag, value)?;
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!(
            "{flag} needs a number of seconds ≥ 0, got {value:?}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// An argument as a flag and the value written into it (`--flag=value`), if any.
pub fn split_flag(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
        _ => (arg.to_owned(), None),
    }
}

/// The value of option `flag`: the one written into it, or the next argument.
pub fn value_of(
    flag: &str,
    inline: Option<String>,
    rest: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    inline
        .or_else(|| rest.next())
        .ok_or_else(|| format!("{flag} needs a value"))
}

/// Check that `--pid` names a running process.
pub fn check_pid(pid: Option<u32>) -> Result<(), String> {
    if let Some(pid) = pid {
        if !std::path::Path::new(&format!("/proc/{pid}/status")).exists() {
            return Err(format!(
                "--pid {pid}: no such process in /proc (give the server's process id)"
            ));
        }
    }
    Ok(())
}
