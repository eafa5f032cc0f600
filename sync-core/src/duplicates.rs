//! Whether two customers are likely the same business: two agents add the same shop offline under
//! slightly different names. Pure, so a device can warn as the agent types and the server judges
//! records as they arrive, by the same rule.
//!
//! Two customers are candidates when they share a normalised phone number or tax id, or when their
//! normalised names are near-identical (Jaro-Winkler, `strsim`) and they stand within a short
//! distance of each other (or, without positions, in the same city). Each finding is a reason with
//! a score; the pair's score combines them as independent evidence: 1 - Π(1 - s).

use serde::{Deserialize, Serialize};

use crate::geo::{distance_m, Position};

/// How similar two normalised names must be (Jaro-Winkler, 0 to 1) to count.
pub const NAME_SIMILARITY: f64 = 0.9;
/// How close two customers with positions must stand for their names to be compared, in metres.
pub const NEAR_M: f64 = 300.0;
/// The score of a shared phone number and of a shared tax id.
const PHONE_SCORE: f64 = 0.8;
const TAX_ID_SCORE: f64 = 0.95;
/// The fewest digits a phone number needs to be compared: shorter ones are extensions or typos.
const MIN_PHONE_DIGITS: usize = 6;
/// Phone numbers are compared by their last digits, so that `+49 30 1234567` and `030 1234567`
/// match: nine digits is a subscriber number with its area code in most numbering plans.
const PHONE_TAIL: usize = 9;

/// Words of a business name that say nothing about which business it is.
const NOISE: [&str; 18] = [
    "the", "and", "ltd", "limited", "inc", "llc", "gmbh", "ag", "co", "company", "corp", "sa",
    "sarl", "srl", "bv", "plc", "kg", "of",
];

/// What the duplicate check reads of a customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    /// The normalised name: transliterated to ASCII, lower case, words without punctuation or
    /// legal forms, sorted (so word order does not matter).
    pub name: String,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub city: Option<String>,
    pub position: Option<Position>,
}

impl Keys {
    pub fn of(
        name: &str,
        phone: Option<&str>,
        tax_id: Option<&str>,
        city: Option<&str>,
        position: Option<Position>,
    ) -> Keys {
        Keys {
            name: normal_name(name),
            phone: phone.and_then(normal_phone),
            tax_id: tax_id.and_then(normal_tax_id),
            city: city.map(normal_name).filter(|c| !c.is_empty()),
            position,
        }
    }
}

/// Why two customers look alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    /// `same_phone`, `same_tax_id` or `similar_name`.
    pub code: String,
    /// This finding's weight, 0 to 1: for a name, its similarity.
    pub score: f64,
    /// For a name: the distance between the two, in metres, when both have a position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

/// The reasons two customers are likely duplicates and their combined score; None when there is
/// none.
pub fn compare(a: &Keys, b: &Keys) -> Option<(f64, Vec<Reason>)> {
    let mut reasons = Vec::new();
    if a.phone.is_some() && a.phone == b.phone {
        reasons.push(reason("same_phone", PHONE_SCORE, None));
    }
    if a.tax_id.is_some() && a.tax_id == b.tax_id {
        reasons.push(reason("same_tax_id", TAX_ID_SCORE, None));
    }
    let near = match (a.position, b.position) {
        (Some(p), Some(q)) => {
            let d = distance_m(p, q);
            (d <= NEAR_M).then_some(Some(d))
        }
        _ => (a.city.is_some() && a.city == b.city).then_some(None),
    };
    if let Some(distance) = near {
        let similarity = name_similarity(&a.name, &b.name);
        if similarity >= NAME_SIMILARITY {
            reasons.push(reason(
                "similar_name",
                similarity,
                distance.map(|d| d.round()),
            ));
        }
    }
    if reasons.is_empty() {
        return None;
    }
    let unlikely: f64 = reasons.iter().map(|r| 1.0 - r.score).product();
    Some((1.0 - unlikely, reasons))
}

fn reason(code: &str, score: f64, distance_m: Option<f64>) -> Reason {
    Reason {
        code: code.into(),
        score: (score * 1000.0).round() / 1000.0,
        distance_m,
    }
}

