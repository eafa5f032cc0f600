//! The record kinds fieldsync knows, declared once for the server and every client.

use crate::schema::{
    FieldSpec, FieldType, ItemsSchema, KindSchema, Role, Scope, Unit, Writer, DELETED_FIELD,
};
use crate::Error;

const NAME: FieldType = FieldType::String { max_len: 200 };
const SHORT: FieldType = FieldType::String { max_len: 100 };
const PHONE: FieldType = FieldType::String { max_len: 40 };
const NOTES: FieldType = FieldType::Text { max_len: 20_000 };
/// A code a company or an authority gives: a customer number, a tax id.
const CODE: FieldType = FieldType::String { max_len: 40 };

/// A customer's lifecycle. Records written before it had these values said `lead` (now `prospect`)
/// and `inactive` (now `dormant`); the server rewrites them once, at the first start of this version.
pub const CUSTOMER_STATUSES: &[&str] = &["prospect", "active", "dormant", "lost", "won_back"];
/// The Pareto grade of a customer's trailing revenue (A: the top 80%, B: the next 15%, C: the rest).
pub const TIERS: &[&str] = &["A", "B", "C"];
pub const COMPANY_SIZES: &[&str] = &["micro", "small", "medium", "large", "enterprise"];
/// A contact's part in the customer's buying decision.
pub const BUYING_ROLES: &[&str] = &[
    "economic_buyer",
    "technical_buyer",
    "user",
    "influencer",
    "gatekeeper",
    "champion",
];
/// A lead's way: new, worked, qualified as worth a customer, then converted into one (or
/// disqualified, with the reason).
pub const LEAD_STATUSES: &[&str] = &["new", "working", "qualified", "converted", "disqualified"];
/// Where a lead came from, for the conversion rate by source.
pub const LEAD_SOURCES: &[&str] = &[
    "field", "referral", "event", "website", "phone", "campaign", "import", "other",
];
pub const VISIT_STATUSES: &[&str] = &["planned", "in_progress", "completed", "missed", "cancelled"];
/// How a check-in's position compared with the customer's: within the visit type's radius, outside
/// it, or not comparable (no position on either side, or a visit type with no geofence).
pub const CHECK_IN_RESULTS: &[&str] = &["verified", "out_of_range", "unverified"];
/// What a check-in outside the radius does: nothing, an alert (soft), or the visit marked out of
/// range (hard).
pub const GEOFENCE_MODES: &[&str] = &["off", "soft", "hard"];
pub const OPPORTUNITY_STAGES: &[&str] = &[
    "prospecting",
    "qualification",
    "proposal",
    "negotiation",
    "won",
    "lost",
];
pub const TICKET_CATEGORIES: &[&str] = &["service", "complaint", "question", "feedback"];
pub const TICKET_SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];
pub const TICKET_STATUSES: &[&str] = &["open", "in_progress", "resolved", "closed"];
pub const PAYMENT_METHODS: &[&str] = &["cash", "cheque", "bank_transfer", "card", "mobile_money"];
/// An order's workflow: an agent drafts and submits (or cancels) it, a manager approves or rejects
/// it, and it is delivered once approved. `orders::transition` says who may make which move.
pub const ORDER_STATUSES: &[&str] = &[
    "draft",
    "submitted",
    "approved",
    "rejected",
    "delivered",
    "cancelled",
];
/// What the server's rules after a merge found that someone should look at.
pub const ALERT_CODES: &[&str] = &[
    "credit_limit_exceeded",
    "discount_above_limit",
    "check_in_out_of_range",
    "implausible_check_in",
    "payment_above_open_amount",
    "edit_after_merge",
];
pub const ALERT_STATUSES: &[&str] = &["open", "resolved"];
pub const TASK_STATUSES: &[&str] = &["open", "done", "cancelled"];
pub const TASK_PRIORITIES: &[&str] = &["low", "normal", "high"];
/// What a campaign is for: a product launch, a promotion, winning dormant customers back, a survey,
/// an event.
pub const CAMPAIGN_TYPES: &[&str] = &["launch", "promotion", "reactivation", "survey", "event"];
/// A campaign's life: drafted (nothing reaches the field), active (its members and their tasks are
/// with the agents), then completed or cancelled.
pub const CAMPAIGN_STATUSES: &[&str] = &["draft", "active", "completed", "cancelled"];
/// How a campaign reaches its customers; phone and e-mail need a contact's consent.
pub const CAMPAIGN_CHANNELS: &[&str] = &["visit", "phone", "email"];
/// What a campaign's member answered, as the agent records it in the field.
pub const CAMPAIGN_RESPONSES: &[&str] = &["visited", "interested", "ordered", "refused"];
/// What a sales target measures: revenue and collections in minor units of the company's currency,
/// new customers and visits as counts.
pub const TARGET_METRICS: &[&str] = &["revenue", "collections", "new_customers", "visits"];

