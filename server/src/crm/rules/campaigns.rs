//! A campaign reaches the field through its members: one record per target customer, scoped
//! through the customer, so that exactly the agents of the campaign's customers receive it, each
//! with an open task in their plan. After every write of a campaign the server brings its members
//! in line with it: a new target gets a member (and, where the customer may be contacted on the
//! campaign's channel, a task for the customer's owner, or the territory's team), a member whose
//! campaign changed is told, and a member no longer targeted goes with its open task, unless the
//! agent already recorded a response, which stays. So after a write of customers whose segment
//! fields changed, for every active campaign with a segment. An order naming a campaign records
//! the customer's response as `ordered`.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Alias, Cond, Expr, Query};
use sea_orm::ConnectionTrait;
use sync_core::campaigns::{self, Consent, MAX_MEMBERS};
use sync_core::kinds::{
    CAMPAIGN, CAMPAIGN_CUSTOMERS, CAMPAIGN_MEMBER, CAMPAIGN_PRODUCTS, CONTACT, CUSTOMER, PRODUCT,
    TASK,
};
use sync_core::record::{self, Projection};
use sync_core::Value;
use uuid::Uuid;

use super::queries::live;
use super::{Actions, Fields};
use crate::db::BuildWith;
use crate::error::Error;
use crate::seal::Vault;
use crate::sync::docstore;

/// Order statuses that make a member's response `ordered`.
const ORDERED: [&str; 3] = ["submitted", "approved", "delivered"];

fn col(table: &str, name: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(name)))
}

/// A customer the campaign targets.
struct Target {
    id: Uuid,
    name: String,
    territory: String,
    owner: Option<Uuid>,
}

/// A member the campaign has: live or not, its response, and its fields as last projected.
struct Member {
    id: Uuid,
    deleted: bool,
    responded: bool,
    fields: serde_json::Map<String, serde_json::Value>,
}

/// Brings the members of campaign `id` (as `p` reads) in line with it.
pub(super) async fn campaign(
    conn: &impl ConnectionTrait,
    id: Uuid,
    p: &Projection,
    actions: &mut Actions,
) -> Result<(), Error> {
    let targets = match campaigns::reaches_field(p) {
        true => targets(conn, id, p).await?,
        false => Vec::new(),
    };
    let members = members(conn, id).await?;
    let channel = p.get("channel").as_str().unwrap_or("visit");
    let consents = consents(conn, &targets).await?;
    let copied = campaigns::member_fields(p, &skus(conn, id).await?);
    let targeted: HashSet<Uuid> = targets.iter().map(|t| t.id).collect();
    let mut gone = Vec::new();
    for (customer, member) in &members {
        if targeted.contains(customer) || member.deleted {
            continue;
        }
        if member.responded {
            // What the agent recorded stays, and so does the member that holds it: it is told
            // what became of the campaign.
            set_changed(actions, member, &copied);
        } else {
            actions.set(member.id, &CAMPAIGN_MEMBER, "deleted", Value::Bool(true));
            gone.push(member.id);
        }
    }
    cancel_open_tasks(conn, &gone, actions).await?;
    for target in &targets {
        let reachable =
            campaigns::contactable(channel, consents.get(&target.id).map_or(&[], Vec::as_slice));
        let mut fields = copied.clone();
        fields.push(("contactable", Value::Bool(reachable)));
        match members.get(&target.id) {
            Some(member) if !member.deleted => set_changed(actions, member, &fields),
            Some(member) => {
                // Targeted again: the member comes back, with a new task.
                fields.push(("deleted", Value::Bool(false)));
                for (field, value) in fields {
                    actions.set(member.id, &CAMPAIGN_MEMBER, field, value);
                }
                if reachable {
                    actions.create.push(task(p, target, member.id));
                }
            }
            None => {
                let member = Uuid::now_v7();
                fields.push(("customer_id", Value::Str(target.id.to_string())));
                fields.push(("campaign_id", Value::Str(id.to_string())));
                actions.create.push((member, &CAMPAIGN_MEMBER, fields));
                if reachable {
                    actions.create.push(task(p, target, member));
                }
            }
        }
    }
    Ok(())
}

/// Whether a customer field decides whether the customer is in a campaign's segment.
pub(super) fn moves_segment(field: &str) -> bool {
    campaigns::SEGMENT.iter().any(|(_, f)| *f == field)
}

/// After customers were written whose segment fields changed: every active campaign with a
/// segment, but those in `done`, brings its members in line with who is in it now (a shop graded
/// up to tier A joins a campaign for tier A; one that left the segment without a response
/// leaves). Campaigns are few, and each costs a read of its targets and members.
pub(super) async fn segments_changed(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    done: &HashSet<Uuid>,
    actions: &mut Actions,
) -> Result<(), Error> {
    let c = CAMPAIGN.table;
    let mut with_segment = Cond::any();
    for (target, _) in campaigns::SEGMENT {
        with_segment = with_segment.add(col(c, target).is_not_null());
    }
    let stmt = Query::select()
        .column((Alias::new(c), Alias::new("id")))
        .from(Alias::new(c))
        .and_where(live(c))
        .and_where(col(c, "status").eq("active"))
        .cond_where(with_segment)
        .to_owned();
    for row in conn.query_all(stmt.build_with(conn)).await? {
        let id: Uuid = row.try_get("", "id")?;
        if done.contains(&id) {
            continue;
        }
        let Ok(doc) = docstore::load(conn, vault, id).await? else {
            tracing::warn!(campaign = %id, "a campaign does not load; its members wait for its next write");
            continue;
        };
        let Ok(p) = record::project(&doc, &CAMPAIGN) else {
            continue;
        };
        campaign(conn, id, &p, actions).await?;
    }
    Ok(())
}

