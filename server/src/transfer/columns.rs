//! What a spreadsheet's columns mean: for each kind that can be imported, its fields, the names
//! people give their columns (any case; spaces, hyphens, dots and underscores alike; common
//! synonyms in English, German and Chinese), and how a cell's text becomes a field's value: numbers
//! with a decimal comma or point and thousands separators, money in major units (12,50 → 1250
//! cents), quantities in thousandths, percentages as basis points, yes/no in several spellings.
//! A price list takes a row per price, the rows of one list naming it alike.

use sync_core::{kinds, KindSchema, Value};

/// How a cell's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    Text,
    Int,
    Float,
    Bool,
    /// An amount in major units, stored as minor units (cents).
    Money,
    /// A percentage (`19`, `19 %`, `7,5%`), stored as basis points.
    Percent,
    /// A customer's number (`code`), stored as the customer's id.
    CustomerCode,
    /// A product's stock-keeping unit, stored as the product's id (and, in an item that keeps
    /// it, as the item's `sku`).
    ProductSku,
    /// A user's e-mail address, stored as the user's id.
    UserEmail,
    /// A quantity (`12`, `2,5`), stored in thousandths.
    Quantity,
    /// A day (`2026-03-31`, `31.03.2026`, or `31/03/2026` where the day cannot be the month) or
    /// an RFC 3339 time, stored as milliseconds; a day is its midnight UTC.
    Date,
}

/// One field a column can fill.
#[derive(Debug)]
pub struct Column {
    pub field: &'static str,
    /// Other names of the column, besides the field's own.
    pub synonyms: &'static [&'static str],
    pub convert: Convert,
}

const fn col(field: &'static str, synonyms: &'static [&'static str], convert: Convert) -> Column {
    Column {
        field,
        synonyms,
        convert,
    }
}

/// A kind that can be imported: its columns, and the field a row is matched on so that importing
/// the same file again updates instead of duplicating.
#[derive(Debug)]
pub struct Target {
    /// As the command line names it: `customers`.
    pub name: &'static str,
    pub kind: &'static KindSchema,
    pub key: Key,
    pub columns: &'static [Column],
    /// For a kind whose records hold items (a price list's prices): a record takes a row per item,
    /// the rows naming it alike.
    pub items: Option<&'static ItemColumns>,
    /// Values a new record takes where its row leaves the field empty (a lead is `new`).
    pub defaults: &'static [(&'static str, &'static str)],
}

/// The columns that fill one item of a record, a row each.
#[derive(Debug)]
pub struct ItemColumns {
    /// The record's items field.
    pub field: &'static str,
    pub columns: &'static [Column],
    /// The item fields that tell a record's items apart: a row updates the stored item that has
    /// the same values of these, and two rows may not name one item.
    pub key: &'static [&'static str],
}

/// What identifies a row's record among those stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The customer's number.
    Code,
    /// The product's stock-keeping unit.
    Sku,
    /// A contact: its customer and e-mail address, or its name where it has none.
    ContactOf,
    /// A payment: its customer and its reference (a receipt or transfer number).
    PaymentOf,
    /// An order: its customer and its number.
    OrderOf,
    /// A lead: its e-mail address, or its name where it has none.
    Lead,
    /// A price list: its name.
    Name,
}

impl Key {
    /// The field that holds the key, for the kinds keyed by one field.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Key::Code => Some("code"),
            Key::Sku => Some("sku"),
            Key::Name => Some("name"),
            Key::ContactOf | Key::PaymentOf | Key::OrderOf | Key::Lead => None,
        }
    }

    /// The column every file of the kind needs (or the `id` of an export instead).
    pub fn column(self) -> &'static str {
        match self {
            Key::Code => "code",
            Key::Sku => "sku",
            Key::Name | Key::Lead => "name",
            Key::ContactOf | Key::PaymentOf | Key::OrderOf => "customer_id",
        }
    }

    /// For the kinds keyed by their customer and a number of their own: that number's field, and
    /// why a row without it is refused.
    pub fn per_customer(self) -> Option<(&'static str, &'static str)> {
        match self {
            Key::PaymentOf => Some((
                "reference",
                "a payment needs its reference (a receipt or transfer number), so that importing the file again does not pay twice",
            )),
            Key::OrderOf => Some((
                "number",
                "an order needs its number, so that importing the file again does not order twice",
            )),
            Key::Code | Key::Sku | Key::Name | Key::ContactOf | Key::Lead => None,
        }
    }
}

