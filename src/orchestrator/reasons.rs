//! Cancellation reason codes as data: who may use each, who bears its cost, whether it triggers
//! return to origin, and how a reason on one leg becomes a reason on the other.
//!
//! Sources: `../shared/research/ondc-cancellation-flows.md` §a (retail 1.2.0 table, retail 1.2.5
//! re-numbering, logistics 1.2.5 P2P/P2H2P codes) and §c (the 1.2.5 BNP document passes the LSP's
//! code through to retail unchanged). The README has the same tables for people.

use serde::{Deserialize, Serialize};

/// Who raised a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The buyer side (the buyer app or the customer through the REST API).
    Buyer,
    /// The seller (SNP, or the provider through the REST API).
    Seller,
    /// The logistics provider.
    Lsp,
}

/// One retail reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetailReason {
    /// The code.
    pub code: &'static str,
    /// What it means.
    pub text: &'static str,
    /// Who may raise it.
    pub used_by: Party,
    /// Who bears the cost.
    pub cost_to: Party,
    /// Whether it starts return to origin when the goods are out.
    pub triggers_rto: bool,
}

const fn r(
    code: &'static str,
    text: &'static str,
    used_by: Party,
    cost_to: Party,
    triggers_rto: bool,
) -> RetailReason {
    RetailReason {
        code,
        text,
        used_by,
        cost_to,
        triggers_rto,
    }
}

use Party::{Buyer, Lsp, Seller};

/// Retail 1.2.5 reason codes (with the legacy 1.2.0 codes still listed by ONDC's validators).
pub const RETAIL_REASONS: &[RetailReason] = &[
    r(
        "001",
        "Price of one or more items have changed due to which buyer was asked to make additional payment",
        Buyer,
        Seller,
        false,
    ),
    r(
        "002",
        "One or more items in the order not available",
        Seller,
        Seller,
        false,
    ),
    r(
        "003",
        "Product available at lower than order price",
        Buyer,
        Seller,
        true,
    ),
    r(
        "006",
        "Order / fulfillment not received as per buyer app TAT SLA",
        Buyer,
        Seller,
        true,
    ),
    r("009", "Wrong product delivered", Buyer, Seller, true),
    r(
        "010",
        "Buyer wants to modify address / other order details",
        Buyer,
        Buyer,
        true,
    ),
    r(
        "011",
        "Buyer not found or cannot be contacted",
        Seller,
        Buyer,
        true,
    ),
    r(
        "013",
        "Buyer does not want product any more / refused delivery",
        Seller,
        Buyer,
        true,
    ),
    r("014", "Address not found", Seller, Buyer, true),
    r(
        "016",
        "Force majeure (accident, strike, law and order)",
        Seller,
        Seller,
        false,
    ),
    r("017", "Order delivery delayed or not possible", Lsp, Lsp, false),
    r(
        "018",
        "Order not serviceable (logistics issue)",
        Seller,
        Seller,
        false,
    ),
    r("020", "Order lost in transit", Lsp, Lsp, false),
    r("021", "Store not responsive", Seller, Seller, false),
    r("022", "Technical issue in merchant device", Seller, Seller, false),
    r(
        "023",
        "Order received during non-operational hours",
        Seller,
        Buyer,
        false,
    ),
    r("024", "Order received during store rush", Seller, Seller, false),
    r("051", "Store is not accepting order", Buyer, Seller, false),
    r(
        "052",
        "Order / fulfillment not received as per TAT",
        Buyer,
        Seller,
        true,
    ),
    r(
        "053",
        "Buyer wants to modify address / other order details",
        Buyer,
        Buyer,
        true,
    ),
    r(
        "998",
        "Order confirmation failure (seller)",
        Seller,
        Seller,
        false,
    ),
    r("999", "Order confirmation failure (buyer)", Buyer, Buyer, false),
];

/// One logistics reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogisticsReason {
    /// The code.
    pub code: &'static str,
    /// What it means.
    pub text: &'static str,
    /// Who bears the charges the LSP levies (the SNP when the store failed, the buyer when the
    /// buyer did, the LSP itself when it failed).
    pub cost_to: Party,
}

