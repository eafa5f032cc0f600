//! `fieldsync campaign_member respond ID --response R`: an agent records, offline, how a
//! campaign's customer responded, which also closes the member's task.

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgMatches, Command};
use fieldsync_sdk::Replica;
use serde_json::json;
use sync_core::kinds::CAMPAIGN_RESPONSES;
use uuid::Uuid;

use crate::output::Output;
use crate::visits::now_ms;

/// The field action added to `fieldsync campaign_member`.
pub fn commands() -> [Command; 1] {
    [Command::new("respond")
        .about(
            "Record how the customer responded to the campaign, and close its task (works offline)",
        )
        .arg(
            Arg::new("id")
                .required(true)
                .value_parser(clap::value_parser!(Uuid))
                .help("The campaign member's id"),
        )
        .arg(
            Arg::new("response")
                .long("response")
                .required(true)
                .value_parser(PossibleValuesParser::new(CAMPAIGN_RESPONSES))
                .help("What the customer answered"),
        )]
}

/// Whether `fieldsync campaign_member NAME` is one of [`commands`].
pub fn is_action(name: &str) -> bool {
    name == "respond"
}

pub async fn run(replica: &Replica, m: &ArgMatches, out: Output) -> anyhow::Result<()> {
    let id = *m.get_one::<Uuid>("id").expect("clap requires the id");
    let response = m
        .get_one::<String>("response")
        .expect("clap requires the response");
    replica.respond(id, response, now_ms()).await?;
    if out.json {
        out.json_value(&json!({"id": id, "response": response}));
    } else {
        crate::outln!("campaign member {id}: {response}");
    }
    Ok(())
}
