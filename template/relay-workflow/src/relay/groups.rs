//! Groups: create and delete them, add and remove members, list members, ask whether a
//! device belongs to one.

use super::{decode_error, Action, MappedAction, Relay};
use crate::error::Result;
use crate::protocol::{
    AddGroupMembers, CreateGroup, DeleteGroup, GroupQuery, GroupQueryKind, GroupQueryResponse,
    RemoveGroupMembers,
};
use crate::urn::{IntoTarget, Urn};

impl Relay {
    /// Create a group named `name`; returns its URN.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let group = relay.create_group("rendezvous-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn create_group(&self, name: impl Into<String>) -> Action<CreateGroup> {
        self.request(CreateGroup { name: name.into() })
    }

    /// Delete a group.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, group: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.delete_group(&group).await?;
    /// # Ok(()) }
    /// ```
    pub fn delete_group(&self, group: impl IntoTarget) -> Action<DeleteGroup> {
        self.with_urn("group", group, None, |uri| DeleteGroup { uri })
    }

    /// Add devices to a group.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, group: relay_workflow::Urn, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.add_group_members(&group, &bob).await?;
    /// # Ok(()) }
    /// ```
    pub fn add_group_members(
        &self,
        group: impl IntoTarget,
        members: impl IntoTarget,
    ) -> Action<AddGroupMembers> {
        match members.into_target() {
            Ok(members) => self.with_urn("group", group, Some(members), |group_uri| {
                AddGroupMembers { group_uri }
            }),
            Err(e) => self
                .request(AddGroupMembers {
                    group_uri: Urn::default(),
                })
                .fail(e),
        }
    }

    /// Remove devices from a group.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, group: relay_workflow::Urn, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.remove_group_members(&group, &bob).await?;
    /// # Ok(()) }
    /// ```
    pub fn remove_group_members(
        &self,
        group: impl IntoTarget,
        members: impl IntoTarget,
    ) -> Action<RemoveGroupMembers> {
        match members.into_target() {
            Ok(members) => self.with_urn("group", group, Some(members), |group_uri| {
                RemoveGroupMembers { group_uri }
            }),
            Err(e) => self
                .request(RemoveGroupMembers {
                    group_uri: Urn::default(),
                })
                .fail(e),
        }
    }

    /// The URNs of a group's members.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let members = relay.list_group_members(&Urn::group_name("security")?).await?;
    /// # Ok(()) }
    /// ```
    pub fn list_group_members(&self, group: impl IntoTarget) -> MappedAction<GroupQuery, Vec<Urn>> {
        MappedAction {
            action: self.with_urn("group", group, None, |group_uri| GroupQuery {
                group_uri,
                query: GroupQueryKind::ListMembers,
            }),
            map: members,
        }
    }

    /// Whether the device named `device_name` belongs to the group named `group_name`
    /// (both by name, as Relay requires for this query).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let on_duty = relay.is_group_member("security", "Bob").await?;
    /// # Ok(()) }
    /// ```
    pub fn is_group_member(
        &self,
        group_name: &str,
        device_name: &str,
    ) -> MappedAction<GroupQuery, bool> {
        let (group_uri, error) = match Urn::group_member(group_name, device_name) {
            Ok(urn) => (urn, None),
            Err(e) => (Urn::default(), Some(e)),
        };
        let action = self.request(GroupQuery {
            group_uri,
            query: GroupQueryKind::IsMember,
        });
        MappedAction {
            action: match error {
                Some(e) => action.fail(e),
                None => action,
            },
            map: is_member,
        }
    }
}

fn members(response: GroupQueryResponse) -> Result<Vec<Urn>> {
    response.member_uris.ok_or_else(|| {
        decode_error(
            "group_query",
            "the list_members response has no member_uris".into(),
        )
    })
}

fn is_member(response: GroupQueryResponse) -> Result<bool> {
    response.is_member.ok_or_else(|| {
        decode_error(
            "group_query",
            "the is_member response has no is_member".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_answers_must_match_the_query() {
        assert!(members(GroupQueryResponse::default()).is_err());
        assert!(is_member(GroupQueryResponse::default()).is_err());
        assert!(is_member(GroupQueryResponse {
            is_member: Some(false),
            member_uris: None
        })
        .is_ok_and(|m| !m));
    }
}