/// Money: integer minor units (cents) of the company's currency. The bound keeps any sum of a
/// company's amounts far inside an i64.
const MONEY: FieldType = FieldType::Int {
    min: 0,
    max: 1_000_000_000_000_000,
};
const LAT: FieldType = FieldType::Float {
    min: -90.0,
    max: 90.0,
};
const LON: FieldType = FieldType::Float {
    min: -180.0,
    max: 180.0,
};
/// A distance or a radius in metres, up to half the earth's circumference.
const METRES: FieldType = FieldType::Float {
    min: 0.0,
    max: 20_100_000.0,
};
/// A user of the company (an agent, a manager): their id.
const USER: FieldType = FieldType::Reference("user");
/// An ISO 4217 currency code (`EUR`).
const CURRENCY: FieldType = FieldType::String { max_len: 3 };
/// A share in basis points: 1,250 is 12.5%.
const BASIS_POINTS: FieldType = FieldType::Int {
    min: 0,
    max: 10_000,
};
/// A score on a scale of 1 to 5.
const SCORE: FieldType = FieldType::Int { min: 1, max: 5 };
/// A quantity in thousandths of a unit (1.5 kg is 1500), as `totals` takes it.
const QUANTITY: FieldType = FieldType::Int {
    min: 1,
    max: 1_000_000_000_000,
};
/// The id of a record of any kind.
const RECORD: FieldType = FieldType::Reference("record");
const MESSAGE: FieldType = FieldType::String { max_len: 2_000 };

pub static CUSTOMER: KindSchema = KindSchema {
    name: "customer",
    table: "customers",
    scope: Scope::Territory {
        field: "territory",
        user: None,
    },
    fields: &[
        FieldSpec::new("name", NAME).required(),
        FieldSpec::new("territory", SHORT).required(),
        FieldSpec::new("phone", PHONE),
        FieldSpec::new("email", FieldType::Email),
        FieldSpec::new("street", NAME),
        FieldSpec::new("city", SHORT),
        FieldSpec::new("postcode", FieldType::String { max_len: 20 }),
        FieldSpec::new("country", SHORT),
        FieldSpec::new("lat", LAT),
        FieldSpec::new("lon", LON),
        FieldSpec::new("status", FieldType::Enum(CUSTOMER_STATUSES)),
        FieldSpec::new(
            "credit_limit",
            FieldType::Int {
                min: 0,
                max: 1_000_000_000,
            },
        )
        .in_unit(Unit::MinorUnits)
        .written_by(Writer::Manager),
        FieldSpec::new("external_ref", SHORT).written_by(Writer::Server),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
        // The company's own customer number: what imports and people match on.
        FieldSpec::new("code", CODE),
        FieldSpec::new("industry", SHORT),
        FieldSpec::new("size", FieldType::Enum(COMPANY_SIZES)),
        FieldSpec::new("region", SHORT),
        // A sole trader's tax id is the person's.
        FieldSpec::new("tax_id", CODE).personal(),
        // How far from `lat`/`lon` a check-in still counts as at the customer's; the visit type's
        // radius applies where this is not set.
        FieldSpec::new("geo_radius_m", METRES).in_unit(Unit::Metres),
        FieldSpec::new("owner_id", USER).written_by(Writer::Manager),
        FieldSpec::new("key_account_manager_id", USER).written_by(Writer::Manager),
        // Written from the customer-value grading unless a manager locked it.
        FieldSpec::new("tier", FieldType::Enum(TIERS)).written_by(Writer::Manager),
        FieldSpec::new("tier_locked", FieldType::Bool).written_by(Writer::Manager),
        FieldSpec::new("payment_terms_days", FieldType::Int { min: 0, max: 366 })
            .in_unit(Unit::Days)
            .written_by(Writer::Manager),
        // The prices this customer orders at; the products' list prices where it is not set.
        FieldSpec::new("price_list_id", FieldType::Reference("price_list"))
            .written_by(Writer::Manager),
        // Comma-separated labels.
        FieldSpec::new("tags", FieldType::String { max_len: 500 }),
        // Set, with the tombstone, when a manager merges this customer into another (a
        // duplicate): records that still name this one are moved to that one.
        FieldSpec::new("merged_into", FieldType::Reference("customer")).written_by(Writer::Manager),
    ],
};

