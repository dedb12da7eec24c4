//! Which orders the gateway takes on: the rules a platform's registration must meet beyond
//! well-formed fields (those the REST door parses).

use super::model::Order;
use super::refusal::Refusal;

/// Refuses an order the gateway cannot track: one already over, one with nothing to deliver,
/// one whose fulfillments repeat an id, one whose logistics leg delivers no fulfillment of the
/// order or shares its transaction.
pub fn admit(order: &Order) -> Result<(), Refusal> {
    let bad = |m: &str| Err(Refusal::Unprocessable(m.to_owned()));
    if order.state.is_terminal() {
        return bad("state: a Completed or Cancelled order cannot be registered");
    }
    let fulfillments = &order.retail.fulfillments;
    if fulfillments.is_empty() {
        return bad("retail.fulfillments must list at least one fulfillment");
    }
    for (i, f) in fulfillments.iter().enumerate() {
        if fulfillments[..i].iter().any(|x| x.id == f.id) {
            return Err(Refusal::Unprocessable(format!(
                "retail.fulfillments[{i}].id {} is repeated",
                f.id
            )));
        }
    }
    if let Some(l) = &order.logistics {
        if !fulfillments.iter().any(|f| f.id == l.linked_fulfillment_id) {
            return bad("logistics.linked_fulfillment_id must name one of retail.fulfillments");
        }
        if l.transaction_id == order.retail.transaction_id {
            return bad("logistics.transaction_id must differ from retail.transaction_id");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::OrderState;

    #[test]
    fn only_live_orders_with_coherent_legs_are_taken_on() {
        assert_eq!(admit(&Order::sample("O1")), Ok(()));
        let mut done = Order::sample("O1");
        done.state = OrderState::Cancelled;
        let mut empty = Order::sample("O1");
        empty.retail.fulfillments.clear();
        let mut twice = Order::sample("O1");
        twice
            .retail
            .fulfillments
            .push(twice.retail.fulfillments[0].clone());
        let mut unlinked = Order::sample("O1");
        if let Some(l) = &mut unlinked.logistics {
            l.linked_fulfillment_id = "F9".into();
        }
        let mut same_txn = Order::sample("O1");
        if let Some(l) = &mut same_txn.logistics {
            l.transaction_id = same_txn.retail.transaction_id.clone();
        }
        for order in [done, empty, twice, unlinked, same_txn] {
            assert_eq!(admit(&order).unwrap_err().rest_status(), 422, "{order:?}");
        }
    }
}
