//! `fieldsync lead convert ID [--deal TITLE]`: an agent converts a lead, offline, into a customer,
//! its contact and, with `--deal`, an opportunity, which the next sync sends as one atomic group.

use clap::{Arg, ArgMatches, Command};
use fieldsync_sdk::Replica;
use uuid::Uuid;

use crate::output::Output;
use crate::visits::now_ms;

/// The field action added to `fieldsync lead`.
pub fn commands() -> [Command; 1] {
    [Command::new("convert")
        .about("Convert a lead into a customer, its contact and optionally an opportunity (works offline; one atomic group at the next sync)")
        .arg(
            Arg::new("id")
                .required(true)
                .value_parser(clap::value_parser!(Uuid))
                .help("The lead's id"),
        )
        .arg(
            Arg::new("deal")
                .long("deal")
                .value_name("TITLE")
                .help("Also open an opportunity with this title"),
        )]
}

/// Whether `fieldsync lead NAME` is one of [`commands`].
pub fn is_action(name: &str) -> bool {
    name == "convert"
}

pub async fn run(replica: &Replica, m: &ArgMatches, out: Output) -> anyhow::Result<()> {
    let id = *m.get_one::<Uuid>("id").expect("clap requires the id");
    let deal = m.get_one::<String>("deal").map(String::as_str);
    let made = replica.convert_lead(id, deal, now_ms()).await?;
    if out.json {
        out.json_value(&serde_json::to_value(made)?);
    } else {
        crate::outln!("lead {id} converted: customer {}", made.customer);
        crate::outln!("contact {}", made.contact);
        if let Some(opportunity) = made.opportunity {
            crate::outln!("opportunity {opportunity}");
        }
    }
    Ok(())
}