pub static CONTACT: KindSchema = KindSchema {
    name: "contact",
    table: "contacts",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer")).required(),
        FieldSpec::new("name", NAME).required().personal(),
        FieldSpec::new("title", SHORT),
        FieldSpec::new("phone", PHONE).personal(),
        FieldSpec::new("email", FieldType::Email).personal(),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
        FieldSpec::new("buying_role", FieldType::Enum(BUYING_ROLES)),
        FieldSpec::new("decision_maker", FieldType::Bool),
        FieldSpec::new("consent_email", FieldType::Bool),
        FieldSpec::new("consent_phone", FieldType::Bool),
        FieldSpec::new("consent_sms", FieldType::Bool),
    ],
};
/// A person or a business that may become a customer: captured in the field (a shop passed on the
/// way, a name given at an event) or imported, worked by its owner, and converted into a customer
/// (with a contact, and an opportunity where there is a deal) or disqualified. An owned lead is its
/// owner's, its territory's managers' and its creator's; one with no owner is the territory's.
pub static LEAD: KindSchema = KindSchema {
    name: "lead",
    table: "leads",
    scope: Scope::Territory {
        field: "territory",
        user: Some("owner_id"),
    },
    fields: &[
        // The person's name; `company` is the business's, where there is one.
        FieldSpec::new("name", NAME).required().personal(),
        FieldSpec::new("territory", SHORT).required(),
        FieldSpec::new("status", FieldType::Enum(LEAD_STATUSES)).required(),
        FieldSpec::new("source", FieldType::Enum(LEAD_SOURCES)),
        FieldSpec::new("owner_id", USER),
        FieldSpec::new("company", NAME),
        FieldSpec::new("title", SHORT),
        FieldSpec::new("phone", PHONE).personal(),
        FieldSpec::new("email", FieldType::Email).personal(),
        FieldSpec::new("street", NAME),
        FieldSpec::new("city", SHORT),
        FieldSpec::new("postcode", FieldType::String { max_len: 20 }),
        FieldSpec::new("country", SHORT),
        FieldSpec::new("lat", LAT),
        FieldSpec::new("lon", LON),
        FieldSpec::new("industry", SHORT),
        // When the lead was met, on the device: its cohort in the conversion report, which a
        // sync days later does not move.
        FieldSpec::new("captured_at", FieldType::Timestamp),
        // Whether the person may be contacted by e-mail, by phone, or visited.
        FieldSpec::new("consent_email", FieldType::Bool),
        FieldSpec::new("consent_phone", FieldType::Bool),
        FieldSpec::new("consent_visit", FieldType::Bool),
        FieldSpec::new("disqualified_reason", SHORT),
        // What the conversion made, and when.
        FieldSpec::new("converted_at", FieldType::Timestamp),
        FieldSpec::new("customer_id", FieldType::Reference("customer")),
        FieldSpec::new("contact_id", FieldType::Reference("contact")),
        FieldSpec::new("opportunity_id", FieldType::Reference("opportunity")),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
        // The customer the lead is likely to be already (the duplicate check's best match, found
        // by the server when the lead is written), and why: a phone number, a name nearby.
        FieldSpec::new("duplicate_of", FieldType::Reference("customer")).written_by(Writer::Server),
        FieldSpec::new("duplicate_reasons", SHORT).written_by(Writer::Server),
    ],
};

/// A product of the catalogue: company-wide, written by managers and admins, read by every device.
pub static PRODUCT: KindSchema = KindSchema {
    name: "product",
    table: "products",
    scope: Scope::Company {
        readers: Role::Agent,
    },
    fields: &[
        FieldSpec::new("sku", FieldType::String { max_len: 64 })
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("name", NAME)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("unit", SHORT).written_by(Writer::Manager),
        FieldSpec::new("category", SHORT).written_by(Writer::Manager),
        FieldSpec::new("active", FieldType::Bool).written_by(Writer::Manager),
        FieldSpec::new("description", NOTES).written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
        // The price per whole unit where the customer's price list names none.
        FieldSpec::new("list_price", MONEY)
            .in_unit(Unit::MinorUnits)
            .written_by(Writer::Manager),
        FieldSpec::new("tax_bp", BASIS_POINTS)
            .in_unit(Unit::BasisPoints)
            .written_by(Writer::Manager),
    ],
};

/// What a unit of a product costs the company, for margins: a record of its own, which managers and
/// admins alone read, since a product's document reaches every device and a field of it cannot be
/// hidden from one. A product with several counts the highest.
pub static PRODUCT_COST: KindSchema = KindSchema {
    name: "product_cost",
    table: "product_costs",
    scope: Scope::Company {
        readers: Role::Manager,
    },
    fields: &[
        FieldSpec::new("product_id", FieldType::Reference("product"))
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("unit_cost", MONEY)
            .in_unit(Unit::MinorUnits)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
    ],
};

/// A price list's prices: per product, from a minimum quantity (quantity breaks). An order line
/// takes the price of the largest minimum its quantity reaches (`orders::unit_price`).
pub static PRICE_LIST_ITEMS: ItemsSchema = ItemsSchema {
    table: "price_list_items",
    record_column: "price_list_id",
    max_items: 5_000,
    fields: &[
        FieldSpec::new("product_id", FieldType::Reference("product")).required(),
        FieldSpec::new("min_quantity", QUANTITY).in_unit(Unit::Thousandths),
        FieldSpec::new("unit_price", MONEY)
            .in_unit(Unit::MinorUnits)
            .required(),
    ],
};

/// Prices that customers on this list order at, within its validity dates.
pub static PRICE_LIST: KindSchema = KindSchema {
    name: "price_list",
    table: "price_lists",
    scope: Scope::Company {
        readers: Role::Agent,
    },
    fields: &[
        FieldSpec::new("name", SHORT)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new(CURRENCY_FIELD, CURRENCY)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("valid_from", FieldType::Timestamp).written_by(Writer::Manager),
        FieldSpec::new("valid_to", FieldType::Timestamp).written_by(Writer::Manager),
        FieldSpec::new("active", FieldType::Bool).written_by(Writer::Manager),
        FieldSpec::new("prices", FieldType::Items(&PRICE_LIST_ITEMS)).written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
    ],
};

/// An order's lines, as `totals::Line` takes them.
pub static ORDER_LINES: ItemsSchema = ItemsSchema {
    table: "order_lines",
    record_column: "order_id",
    max_items: crate::totals::MAX_LINES,
    fields: &[
        FieldSpec::new("product_id", FieldType::Reference("product")).required(),
        FieldSpec::new("sku", FieldType::String { max_len: 64 }),
        FieldSpec::new("quantity", QUANTITY)
            .in_unit(Unit::Thousandths)
            .required(),
        FieldSpec::new("unit_price", MONEY)
            .in_unit(Unit::MinorUnits)
            .required(),
        FieldSpec::new("discount_bp", BASIS_POINTS).in_unit(Unit::BasisPoints),
        FieldSpec::new("tax_bp", BASIS_POINTS).in_unit(Unit::BasisPoints),
    ],
};

