//! Fulfillment states and the legal moves between them (ONDC retail and logistics 1.2.5).
//!
//! Forward moves follow the log-validation-utility's table, widened by the logistics-only states
//! (Searching-for-Agent, the rescheduled states) and by `RTO`, the forward fulfillment's terminal
//! state in logistics 1.2.5 when return to origin starts (retail sends `Cancelled` for the same
//! event; both are accepted). An RTO fulfillment moves `RTO-Initiated → RTO-Delivered |
//! RTO-Disposed`. Reporting the current state again is not a move and is always allowed.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A fulfillment state code, as carried in `state.descriptor.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FulfillmentState {
    /// `Pending`.
    #[serde(rename = "Pending")]
    Pending,
    /// `Packed`.
    #[serde(rename = "Packed")]
    Packed,
    /// `Searching-for-Agent` (logistics).
    #[serde(rename = "Searching-for-Agent")]
    SearchingForAgent,
    /// `Agent-assigned`.
    #[serde(rename = "Agent-assigned")]
    AgentAssigned,
    /// `At-pickup` (P2P).
    #[serde(rename = "At-pickup")]
    AtPickup,
    /// `Out-for-pickup`.
    #[serde(rename = "Out-for-pickup")]
    OutForPickup,
    /// `Pickup-failed`.
    #[serde(rename = "Pickup-failed")]
    PickupFailed,
    /// `Pickup-rescheduled` (logistics P2H2P).
    #[serde(rename = "Pickup-rescheduled")]
    PickupRescheduled,
    /// `Order-picked-up`.
    #[serde(rename = "Order-picked-up")]
    OrderPickedUp,
    /// `In-transit`.
    #[serde(rename = "In-transit")]
    InTransit,
    /// `At-destination-hub`.
    #[serde(rename = "At-destination-hub")]
    AtDestinationHub,
    /// `Out-for-delivery`.
    #[serde(rename = "Out-for-delivery")]
    OutForDelivery,
    /// `At-delivery` (P2P).
    #[serde(rename = "At-delivery")]
    AtDelivery,
    /// `Delivery-failed`.
    #[serde(rename = "Delivery-failed")]
    DeliveryFailed,
    /// `Delivery-rescheduled` (logistics P2H2P).
    #[serde(rename = "Delivery-rescheduled")]
    DeliveryRescheduled,
    /// `Order-delivered` (terminal).
    #[serde(rename = "Order-delivered")]
    OrderDelivered,
    /// `Cancelled` (terminal).
    #[serde(rename = "Cancelled")]
    Cancelled,
    /// `RTO`: the forward fulfillment once return to origin starts (logistics 1.2.5; terminal).
    #[serde(rename = "RTO")]
    Rto,
    /// `RTO-Initiated`: an RTO fulfillment under way.
    #[serde(rename = "RTO-Initiated")]
    RtoInitiated,
    /// `RTO-Delivered`: returned to origin (terminal).
    #[serde(rename = "RTO-Delivered")]
    RtoDelivered,
    /// `RTO-Disposed`: not returned, disposed of (terminal).
    #[serde(rename = "RTO-Disposed")]
    RtoDisposed,
}

use FulfillmentState as S;