use Convert::{
    Bool, CustomerCode, Date, Float, Int, Money, Percent, ProductSku, Quantity, Text, UserEmail,
};

/// A contact's, a payment's or an order's customer, by number.
const CUSTOMER_NUMBER: Column = col(
    "customer_id",
    &[
        "customer code",
        "customer number",
        "customer",
        "code",
        "kundennummer",
        "客户编号",
    ],
    CustomerCode,
);

// Columns several kinds share: a place's, and a person's (`TITLE`, `MOBILE`).
const TERRITORY: Column = col(
    "territory",
    &["sales territory", "area", "gebiet", "区域", "片区"],
    Text,
);

const EMAIL: Column = col(
    "email",
    &["e mail", "mail", "email address", "邮箱", "电子邮件"],
    Text,
);

const STREET: Column = col(
    "street",
    &["address", "street address", "strasse", "straße", "地址"],
    Text,
);

const CITY: Column = col("city", &["town", "ort", "stadt", "城市"], Text);

const POSTCODE: Column = col(
    "postcode",
    &["zip", "zip code", "postal code", "plz", "邮编"],
    Text,
);

const COUNTRY: Column = col("country", &["land", "国家"], Text);

const INDUSTRY: Column = col("industry", &["segment", "sector", "branche", "行业"], Text);

const TITLE: Column = col(
    "title",
    &["job title", "position", "funktion", "职位"],
    Text,
);

const MOBILE: Column = col(
    "phone",
    &["telephone", "tel", "mobile", "telefon", "电话", "手机"],
    Text,
);

// A product by its sku, a tax rate, a currency: of products, prices, orders and payments.
const PRODUCT_BY_SKU: Column = col(
    "product_id",
    &[
        "sku",
        "product",
        "product code",
        "article number",
        "item number",
        "artikelnummer",
        "货号",
    ],
    ProductSku,
);

const TAX_RATE: Column = col(
    "tax_bp",
    &[
        "tax rate",
        "vat rate",
        "tax",
        "vat",
        "mwst",
        "steuersatz",
        "税率",
    ],
    Percent,
);

const CURRENCY: Column = col("currency", &["währung", "币种"], Text);

const NOTES: Column = col(
    "notes",
    &["note", "comments", "remarks", "bemerkung", "备注"],
    Text,
);

static CUSTOMERS: Target = Target {
    name: "customers",
    kind: &kinds::CUSTOMER,
    key: Key::Code,
    items: None,
    defaults: &[],
    columns: &[
        col(
            "code",
            &[
                "customer number",
                "customer no",
                "customer code",
                "customer id",
                "number",
                "no",
                "kundennummer",
                "kunden nr",
                "客户编号",
                "编号",
            ],
            Text,
        ),
        col(
            "name",
            &[
                "customer",
                "customer name",
                "company",
                "company name",
                "firma",
                "name 1",
                "客户名称",
                "名称",
                "公司",
            ],
            Text,
        ),
        TERRITORY,
        col(
            "phone",
            &["telephone", "tel", "phone number", "telefon", "电话"],
            Text,
        ),
        EMAIL,
        STREET,
        CITY,
        POSTCODE,
        COUNTRY,
        col("lat", &["latitude", "breite", "纬度"], Float),
        col("lon", &["longitude", "lng", "länge", "经度"], Float),
        col("status", &["lifecycle", "lifecycle status", "状态"], Text),
        col(
            "credit_limit",
            &["credit", "kreditlimit", "信用额度"],
            Money,
        ),
        col(
            "payment_terms_days",
            &["payment terms", "terms", "zahlungsziel", "账期"],
            Int,
        ),
        INDUSTRY,
        col("size", &["company size", "größe", "规模"], Text),
        col("region", &["地区"], Text),
        col(
            "tax_id",
            &[
                "vat id",
                "vat number",
                "tax number",
                "ust id",
                "steuernummer",
                "税号",
            ],
            Text,
        ),
        col("tier", &["grade", "abc", "等级"], Text),
        col("tags", &["labels", "标签"], Text),
        NOTES,
    ],
};