/// An order a customer placed with an agent. The totals are the lines' (`orders::totals`); the
/// server writes them again after a merge that changed them, and holds a submitted order for a
/// manager's approval where a rule says so (`hold_reason`).
pub static ORDER: KindSchema = KindSchema {
    name: "order",
    table: "orders",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer")).required(),
        // The order's number in the company's other systems (its ERP): what an import matches
        // the order on, with its customer.
        FieldSpec::new("number", CODE),
        FieldSpec::new("agent_id", USER),
        FieldSpec::new("visit_id", FieldType::Reference("visit")),
        FieldSpec::new("status", FieldType::Enum(ORDER_STATUSES)).required(),
        FieldSpec::new(CURRENCY_FIELD, CURRENCY).required(),
        FieldSpec::new("lines", FieldType::Items(&ORDER_LINES)),
        FieldSpec::new("order_discount_bp", BASIS_POINTS).in_unit(Unit::BasisPoints),
        FieldSpec::new("subtotal", MONEY).in_unit(Unit::MinorUnits),
        FieldSpec::new("discount", MONEY).in_unit(Unit::MinorUnits),
        FieldSpec::new("tax", MONEY).in_unit(Unit::MinorUnits),
        FieldSpec::new("total", MONEY).in_unit(Unit::MinorUnits),
        FieldSpec::new("ordered_at", FieldType::Timestamp),
        FieldSpec::new("submitted_at", FieldType::Timestamp),
        FieldSpec::new("delivered_at", FieldType::Timestamp),
        // When a delivered order's payment falls due: its delivery plus the customer's payment
        // terms, written by the server.
        FieldSpec::new("due_at", FieldType::Timestamp).written_by(Writer::Server),
        // Why the order waits for a manager (a credit limit, a discount): set by the server.
        FieldSpec::new("hold_reason", MESSAGE).written_by(Writer::Server),
        // The submission (its `submitted_at`) the hold was decided for: a resubmitted order is
        // held to the rules again.
        FieldSpec::new("held_at", FieldType::Timestamp).written_by(Writer::Server),
        // The campaign the order came from, which the campaign report attributes it to.
        FieldSpec::new("campaign_id", FieldType::Reference("campaign")),
        FieldSpec::new("decided_by", USER).written_by(Writer::Manager),
        FieldSpec::new("decided_at", FieldType::Timestamp).written_by(Writer::Manager),
        FieldSpec::new("decision_note", MESSAGE).written_by(Writer::Manager),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
    ],
};

/// A visit to a customer: planned, then checked in and out where the customer is.
pub static VISIT: KindSchema = KindSchema {
    name: "visit",
    table: "visits",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer")).required(),
        FieldSpec::new("agent_id", USER),
        FieldSpec::new("visit_type", SHORT),
        FieldSpec::new("status", FieldType::Enum(VISIT_STATUSES)).required(),
        FieldSpec::new("planned_start", FieldType::Timestamp),
        FieldSpec::new("planned_end", FieldType::Timestamp),
        FieldSpec::new("check_in_at", FieldType::Timestamp),
        FieldSpec::new("check_in_lat", LAT),
        FieldSpec::new("check_in_lon", LON),
        FieldSpec::new("check_in_accuracy_m", METRES).in_unit(Unit::Metres),
        FieldSpec::new("check_in_distance_m", METRES).in_unit(Unit::Metres),
        FieldSpec::new("check_in_result", FieldType::Enum(CHECK_IN_RESULTS)),
        FieldSpec::new("check_out_at", FieldType::Timestamp),
        FieldSpec::new("check_out_lat", LAT),
        FieldSpec::new("check_out_lon", LON),
        FieldSpec::new("outcome", FieldType::String { max_len: 500 }),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
        // The storefront, the shelf, a signed delivery note: each photo an item, so that two
        // devices adding photos offline keep both.
        FieldSpec::new("photos", FieldType::Items(&VISIT_PHOTOS)),
    ],
};

/// The fields of a file attached to a record as an item: the file by its hash, a caption and
/// when it was taken.
const ATTACHED_FIELDS: &[FieldSpec] = &[
    FieldSpec::new("hash", FieldType::Attachment).required(),
    FieldSpec::new("caption", FieldType::String { max_len: 200 }),
    FieldSpec::new("taken_at", FieldType::Timestamp),
];

const fn attached(table: &'static str, record_column: &'static str) -> ItemsSchema {
    ItemsSchema {
        table,
        record_column,
        max_items: 100,
        fields: ATTACHED_FIELDS,
    }
}

pub static VISIT_PHOTOS: ItemsSchema = attached("visit_photos", "visit_id");

pub static TICKET_EVIDENCE: ItemsSchema = attached("ticket_evidence", "ticket_id");

