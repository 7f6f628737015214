//! LEDs and vibration: any LED effect, the common ones (one LED, the whole ring, rainbow,
//! rotate, flash, breathe), and vibration patterns.

use super::{millis, Action, Relay};
use crate::error::Error;
use crate::protocol::{LedEffect, LedInfo, SetLed, Vibrate};
use crate::urn::IntoTarget;
use std::time::Duration;

impl Relay {
    /// Vibrate the device: `pattern` in milliseconds (delay, on, off, on, …).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.vibrate(&interaction, [100, 500, 500, 500, 500, 500]).await?;
    /// # Ok(()) }
    /// ```
    pub fn vibrate(
        &self,
        target: impl IntoTarget,
        pattern: impl IntoIterator<Item = u64>,
    ) -> Action<Vibrate> {
        self.request_to(
            target,
            Vibrate {
                pattern: pattern.into_iter().collect(),
            },
        )
    }

    /// Any LED effect with any options (relay-js `ledAction`).
    ///
    /// ```no_run
    /// # use relay_workflow::protocol::{LedEffect, LedInfo};
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.set_led(&interaction, LedEffect::Static, LedInfo::default().color("3", "00FF00")).await?;
    /// # Ok(()) }
    /// ```
    pub fn set_led(
        &self,
        target: impl IntoTarget,
        effect: LedEffect,
        info: LedInfo,
    ) -> Action<SetLed> {
        let mut action = self.request_to(target, SetLed { effect, args: info });
        let mut error = None;
        if let Some(colors) = &mut action.request_mut().args.colors {
            for color in colors.values_mut() {
                match color_arg(color) {
                    Ok(hex) => *color = hex,
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
            }
        }
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Light one LED (`index` 1 to 16; the ring has 12) in a colour (`"RRGGBB"`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.switch_led_on(&interaction, 1, "FF0000").await?;
    /// # Ok(()) }
    /// ```
    pub fn switch_led_on(
        &self,
        target: impl IntoTarget,
        index: u8,
        color: impl AsRef<str>,
    ) -> Action<SetLed> {
        let action = self.set_led(
            target,
            LedEffect::Static,
            LedInfo::default().color(index.to_string(), color.as_ref()),
        );
        if (1..=16).contains(&index) {
            action
        } else {
            action.fail(Error::InvalidArgument {
                action: "set_led",
                message: format!("LED index {index} is out of range; use 1 to 12 (the ring)"),
            })
        }
    }

    /// Light the whole ring in one colour.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.switch_all_leds_on(&interaction, "00FF00").await?;
    /// # Ok(()) }
    /// ```
    pub fn switch_all_leds_on(
        &self,
        target: impl IntoTarget,
        color: impl AsRef<str>,
    ) -> Action<SetLed> {
        self.set_led(
            target,
            LedEffect::Static,
            LedInfo::default().color("ring", color.as_ref()),
        )
    }

    /// Turn every LED off.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.switch_all_leds_off(&interaction).await?;
    /// # Ok(()) }
    /// ```
    pub fn switch_all_leds_off(&self, target: impl IntoTarget) -> Action<SetLed> {
        self.set_led(target, LedEffect::Off, LedInfo::default())
    }

    /// Rainbow round the ring, forever (`.rotations(n)` for n turns).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.rainbow(&interaction).rotations(3).await?;
    /// # Ok(()) }
    /// ```
    pub fn rainbow(&self, target: impl IntoTarget) -> Action<SetLed> {
        let info = LedInfo {
            rotations: Some(-1),
            ..LedInfo::default()
        };
        self.set_led(target, LedEffect::Rainbow, info)
    }

    /// One LED of `color` running round the ring, forever (`.rotations(n)` for n turns).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.rotate(&interaction, "FFFFFF").await?;
    /// # Ok(()) }
    /// ```
    pub fn rotate(&self, target: impl IntoTarget, color: impl AsRef<str>) -> Action<SetLed> {
        let info = LedInfo {
            rotations: Some(-1),
            ..LedInfo::default()
        }
        .color("1", color.as_ref());
        self.set_led(target, LedEffect::Rotate, info)
    }

    /// Flash the ring in `color`, forever (`.count(n)` for n flashes).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.flash(&interaction, "0000FF").count(5).await?;
    /// # Ok(()) }
    /// ```
    pub fn flash(&self, target: impl IntoTarget, color: impl AsRef<str>) -> Action<SetLed> {
        let info = LedInfo {
            count: Some(-1),
            ..LedInfo::default()
        }
        .color("ring", color.as_ref());
        self.set_led(target, LedEffect::Flash, info)
    }

    /// Fade the ring in and out in `color`, forever (`.count(n)` for n breaths).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.breathe(&interaction, "0000FF").await?;
    /// # Ok(()) }
    /// ```
    pub fn breathe(&self, target: impl IntoTarget, color: impl AsRef<str>) -> Action<SetLed> {
        let info = LedInfo {
            count: Some(-1),
            ..LedInfo::default()
        }
        .color("ring", color.as_ref());
        self.set_led(target, LedEffect::Breathe, info)
    }
}

impl Action<SetLed> {
    /// Number of rotations (`rotate`, `rainbow`); −1 is forever.
    pub fn rotations(mut self, rotations: i64) -> Self {
        self.request_mut().args.rotations = Some(rotations);
        self
    }

    /// Number of repetitions (`flash`, `breathe`); −1 is forever.
    pub fn count(mut self, count: i64) -> Self {
        self.request_mut().args.count = Some(count);
        self
    }

    /// Duration of one cycle.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.request_mut().args.duration = Some(millis(duration));
        self
    }

    /// Pause between cycles.
    pub fn repeat_delay(mut self, delay: Duration) -> Self {
        self.request_mut().args.repeat_delay = Some(millis(delay));
        self
    }

    /// How often the pattern repeats.
    pub fn pattern_repeats(mut self, repeats: i64) -> Self {
        self.request_mut().args.pattern_repeats = Some(repeats);
        self
    }
}

/// A colour as six hex digits; a leading `#` is dropped.
fn color_arg(color: &str) -> std::result::Result<String, Error> {
    let hex = color.strip_prefix('#').unwrap_or(color);
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_owned())
    } else {
        Err(Error::InvalidArgument {
            action: "set_led",
            message: format!(
                "colour {color:?} is not six hex digits; write it like \"FF0000\" (red)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_six_hex_digits() {
        assert_eq!(color_arg("#00ff00").unwrap(), "00ff00");
        assert_eq!(color_arg("0000FF").unwrap(), "0000FF");
        for bad in ["red", "12345", "#1234567", ""] {
            assert!(color_arg(bad)
                .unwrap_err()
                .to_string()
                .contains("six hex digits"));
        }
    }
}