static CONTACTS: Target = Target {
    name: "contacts",
    kind: &kinds::CONTACT,
    key: Key::ContactOf,
    items: None,
    defaults: &[],
    columns: &[
        CUSTOMER_NUMBER,
        col(
            "name",
            &[
                "contact",
                "contact name",
                "full name",
                "ansprechpartner",
                "联系人",
                "姓名",
            ],
            Text,
        ),
        TITLE,
        MOBILE,
        col("email", &["e mail", "mail", "email address", "邮箱"], Text),
        col("buying_role", &["role", "buying role", "角色"], Text),
        col(
            "decision_maker",
            &["decision maker", "entscheider", "决策人"],
            Bool,
        ),
        col("consent_email", &["email consent", "email opt in"], Bool),
        col("consent_phone", &["phone consent"], Bool),
        col("consent_sms", &["sms consent"], Bool),
        NOTES,
    ],
};

static PRODUCTS: Target = Target {
    name: "products",
    kind: &kinds::PRODUCT,
    key: Key::Sku,
    items: None,
    defaults: &[],
    columns: &[
        col(
            "sku",
            &[
                "article number",
                "article no",
                "item number",
                "item no",
                "product code",
                "code",
                "artikelnummer",
                "货号",
                "编码",
            ],
            Text,
        ),
        col(
            "name",
            &[
                "product",
                "product name",
                "description short",
                "bezeichnung",
                "品名",
                "产品名称",
            ],
            Text,
        ),
        col("unit", &["uom", "unit of measure", "einheit", "单位"], Text),
        col(
            "category",
            &["product group", "group", "kategorie", "warengruppe", "类别"],
            Text,
        ),
        col("active", &["enabled", "aktiv", "启用"], Bool),
        col(
            "description",
            &["long description", "beschreibung", "描述"],
            Text,
        ),
        col(
            "list_price",
            &[
                "price",
                "list price",
                "unit price",
                "preis",
                "listenpreis",
                "价格",
                "单价",
            ],
            Money,
        ),
        TAX_RATE,
    ],
};

static PAYMENTS: Target = Target {
    name: "payments",
    kind: &kinds::PAYMENT,
    key: Key::PaymentOf,
    items: None,
    defaults: &[],
    columns: &[
        CUSTOMER_NUMBER,
        col(
            "amount",
            &["paid", "payment", "sum", "betrag", "金额"],
            Money,
        ),
        CURRENCY,
        col(
            "collected_at",
            &[
                "date",
                "paid on",
                "payment date",
                "collected",
                "datum",
                "zahlungsdatum",
                "日期",
            ],
            Date,
        ),
        col("method", &["payment method", "zahlungsart", "方式"], Text),
        col(
            "reference",
            &[
                "receipt",
                "receipt number",
                "transaction",
                "beleg",
                "belegnummer",
                "referenz",
                "单号",
            ],
            Text,
        ),
        NOTES,
    ],
};

/// A price list's prices, a row each: the product by its sku, the quantity the price starts at
/// (a quantity break; none for the price from one piece), the price.
static PRICE_LIST_PRICES: ItemColumns = ItemColumns {
    field: "prices",
    key: &["product_id", "min_quantity"],
    columns: &[
        PRODUCT_BY_SKU,
        col(
            "min_quantity",
            &[
                "min quantity",
                "minimum quantity",
                "from quantity",
                "quantity",
                "qty",
                "ab menge",
                "mindestmenge",
                "起订量",
            ],
            Quantity,
        ),
        col(
            "unit_price",
            &["price", "unit price", "preis", "价格", "单价"],
            Money,
        ),
    ],
};