/// Jaro-Winkler similarity of two normalised names; 0 when either is empty, or when both carry
/// numbers and the numbers differ: `Kiosk 12` and `Kiosk 13` are two branches, however alike.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let numbers = |s: &str| -> Vec<String> {
        s.split(' ')
            .filter(|w| w.bytes().any(|c| c.is_ascii_digit()))
            .map(str::to_string)
            .collect()
    };
    let (x, y) = (numbers(a), numbers(b));
    if !x.is_empty() && !y.is_empty() && x != y {
        return 0.0;
    }
    strsim::jaro_winkler(a, b)
}

/// A name transliterated to ASCII (`Café` is `cafe`, `北京` is `bei jing`), lower case, split into
/// words of letters and digits, without legal forms and filler words, sorted and joined by spaces.
pub fn normal_name(name: &str) -> String {
    let ascii = deunicode::deunicode(name).to_lowercase();
    let mut words: Vec<&str> = ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !NOISE.contains(w))
        .collect();
    words.sort_unstable();
    words.join(" ")
}

/// The last digits of a phone number, or None if it has too few to compare.
pub fn normal_phone(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < MIN_PHONE_DIGITS {
        return None;
    }
    Some(digits[digits.len().saturating_sub(PHONE_TAIL)..].to_string())
}

/// A tax id in upper case without spaces or punctuation.
pub fn normal_tax_id(tax_id: &str) -> Option<String> {
    let id: String = tax_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (id.len() >= 4).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(name: &str, lat: f64, lon: f64) -> Keys {
        Keys::of(name, None, None, None, Some(Position { lat, lon }))
    }

    #[test]
    fn names_are_compared_without_accents_case_order_or_legal_forms() {
        assert_eq!(normal_name("Café Lumen GmbH"), "cafe lumen");
        assert_eq!(normal_name("LUMEN, Cafe"), "cafe lumen");
        assert_eq!(normal_name("The Corner-Shop"), "corner shop");
        assert_eq!(name_similarity("corner shop", "corner shop"), 1.0);
        assert!(name_similarity(&normal_name("Corner Shop"), &normal_name("Cornershop")) < 1.0);
        assert!(
            name_similarity(
                &normal_name("Bäckerei Schmidt"),
                &normal_name("Backerei Schmid")
            ) >= NAME_SIMILARITY
        );
    }

    #[test]
    fn near_identical_names_nearby_are_candidates_far_apart_they_are_not() {
        let a = shop("Bäckerei Schmidt", 52.5200, 13.4050);
        let b = shop("Backerei Schmid", 52.5205, 13.4052);
        let (score, reasons) = compare(&a, &b).expect("a candidate");
        assert_eq!(reasons[0].code, "similar_name");
        assert!(reasons[0].distance_m.unwrap() < 100.0);
        assert!(score >= NAME_SIMILARITY);
        let far = shop("Backerei Schmid", 48.1351, 11.5820);
        assert_eq!(
            compare(&a, &far),
            None,
            "the same name in another city is another shop"
        );
        let other = shop("Apotheke am Markt", 52.5201, 13.4051);
        assert_eq!(compare(&a, &other), None);
    }

    #[test]
    fn phones_and_tax_ids_match_whatever_their_formatting() {
        let a = Keys::of(
            "A",
            Some("+49 30 1234567"),
            Some("DE 123 456 789"),
            None,
            None,
        );
        let b = Keys::of("B", Some("030/123-4567"), Some("de123456789"), None, None);
        let (score, reasons) = compare(&a, &b).expect("a candidate");
        let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["same_phone", "same_tax_id"]);
        assert!(score > TAX_ID_SCORE && score < 1.0, "{score}");
        assert_eq!(normal_phone("12-34"), None, "too short to compare");
    }

    #[test]
    fn without_positions_names_are_compared_within_a_city() {
        let a = Keys::of("Kiosk Nord", None, None, Some("Berlin"), None);
        let b = Keys::of("Kiosk Nord", None, None, Some("berlin"), None);
        let c = Keys::of("Kiosk Nord", None, None, Some("Hamburg"), None);
        assert!(compare(&a, &b).is_some());
        assert_eq!(compare(&a, &c), None);
    }
}
