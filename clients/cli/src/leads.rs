//! `fieldsync lead convert ID [--deal TITLE] [--into CUSTOMER | --new]` and `fieldsync lead
//! duplicates ID`: an agent converts a lead, offline, into a customer, its contact and, with
//! `--deal`, an opportunity, which the next sync sends as one atomic group. A lead that looks like
//! a customer the device holds is not made a second customer unawares: the conversion asks for
//! `--into` (the person joins that customer) or `--new`.

use clap::{Arg, ArgAction, ArgMatches, Command};
use fieldsync_sdk::{ConvertAs, LikelyCustomer, Replica};
use uuid::Uuid;

use crate::output::{table, Output};
use crate::visits::now_ms;

fn lead_id() -> Arg {
    Arg::new("id")
        .required(true)
        .value_parser(clap::value_parser!(Uuid))
        .help("The lead's id")
}

/// The field actions added to `fieldsync lead`.
pub fn commands() -> [Command; 2] {
    [
        Command::new("convert")
            .about("Convert a lead into a customer, its contact and optionally an opportunity (works offline; one atomic group at the next sync)")
            .arg(lead_id())
            .arg(
                Arg::new("deal")
                    .long("deal")
                    .value_name("TITLE")
                    .help("Also open an opportunity with this title"),
            )
            .arg(
                Arg::new("into")
                    .long("into")
                    .value_name("CUSTOMER_ID")
                    .value_parser(clap::value_parser!(Uuid))
                    .conflicts_with("new")
                    .help("The customer the lead is already: the person becomes its contact, and no customer is made"),
            )
            .arg(
                Arg::new("new")
                    .long("new")
                    .action(ArgAction::SetTrue)
                    .help("Make a new customer even though the lead looks like one this device holds"),
            ),
        Command::new("duplicates")
            .about("The customers on this device a lead looks like, most likely first (works offline)")
            .arg(lead_id()),
    ]
}

/// Whether `fieldsync lead NAME` is one of [`commands`].
pub fn is_action(name: &str) -> bool {
    matches!(name, "convert" | "duplicates")
}

fn show(found: &[LikelyCustomer]) {
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|c| {
            let reasons: Vec<&str> = c.reasons.iter().map(|r| r.code.as_str()).collect();
            vec![
                format!("{:.2}", c.score),
                c.name.clone(),
                reasons.join(", "),
                c.id.to_string(),
            ]
        })
        .collect();
    table(&["score", "customer", "why", "id"], &rows);
}

pub async fn run(
    replica: &Replica,
    action: &str,
    m: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    let id = *m.get_one::<Uuid>("id").expect("clap requires the id");
    if action == "duplicates" {
        let found = replica.lead_duplicates(id).await?;
        if out.json {
            out.json_value(&serde_json::to_value(&found)?);
        } else if found.is_empty() {
            crate::outln!("lead {id} looks like no customer on this device");
        } else {
            show(&found);
        }
        return Ok(());
    }
    let how = ConvertAs {
        deal: m.get_one::<String>("deal").map(String::as_str),
        into: m.get_one::<Uuid>("into").copied(),
    };
    if how.into.is_none() && !m.get_flag("new") {
        let found = replica.lead_duplicates(id).await?;
        if !found.is_empty() {
            if !out.json {
                show(&found);
            }
            return Err(fieldsync_sdk::Error::NotAllowed {
                code: "likely_duplicate",
                message: format!(
                    "lead {id} looks like {} customer(s) on this device: convert it --into one of them, or make a new customer with --new",
                    found.len()
                ),
            }
            .into());
        }
    }
    let made = replica.convert_lead(id, how, now_ms()).await?;
    if out.json {
        out.json_value(&serde_json::to_value(made)?);
    } else {
        match made.new_customer {
            true => crate::outln!("lead {id} converted: customer {}", made.customer),
            false => crate::outln!("lead {id} converted into customer {}", made.customer),
        }
        crate::outln!("contact {}", made.contact);
        if let Some(opportunity) = made.opportunity {
            crate::outln!("opportunity {opportunity}");
        }
    }
    Ok(())
}