static PRICE_LISTS: Target = Target {
    name: "price-lists",
    kind: &kinds::PRICE_LIST,
    key: Key::Name,
    columns: &[
        col(
            "name",
            &["price list", "pricelist", "preisliste", "价目表", "价格表"],
            Text,
        ),
        CURRENCY,
        col("valid_from", &["valid from", "gültig ab", "生效日期"], Date),
        col(
            "valid_to",
            &["valid to", "valid until", "gültig bis", "失效日期"],
            Date,
        ),
        col("active", &["enabled", "aktiv", "启用"], Bool),
    ],
    items: Some(&PRICE_LIST_PRICES),
    defaults: &[],
};

/// An order's lines, a row each: the product by its sku, how many, at what price, less what
/// discount, at what tax rate. A product may have two lines at different discounts (a free one).
static ORDER_LINES: ItemColumns = ItemColumns {
    field: "lines",
    key: &["product_id", "discount_bp"],
    columns: &[
        PRODUCT_BY_SKU,
        col(
            "quantity",
            &["qty", "amount ordered", "menge", "anzahl", "数量"],
            Quantity,
        ),
        col(
            "unit_price",
            &[
                "price",
                "unit price",
                "preis",
                "einzelpreis",
                "价格",
                "单价",
            ],
            Money,
        ),
        col(
            "discount_bp",
            &["discount", "line discount", "rabatt", "折扣"],
            Percent,
        ),
        TAX_RATE,
    ],
};

static ORDERS: Target = Target {
    name: "orders",
    kind: &kinds::ORDER,
    key: Key::OrderOf,
    columns: &[
        CUSTOMER_NUMBER,
        col(
            "number",
            &[
                "order number",
                "order no",
                "order",
                "order id",
                "auftragsnummer",
                "bestellnummer",
                "订单号",
                "订单编号",
            ],
            Text,
        ),
        col("status", &["order status", "auftragsstatus", "状态"], Text),
        CURRENCY,
        col(
            "ordered_at",
            &[
                "date",
                "order date",
                "ordered",
                "ordered on",
                "bestelldatum",
                "auftragsdatum",
                "下单日期",
                "日期",
            ],
            Date,
        ),
        col(
            "submitted_at",
            &["submitted", "submitted on", "eingereicht"],
            Date,
        ),
        col(
            "delivered_at",
            &[
                "delivered",
                "delivery date",
                "delivered on",
                "lieferdatum",
                "交货日期",
            ],
            Date,
        ),
        col(
            "order_discount_bp",
            &["order discount", "auftragsrabatt", "整单折扣"],
            Percent,
        ),
        col(
            "agent_id",
            &[
                "agent",
                "sales rep",
                "salesperson",
                "agent email",
                "vertreter",
                "业务员",
            ],
            UserEmail,
        ),
        NOTES,
    ],
    items: Some(&ORDER_LINES),
    defaults: &[],
};

static LEADS: Target = Target {
    name: "leads",
    kind: &kinds::LEAD,
    key: Key::Lead,
    items: None,
    defaults: &[("status", "new")],
    columns: &[
        col(
            "name",
            &[
                "contact",
                "contact name",
                "full name",
                "person",
                "ansprechpartner",
                "联系人",
                "姓名",
            ],
            Text,
        ),
        col(
            "company",
            &["company name", "business", "firma", "公司", "公司名称"],
            Text,
        ),
        TERRITORY,
        col("status", &["lead status", "状态"], Text),
        col("source", &["lead source", "origin", "quelle", "来源"], Text),
        col(
            "owner_id",
            &[
                "owner",
                "agent",
                "owner email",
                "sales rep",
                "betreuer",
                "负责人",
            ],
            UserEmail,
        ),
        TITLE,
        MOBILE,
        EMAIL,
        STREET,
        CITY,
        POSTCODE,
        COUNTRY,
        INDUSTRY,
        col(
            "captured_at",
            &["captured", "date", "created", "erfasst", "日期"],
            Date,
        ),
        col("consent_email", &["email consent", "email opt in"], Bool),
        col("consent_phone", &["phone consent"], Bool),
        col("consent_visit", &["visit consent"], Bool),
        col(
            "disqualified_reason",
            &["disqualified because", "reason", "grund"],
            Text,
        ),
        NOTES,
    ],
};

