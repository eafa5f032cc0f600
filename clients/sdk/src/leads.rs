//! Leads, offline: converting one into a customer, its contact and (where there is a deal) an
//! opportunity, as one atomic group that the server takes whole or refuses whole.

use sync_core::kinds::{self, CONTACT, CUSTOMER, LEAD, OPPORTUNITY};
use sync_core::{leads, record, KindSchema, Value};
use uuid::Uuid;

use crate::replica::Replica;
use crate::store::{self, Kind, StoredRecord};
use crate::visits::wrong_kind;
use crate::Error;

/// A record a conversion makes: its id, kind and fields.
type Made = (Uuid, &'static KindSchema, Vec<(&'static str, Value)>);

/// What a conversion made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Conversion {
    pub customer: Uuid,
    pub contact: Uuid,
    pub opportunity: Option<Uuid>,
}

impl Replica {
    /// Converts a lead offline: a customer made of it (a prospect in its territory), the person as
    /// the customer's contact, an opportunity titled `deal` where one is given, and the lead marked
    /// converted naming them, in one local transaction and one atomic group. If another device
    /// converted the lead first, the server refuses the whole group (`lead_converted`, and
    /// `group_refused` for the records made), which stays on this device with the reasons.
    pub async fn convert_lead(
        &self,
        lead: Uuid,
        deal: Option<&str>,
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
        let projection = self.get(lead).await?;
        let actor = self.actor()?;
        let customer = Uuid::now_v7();
        let contact = Uuid::now_v7();
        let opportunity = deal.map(|_| Uuid::now_v7());
        let customer_fields = leads::customer_fields(&projection);
        let contact_fields = leads::contact_fields(&projection, customer);
        let converted = leads::converted_fields(customer, contact, opportunity, now_ms);
        let mut made: Vec<Made> = vec![
            (customer, &CUSTOMER, customer_fields),
            (contact, &CONTACT, contact_fields),
        ];
        if let (Some(id), Some(title)) = (opportunity, deal) {
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
            contact,
            opportunity,
        })
    }
}
