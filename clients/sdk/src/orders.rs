//! Taking orders and collecting payments at the customer's, offline: each line priced from the
//! catalogue and the customer's price list on the device, the totals computed by the same function
//! the server runs (`sync_core::orders`), so the agent shows the customer the figure that stands.

use serde::Serialize;
use sync_core::kinds::{self, ORDER, PAYMENT};
use sync_core::totals::Totals;
use sync_core::{orders, Item, Value};
use uuid::Uuid;

use crate::replica::{RecordInfo, Replica};
use crate::visits::wrong_kind;
use crate::Error;

/// A line as the agent enters it.
#[derive(Debug, Clone)]
pub struct LineRequest {
    pub sku: String,
    /// Thousandths of a unit (1.5 kg is 1500).
    pub quantity: i64,
    /// The line's discount, in basis points (1250 is 12.5%).
    pub discount_bp: i64,
}

/// Where an order came from: the visit it was taken in, the campaign it answers (which the
/// campaign report attributes it to).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderOrigin {
    pub visit_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
}

/// An order as taken.
#[derive(Debug, Clone, Serialize)]
pub struct TakenOrder {
    pub order_id: Uuid,
    pub status: &'static str,
    pub currency: String,
    /// The price list the lines were priced from, if the customer has one that applies today.
    pub price_list_id: Option<Uuid>,
    pub lines: Vec<Item>,
    pub totals: Totals,
}

/// A payment to record.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    /// Minor units of the company's currency.
    pub amount: i64,
    pub method: Option<String>,
    pub reference: Option<String>,
    /// The order it settles (the whole amount allocated to it); on account if None.
    pub order_id: Option<Uuid>,
}

impl Replica {
    /// The company's currency, from the settings record on the device.
    pub async fn company_currency(&self) -> Result<String, Error> {
        let settings = self.list(kinds::SETTINGS.name).await?;
        settings
            .first()
            .and_then(|s| s.str(kinds::CURRENCY_FIELD))
            .map(str::to_string)
            .ok_or(Error::NotAllowed {
                code: "no_settings",
                message: "this device holds no company settings yet: sync first".into(),
            })
    }

    /// Takes an order at a customer: each line's product found by SKU in the active catalogue,
    /// priced by the customer's price list where it applies at `now_ms` (quantity breaks included)
    /// or else the product's list price, and taxed at the product's rate. The order is a draft, or
    /// submitted at once with `submit`.
    pub async fn add_order(
        &self,
        customer_id: Uuid,
        lines: &[LineRequest],
        origin: OrderOrigin,
        submit: bool,
        now_ms: i64,
    ) -> Result<TakenOrder, Error> {
        let customer = self.info(customer_id).await?;
        if customer.kind != "customer" {
            return Err(wrong_kind(customer_id, &customer.kind, "customer"));
        }
        let price_list = self.price_list_of(&customer, now_ms).await?;
        let prices = match price_list {
            Some(id) => self.get(id).await?.get("prices").items().to_vec(),
            None => Vec::new(),
        };
        let mut items = Vec::with_capacity(lines.len());
        for line in lines {
            let product = self.product(&line.sku).await?;
            let product_id = product.id.to_string();
            let unit_price = orders::unit_price(
                &prices,
                &product_id,
                line.quantity,
                product.i64("list_price"),
            )
            .ok_or_else(|| Error::NotAllowed {
                code: "no_price",
                message: format!(
                    "{} has no price: neither the customer's price list nor the catalogue names one",
                    line.sku
                ),
            })?;
            let mut fields = vec![
                ("product_id", Value::Str(product_id)),
                ("sku", Value::Str(line.sku.clone())),
                ("quantity", Value::Int(line.quantity)),
                ("unit_price", Value::Int(unit_price)),
                ("discount_bp", Value::Int(line.discount_bp)),
            ];
            if let Some(tax) = product.i64("tax_bp") {
                fields.push(("tax_bp", Value::Int(tax)));
            }
            items.push(Item::new(fields));
        }
        // The lines in the order the record reads them (by id), and their totals, computed before
        // anything is written: an order whose totals cannot be computed is not taken.
        items.sort_by(|a, b| a.id.cmp(&b.id));
        let totals = orders::lines_totals(&items, 0).map_err(|e| Error::NotAllowed {
            code: e.code(),
            message: e.to_string(),
        })?;
        let session = self.session().await?.ok_or(Error::NotLoggedIn)?;
        let currency = self.company_currency().await?;
        let status = if submit { "submitted" } else { "draft" };
        let mut fields: Vec<(&str, Value)> = vec![
            ("customer_id", Value::Str(customer_id.to_string())),
            ("agent_id", Value::Str(session.user_id.to_string())),
            ("status", status.into()),
            (kinds::CURRENCY_FIELD, Value::Str(currency.clone())),
            ("lines", Value::Items(items)),
            ("ordered_at", Value::Int(now_ms)),
        ];
        if let Some(visit) = origin.visit_id {
            fields.push(("visit_id", Value::Str(visit.to_string())));
        }
        if let Some(campaign) = origin.campaign_id {
            fields.push(("campaign_id", Value::Str(campaign.to_string())));
        }
        if submit {
            fields.push(("submitted_at", Value::Int(now_ms)));
        }
        fields.extend(orders::total_values(&totals));
        let order_id = self.create(ORDER.name, &fields).await?;
        let lines = self.get(order_id).await?.get("lines").items().to_vec();
        Ok(TakenOrder {
            order_id,
            status,
            currency,
            price_list_id: price_list,
            lines,
            totals,
        })
    }

