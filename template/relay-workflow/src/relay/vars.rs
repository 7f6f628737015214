//! Workflow instance variables: read, set and unset them, one at a time or several at
//! once, and read them as numbers, flags or lists. Registration args
//! (`relay workflow:create … --arg name=value`) are read the same way.

use super::{Action, Relay};
use crate::error::{Error, Result};
use crate::protocol::{GetVar, SetVar, UnsetVar};
use std::future::IntoFuture;

impl Relay {
    /// Read a workflow variable; `None` when it is not set. Registration args
    /// (`relay workflow:create … --arg name=value`) are read the same way.
    pub fn get_var(&self, name: impl Into<String>) -> Action<GetVar> {
        self.request(GetVar { name: name.into() })
    }

    /// Set a workflow variable for the rest of this instance.
    pub fn set_var(&self, name: impl Into<String>, value: impl Into<String>) -> Action<SetVar> {
        self.request(SetVar {
            name: name.into(),
            value: value.into(),
        })
    }

    /// Remove a workflow variable.
    pub fn unset_var(&self, name: impl Into<String>) -> Action<UnsetVar> {
        self.request(UnsetVar { name: name.into() })
    }

    /// A variable read through `map`; `None` when it is not set.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let shout = relay.get_mapped_var("name", |s| s.to_uppercase()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_mapped_var<T>(
        &self,
        name: impl Into<String>,
        map: impl FnOnce(&str) -> T,
    ) -> Result<Option<T>> {
        Ok(self.get_var(name).await?.map(|value| map(&value)))
    }

    async fn parsed_var<T>(
        &self,
        name: String,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get_var(name.clone()).await? {
            None => Ok(None),
            Some(value) => match parse(value.trim()) {
                Some(v) => Ok(Some(v)),
                None => Err(Error::Variable {
                    name,
                    value,
                    expected,
                }),
            },
        }
    }

    /// A variable as a number; `None` when not set, [`Error::Variable`] when not a number.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let limit = relay.get_number_var("limit").await?.unwrap_or(10.0);
    /// # Ok(()) }
    /// ```
    pub async fn get_number_var(&self, name: impl Into<String>) -> Result<Option<f64>> {
        self.parsed_var(name.into(), "a number", |s| {
            s.parse::<f64>().ok().filter(|n| n.is_finite())
        })
        .await
    }

    /// A variable as a whole number; `None` when not set, [`Error::Variable`] otherwise.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let interval = relay.get_int_var("interval").await?.unwrap_or(60);
    /// # Ok(()) }
    /// ```
    pub async fn get_int_var(&self, name: impl Into<String>) -> Result<Option<i64>> {
        self.parsed_var(name.into(), "a whole number", |s| s.parse::<i64>().ok())
            .await
    }

    /// A variable as a flag: `true` only for `"true"` in any letter case (surrounding spaces
    /// ignored), `false` for anything else, as relay-js's `booleanMapper`; `None` when not set.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let verbose = relay.get_bool_var("verbose").await?.unwrap_or(false);
    /// # Ok(()) }
    /// ```
    pub async fn get_bool_var(&self, name: impl Into<String>) -> Result<Option<bool>> {
        self.get_mapped_var(name, |s| s.trim().eq_ignore_ascii_case("true"))
            .await
    }

    /// A variable as a list: split on `,`, each item trimmed; `None` when not set.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let names = relay.get_array_var("names").await?.unwrap_or_default();
    /// # Ok(()) }
    /// ```
    pub async fn get_array_var(&self, name: impl Into<String>) -> Result<Option<Vec<String>>> {
        self.get_mapped_var(name, |s| {
            s.split(',').map(|item| item.trim().to_owned()).collect()
        })
        .await
    }

    /// Set several variables at once (concurrently); fails if any fails.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.set_vars([("a", "1"), ("b", "2")]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_vars<I, K, V>(&self, vars: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let calls = vars
            .into_iter()
            .map(|(name, value)| self.set_var(name, value).into_future());
        futures_util::future::try_join_all(calls).await?;
        Ok(())
    }

    /// Remove several variables at once (concurrently, and awaited, unlike relay-js).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.unset_vars(["a", "b"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn unset_vars<I, S>(&self, names: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let calls = names
            .into_iter()
            .map(|name| self.unset_var(name).into_future());
        futures_util::future::try_join_all(calls).await?;
        Ok(())
    }
}