/// Sets the fields of `member` that differ from what it shows.
fn set_changed(actions: &mut Actions, member: &Member, fields: &Fields) {
    for (field, value) in fields {
        let shown = member
            .fields
            .get(*field)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if shown != value.to_json() {
            actions.set(member.id, &CAMPAIGN_MEMBER, field, value.clone());
        }
    }
}

/// The task a reachable member gives the customer's owner (the territory's team where it has
/// none): due when the campaign ends, about the member.
fn task(
    campaign: &Projection,
    target: &Target,
    member: Uuid,
) -> (Uuid, &'static sync_core::KindSchema, Fields) {
    let name = campaign.get("name").as_str().unwrap_or_default();
    let title: String = format!("{name}: {}", target.name)
        .chars()
        .take(200)
        .collect();
    let mut fields: Fields = vec![
        ("territory", Value::Str(target.territory.clone())),
        ("title", Value::Str(title)),
        ("status", "open".into()),
        ("priority", "normal".into()),
        ("due_at", campaign.get("ends_at").clone()),
        ("related_id", Value::Str(member.to_string())),
        ("related_kind", CAMPAIGN_MEMBER.name.into()),
    ];
    if let Some(owner) = target.owner {
        fields.push(("assignee_id", Value::Str(owner.to_string())));
    }
    (Uuid::now_v7(), &TASK, fields)
}

/// The live customers the campaign targets: those it names, and those of its segment, at most
/// [`MAX_MEMBERS`].
async fn targets(
    conn: &impl ConnectionTrait,
    id: Uuid,
    p: &Projection,
) -> Result<Vec<Target>, Error> {
    let c = CUSTOMER.table;
    let named = Query::select()
        .column(Alias::new("customer_id"))
        .from(Alias::new(CAMPAIGN_CUSTOMERS.table))
        .and_where(Expr::col(Alias::new(CAMPAIGN_CUSTOMERS.record_column)).eq(id))
        .to_owned();
    let mut which = sea_orm::sea_query::Cond::any().add(col(c, "id").in_subquery(named));
    let segment = campaigns::segment(p);
    if !segment.is_empty() {
        let mut all = sea_orm::sea_query::Cond::all();
        for (field, value) in segment {
            all = all.add(col(c, field).eq(value));
        }
        which = which.add(all);
    }
    let stmt = Query::select()
        .columns(["id", "name", "territory", "owner_id"].map(|n| (Alias::new(c), Alias::new(n))))
        .from(Alias::new(c))
        .and_where(live(c))
        .cond_where(which)
        .order_by((Alias::new(c), Alias::new("id")), sea_orm::Order::Asc)
        .limit(MAX_MEMBERS as u64 + 1)
        .to_owned();
    let mut out = Vec::new();
    for row in conn.query_all(stmt.build_with(conn)).await? {
        out.push(Target {
            id: row.try_get("", "id")?,
            name: row
                .try_get::<Option<String>>("", "name")?
                .unwrap_or_default(),
            territory: row
                .try_get::<Option<String>>("", "territory")?
                .unwrap_or_default(),
            owner: row.try_get("", "owner_id")?,
        });
    }
    if out.len() > MAX_MEMBERS {
        tracing::warn!(campaign = %id, max = MAX_MEMBERS, "the campaign targets more customers than it may have members; the rest are left out");
        out.truncate(MAX_MEMBERS);
    }
    Ok(out)
}