/// The kinds `import` takes, as the command line names them.
pub static TARGETS: [&Target; 7] = [
    &CUSTOMERS,
    &CONTACTS,
    &PRODUCTS,
    &PAYMENTS,
    &PRICE_LISTS,
    &ORDERS,
    &LEADS,
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().copied().find(|t| t.name == name)
}

/// A column's name as compared: lower case, and spaces, hyphens, underscores and dots alike.
pub fn normalise(header: &str) -> String {
    let lower = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    lower
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '_' | '.' | '/'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Target {
    /// The column a header names, if any.
    pub fn column(&self, header: &str) -> Option<&'static Column> {
        let name = normalise(header);
        let columns: &'static [Column] = self.columns;
        let items: &'static [Column] = self.items.map_or(&[], |i| i.columns);
        columns
            .iter()
            .chain(items)
            .find(|c| normalise(c.field) == name || c.synonyms.iter().any(|s| normalise(s) == name))
    }

    /// Whether `column` fills an item rather than the record.
    /// Whether any of the target's columns, its items' included, converts `convert`.
    pub fn converts(&self, convert: Convert) -> bool {
        let items = self.items.map_or(&[][..], |i| i.columns);
        self.columns
            .iter()
            .chain(items)
            .any(|c| c.convert == convert)
    }

    pub fn is_item(&self, column: &Column) -> bool {
        self.items
            .is_some_and(|i| i.columns.iter().any(|c| std::ptr::eq(c, column)))
    }
}

/// A cell's text as the value of a column, or why it is not one. Empty cells never get here.
pub fn convert(convert: Convert, text: &str, decimal_comma: bool) -> Result<Value, String> {
    match convert {
        Text | CustomerCode | ProductSku | UserEmail => Ok(Value::Str(text.to_string())),
        Quantity => scaled(text, decimal_comma, 1000, "a quantity").map(Value::Int),
        Int => whole(text).map(Value::Int),
        Float => number(text, decimal_comma).map(Value::Float),
        Bool => boolean(text).map(Value::Bool),
        Money => scaled(text, decimal_comma, 100, "an amount").map(Value::Int),
        Date => date(text).map(Value::Int),
        Percent => scaled(
            text.trim_end_matches('%').trim_end(),
            decimal_comma,
            100,
            "a percentage",
        )
        .map(Value::Int),
    }
}

fn whole(text: &str) -> Result<i64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

/// A decimal number written the way people write them: `1234.5`, `1,234.5`, `1.234,5`, `1234,5`,
/// `1 234,5`. With both separators the last one is the decimal one; a lone comma is decimal in a
/// file that separates its columns with semicolons (where a comma is the decimal sign), or when it
/// is not followed by exactly three digits.
fn number(text: &str, decimal_comma: bool) -> Result<f64, String> {
    let bad = || format!("`{text}` is not a number");
    let compact: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\'' && *c != '\u{a0}')
        .collect();
    let (last_dot, last_comma) = (compact.rfind('.'), compact.rfind(','));
    let plain = match (last_dot, last_comma) {
        (Some(d), Some(c)) if c > d => compact.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => compact.replace(',', ""),
        (None, Some(c)) => {
            let single = compact.matches(',').count() == 1;
            let three_after = compact.len() - c - 1 == 3;
            if single && (decimal_comma || !three_after) {
                compact.replace(',', ".")
            } else {
                compact.replace(',', "")
            }
        }
        _ => compact,
    };
    let value: f64 = plain.parse().map_err(|_| bad())?;
    value.is_finite().then_some(value).ok_or_else(bad)
}

/// A decimal number times `scale`, exactly: `12,5` at 100 is 1250. More decimals than the scale
/// holds are refused rather than rounded away.
fn scaled(text: &str, decimal_comma: bool, scale: i64, what: &str) -> Result<i64, String> {
    let value = number(text, decimal_comma).map_err(|_| format!("`{text}` is not {what}"))?;
    let scaled = value * scale as f64;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 {
        return Err(format!("`{text}` has more decimals than {what} keeps"));
    }
    if rounded.abs() > 9e15 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(rounded as i64)
}

