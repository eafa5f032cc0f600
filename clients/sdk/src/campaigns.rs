//! Campaigns in the field, offline: the members of this device's customers that wait for the
//! agent (their campaign running, the customer contactable, no response yet), and recording a
//! member's response, which also closes the member's open task.

use sync_core::kinds::{CAMPAIGN_MEMBER, CAMPAIGN_RESPONSES, TASK};
use sync_core::Value;
use uuid::Uuid;

use crate::replica::{RecordInfo, Replica};
use crate::visits::wrong_kind;
use crate::Error;

impl Replica {
    /// The campaign members waiting at `now_ms`: the campaign active and running, the customer
    /// contactable, no response recorded; the campaign ending soonest first.
    pub async fn campaign_calls(&self, now_ms: i64) -> Result<Vec<RecordInfo>, Error> {
        let mut calls: Vec<RecordInfo> = self
            .query(
                CAMPAIGN_MEMBER.name,
                &[("status", "active"), ("contactable", "1")],
            )
            .await?
            .into_iter()
            .filter(|m| m.str("response").is_none())
            .filter(|m| m.i64("starts_at").is_none_or(|s| s <= now_ms))
            .filter(|m| m.i64("ends_at").is_none_or(|e| now_ms < e))
            .collect();
        calls.sort_by_key(|m| (m.i64("ends_at").is_none(), m.i64("ends_at")));
        Ok(calls)
    }

    /// Records how a campaign's member responded (visited, interested, ordered, refused), by this
    /// device's user at `now_ms`, and marks the member's open tasks done.
    pub async fn respond(&self, member: Uuid, response: &str, now_ms: i64) -> Result<(), Error> {
        let info = self.info(member).await?;
        if info.kind != CAMPAIGN_MEMBER.name {
            return Err(wrong_kind(member, &info.kind, CAMPAIGN_MEMBER.name));
        }
        if !CAMPAIGN_RESPONSES.contains(&response) {
            return Err(Error::NotAllowed {
                code: "unknown_response",
                message: format!(
                    "`{response}` is not a response: one of {}",
                    CAMPAIGN_RESPONSES.join(", ")
                ),
            });
        }
        let session = self.session().await?.ok_or(Error::NotLoggedIn)?;
        self.update(
            member,
            &[
                ("response", response.into()),
                ("responded_at", Value::Int(now_ms)),
                ("responded_by", Value::Str(session.user_id.to_string())),
            ],
        )
        .await?;
        let id = member.to_string();
        for task in self
            .query(
                TASK.name,
                &[("related_id", id.as_str()), ("status", "open")],
            )
            .await?
        {
            self.complete_task(task.id, now_ms).await?;
        }
        Ok(())
    }
}