/// A deal being worked with a customer.
pub static OPPORTUNITY: KindSchema = KindSchema {
    name: "opportunity",
    table: "opportunities",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer")).required(),
        FieldSpec::new("title", NAME).required(),
        FieldSpec::new("stage", FieldType::Enum(OPPORTUNITY_STAGES)).required(),
        FieldSpec::new("amount", MONEY).in_unit(Unit::MinorUnits),
        FieldSpec::new("probability", FieldType::Int { min: 0, max: 100 }).in_unit(Unit::Percent),
        FieldSpec::new("expected_close", FieldType::Timestamp),
        FieldSpec::new("owner_id", USER),
        FieldSpec::new("closed_at", FieldType::Timestamp),
        // Why it was won or lost.
        FieldSpec::new("close_reason", NAME),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
        // Each stage the deal entered, when and by whom: the server appends to it after every
        // merge that moved the stage, so the history holds whoever moved it, from any device.
        FieldSpec::new("stage_history", FieldType::Items(&STAGE_HISTORY))
            .written_by(Writer::Server),
    ],
};

/// An opportunity's stages over time, for the pipeline's cycle lengths and conversions.
pub static STAGE_HISTORY: ItemsSchema = ItemsSchema {
    table: "opportunity_stages",
    record_column: "opportunity_id",
    max_items: 1_000,
    fields: &[
        FieldSpec::new("stage", FieldType::Enum(OPPORTUNITY_STAGES)).required(),
        FieldSpec::new("at", FieldType::Timestamp).required(),
        FieldSpec::new("user_id", USER),
    ],
};

/// A service request or a complaint. Satisfaction is reported as perceived / expected, so both
/// scores are asked.
pub static TICKET: KindSchema = KindSchema {
    name: "ticket",
    table: "tickets",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer")).required(),
        FieldSpec::new("contact_id", FieldType::Reference("contact")),
        FieldSpec::new("subject", NAME).required(),
        FieldSpec::new("category", FieldType::Enum(TICKET_CATEGORIES)),
        FieldSpec::new("severity", FieldType::Enum(TICKET_SEVERITIES)),
        FieldSpec::new("status", FieldType::Enum(TICKET_STATUSES)).required(),
        FieldSpec::new("opened_at", FieldType::Timestamp),
        FieldSpec::new("resolved_at", FieldType::Timestamp),
        FieldSpec::new("resolution", FieldType::String { max_len: 2_000 }),
        FieldSpec::new("satisfaction", SCORE),
        FieldSpec::new("expectation", SCORE),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
        // Photos or documents that show the problem.
        FieldSpec::new("evidence", FieldType::Items(&TICKET_EVIDENCE)),
    ],
};

/// Money collected from a customer.
pub static PAYMENT: KindSchema = KindSchema {
    name: "payment",
    table: "payments",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer")).required(),
        FieldSpec::new(
            "amount",
            FieldType::Int {
                min: 1,
                max: 1_000_000_000_000_000,
            },
        )
        .in_unit(Unit::MinorUnits)
        .required(),
        // The company's one currency (settings).
        FieldSpec::new(CURRENCY_FIELD, CURRENCY).required(),
        FieldSpec::new("collected_at", FieldType::Timestamp),
        FieldSpec::new("method", FieldType::Enum(PAYMENT_METHODS)),
        FieldSpec::new("reference", SHORT),
        // A photo of the receipt or the cheque.
        FieldSpec::new("receipt", FieldType::Attachment),
        FieldSpec::new("collected_by", USER),
        FieldSpec::new("lat", LAT),
        FieldSpec::new("lon", LON),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
        // Which of the customer's orders the payment settles; the rest is on account.
        FieldSpec::new("allocations", FieldType::Items(&PAYMENT_ALLOCATIONS)),
    ],
};

pub static PAYMENT_ALLOCATIONS: ItemsSchema = ItemsSchema {
    table: "payment_allocations",
    record_column: "payment_id",
    max_items: 100,
    fields: &[
        FieldSpec::new("order_id", FieldType::Reference("order")).required(),
        FieldSpec::new(
            "amount",
            FieldType::Int {
                min: 1,
                max: 1_000_000_000_000_000,
            },
        )
        .in_unit(Unit::MinorUnits)
        .required(),
    ],
};

/// Something the server's rules found after a merge that a manager should look at (a credit limit
/// passed, a check-in far from the customer). The server writes it; managers resolve it.
pub static ALERT: KindSchema = KindSchema {
    name: "alert",
    table: "alerts",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer"))
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("record_id", RECORD)
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("record_kind", SHORT)
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("code", FieldType::Enum(ALERT_CODES))
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("message", MESSAGE).written_by(Writer::Server),
        // Who did what the alert is about.
        FieldSpec::new("user_id", USER).written_by(Writer::Server),
        FieldSpec::new("raised_at", FieldType::Timestamp).written_by(Writer::Server),
        FieldSpec::new("status", FieldType::Enum(ALERT_STATUSES))
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("outcome", SHORT).written_by(Writer::Manager),
        FieldSpec::new("note", MESSAGE).written_by(Writer::Manager),
        FieldSpec::new("resolved_by", USER).written_by(Writer::Manager),
        FieldSpec::new("resolved_at", FieldType::Timestamp).written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Server),
    ],
};

