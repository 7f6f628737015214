//! Timers: named timers (once or repeating) and the instance's single unnamed timer.

use super::{millis, Action, Relay};
use crate::protocol::{ClearTimer, SetTimer, StartTimer, StopTimer, TimeoutType, TimerType};
use std::time::Duration;

impl Relay {
    /// A named timer that fires once after `after` (`.interval()` makes it repeat);
    /// `Workflow::on_timer_fired` receives its name. Whole seconds are sent as `secs`,
    /// anything finer as `ms`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.set_timer("tick", Duration::from_secs(30)).interval().await?;
    /// # Ok(()) }
    /// ```
    pub fn set_timer(&self, name: impl Into<String>, after: Duration) -> Action<SetTimer> {
        let ms = millis(after);
        let (timeout, timeout_type) = if ms.is_multiple_of(1000) {
            (ms / 1000, TimeoutType::Secs)
        } else {
            (ms, TimeoutType::Ms)
        };
        self.request(SetTimer {
            kind: TimerType::Timeout,
            name: name.into(),
            timeout,
            timeout_type,
        })
    }

    /// Cancel a named timer.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.clear_timer("tick").await?;
    /// # Ok(()) }
    /// ```
    pub fn clear_timer(&self, name: impl Into<String>) -> Action<ClearTimer> {
        self.request(ClearTimer { name: name.into() })
    }

    /// Start the instance's single unnamed timer; `Workflow::on_timer` runs after `seconds`.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.start_timer(60).await?;
    /// # Ok(()) }
    /// ```
    pub fn start_timer(&self, seconds: u64) -> Action<StartTimer> {
        self.request(StartTimer { timeout: seconds })
    }

    /// Stop the unnamed timer.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.stop_timer().await?;
    /// # Ok(()) }
    /// ```
    pub fn stop_timer(&self) -> Action<StopTimer> {
        self.request(StopTimer {})
    }
}

impl Action<SetTimer> {
    /// Fire repeatedly, every period, until cleared.
    pub fn interval(mut self) -> Self {
        self.request_mut().kind = TimerType::Interval;
        self
    }

    /// Express the period in this unit (truncated; at least 1). For example `mins` turns
    /// 120 s into `timeout: 2, timeout_type: "mins"`.
    pub fn timeout_type(mut self, unit: TimeoutType) -> Self {
        let request = self.request_mut();
        if let (Some(from), Some(to)) = (request.timeout_type.millis(), unit.millis()) {
            request.timeout = (request.timeout.saturating_mul(from) / to).max(1);
        }
        request.timeout_type = unit;
        self
    }
}