impl FulfillmentState {
    /// Every state, for tables and tests.
    pub const ALL: [FulfillmentState; 21] = [
        S::Pending,
        S::Packed,
        S::SearchingForAgent,
        S::AgentAssigned,
        S::AtPickup,
        S::OutForPickup,
        S::PickupFailed,
        S::PickupRescheduled,
        S::OrderPickedUp,
        S::InTransit,
        S::AtDestinationHub,
        S::OutForDelivery,
        S::AtDelivery,
        S::DeliveryFailed,
        S::DeliveryRescheduled,
        S::OrderDelivered,
        S::Cancelled,
        S::Rto,
        S::RtoInitiated,
        S::RtoDelivered,
        S::RtoDisposed,
    ];

    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            S::Pending => "Pending",
            S::Packed => "Packed",
            S::SearchingForAgent => "Searching-for-Agent",
            S::AgentAssigned => "Agent-assigned",
            S::AtPickup => "At-pickup",
            S::OutForPickup => "Out-for-pickup",
            S::PickupFailed => "Pickup-failed",
            S::PickupRescheduled => "Pickup-rescheduled",
            S::OrderPickedUp => "Order-picked-up",
            S::InTransit => "In-transit",
            S::AtDestinationHub => "At-destination-hub",
            S::OutForDelivery => "Out-for-delivery",
            S::AtDelivery => "At-delivery",
            S::DeliveryFailed => "Delivery-failed",
            S::DeliveryRescheduled => "Delivery-rescheduled",
            S::OrderDelivered => "Order-delivered",
            S::Cancelled => "Cancelled",
            S::Rto => "RTO",
            S::RtoInitiated => "RTO-Initiated",
            S::RtoDelivered => "RTO-Delivered",
            S::RtoDisposed => "RTO-Disposed",
        }
    }

    /// No move leaves this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            S::OrderDelivered | S::Cancelled | S::Rto | S::RtoDelivered | S::RtoDisposed
        )
    }

    /// A state of an RTO fulfillment rather than a forward one.
    pub fn is_rto_track(self) -> bool {
        matches!(self, S::RtoInitiated | S::RtoDelivered | S::RtoDisposed)
    }

    /// Whether the goods have left the seller (return to origin is then possible).
    pub fn is_picked_up(self) -> bool {
        matches!(
            self,
            S::OrderPickedUp
                | S::InTransit
                | S::AtDestinationHub
                | S::OutForDelivery
                | S::AtDelivery
                | S::DeliveryFailed
                | S::DeliveryRescheduled
        )
    }

    /// Whether two reports describe the same outcome: a forward fulfillment ended by return to
    /// origin is `RTO` in logistics 1.2.5 and the BNP document, `Cancelled` in retail examples and
    /// validators (research §7.1). Either may follow the other; neither is a move.
    pub fn same_outcome(self, other: FulfillmentState) -> bool {
        self == other || matches!((self, other), (S::Rto, S::Cancelled) | (S::Cancelled, S::Rto))
    }

    /// Whether `self → next` is a legal move. Every pair is decided here, in one `match`.
    pub fn can_move_to(self, next: FulfillmentState) -> bool {
        if self == next {
            return true;
        }
        match self {
            S::Pending => matches!(next, S::Packed | S::SearchingForAgent | S::Cancelled),
            S::Packed | S::SearchingForAgent => matches!(
                next,
                S::SearchingForAgent
                    | S::AgentAssigned
                    | S::AtPickup
                    | S::OutForPickup
                    | S::OrderPickedUp
                    | S::Cancelled
            ),
            S::AgentAssigned => matches!(
                next,
                S::AtPickup | S::OutForPickup | S::OrderPickedUp | S::Cancelled
            ),
            S::AtPickup => matches!(next, S::OrderPickedUp | S::Cancelled),
            S::OutForPickup => matches!(
                next,
                S::PickupFailed | S::PickupRescheduled | S::OrderPickedUp | S::Cancelled
            ),
            S::PickupFailed | S::PickupRescheduled => {
                matches!(
                    next,
                    S::OutForPickup | S::PickupRescheduled | S::OrderPickedUp | S::Cancelled
                )
            }
            S::OrderPickedUp => matches!(
                next,
                S::AtDelivery | S::InTransit | S::OutForDelivery | S::OrderDelivered | S::Cancelled | S::Rto
            ),
            S::InTransit => matches!(next, S::AtDestinationHub | S::Cancelled | S::Rto),
            S::AtDestinationHub => matches!(next, S::OutForDelivery | S::Cancelled | S::Rto),
            S::AtDelivery => matches!(next, S::OrderDelivered | S::Cancelled | S::Rto),
            S::OutForDelivery => matches!(
                next,
                S::DeliveryFailed
                    | S::DeliveryRescheduled
                    | S::AtDelivery
                    | S::OrderDelivered
                    | S::Cancelled
                    | S::Rto
            ),
            S::DeliveryFailed | S::DeliveryRescheduled => matches!(
                next,
                S::OutForDelivery | S::DeliveryRescheduled | S::OrderDelivered | S::Cancelled | S::Rto
            ),
            S::RtoInitiated => matches!(next, S::RtoDelivered | S::RtoDisposed),
            // Terminal: nothing leaves them.
            S::OrderDelivered | S::Cancelled | S::Rto | S::RtoDelivered | S::RtoDisposed => false,
        }
    }
}

impl fmt::Display for FulfillmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state code we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fulfillment state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for FulfillmentState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// The retail order state (`order.state`), plus the gateway's own pending-request state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderState {
    /// `Created`.
    Created,
    /// `Accepted`.
    Accepted,
    /// `In-progress`.
    #[serde(rename = "In-progress")]
    InProgress,
    /// `Completed` (terminal).
    Completed,
    /// `Cancelled` (terminal).
    Cancelled,
}

