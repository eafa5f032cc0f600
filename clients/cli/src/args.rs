//! The command line. Record commands are generated from the record kinds' schemas, so every kind
//! gets `add`, `set`, `show`, `list` and `delete`, and `add` takes one `--FIELD` option per field.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use sync_core::{kinds, FieldType, KindSchema, Writer};

pub fn command() -> Command {
    let mut cmd = Command::new("fieldsync")
        .about("A field agent's device: records kept offline, synced with a fieldsync server")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("data-dir")
                .long("data-dir")
                .global(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("Where this device keeps its data [default: the platform's data directory]"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .global(true)
                .action(ArgAction::SetTrue)
                .help("Machine-readable output"),
        )
        .subcommand(
            Command::new("login")
                .about("Log this device in (password from FIELDSYNC_PASSWORD or a prompt)")
                .arg(
                    Arg::new("server")
                        .long("server")
                        .required(true)
                        .help("The server's URL"),
                )
                .arg(Arg::new("email").long("email").required(true))
                .arg(
                    Arg::new("device-name")
                        .long("device-name")
                        .help("How this device is listed [default: the host name]"),
                ),
        )
        .subcommand(
            Command::new("sync")
                .about("Push this device's changes and pull everyone else's")
                .arg(
                    Arg::new("watch")
                        .long("watch")
                        .action(ArgAction::SetTrue)
                        .help("Keep syncing until stopped"),
                )
                .arg(
                    Arg::new("interval")
                        .long("interval")
                        .default_value("30s")
                        .value_parser(humantime::parse_duration)
                        .help("Time between rounds with --watch"),
                ),
        )
        .subcommand(
            Command::new("status")
                .about("Last sync, changes waiting, refused records and conflicts"),
        )
        .subcommand(
            Command::new("attachment")
                .about("Files attached to records (photos, receipts)")
                .subcommand_required(true)
                .subcommand(
                    Command::new("get")
                        .about("Save a file: from this device if it waits to upload, else from the server (checked against its hash)")
                        .arg(Arg::new("hash").required(true).help("The file's SHA-256"))
                        .arg(
                            Arg::new("out")
                                .long("out")
                                .required(true)
                                .value_parser(clap::value_parser!(PathBuf))
                                .help("Where to write it"),
                        ),
                )
                .subcommand(
                    Command::new("pending")
                        .about("Files captured here that the server does not hold yet, and why any was refused"),
                ),
        )
        .subcommand(
            Command::new("today")
                .about("Today's planned visits in order, your open tasks due today or overdue, and what waits to sync (works offline)"),
        );
    for kind in kinds::ALL {
        // Orders and payments are added by their field actions, which price and allocate them.
        let generic_add = !matches!(kind.name, "order" | "payment");
        let mut records = kind_command(kind, generic_add);
        match kind.name {
            "visit" => records = records.subcommands(crate::visits::commands()),
            "order" => records = records.subcommands(crate::orders::order_commands()),
            "payment" => records = records.subcommands(crate::orders::payment_commands()),
            "task" => records = records.subcommands(crate::tasks::commands()),
            "lead" => records = records.subcommands(crate::leads::commands()),
            "campaign_member" => records = records.subcommands(crate::campaigns::commands()),
            _ => {}
        }
        cmd = cmd.subcommand(records);
    }
    cmd
}

/// The option name of a field: `credit_limit` is `--credit-limit`.
pub fn option_name(field: &str) -> String {
    field.replace('_', "-")
}

fn kind_command(kind: &'static KindSchema, generic_add: bool) -> Command {
    let mut add = Command::new("add").about(format!("Create a {} (works offline)", kind.name));
    for field in kind.fields {
        // Items are entered by a kind's field actions, not as one option.
        if field.writer == Writer::Server
            || field.name == sync_core::schema::DELETED_FIELD
            || matches!(field.ty, FieldType::Items(_))
        {
            continue;
        }
        let mut arg = Arg::new(field.name)
            .long(option_name(field.name))
            .value_name(value_name(field.ty));
        if let Some(help) = help(kind, field.name) {
            arg = arg.help(help);
        }
        add = add.arg(arg);
    }
    let id = || {
        Arg::new("id")
            .required(true)
            .value_parser(clap::value_parser!(uuid::Uuid))
            .help("The record's id")
    };
    let mut cmd = Command::new(kind.name)
        .about(format!("{} records", kind.name))
        .subcommand_required(true);
    if generic_add {
        cmd = cmd.subcommand(add);
    }
    cmd.subcommand(
        Command::new("set")
            .about(format!("Change fields of a {} (works offline)", kind.name))
            .arg(id())
            .arg(
                Arg::new("assignments")
                    .required(true)
                    .num_args(1..)
                    .value_name("FIELD=VALUE"),
            ),
    )
    .subcommand(
        Command::new("show")
            .about(format!("Show a {}", kind.name))
            .arg(id()),
    )
    .subcommand(
        Command::new("list")
            .about(format!("List the {} records on this device", kind.name))
            .arg(
                Arg::new("where")
                    .long("where")
                    .action(ArgAction::Append)
                    .value_name("FIELD=VALUE")
                    .help("Only records whose field has this value (repeat to combine)"),
            ),
    )
    .subcommand(
        Command::new("delete")
            .about(format!("Delete a {} (syncs like any edit)", kind.name))
            .arg(id()),
    )
    .subcommand(
        Command::new("history")
            .about(format!(
                "Who changed which field of a {}, from which device and when, newest first (asks the server)",
                kind.name
            ))
            .arg(id())
            .arg(
                Arg::new("field")
                    .long("field")
                    .value_name("FIELD")
                    .help("Only the changes of this field"),
            )
            .arg(
                Arg::new("limit")
                    .long("limit")
                    .value_name("N")
                    .default_value("50")
                    .value_parser(clap::value_parser!(usize))
                    .help("At most this many changes"),
            ),
    )
}

fn value_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Int { .. } => "INT",
        FieldType::Float { .. } => "NUMBER",
        FieldType::Bool => "true|false",
        FieldType::Timestamp => "MILLIS",
        FieldType::Reference(_) => "ID",
        FieldType::Attachment => "SHA256",
        FieldType::Email => "EMAIL",
        _ => "TEXT",
    }
}

fn help(kind: &KindSchema, field: &str) -> Option<String> {
    let spec = kind.field(field)?;
    let mut parts = Vec::new();
    if spec.required {
        parts.push("required".to_string());
    }
    if let FieldType::Enum(values) = spec.ty {
        parts.push(format!("one of {}", values.join(", ")));
    }
    match spec.writer {
        Writer::Manager => parts.push("managers only".to_string()),
        Writer::Admin => parts.push("admins only".to_string()),
        Writer::Agent | Writer::Server => {}
    }
    if field == sync_core::kinds::CURRENCY_FIELD && sync_core::kinds::in_company_currency(kind) {
        parts.push("defaults to the company's currency".to_string());
    }
    if matches!(kind.scope, sync_core::Scope::Territory { field: f, .. } if f == field) {
        parts.push("defaults to your territory if you have one".to_string());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

pub fn data_dir(matches: &ArgMatches) -> anyhow::Result<PathBuf> {
    match matches.get_one::<PathBuf>("data-dir") {
        Some(dir) => Ok(dir.clone()),
        None => dirs::data_dir()
            .map(|d| d.join("fieldsync"))
            .ok_or_else(|| anyhow::anyhow!("no data directory on this platform; pass --data-dir")),
    }
}
