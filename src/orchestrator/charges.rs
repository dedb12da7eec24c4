//! Who pays the logistics provider, and how much: the LSP's charges as its quote states them
//! (`delivery` and `rto` breakup lines, each with the `tax` lines of the same item), owed by the
//! party liable under the reason the logistics order ended with.

use super::model::{ChargeLine, Claim, ClaimKind, Fulfillment, Money, Order};
use super::reasons::{self, Party};

/// Who is liable for the LSP's charges: the liability of the reason on the logistics leg (ours
/// as LBNP, or the LSP's own), else the cost of the original reason. `None` without a
/// logistics leg or a cancellation.
pub fn liable(order: &Order) -> Option<Party> {
    order.logistics.as_ref()?;
    let c = order.cancellation.as_ref()?;
    c.logistics_reason
        .as_deref()
        .and_then(reasons::logistics_liable)
        .or_else(|| reasons::cost_to(&c.reason_code, c.initiator))
}

/// The charge lines of `kind` with the tax lines of the same items, or `None` when the quote has
/// no line of that kind (or a currency mix it cannot add).
fn charge(lines: &[ChargeLine], kind: &str) -> Option<Money> {
    let main: Vec<&ChargeLine> = lines.iter().filter(|l| l.kind == kind).collect();
    let first = main.first()?;
    let items: Vec<&str> = main.iter().filter_map(|l| l.item_id.as_deref()).collect();
    let taxes = lines
        .iter()
        .filter(|l| l.kind == "tax" && l.item_id.as_deref().is_some_and(|i| items.contains(&i)));
    let mut minor = 0i64;
    for line in main.iter().copied().chain(taxes) {
        if line.amount.currency != first.amount.currency {
            return None;
        }
        minor = minor.checked_add(line.amount.minor)?;
    }
    Some(Money {
        currency: first.amount.currency.clone(),
        minor,
    })
}

/// The retail fulfillment an RTO charge is claimed on: the seller's return of the linked
/// fulfillment, else the order's only RTO fulfillment, else the linked one.
fn rto_fulfillment(order: &Order, linked: &str) -> String {
    let retail = &order.retail.fulfillments;
    retail
        .iter()
        .find(|f| f.id == linked)
        .and_then(|f| f.rto_id.clone())
        .filter(|id| retail.iter().any(|f| f.id == *id))
        .or_else(|| {
            let returns: Vec<&Fulfillment> = retail.iter().filter(|f| f.is_rto()).collect();
            match returns.as_slice() {
                [only] => Some(only.id.clone()),
                _ => None,
            }
        })
        .unwrap_or_else(|| linked.to_owned())
}

/// The LSP's charges as claims on retail fulfillments: the delivery charge on the linked
/// fulfillment, the RTO charge on its return. A quote without a breakup is one delivery charge
/// of its total. Zero amounts are left out.
pub fn claims(order: &Order) -> Vec<Claim> {
    let Some(leg) = &order.logistics else {
        return vec![];
    };
    let linked = leg.linked_fulfillment_id.clone();
    let mut claims = Vec::new();
    if leg.charge_lines.is_empty() {
        if let Some(total) = &leg.charges {
            claims.push(Claim {
                kind: ClaimKind::Delivery,
                fulfillment_id: linked,
                amount: total.clone(),
            });
        }
    } else {
        if let Some(amount) = charge(&leg.charge_lines, "delivery") {
            claims.push(Claim {
                kind: ClaimKind::Delivery,
                fulfillment_id: linked.clone(),
                amount,
            });
        }
        if let Some(amount) = charge(&leg.charge_lines, "rto") {
            claims.push(Claim {
                kind: ClaimKind::Rto,
                fulfillment_id: rto_fulfillment(order, &linked),
                amount,
            });
        }
    }
    claims.retain(|c| c.amount.minor > 0);
    claims
}

/// The sum of `claims`, when they share a currency.
pub fn total(claims: &[Claim]) -> Option<Money> {
    let first = claims.first()?;
    let mut minor = 0i64;
    for c in claims {
        if c.amount.currency != first.amount.currency {
            return None;
        }
        minor = minor.checked_add(c.amount.minor)?;
    }
    Some(Money {
        currency: first.amount.currency.clone(),
        minor,
    })
}

/// What the customer owes from the escrow: the LSP's charges known so far when the buyer side is
/// liable for them; nothing otherwise.
pub fn owed_by_buyer(order: &Order) -> i64 {
    match liable(order) {
        Some(Party::Buyer) => total(&claims(order)).map_or(0, |m| m.minor),
        Some(Party::Seller | Party::Lsp) | None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, item: &str, value: &str) -> ChargeLine {
        ChargeLine {
            kind: kind.into(),
            item_id: Some(item.into()),
            amount: Money::parse("INR", value).unwrap(),
        }
    }

    #[test]
    fn a_charge_is_its_lines_and_their_tax() {
        // The LOG 1.2.5 RTO example: delivery 50 + tax 9 on I1, rto 20 + tax 3.60 on I2.
        let lines = [
            line("delivery", "I1", "50.00"),
            line("tax", "I1", "9.00"),
            line("rto", "I2", "20.0"),
            line("tax", "I2", "3.60"),
        ];
        assert_eq!(charge(&lines, "delivery"), Money::parse("INR", "59.00"));
        assert_eq!(charge(&lines, "rto"), Money::parse("INR", "23.60"));
        assert_eq!(charge(&lines, "insurance"), None);
    }
}