const fn l(code: &'static str, text: &'static str, cost_to: Party) -> LogisticsReason {
    LogisticsReason { code, text, cost_to }
}

/// Logistics 1.2.5 codes (P2P 1xx, P2H2P 2xx) that an LSP raises.
pub const LSP_REASONS: &[LogisticsReason] = &[
    l("100", "Packed order not complete", Seller),
    l("101", "Rider not available", Lsp),
    l("102", "Pickup address incorrect", Seller),
    l("103", "Store closed / merchant not available", Seller),
    l("104", "Store denied pickup", Seller),
    l("105", "Order not ready for pickup", Seller),
    l("125", "Wrong product delivered", Seller),
    l("126", "Buyer not found or cannot be contacted", Buyer),
    l("127", "Buyer cannot / does not want to accept delivery", Buyer),
    l("128", "Delivery address incorrect", Buyer),
    l("129", "Force majeure", Lsp),
    l("130", "Delivery not possible", Lsp),
    l("131", "Lost or damaged in transit", Lsp),
    l("132", "Picked up by another LSP", Lsp),
    l("133", "Buyer refused to pay COD", Buyer),
    l("200", "Pickup address incorrect", Seller),
    l("201", "Pickup address not serviceable", Lsp),
    l("202", "Store closed", Seller),
    l("203", "Order not ready", Seller),
    l("225", "Buyer not found", Buyer),
    l("226", "Buyer cannot / does not want to accept", Buyer),
    l("227", "Delivery address incorrect", Buyer),
    l("228", "Delivery address not serviceable", Lsp),
    l("229", "Force majeure", Lsp),
    l("230", "Lost or damaged", Lsp),
    l("231", "COD refused", Buyer),
];

/// The retail reason, if the code is one.
pub fn retail(code: &str) -> Option<&'static RetailReason> {
    RETAIL_REASONS.iter().find(|r| r.code == code)
}

/// The LSP reason, if the code is one.
pub fn lsp(code: &str) -> Option<&'static LogisticsReason> {
    LSP_REASONS.iter().find(|r| r.code == code)
}

/// Whether `party` may cancel with retail `code` (the REST API and the buyer app's `/cancel`).
pub fn retail_allowed_for(code: &str, party: Party) -> bool {
    retail(code).is_some_and(|r| r.used_by == party)
}

/// The logistics network: P2P (`ONDC:LOG10`) or P2H2P (`ONDC:LOG11`), which number their LBNP
/// codes differently.
fn is_p2h2p(logistics_domain: &str) -> bool {
    logistics_domain.ends_with("LOG11")
}

/// Logistics 1.2.5 codes the BNP raises as LBNP (P2P 15x/175, P2H2P 25x/275, 996), with who is
/// liable for the LSP's charges under each (its "settlement suggestion").
pub const LBNP_REASONS: &[LogisticsReason] = &[
    l("150", "Store not accepting order", Seller),
    l("151", "Store rejected order", Seller),
    l("152", "Retail buyer cancelled order", Buyer),
    l("153", "Rider not assigned", Lsp),
    l("154", "Pickup TAT breach", Lsp),
    l("155", "Order reassigned to another LSP", Lsp),
    l("156", "Fraudulent rider", Lsp),
    l("175", "Delivery TAT breach", Lsp),
    l("250", "Store rejected order", Seller),
    l("251", "Retail buyer cancelled order", Buyer),
    l("252", "Pickup TAT breach", Lsp),
    l("275", "Delivery TAT breach", Lsp),
    l("996", "Order confirmation failure (LBNP)", Seller),
];