/// A day or a time, in milliseconds since the epoch.
fn date(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a date (write 2026-03-31)");
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    let parts: Vec<&str> = text.split(['-', '.', '/']).collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(bad());
    };
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad());
    let (year, month, day) = if text.contains('-') && a.len() == 4 {
        (number(a)?, number(b)?, number(c)?)
    } else if text.contains('.') && c.len() == 4 {
        (number(c)?, number(b)?, number(a)?)
    } else if text.contains('/') && c.len() == 4 {
        let (first, second) = (number(a)?, number(b)?);
        // 03/04/2026 is the 3rd of April in most of the world and the 4th of March in the
        // United States: a date that reads both ways is refused rather than guessed.
        if first <= 12 && second <= 12 && first != second {
            return Err(format!(
                "`{text}` reads as two dates; write 2026-04-03 or 2026-03-04"
            ));
        }
        if first > 12 {
            (number(c)?, second, first)
        } else {
            (number(c)?, first, second)
        }
    } else {
        return Err(bad());
    };
    let day = chrono::NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(bad)?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .ok_or_else(bad)?
        .and_utc()
        .timestamp_millis())
}

fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "x" | "ja" | "j" | "wahr" | "是" | "对" => Ok(true),
        "false" | "no" | "n" | "0" | "nein" | "falsch" | "否" | "不" => Ok(false),
        _ => Err(format!("`{text}` is not yes or no")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_by_name_synonym_and_spelling() {
        let t = target("customers").unwrap();
        for header in [
            "Code",
            "Customer No.",
            "customer_number",
            "KUNDENNUMMER",
            "客户编号",
            "\u{feff}code",
        ] {
            assert_eq!(t.column(header).map(|c| c.field), Some("code"), "{header}");
        }
        assert_eq!(
            t.column("Credit-Limit").map(|c| c.field),
            Some("credit_limit")
        );
        assert_eq!(t.column("ZIP code").map(|c| c.field), Some("postcode"));
        assert!(t.column("favourite colour").is_none());
    }

    #[test]
    fn numbers_in_the_ways_people_write_them() {
        for (text, comma, want) in [
            ("1234.5", false, 1234.5),
            ("1,234.5", false, 1234.5),
            ("1.234,5", false, 1234.5),
            ("1234,5", false, 1234.5),
            ("1 234,56", true, 1234.56),
            ("1,234", false, 1234.0),
            ("1,234", true, 1.234),
            ("-0,5", false, -0.5),
        ] {
            assert_eq!(number(text, comma), Ok(want), "{text}");
        }
        assert!(number("12abc", false).is_err());
        assert!(number("", false).is_err());
    }

    #[test]
    fn money_and_percentages_are_kept_exactly() {
        assert_eq!(convert(Money, "12,50", true), Ok(Value::Int(1250)));
        assert_eq!(convert(Money, "1.299,99", false), Ok(Value::Int(129_999)));
        assert_eq!(convert(Money, "0.1", false), Ok(Value::Int(10)));
        assert!(convert(Money, "1.005", true).is_err(), "a tenth of a cent");
        assert_eq!(convert(Percent, "19 %", false), Ok(Value::Int(1900)));
        assert_eq!(convert(Percent, "7,5%", true), Ok(Value::Int(750)));
        assert_eq!(convert(Bool, "Ja", false), Ok(Value::Bool(true)));
        assert_eq!(convert(Bool, "no", false), Ok(Value::Bool(false)));
        assert!(convert(Bool, "maybe", false).is_err());
        assert!(convert(Int, "3.5", false).is_err());
    }

    #[test]
    fn dates_in_the_ways_people_write_them() {
        let day = 1_774_915_200_000; // 2026-03-31T00:00:00Z
        for text in [
            "2026-03-31",
            "31.03.2026",
            "31/03/2026",
            "03/31/2026",
            "2026-03-31T00:00:00Z",
        ] {
            assert_eq!(date(text), Ok(day), "{text}");
        }
        assert!(date("03/04/2026").unwrap_err().contains("two dates"));
        assert!(date("2026-02-30").is_err());
        assert!(date("yesterday").is_err());
    }
}
