//! `fieldsync task done ID`: an agent closes a task, offline.

use clap::{Arg, ArgMatches, Command};
use fieldsync_sdk::Replica;
use serde_json::json;
use uuid::Uuid;

use crate::output::Output;
use crate::visits::now_ms;

/// The field action added to `fieldsync task`.
pub fn commands() -> [Command; 1] {
    [Command::new("done")
        .about("Mark an open task done (works offline)")
        .arg(
            Arg::new("id")
                .required(true)
                .value_parser(clap::value_parser!(Uuid))
                .help("The task's id"),
        )]
}

/// Whether `fieldsync task NAME` is one of [`commands`].
pub fn is_action(name: &str) -> bool {
    name == "done"
}

pub async fn run(replica: &Replica, m: &ArgMatches, out: Output) -> anyhow::Result<()> {
    let id = *m.get_one::<Uuid>("id").expect("clap requires the id");
    replica.complete_task(id, now_ms()).await?;
    if out.json {
        out.json_value(&json!({"id": id, "status": "done"}));
    } else {
        crate::outln!("task {id} done");
    }
    Ok(())
}
