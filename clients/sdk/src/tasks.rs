//! An agent's tasks, offline: the open ones assigned to them that fall due, and marking one done.

use sync_core::kinds::TASK;
use sync_core::Value;
use uuid::Uuid;

use crate::replica::{RecordInfo, Replica};
use crate::visits::wrong_kind;
use crate::Error;

impl Replica {
    /// The open tasks assigned to this device's user that are due before `until_ms` (overdue ones
    /// included) or have no due date, the earliest due first.
    pub async fn my_tasks(&self, until_ms: i64) -> Result<Vec<RecordInfo>, Error> {
        let session = self.session().await?.ok_or(Error::NotLoggedIn)?;
        let me = session.user_id.to_string();
        let mut tasks: Vec<RecordInfo> = self
            .query(
                TASK.name,
                &[("assignee_id", me.as_str()), ("status", "open")],
            )
            .await?
            .into_iter()
            .filter(|t| t.i64("due_at").is_none_or(|due| due < until_ms))
            .collect();
        tasks.sort_by_key(|t| (t.i64("due_at").is_none(), t.i64("due_at")));
        Ok(tasks)
    }

    /// Marks an open task done.
    pub async fn complete_task(&self, id: Uuid, now_ms: i64) -> Result<(), Error> {
        let task = self.info(id).await?;
        if task.kind != TASK.name {
            return Err(wrong_kind(id, &task.kind, TASK.name));
        }
        if task.str("status") != Some("open") {
            return Err(Error::NotAllowed {
                code: "not_open",
                message: format!(
                    "task {id} is {}, not open",
                    task.str("status").unwrap_or("without status")
                ),
            });
        }
        self.update(
            id,
            &[("status", "done".into()), ("done_at", Value::Int(now_ms))],
        )
        .await
    }
}
