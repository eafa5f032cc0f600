//! The campaign kind's logic, the same on the device and the server: which customers a campaign
//! targets, what its members in the field are told, and who of them may be contacted.

use crate::record::Projection;
use crate::Value;

/// The most members a campaign has: the customers it names one by one, and the customers of its
/// segment the server makes members of (past it, the rest of the segment is left out, with a
/// warning in the server's log), so that one campaign's members stay one bounded write.
pub const MAX_MEMBERS: usize = 2_000;

/// Each segment field of a campaign and the customer field it matches.
pub const SEGMENT: [(&str, &str); 6] = [
    ("target_territory", "territory"),
    ("target_industry", "industry"),
    ("target_region", "region"),
    ("target_size", "size"),
    ("target_tier", "tier"),
    ("target_status", "status"),
];

/// The customer fields, and their values, a customer must have to be in the campaign's segment;
/// empty when the campaign has no segment (it names its customers one by one).
pub fn segment(campaign: &Projection) -> Vec<(&'static str, String)> {
    SEGMENT
        .iter()
        .filter_map(|(target, field)| match campaign.get(target) {
            Value::Str(v) if !v.is_empty() => Some((*field, v.clone())),
            _ => None,
        })
        .collect()
}

/// Whether the campaign's members are in the field: an active or completed campaign's are (a
/// completed one keeps its members and their responses); a draft has none yet, and a cancelled or
/// deleted one keeps only the members who already responded.
pub fn reaches_field(campaign: &Projection) -> bool {
    !campaign.is_deleted()
        && matches!(
            campaign.get("status").as_str(),
            Some("active" | "completed")
        )
}

/// The fields a member copies from its campaign, `skus` being the SKUs of the products it
/// promotes.
pub fn member_fields(campaign: &Projection, skus: &[String]) -> Vec<(&'static str, Value)> {
    let mut fields: Vec<(&'static str, Value)> = [
        "name",
        "campaign_type",
        "status",
        "starts_at",
        "ends_at",
        "channel",
        "visit_type",
        "asks",
    ]
    .into_iter()
    .map(|f| (f, campaign.get(f).clone()))
    .collect();
    let products = skus.join(", ");
    fields.push((
        "products",
        match products.is_empty() {
            true => Value::Null,
            false => Value::Str(products.chars().take(2_000).collect()),
        },
    ));
    fields
}

/// A contact's consent, as far as a campaign needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consent {
    pub phone: bool,
    pub email: bool,
}

/// Whether a customer may be reached on `channel`, given its contacts' consent: a visit goes to
/// the business and needs none; a call or an e-mail needs one contact who agreed to it.
pub fn contactable(channel: &str, contacts: &[Consent]) -> bool {
    match channel {
        "phone" => contacts.iter().any(|c| c.phone),
        "email" => contacts.iter().any(|c| c.email),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(fields: &[(&'static str, Value)]) -> Projection {
        Projection {
            fields: fields.iter().cloned().collect(),
            conflicts: Vec::new(),
        }
    }

    #[test]
    fn the_segment_is_every_target_field_set() {
        let c = campaign(&[
            ("target_tier", "A".into()),
            ("target_industry", "".into()),
            ("target_territory", "North".into()),
        ]);
        assert_eq!(
            segment(&c),
            vec![
                ("territory", "North".to_string()),
                ("tier", "A".to_string())
            ]
        );
        assert!(segment(&campaign(&[])).is_empty());
    }

    #[test]
    fn only_active_and_completed_campaigns_reach_the_field() {
        for (status, reaches) in [
            ("draft", false),
            ("active", true),
            ("completed", true),
            ("cancelled", false),
        ] {
            assert_eq!(
                reaches_field(&campaign(&[("status", status.into())])),
                reaches,
                "{status}"
            );
        }
        let deleted = campaign(&[("status", "active".into()), ("deleted", Value::Bool(true))]);
        assert!(!reaches_field(&deleted));
    }

    #[test]
    fn calls_and_mails_need_a_contact_who_consented() {
        let consented = Consent {
            phone: true,
            email: false,
        };
        assert!(contactable("visit", &[]));
        assert!(!contactable("phone", &[]));
        assert!(contactable("phone", &[Consent::default(), consented]));
        assert!(!contactable("email", &[consented]));
    }

    #[test]
    fn members_are_told_the_campaign_and_its_products() {
        let c = campaign(&[("name", "Spring".into()), ("channel", "visit".into())]);
        let fields = member_fields(&c, &["SKU-1".to_string(), "SKU-2".to_string()]);
        let get = |n: &str| fields.iter().find(|(f, _)| *f == n).unwrap().1.clone();
        assert_eq!(get("name"), Value::Str("Spring".into()));
        assert_eq!(get("products"), Value::Str("SKU-1, SKU-2".into()));
        assert_eq!(get("asks"), Value::Null);
    }
}