/// How a seller's retail code becomes the LBNP code on the logistics leg: one row per code, P2P
/// (`ONDC:LOG10`) and P2H2P (`ONDC:LOG11`), before and after pickup. The logistics lists have no
/// code for most seller reasons, so each maps to the code whose liability matches the retail
/// one: the seller's own failings to "store rejected" (the seller pays the LSP), the buyer's
/// failings reported by a self-delivering seller to "retail buyer cancelled" (the buyer pays).
///
/// | retail | meaning | P2P before / after pickup | P2H2P before / after pickup |
/// |---|---|---|---|
/// | 002 | items not available | 151 / 151 | 250 / 250 |
/// | 021 | store not responsive | 150 / 151 | 250 / 250 |
/// | 022 | technical issue at the store | 151 / 151 | 250 / 250 |
/// | 023 | non-operational hours (the buyer's cost) | 152 / 152 | 251 / 251 |
/// | 024 | store rush | 151 / 151 | 250 / 250 |
/// | 016 | force majeure | 151 / 151 | 250 / 250 |
/// | 018 | not serviceable | 151 / 151 | 250 / 250 |
/// | 011, 013, 014 | buyer unreachable, refused, bad address | 152 / 152 | 251 / 251 |
/// | 998 | confirmation failure | 996 / 996 | 996 / 996 |
/// | other | | 151 / 151 | 250 / 250 |
pub const SELLER_TO_LOGISTICS: &[(&str, [&str; 4])] = &[
    ("002", ["151", "151", "250", "250"]),
    ("021", ["150", "151", "250", "250"]),
    ("022", ["151", "151", "250", "250"]),
    ("023", ["152", "152", "251", "251"]),
    ("024", ["151", "151", "250", "250"]),
    ("016", ["151", "151", "250", "250"]),
    ("018", ["151", "151", "250", "250"]),
    ("011", ["152", "152", "251", "251"]),
    ("013", ["152", "152", "251", "251"]),
    ("014", ["152", "152", "251", "251"]),
    ("998", ["996", "996", "996", "996"]),
];

/// The reason the BNP gives the LSP when it cascades a retail cancellation to the logistics leg.
///
/// | from | retail reason | goods picked up | LOG10 (P2P) | LOG11 (P2H2P) |
/// |---|---|---|---|---|
/// | buyer | TAT breach (`052`, `006`) | yes | 175 delivery TAT breach | 275 |
/// | buyer | TAT breach (`052`, `006`) | no | 154 pickup TAT breach | 252 |
/// | buyer | any other | – | 152 retail buyer cancelled | 251 |
/// | seller | per [`SELLER_TO_LOGISTICS`] | | | |
pub fn logistics_reason_for(
    retail_code: &str,
    by: Party,
    picked_up: bool,
    logistics_domain: &str,
) -> &'static str {
    let p2h2p = is_p2h2p(logistics_domain);
    match by {
        Party::Buyer if matches!(retail_code, "052" | "006") => match (picked_up, p2h2p) {
            (true, false) => "175",
            (true, true) => "275",
            (false, false) => "154",
            (false, true) => "252",
        },
        Party::Buyer => {
            if p2h2p {
                "251"
            } else {
                "152"
            }
        }
        Party::Seller | Party::Lsp => {
            let column = usize::from(p2h2p) * 2 + usize::from(picked_up);
            SELLER_TO_LOGISTICS
                .iter()
                .find(|(code, _)| *code == retail_code)
                .map_or(if p2h2p { "250" } else { "151" }, |(_, codes)| codes[column])
        }
    }
}

/// Who is liable for the LSP's charges when the logistics order ends with `code` (raised by us as
/// LBNP, or by the LSP); `None` for a code in neither table.
pub fn logistics_liable(code: &str) -> Option<Party> {
    LBNP_REASONS
        .iter()
        .chain(LSP_REASONS)
        .find(|r| r.code == code)
        .map(|r| r.cost_to)
}

/// The reason the BNP gives the SNP when the LSP cancelled: the LSP's code, unchanged, as the
/// 1.2.5 BNP document's example does (`103` stays `103`), with `initiated_by` naming the LSP.
pub fn retail_reason_for_lsp(lsp_code: &str) -> String {
    lsp_code.to_owned()
}