    /// Submits a draft (or rejected) order for delivery, and for a manager's approval where the
    /// server's rules hold it.
    pub async fn submit_order(&self, order_id: Uuid, now_ms: i64) -> Result<Totals, Error> {
        let order = self.info(order_id).await?;
        if order.kind != ORDER.name {
            return Err(wrong_kind(order_id, &order.kind, ORDER.name));
        }
        let status = order.str("status").unwrap_or_default();
        if let Err(e) = orders::transition(Some(status), "submitted", self.role().await?) {
            return Err(Error::NotAllowed {
                code: e.code,
                message: e.message,
            });
        }
        self.update(
            order_id,
            &[
                ("status", "submitted".into()),
                ("submitted_at", Value::Int(now_ms)),
            ],
        )
        .await?;
        self.write_totals(order_id).await
    }

    /// Records a payment collected from a customer, allocated to one of its orders or on account.
    pub async fn add_payment(
        &self,
        customer_id: Uuid,
        payment: PaymentRequest,
        now_ms: i64,
    ) -> Result<Uuid, Error> {
        let customer = self.info(customer_id).await?;
        if customer.kind != "customer" {
            return Err(wrong_kind(customer_id, &customer.kind, "customer"));
        }
        let session = self.session().await?.ok_or(Error::NotLoggedIn)?;
        let mut fields: Vec<(&str, Value)> = vec![
            ("customer_id", Value::Str(customer_id.to_string())),
            ("amount", Value::Int(payment.amount)),
            (
                kinds::CURRENCY_FIELD,
                Value::Str(self.company_currency().await?),
            ),
            ("collected_at", Value::Int(now_ms)),
            ("collected_by", Value::Str(session.user_id.to_string())),
        ];
        if let Some(method) = payment.method {
            fields.push(("method", Value::Str(method)));
        }
        if let Some(reference) = payment.reference {
            fields.push(("reference", Value::Str(reference)));
        }
        if let Some(order_id) = payment.order_id {
            let order = self.info(order_id).await?;
            if order.kind != ORDER.name
                || order.str("customer_id") != Some(&customer_id.to_string())
            {
                return Err(Error::NotAllowed {
                    code: "wrong_order",
                    message: format!("{order_id} is not an order of customer {customer_id}"),
                });
            }
            let allocation = Item::new([
                ("order_id", Value::Str(order_id.to_string())),
                ("amount", Value::Int(payment.amount)),
            ]);
            fields.push(("allocations", Value::Items(vec![allocation])));
        }
        self.create(PAYMENT.name, &fields).await
    }

    /// Writes an order's totals from its lines, as the server computes them; returns them.
    async fn write_totals(&self, order_id: Uuid) -> Result<Totals, Error> {
        let order = self.get(order_id).await?;
        let totals = orders::totals(&order).map_err(|e| Error::NotAllowed {
            code: e.code(),
            message: e.to_string(),
        })?;
        if !orders::totals_agree(&order, &totals) {
            self.update(order_id, &orders::total_values(&totals))
                .await?;
        }
        Ok(totals)
    }

    /// The customer's price list, if it is on the device and applies at `at`.
    async fn price_list_of(&self, customer: &RecordInfo, at: i64) -> Result<Option<Uuid>, Error> {
        let Some(id) = customer
            .str("price_list_id")
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            return Ok(None);
        };
        match self.get(id).await {
            Ok(list) if orders::price_list_applies(&list, at) => Ok(Some(id)),
            Ok(_) | Err(Error::UnknownRecord(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The active product with this SKU.
    async fn product(&self, sku: &str) -> Result<RecordInfo, Error> {
        let found = self.query(kinds::PRODUCT.name, &[("sku", sku)]).await?;
        found
            .into_iter()
            .find(|p| p.fields.get("active") != Some(&serde_json::Value::Bool(false)))
            .ok_or_else(|| Error::NotAllowed {
                code: "unknown_product",
                message: format!("no active product with SKU `{sku}` on this device"),
            })
    }

    async fn role(&self) -> Result<sync_core::Role, Error> {
        Ok(self.session().await?.ok_or(Error::NotLoggedIn)?.role)
    }
}
