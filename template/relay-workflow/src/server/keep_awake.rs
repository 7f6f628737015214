//! Keep-awake (feature `keep-awake`): request the app's own `/healthz` now and then so that
//! an eco dyno does not sleep.

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A duration between 90 % and 100 % of `interval`, so that dynos do not call in step.
fn jittered(interval: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        u16::from_le_bytes(b)
    } else {
        0
    };
    interval.mul_f64(0.9 + 0.1 * f64::from(r) / f64::from(u16::MAX))
}

/// Request `<url>/healthz` about every `interval` until `shutdown`; failures are retried
/// after a minute at most, and an hourly line counts what succeeded and failed.
pub(super) async fn keep_awake_loop(url: String, interval: Duration, shutdown: CancellationToken) {
    let target = format!("{}/healthz", url.trim_end_matches('/'));
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(super::SDK)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!("keep-awake disabled: cannot build an HTTP client: {e}");
            return;
        }
    };
    info!(
        "keep-awake: requesting {target} about every {}s",
        interval.as_secs()
    );
    let retry = Duration::from_secs(60).min(interval);
    let mut delay = jittered(interval);
    let mut ok = 0u32;
    let mut failed = 0u32;
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
        match client
            .get(&target)
            .send()
            .await
            .and_then(|r| r.error_for_status())
        {
            Ok(_) => {
                if ok == 0 && failed == 0 {
                    info!("keep-awake: first request to {target} succeeded");
                }
                ok += 1;
                delay = jittered(interval);
            }
            Err(e) => {
                failed += 1;
                warn!(
                    "keep-awake: {target} failed: {e}; retrying in {}s",
                    retry.as_secs()
                );
                delay = retry;
            }
        }
        if since.elapsed() >= Duration::from_secs(3600) {
            info!("keep-awake: {ok} request(s) succeeded, {failed} failed in the last hour");
            ok = 0;
            failed = 0;
            since = tokio::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(100));
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(100),
                "{d:?}"
            );
        }
    }
}
