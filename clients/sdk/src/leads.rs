//! Leads, offline: the customers a lead looks like already, and converting one into a customer
//! (or into a customer it turned out to be), its contact and (where there is a deal) an
//! opportunity, as one atomic group that the server takes whole or refuses whole.

use sync_core::duplicates::{self, Keys, Reason};
use sync_core::geo::Position;
use sync_core::kinds::{self, CONTACT, CUSTOMER, LEAD, OPPORTUNITY};
use sync_core::{leads, record, KindSchema, Value};
use uuid::Uuid;

use crate::replica::Replica;
use crate::store::{self, Kind, StoredRecord};
use crate::visits::wrong_kind;
use crate::Error;

/// A record a conversion makes: its id, kind and fields.
type Made = (Uuid, &'static KindSchema, Vec<(&'static str, Value)>);

/// How a lead is converted.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConvertAs<'a> {
    /// Also open an opportunity with this title.
    pub deal: Option<&'a str>,
    /// The customer the lead turned out to be already: the person becomes its contact (and the
    /// deal its opportunity), and no customer is made.
    pub into: Option<Uuid>,
}

/// What a conversion made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Conversion {
    /// The customer the lead became: made by the conversion, or the one it was converted into.
    pub customer: Uuid,
    /// Whether the conversion made the customer.
    pub new_customer: bool,
    pub contact: Uuid,
    pub opportunity: Option<Uuid>,
}

/// A customer a lead looks like.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LikelyCustomer {
    pub id: Uuid,
    pub name: String,
    /// 0 to 1: how likely the two are one.
    pub score: f64,
    pub reasons: Vec<Reason>,
}

impl Replica {
    /// The customers on this device a lead looks like (the same phone number, a like name
    /// nearby or in its city), most likely first: checked offline, by the rule the server's
    /// duplicate check follows, which also names its best match on the lead (`duplicate_of`).
    pub async fn lead_duplicates(&self, lead: Uuid) -> Result<Vec<LikelyCustomer>, Error> {
        let info = self.info(lead).await?;
        if info.kind != LEAD.name {
            return Err(wrong_kind(lead, &info.kind, LEAD.name));
        }
        let keys = leads::keys(&self.get(lead).await?);
        let mut found = Vec::new();
        for customer in self.list(CUSTOMER.name).await? {
            let position = match (customer.f64("lat"), customer.f64("lon")) {
                (Some(lat), Some(lon)) => Some(Position { lat, lon }),
                _ => None,
            };
            let theirs = Keys::of(
                customer.str("name").unwrap_or_default(),
                customer.str("phone"),
                customer.str("tax_id"),
                customer.str("city"),
                position,
            );
            if let Some((score, reasons)) = duplicates::compare(&keys, &theirs) {
                found.push(LikelyCustomer {
                    id: customer.id,
                    name: customer.str("name").unwrap_or_default().to_string(),
                    score,
                    reasons,
                });
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(found)
    }

    /// Converts a lead offline: a customer made of it (a prospect in its territory), or the
    /// customer `how.into` it turned out to be, the person as the customer's contact, an
    /// opportunity titled `how.deal` where one is given, and the lead marked converted naming
    /// them, in one local transaction and one atomic group. If another device converted the lead
    /// first, the server refuses the whole group (`lead_converted`, and `group_refused` for the
    /// records made), which stays on this device with the reasons.
    pub async fn convert_lead(
        &self,
        lead: Uuid,
        how: ConvertAs<'_>,
        now_ms: i64,
    ) -> Result<Conversion, Error> {
        let info = self.info(lead).await?;
        if info.kind != LEAD.name {
            return Err(wrong_kind(lead, &info.kind, LEAD.name));
        }
        if let Some(status @ ("converted" | "disqualified")) = info.str("status") {
            return Err(Error::NotAllowed {
                code: "lead_closed",
                message: format!("lead {lead} is {status} already"),
            });
        }
        if let Some(into) = how.into {
            let existing = self.info(into).await?;
            if existing.kind != CUSTOMER.name {
                return Err(wrong_kind(into, &existing.kind, CUSTOMER.name));
            }
            if existing.fields.get("deleted") == Some(&serde_json::Value::Bool(true)) {
                return Err(Error::NotAllowed {
                    code: "customer_deleted",
                    message: format!("customer {into} is deleted"),
                });
            }
        }
        let projection = self.get(lead).await?;
        let actor = self.actor()?;
        let customer = how.into.unwrap_or_else(Uuid::now_v7);
        let contact = Uuid::now_v7();
        let opportunity = how.deal.map(|_| Uuid::now_v7());
        let contact_fields = leads::contact_fields(&projection, customer);
        let converted = leads::converted_fields(customer, contact, opportunity, now_ms);
        let mut made: Vec<Made> = Vec::new();
        if how.into.is_none() {
            made.push((customer, &CUSTOMER, leads::customer_fields(&projection)));
        }
        made.push((contact, &CONTACT, contact_fields));
        if let (Some(id), Some(title)) = (opportunity, how.deal) {
            made.push((
                id,
                &OPPORTUNITY,
                vec![
                    ("customer_id", Value::Str(customer.to_string())),
                    ("title", title.into()),
                    ("stage", kinds::OPPORTUNITY_STAGES[0].into()),
                ],
            ));
        }
        for (_, kind, fields) in &made {
            self.check_writable(kind, fields).await?;
        }
        self.check_writable(&LEAD, &converted).await?;
        let mut tx = self.pool.begin().await?;
        let mut group = vec![lead];
        for (id, kind, fields) in made {
            let doc = record::create(kind, actor.clone(), &fields)?;
            store::save(&mut tx, &mut StoredRecord::new(id, Kind::Known(kind), doc)).await?;
            group.push(id);
        }
        let mut rec = store::load(&mut tx, lead, &actor)
            .await?
            .ok_or(Error::UnknownRecord(lead))?;
        record::update(&mut rec.doc, &LEAD, &converted)?;
        store::save(&mut tx, &mut rec).await?;
        store::set_group(&mut tx, &group, Uuid::now_v7()).await?;
        tx.commit().await?;
        Ok(Conversion {
            customer,
            new_customer: how.into.is_none(),
            contact,
            opportunity,
        })
    }
}
