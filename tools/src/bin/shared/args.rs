//! Command-line pieces shared by `relay-load` and `relay-attack`: clap value parsers for
//! seconds and process ids (included by path: this folder has no `main.rs`, so it is not a
//! binary of its own).

use std::time::Duration;

/// A number of seconds (a fraction is fine, a negative is not).
pub fn seconds(value: &str) -> Result<Duration, String> {
    let secs: f64 = value
        .parse()
        .map_err(|_| format!("needs a number of seconds, got {value:?}"))?;
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("needs a number of seconds ≥ 0, got {value:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The id of a running process (one that has an entry in `/proc`).
pub fn pid(value: &str) -> Result<u32, String> {
    let pid: u32 = value
        .parse()
        .map_err(|_| format!("needs a process id, got {value:?}"))?;
    if !std::path::Path::new(&format!("/proc/{pid}/status")).exists() {
        return Err(format!(
            "no such process {pid} in /proc (give the server's process id)"
        ));
    }
    Ok(pid)
}