/// The campaign's members, by customer, live or not.
async fn members(conn: &impl ConnectionTrait, id: Uuid) -> Result<HashMap<Uuid, Member>, Error> {
    let m = CAMPAIGN_MEMBER.table;
    let stmt = Query::select()
        .columns(
            ["id", "customer_id", "deleted", "response"].map(|n| (Alias::new(m), Alias::new(n))),
        )
        .column((Alias::new("d"), Alias::new("listing_fields")))
        .from(Alias::new(m))
        .join_as(
            sea_orm::sea_query::JoinType::InnerJoin,
            Alias::new("documents"),
            Alias::new("d"),
            col("d", "id").equals((Alias::new(m), Alias::new("id"))),
        )
        .and_where(col(m, "campaign_id").eq(id))
        .to_owned();
    let mut out = HashMap::new();
    for row in conn.query_all(stmt.build_with(conn)).await? {
        let Some(customer) = row.try_get::<Option<Uuid>>("", "customer_id")? else {
            continue;
        };
        let listing: Option<String> = row.try_get("", "listing_fields")?;
        let fields = listing
            .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .and_then(|v| match v {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default();
        out.insert(
            customer,
            Member {
                id: row.try_get("", "id")?,
                deleted: row.try_get::<Option<bool>>("", "deleted")?.unwrap_or(false),
                responded: row.try_get::<Option<String>>("", "response")?.is_some(),
                fields,
            },
        );
    }
    Ok(out)
}

/// The consent of each target customer's live contacts.
async fn consents(
    conn: &impl ConnectionTrait,
    targets: &[Target],
) -> Result<HashMap<Uuid, Vec<Consent>>, Error> {
    let t = CONTACT.table;
    let mut out: HashMap<Uuid, Vec<Consent>> = HashMap::new();
    for chunk in targets.chunks(500) {
        let stmt = Query::select()
            .columns(["customer_id", "consent_phone", "consent_email"].map(Alias::new))
            .from(Alias::new(t))
            .and_where(Expr::col(Alias::new("customer_id")).is_in(chunk.iter().map(|c| c.id)))
            .and_where(live(t))
            .to_owned();
        for row in conn.query_all(stmt.build_with(conn)).await? {
            let customer: Uuid = row.try_get("", "customer_id")?;
            out.entry(customer).or_default().push(Consent {
                phone: row
                    .try_get::<Option<bool>>("", "consent_phone")?
                    .unwrap_or(false),
                email: row
                    .try_get::<Option<bool>>("", "consent_email")?
                    .unwrap_or(false),
            });
        }
    }
    Ok(out)
}

/// The SKUs of the products the campaign promotes, in the campaign's order.
async fn skus(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<String>, Error> {
    let (cp, p) = (CAMPAIGN_PRODUCTS.table, PRODUCT.table);
    let stmt = Query::select()
        .column((Alias::new(p), Alias::new("sku")))
        .from(Alias::new(cp))
        .join(
            sea_orm::sea_query::JoinType::InnerJoin,
            Alias::new(p),
            col(p, "id").equals((Alias::new(cp), Alias::new("product_id"))),
        )
        .and_where(col(cp, CAMPAIGN_PRODUCTS.record_column).eq(id))
        .order_by(
            (Alias::new(cp), Alias::new("position")),
            sea_orm::Order::Asc,
        )
        .to_owned();
    let mut out = Vec::new();
    for row in conn.query_all(stmt.build_with(conn)).await? {
        if let Some(sku) = row.try_get::<Option<String>>("", "sku")? {
            out.push(sku);
        }
    }
    Ok(out)
}

/// Cancels the open tasks about these members.
async fn cancel_open_tasks(
    conn: &impl ConnectionTrait,
    members: &[Uuid],
    actions: &mut Actions,
) -> Result<(), Error> {
    let t = TASK.table;
    for chunk in members.chunks(500) {
        let stmt = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new(t))
            .and_where(Expr::col(Alias::new("related_id")).is_in(chunk.iter().copied()))
            .and_where(Expr::col(Alias::new("status")).eq("open"))
            .and_where(live(t))
            .to_owned();
        for row in conn.query_all(stmt.build_with(conn)).await? {
            actions.set(row.try_get("", "id")?, &TASK, "status", "cancelled".into());
        }
    }
    Ok(())
}

/// An order that names a campaign and was submitted records its customer's response as
/// `ordered`, on the customer's member of that campaign.
pub(super) async fn order(
    conn: &impl ConnectionTrait,
    p: &Projection,
    actions: &mut Actions,
) -> Result<(), Error> {
    let (Some(campaign), Some(customer)) = (uuid(p, "campaign_id"), uuid(p, "customer_id")) else {
        return Ok(());
    };
    if !p
        .get("status")
        .as_str()
        .is_some_and(|s| ORDERED.contains(&s))
    {
        return Ok(());
    }
    let m = CAMPAIGN_MEMBER.table;
    let stmt = Query::select()
        .columns(["id", "response"].map(Alias::new))
        .from(Alias::new(m))
        .and_where(Expr::col(Alias::new("campaign_id")).eq(campaign))
        .and_where(Expr::col(Alias::new("customer_id")).eq(customer))
        .and_where(live(m))
        .limit(1)
        .to_owned();
    let Some(row) = conn.query_one(stmt.build_with(conn)).await? else {
        return Ok(());
    };
    if row.try_get::<Option<String>>("", "response")?.as_deref() == Some("ordered") {
        return Ok(());
    }
    let member: Uuid = row.try_get("", "id")?;
    let at = match p.get("ordered_at") {
        Value::Int(at) => Value::Int(*at),
        _ => Value::Int(crate::db::now_ms()),
    };
    actions.set(member, &CAMPAIGN_MEMBER, "response", "ordered".into());
    actions.set(member, &CAMPAIGN_MEMBER, "responded_at", at);
    actions.set(
        member,
        &CAMPAIGN_MEMBER,
        "responded_by",
        p.get("agent_id").clone(),
    );
    Ok(())
}

fn uuid(p: &Projection, field: &str) -> Option<Uuid> {
    p.get(field).as_str().and_then(|s| Uuid::parse_str(s).ok())
}