impl OrderState {
    /// No further change.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "Created",
            Self::Accepted => "Accepted",
            Self::InProgress => "In-progress",
            Self::Completed => "Completed",
            Self::Cancelled => "Cancelled",
        }
    }
}

impl FromStr for OrderState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, UnknownState> {
        [
            Self::Created,
            Self::Accepted,
            Self::InProgress,
            Self::Completed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The legal forward moves from the research table (lvu `STATE_TRANSITIONS`) plus the
    /// logistics additions; every other ordered pair must be refused.
    const LEGAL: &[(&str, &[&str])] = &[
        ("Pending", &["Packed", "Searching-for-Agent", "Cancelled"]),
        (
            "Packed",
            &[
                "Searching-for-Agent",
                "Agent-assigned",
                "At-pickup",
                "Out-for-pickup",
                "Order-picked-up",
                "Cancelled",
            ],
        ),
        (
            "Searching-for-Agent",
            &[
                "Agent-assigned",
                "At-pickup",
                "Out-for-pickup",
                "Order-picked-up",
                "Cancelled",
            ],
        ),
        (
            "Agent-assigned",
            &["At-pickup", "Out-for-pickup", "Order-picked-up", "Cancelled"],
        ),
        ("At-pickup", &["Order-picked-up", "Cancelled"]),
        (
            "Out-for-pickup",
            &[
                "Pickup-failed",
                "Pickup-rescheduled",
                "Order-picked-up",
                "Cancelled",
            ],
        ),
        (
            "Pickup-failed",
            &[
                "Out-for-pickup",
                "Pickup-rescheduled",
                "Order-picked-up",
                "Cancelled",
            ],
        ),
        (
            "Pickup-rescheduled",
            &["Out-for-pickup", "Order-picked-up", "Cancelled"],
        ),
        (
            "Order-picked-up",
            &[
                "At-delivery",
                "In-transit",
                "Out-for-delivery",
                "Order-delivered",
                "Cancelled",
                "RTO",
            ],
        ),
        ("In-transit", &["At-destination-hub", "Cancelled", "RTO"]),
        ("At-destination-hub", &["Out-for-delivery", "Cancelled", "RTO"]),
        ("At-delivery", &["Order-delivered", "Cancelled", "RTO"]),
        (
            "Out-for-delivery",
            &[
                "Delivery-failed",
                "Delivery-rescheduled",
                "At-delivery",
                "Order-delivered",
                "Cancelled",
                "RTO",
            ],
        ),
        (
            "Delivery-failed",
            &[
                "Out-for-delivery",
                "Delivery-rescheduled",
                "Order-delivered",
                "Cancelled",
                "RTO",
            ],
        ),
        (
            "Delivery-rescheduled",
            &["Out-for-delivery", "Order-delivered", "Cancelled", "RTO"],
        ),
        ("RTO-Initiated", &["RTO-Delivered", "RTO-Disposed"]),
        ("Order-delivered", &[]),
        ("Cancelled", &[]),
        ("RTO", &[]),
        ("RTO-Delivered", &[]),
        ("RTO-Disposed", &[]),
    ];

    #[test]
    fn every_ordered_pair_is_decided_as_the_table_says() {
        assert_eq!(LEGAL.len(), FulfillmentState::ALL.len());
        for (from, targets) in LEGAL {
            let from: FulfillmentState = from.parse().unwrap();
            for to in FulfillmentState::ALL {
                let expected = to == from || targets.contains(&to.as_str());
                assert_eq!(from.can_move_to(to), expected, "{from} -> {to}");
            }
            assert_eq!(from.is_terminal(), targets.is_empty(), "{from}");
        }
    }

    #[test]
    fn rto_and_cancelled_are_one_outcome_for_a_forward_fulfillment() {
        assert!(S::Rto.same_outcome(S::Cancelled) && S::Cancelled.same_outcome(S::Rto));
        assert!(!S::RtoDelivered.same_outcome(S::Cancelled));
        assert!(!S::Rto.can_move_to(S::Cancelled), "it is not a move");
    }

    #[test]
    fn codes_round_trip() {
        for s in FulfillmentState::ALL {
            assert_eq!(s.as_str().parse::<FulfillmentState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert!("Delivered".parse::<FulfillmentState>().is_err());
        assert_eq!("In-progress".parse::<OrderState>(), Ok(OrderState::InProgress));
    }
}