/// Two people changed one field of a record at once, offline: both values, which one automerge
/// picked, and who wrote each. A manager picks the value that stands.
pub static CONFLICT: KindSchema = KindSchema {
    name: "conflict",
    table: "record_conflicts",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer"))
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("record_id", RECORD)
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("record_kind", SHORT)
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("field", SHORT)
            .required()
            .written_by(Writer::Server),
        // JSON: an array of {"value", "user_id", "device_id"}, the winner first.
        FieldSpec::new("candidates", FieldType::String { max_len: 20_000 })
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("raised_at", FieldType::Timestamp).written_by(Writer::Server),
        FieldSpec::new("status", FieldType::Enum(ALERT_STATUSES))
            .required()
            .written_by(Writer::Manager),
        // The value that stands, as JSON.
        FieldSpec::new("outcome", FieldType::String { max_len: 20_000 })
            .written_by(Writer::Manager),
        FieldSpec::new("note", MESSAGE).written_by(Writer::Manager),
        FieldSpec::new("resolved_by", USER).written_by(Writer::Manager),
        FieldSpec::new("resolved_at", FieldType::Timestamp).written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Server),
    ],
};

/// Something to do by a date, assigned to an agent (by a manager, or by themselves), about a record
/// or not. Assigned, it is the assignee's (and the territory's managers'); unassigned, the team's.
pub static TASK: KindSchema = KindSchema {
    name: "task",
    table: "tasks",
    scope: Scope::Territory {
        field: "territory",
        user: Some("assignee_id"),
    },
    fields: &[
        FieldSpec::new("territory", SHORT).required(),
        FieldSpec::new("title", NAME).required(),
        FieldSpec::new("assignee_id", USER),
        FieldSpec::new("due_at", FieldType::Timestamp),
        FieldSpec::new("status", FieldType::Enum(TASK_STATUSES)).required(),
        FieldSpec::new("priority", FieldType::Enum(TASK_PRIORITIES)),
        // The record the task is about (a customer, an order...), and its kind.
        FieldSpec::new("related_id", RECORD),
        FieldSpec::new("related_kind", SHORT),
        FieldSpec::new("done_at", FieldType::Timestamp),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
    ],
};

/// An agent's visits for a day, in route order: the day's plan lists them in this order. The agent's
/// and the territory's managers'.
pub static VISIT_PLAN: KindSchema = KindSchema {
    name: "visit_plan",
    table: "visit_plans",
    scope: Scope::Territory {
        field: "territory",
        user: Some("agent_id"),
    },
    fields: &[
        FieldSpec::new("territory", SHORT).required(),
        FieldSpec::new("agent_id", USER).required(),
        // The day, as a time within it (by convention its start where the agent works).
        FieldSpec::new("day", FieldType::Timestamp).required(),
        FieldSpec::new("stops", FieldType::Items(&PLAN_STOPS)),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
    ],
};

/// The stops of a visit plan: each a visit and its place in the route.
pub static PLAN_STOPS: ItemsSchema = ItemsSchema {
    table: "visit_plan_stops",
    record_column: "plan_id",
    max_items: 100,
    fields: &[
        FieldSpec::new("visit_id", FieldType::Reference("visit")).required(),
        FieldSpec::new("sequence", FieldType::Int { min: 0, max: 1_000 }).required(),
    ],
};

/// What a territory, or one of its agents, should reach in a period: the reports measure
/// attainment against it. Managers set targets; an agent's is seen by that agent, the territory's
/// by its team.
pub static SALES_TARGET: KindSchema = KindSchema {
    name: "sales_target",
    table: "sales_targets",
    scope: Scope::Territory {
        field: "territory",
        user: Some("agent_id"),
    },
    fields: &[
        FieldSpec::new("territory", SHORT)
            .required()
            .written_by(Writer::Manager),
        // The agent whose target it is; the territory's as a whole where not set.
        FieldSpec::new("agent_id", USER).written_by(Writer::Manager),
        FieldSpec::new("period_start", FieldType::Timestamp)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("period_end", FieldType::Timestamp)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("metric", FieldType::Enum(TARGET_METRICS))
            .required()
            .written_by(Writer::Manager),
        // Minor units for revenue and collections, a count for new customers and visits.
        FieldSpec::new("value", MONEY)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
    ],
};

/// A kind of visit (a sales call, a delivery, an audit), with how strictly its check-in position is
/// held to the customer's.
pub static VISIT_TYPE: KindSchema = KindSchema {
    name: "visit_type",
    table: "visit_types",
    scope: Scope::Company {
        readers: Role::Agent,
    },
    fields: &[
        FieldSpec::new("name", SHORT)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("geofence", FieldType::Enum(GEOFENCE_MODES))
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("radius_m", METRES)
            .in_unit(Unit::Metres)
            .written_by(Writer::Manager),
        FieldSpec::new("require_checkout", FieldType::Bool).written_by(Writer::Manager),
        FieldSpec::new("active", FieldType::Bool).written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
    ],
};

/// How often the customers of a tier need a visit.
pub static TIER_POLICY: KindSchema = KindSchema {
    name: "tier_policy",
    table: "tier_policies",
    scope: Scope::Company {
        readers: Role::Agent,
    },
    fields: &[
        FieldSpec::new("tier", FieldType::Enum(TIERS))
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("visits_per_period", FieldType::Int { min: 0, max: 1_000 })
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("period_days", FieldType::Int { min: 1, max: 366 })
            .in_unit(Unit::Days)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("min_visit_minutes", FieldType::Int { min: 0, max: 1_440 })
            .in_unit(Unit::Minutes)
            .written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
    ],
};