/// Who bears the cost of a cancellation that started with `code` raised by `by`; unknown codes
/// are charged to nobody.
pub fn cost_to(code: &str, by: Party) -> Option<Party> {
    match by {
        Party::Lsp => lsp(code).map(|r| r.cost_to),
        Party::Buyer | Party::Seller => retail(code).map(|r| r.cost_to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        for (i, a) in RETAIL_REASONS.iter().enumerate() {
            assert!(
                RETAIL_REASONS[i + 1..].iter().all(|b| b.code != a.code),
                "{}",
                a.code
            );
        }
        for (i, a) in LSP_REASONS.iter().enumerate() {
            assert!(
                LSP_REASONS[i + 1..].iter().all(|b| b.code != a.code),
                "{}",
                a.code
            );
        }
    }

    #[test]
    fn buyer_and_seller_reasons_cascade_to_the_right_logistics_codes() {
        let cases = [
            ("052", Party::Buyer, true, "ONDC:LOG10", "175"),
            ("052", Party::Buyer, true, "ONDC:LOG11", "275"),
            ("052", Party::Buyer, false, "ONDC:LOG10", "154"),
            ("006", Party::Buyer, false, "ONDC:LOG11", "252"),
            ("053", Party::Buyer, true, "ONDC:LOG10", "152"),
            ("053", Party::Buyer, false, "ONDC:LOG11", "251"),
            ("002", Party::Seller, false, "ONDC:LOG10", "151"),
            ("021", Party::Seller, true, "ONDC:LOG11", "250"),
            ("021", Party::Seller, false, "ONDC:LOG10", "150"),
            ("016", Party::Seller, true, "ONDC:LOG10", "151"),
            ("013", Party::Seller, true, "ONDC:LOG10", "152"),
            ("014", Party::Seller, true, "ONDC:LOG11", "251"),
            ("998", Party::Seller, false, "ONDC:LOG11", "996"),
            ("777", Party::Seller, false, "ONDC:LOG11", "250"),
        ];
        for (code, by, picked, domain, expected) in cases {
            assert_eq!(
                logistics_reason_for(code, by, picked, domain),
                expected,
                "{code} {by:?} {picked} {domain}"
            );
        }
        assert_eq!(retail_reason_for_lsp("103"), "103");
    }

    #[test]
    fn every_seller_row_maps_to_an_lbnp_code_whose_liability_matches_the_retail_cost() {
        for (code, row) in SELLER_TO_LOGISTICS {
            let retail_cost = retail(code).map(|r| r.cost_to);
            for (column, lbnp) in row.iter().enumerate() {
                let liable = logistics_liable(lbnp);
                assert!(
                    liable.is_some(),
                    "{code} column {column}: {lbnp} is not an LBNP code"
                );
                if *lbnp != "996" {
                    assert_eq!(liable, retail_cost, "{code} column {column}: {lbnp}");
                }
            }
        }
    }

    #[test]
    fn lbnp_codes_say_who_pays_the_lsp() {
        assert_eq!(
            logistics_liable("175"),
            Some(Party::Lsp),
            "a delivery TAT breach is the LSP's"
        );
        assert_eq!(logistics_liable("154"), Some(Party::Lsp));
        assert_eq!(logistics_liable("152"), Some(Party::Buyer));
        assert_eq!(logistics_liable("151"), Some(Party::Seller));
        assert_eq!(
            logistics_liable("103"),
            Some(Party::Seller),
            "LSP code: store closed"
        );
        assert_eq!(logistics_liable("127"), Some(Party::Buyer));
        assert_eq!(logistics_liable("131"), Some(Party::Lsp));
        assert_eq!(logistics_liable("xyz"), None);
    }

    #[test]
    fn roles_and_costs_come_from_the_tables() {
        assert!(retail_allowed_for("052", Party::Buyer));
        assert!(!retail_allowed_for("052", Party::Seller));
        assert!(retail_allowed_for("002", Party::Seller));
        assert!(!retail_allowed_for("999999", Party::Buyer));
        assert_eq!(cost_to("103", Party::Lsp), Some(Party::Seller));
        assert_eq!(cost_to("127", Party::Lsp), Some(Party::Buyer));
        assert_eq!(cost_to("023", Party::Seller), Some(Party::Buyer));
        assert_eq!(cost_to("xyz", Party::Lsp), None);
    }
}
