//! `fieldsync visit checkin|checkout`: the agent at the customer's door, offline.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use clap::{Arg, ArgMatches, Command};
use fieldsync_sdk::{CheckIn, Position, Replica};
use serde_json::json;
use uuid::Uuid;

use crate::output::Output;

/// The field actions added to `fieldsync visit`.
pub fn commands() -> [Command; 3] {
    let number = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("NUMBER")
            .value_parser(clap::value_parser!(f64))
            .allow_negative_numbers(true)
            .help(help)
    };
    let id = |help: &'static str| {
        Arg::new("id")
            .required(true)
            .value_parser(clap::value_parser!(Uuid))
            .help(help)
    };
    [
        Command::new("checkin")
            .about("Check in at a customer: into the visit planned there today, or a new one (prints the visit's id)")
            .arg(id("The customer's id"))
            .arg(number("lat", "Latitude where you are").required(true))
            .arg(number("lon", "Longitude where you are").required(true))
            .arg(number("accuracy", "The position's accuracy, in metres"))
            .arg(
                Arg::new("type")
                    .long("type")
                    .value_name("NAME")
                    .help("The visit type [default: the first active one]"),
            ),
        Command::new("checkout")
            .about("Check out of a visit in progress: it is completed")
            .arg(id("The visit's id"))
            .arg(number("lat", "Latitude where you are").requires("lon"))
            .arg(number("lon", "Longitude where you are").requires("lat"))
            .arg(
                Arg::new("outcome")
                    .long("outcome")
                    .value_name("TEXT")
                    .help("What came of the visit"),
            ),
        Command::new("photo")
            .about("Attach a photo (JPEG, PNG, WebP, HEIF or PDF) to a visit, offline; `sync` uploads it after the visit (prints its hash)")
            .arg(id("The visit's id"))
            .arg(
                Arg::new("file")
                    .required(true)
                    .value_parser(clap::value_parser!(std::path::PathBuf))
                    .help("The photo's file"),
            )
            .arg(
                Arg::new("caption")
                    .long("caption")
                    .value_name("TEXT")
                    .help("What the photo shows"),
            ),
    ]
}

/// Whether `fieldsync visit NAME` is one of [`commands`] rather than a record command.
pub fn is_action(name: &str) -> bool {
    matches!(name, "checkin" | "checkout" | "photo")
}

/// Runs `fieldsync visit ACTION`, one of [`commands`].
pub async fn run(
    replica: &Replica,
    action: &str,
    m: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    let id = || *m.get_one::<Uuid>("id").expect("clap requires the id");
    match action {
        "checkin" => {
            let at = position(m)?.expect("clap requires --lat and --lon");
            checkin(replica, id(), at, m, out).await?;
        }
        "checkout" => {
            let at = position(m)?;
            let outcome = m.get_one::<String>("outcome").map(String::as_str);
            replica.check_out(id(), at, outcome, now_ms()).await?;
            if out.json {
                out.json_value(&json!({"id": id(), "status": "completed"}));
            } else {
                crate::outln!("checked out of visit {}: completed", id());
            }
        }
        "photo" => {
            let path = m
                .get_one::<std::path::PathBuf>("file")
                .expect("clap requires the file");
            let bytes = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let caption = m.get_one::<String>("caption").map(String::as_str);
            let size = bytes.len();
            let hash = replica.attach(id(), "photos", bytes, caption).await?;
            if out.json {
                out.json_value(&json!({"id": id(), "hash": hash, "size": size}));
            } else {
                crate::outln!("{hash}");
                crate::outln!(
                    "attached to visit {} ({size} bytes); `fieldsync sync` uploads it",
                    id()
                );
            }
        }
        _ => unreachable!("only the actions of `commands` are run here"),
    }
    Ok(())
}

fn position(m: &ArgMatches) -> anyhow::Result<Option<Position>> {
    let (Some(&lat), Some(&lon)) = (m.get_one::<f64>("lat"), m.get_one::<f64>("lon")) else {
        return Ok(None);
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        bail!("--lat must be within ±90 and --lon within ±180");
    }
    Ok(Some(Position { lat, lon }))
}

async fn checkin(
    replica: &Replica,
    customer_id: Uuid,
    at: Position,
    m: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    let done = replica
        .check_in(
            customer_id,
            CheckIn {
                at,
                accuracy_m: m.get_one::<f64>("accuracy").copied(),
                visit_type: m.get_one::<String>("type").cloned(),
                time_ms: now_ms(),
            },
        )
        .await?;
    if out.json {
        out.json_value(&json!(done));
        return Ok(());
    }
    crate::outln!("{}", done.visit_id);
    let distance = done
        .distance_m
        .map_or("unknown distance".to_string(), |d| format!("{d:.0} m away"));
    let plan = if done.planned {
        "planned visit"
    } else {
        "unplanned visit"
    };
    crate::outln!("checked in ({plan}): {}, {distance}", done.result);
    if done.result == "out_of_range" {
        crate::outln!(
            "you are outside the customer's check-in radius ({} geofence): your manager will see it",
            done.geofence
        );
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