/// The company's settings: one record, which admins write. Money in any record is in its currency.
pub static SETTINGS: KindSchema = KindSchema {
    name: "settings",
    table: "settings",
    scope: Scope::Company {
        readers: Role::Agent,
    },
    fields: &[
        // ISO 4217 (`EUR`).
        FieldSpec::new("currency", CURRENCY)
            .required()
            .written_by(Writer::Admin),
        // The most discount, in basis points, an order line may carry before a manager approves it.
        FieldSpec::new("agent_discount_limit_bp", BASIS_POINTS)
            .in_unit(Unit::BasisPoints)
            .written_by(Writer::Admin),
        FieldSpec::new("manager_discount_limit_bp", BASIS_POINTS)
            .in_unit(Unit::BasisPoints)
            .written_by(Writer::Admin),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Admin),
    ],
};

/// A campaign a manager runs: a product launch or a promotion visited shop by shop, a round of calls
/// to dormant customers. Its targets are a segment of customers (every live customer matching all
/// the `target_` fields set), customers listed by name, or both; the server makes one
/// [`CAMPAIGN_MEMBER`] per target customer, which is what agents receive. The campaign itself (its
/// budget, every target) stays with managers and admins.
pub static CAMPAIGN: KindSchema = KindSchema {
    name: "campaign",
    table: "campaigns",
    scope: Scope::Company {
        readers: Role::Manager,
    },
    fields: &[
        FieldSpec::new("name", NAME)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("campaign_type", FieldType::Enum(CAMPAIGN_TYPES))
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("status", FieldType::Enum(CAMPAIGN_STATUSES))
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("starts_at", FieldType::Timestamp)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("ends_at", FieldType::Timestamp)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("budget", MONEY)
            .in_unit(Unit::MinorUnits)
            .written_by(Writer::Manager),
        FieldSpec::new("channel", FieldType::Enum(CAMPAIGN_CHANNELS))
            .required()
            .written_by(Writer::Manager),
        // The visit type its visits are logged as, and what the agent is asked to do there.
        FieldSpec::new("visit_type", SHORT).written_by(Writer::Manager),
        FieldSpec::new("asks", MESSAGE).written_by(Writer::Manager),
        // The segment: customers matching every field set here.
        FieldSpec::new("target_territory", SHORT).written_by(Writer::Manager),
        FieldSpec::new("target_industry", SHORT).written_by(Writer::Manager),
        FieldSpec::new("target_region", SHORT).written_by(Writer::Manager),
        FieldSpec::new("target_size", FieldType::Enum(COMPANY_SIZES)).written_by(Writer::Manager),
        FieldSpec::new("target_tier", FieldType::Enum(TIERS)).written_by(Writer::Manager),
        FieldSpec::new("target_status", FieldType::Enum(CUSTOMER_STATUSES))
            .written_by(Writer::Manager),
        // Customers named one by one, beside (or instead of) the segment.
        FieldSpec::new("customers", FieldType::Items(&CAMPAIGN_CUSTOMERS))
            .written_by(Writer::Manager),
        FieldSpec::new("products", FieldType::Items(&CAMPAIGN_PRODUCTS))
            .written_by(Writer::Manager),
        FieldSpec::new("notes", NOTES).written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
    ],
};

/// The customers a campaign names one by one.
pub static CAMPAIGN_CUSTOMERS: ItemsSchema = ItemsSchema {
    table: "campaign_customers",
    record_column: "campaign_id",
    max_items: crate::campaigns::MAX_MEMBERS,
    fields: &[FieldSpec::new("customer_id", FieldType::Reference("customer")).required()],
};

/// The products a campaign promotes.
pub static CAMPAIGN_PRODUCTS: ItemsSchema = ItemsSchema {
    table: "campaign_products",
    record_column: "campaign_id",
    max_items: 100,
    fields: &[FieldSpec::new("product_id", FieldType::Reference("product")).required()],
};

/// One customer a campaign targets, made and kept by the server from the campaign, scoped through
/// the customer: so the customer's agents, and no one else in the field, receive what the campaign
/// asks of them (copied from the campaign), and record there how the customer responded.
pub static CAMPAIGN_MEMBER: KindSchema = KindSchema {
    name: "campaign_member",
    table: "campaign_members",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer"))
            .required()
            .written_by(Writer::Server),
        FieldSpec::new("campaign_id", FieldType::Reference("campaign"))
            .required()
            .written_by(Writer::Server),
        // The campaign as the field sees it, kept equal to the campaign's by the server.
        FieldSpec::new("name", NAME).written_by(Writer::Server),
        FieldSpec::new("campaign_type", FieldType::Enum(CAMPAIGN_TYPES)).written_by(Writer::Server),
        FieldSpec::new("status", FieldType::Enum(CAMPAIGN_STATUSES)).written_by(Writer::Server),
        FieldSpec::new("starts_at", FieldType::Timestamp).written_by(Writer::Server),
        FieldSpec::new("ends_at", FieldType::Timestamp).written_by(Writer::Server),
        FieldSpec::new("channel", FieldType::Enum(CAMPAIGN_CHANNELS)).written_by(Writer::Server),
        FieldSpec::new("visit_type", SHORT).written_by(Writer::Server),
        FieldSpec::new("asks", MESSAGE).written_by(Writer::Server),
        // The SKUs of the products it promotes, comma-separated.
        FieldSpec::new("products", FieldType::String { max_len: 2_000 }).written_by(Writer::Server),
        // Whether the customer may be reached on the campaign's channel: false for a phone or
        // e-mail campaign when none of the customer's contacts consented to it. No task is made
        // for a member who may not be contacted.
        FieldSpec::new("contactable", FieldType::Bool).written_by(Writer::Server),
        // What the agent recorded.
        FieldSpec::new("response", FieldType::Enum(CAMPAIGN_RESPONSES)),
        FieldSpec::new("responded_at", FieldType::Timestamp),
        FieldSpec::new("responded_by", USER),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Server),
    ],
};

