//! Saying what a tool waits for: a step that takes more than a second is named on the
//! terminal (the first time after a second, then every five), so that a slow network or a
//! dyno waking up never looks like a hang.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long a step may take before it is named.
pub const FIRST_NOTICE: Duration = Duration::from_secs(1);
/// How often it is named again while it goes on.
pub const NEXT_NOTICE: Duration = Duration::from_secs(5);

/// Run `step`; while it takes more than [`FIRST_NOTICE`], call `say` with
/// `waiting for {what} (N s)`, then again every [`NEXT_NOTICE`].
pub async fn announcing<F: Future>(
    what: impl Display,
    step: F,
    mut say: impl FnMut(&str),
) -> F::Output {
    let started = Instant::now();
    let mut next = started + FIRST_NOTICE;
    tokio::pin!(step);
    loop {
        tokio::select! {
            biased;
            out = &mut step => return out,
            () = tokio::time::sleep_until(next) => {
                let secs = started.elapsed().as_secs();
                say(&format!("waiting for {what} ({secs} s)"));
                next += NEXT_NOTICE;
            }
        }
    }
}

/// [`announcing`], saying it on standard error as `{tool}: waiting for …`.
pub async fn on_stderr<F: Future>(tool: &str, what: impl Display, step: F) -> F::Output {
    announcing(what, step, |line| eprintln!("{tool}: {line}")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_step_is_named_after_a_second_and_every_five() {
        let mut said = Vec::new();
        let out = announcing(
            "the server",
            async {
                tokio::time::sleep(Duration::from_millis(11_500)).await;
                7
            },
            |l| said.push(l.to_owned()),
        )
        .await;
        assert_eq!(out, 7);
        assert_eq!(
            said,
            [
                "waiting for the server (1 s)",
                "waiting for the server (6 s)",
                "waiting for the server (11 s)"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quick_step_says_nothing() {
        let mut said = 0;
        announcing("x", tokio::time::sleep(Duration::from_millis(900)), |_| {
            said += 1
        })
        .await;
        assert_eq!(said, 0);
    }
}