/// The field of a record that names its currency: it must be the company's ([`SETTINGS`]).
pub const CURRENCY_FIELD: &str = "currency";

/// Whether records of `kind` name their amounts' currency, which must be the company's (the
/// settings record, which names it, is not held to itself).
pub fn in_company_currency(kind: &KindSchema) -> bool {
    kind.name != SETTINGS.name && kind.field(CURRENCY_FIELD).is_some()
}

/// Every kind, in a stable order.
pub static ALL: &[&KindSchema] = &[
    &CUSTOMER,
    &CONTACT,
    &PRODUCT,
    &PRODUCT_COST,
    &VISIT,
    &OPPORTUNITY,
    &TICKET,
    &PAYMENT,
    &VISIT_TYPE,
    &TIER_POLICY,
    &SETTINGS,
    &PRICE_LIST,
    &ORDER,
    &ALERT,
    &CONFLICT,
    &TASK,
    &SALES_TARGET,
    &VISIT_PLAN,
    &LEAD,
    &CAMPAIGN,
    &CAMPAIGN_MEMBER,
];

/// Fields a kind had and no longer has, which no one may write again: their values moved elsewhere,
/// and a client from before the move that wrote one would put it where it no longer belongs (a
/// product's cost, which every device would receive with the product).
const RETIRED: &[(&str, &str)] = &[("product", "unit_cost")];

/// Whether `field` is one `kind` no longer has and no one may write.
pub fn is_retired(kind: &KindSchema, field: &str) -> bool {
    RETIRED.contains(&(kind.name, field))
}

/// The fields `kind` no longer has and no one may write.
pub fn retired_fields(kind: &KindSchema) -> impl Iterator<Item = &'static str> + '_ {
    RETIRED
        .iter()
        .filter(move |(k, _)| *k == kind.name)
        .map(|(_, field)| *field)
}

/// How many parents stand between a record of `kind` and what places it (0 for a record scoped by a
/// territory or company-wide, 1 for a customer's contact, 2 for a record of a contact...): a batch
/// that creates a chain of records writes them in this order.
pub fn scope_depth(kind: &KindSchema) -> usize {
    let mut depth = 0;
    let mut scope = kind.scope;
    // Bounded by the number of kinds, so that a cycle of parents declared by mistake cannot hang.
    while let Scope::Parent { kind: parent, .. } = scope {
        if depth > ALL.len() {
            break;
        }
        depth += 1;
        match get(parent) {
            Ok(p) => scope = p.scope,
            Err(_) => break,
        }
    }
    depth
}

/// The schema of the kind with this name.
pub fn get(name: &str) -> Result<&'static KindSchema, Error> {
    ALL.iter()
        .copied()
        .find(|k| k.name == name)
        .ok_or_else(|| Error::UnknownKind(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_tombstone_and_unique_fields() {
        for kind in ALL {
            assert!(
                kind.field(DELETED_FIELD).is_some(),
                "{} lacks `deleted`",
                kind.name
            );
            let mut names: Vec<_> = kind.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                kind.fields.len(),
                "{} repeats a field",
                kind.name
            );
            match kind.scope.field() {
                Some(scope_field) => assert!(
                    kind.field(scope_field).is_some_and(|f| f.required),
                    "{}: scope field must be required",
                    kind.name
                ),
                // No field of a company-wide record may be written by an agent's push.
                None => assert!(
                    kind.fields.iter().all(|f| f.writer != Writer::Agent),
                    "{}: company-wide, so managers write every field",
                    kind.name
                ),
            }
        }
    }

    #[test]
    fn unknown_kind_is_an_error() {
        assert_eq!(get("invoice").unwrap_err().code(), "unknown_kind");
        assert_eq!(
            get("product").unwrap().scope,
            Scope::Company {
                readers: Role::Agent
            }
        );
    }

    #[test]
    fn every_parent_kind_exists_and_chains_end() {
        for kind in ALL {
            if let Scope::Parent { kind: parent, .. } = kind.scope {
                assert!(get(parent).is_ok(), "{}: no kind {parent}", kind.name);
            }
            assert!(
                scope_depth(kind) < ALL.len(),
                "{}: parents form a cycle",
                kind.name
            );
        }
        assert_eq!(scope_depth(&CUSTOMER), 0);
        assert_eq!(scope_depth(&CONTACT), 1);
        assert_eq!(get("customer").unwrap().table, "customers");
    }
}
