//! Beckn actions the gateway receives, and the domain families it serves.

use std::fmt;
use std::str::FromStr;

/// An action the gateway accepts at the root of its `subscriber_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `/cancel`: a buyer app asks to cancel.
    Cancel,
    /// `/on_cancel`: a seller or LSP answers a cancel, or cancels unsolicited.
    OnCancel,
    /// `/update`: a buyer app updates an order.
    Update,
    /// `/on_update`: a seller or LSP reports an update.
    OnUpdate,
    /// `/on_status`: a seller or LSP reports fulfillment state.
    OnStatus,
}

impl Action {
    /// All accepted actions.
    pub const ALL: [Action; 5] = [
        Self::Cancel,
        Self::OnCancel,
        Self::Update,
        Self::OnUpdate,
        Self::OnStatus,
    ];

    /// The wire name (`cancel`, `on_cancel`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::OnCancel => "on_cancel",
            Self::Update => "update",
            Self::OnUpdate => "on_update",
            Self::OnStatus => "on_status",
        }
    }

    /// Whether a buyer app sends it (`bap_id` signs) or a seller/LSP does (`bpp_id` signs).
    pub fn is_callback(self) -> bool {
        match self {
            Self::Cancel | Self::Update => false,
            Self::OnCancel | Self::OnUpdate | Self::OnStatus => true,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names no action we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported action")]
pub struct UnknownAction;

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, UnknownAction> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAction)
    }
}

/// Which leg a domain belongs to: retail (BNP–SNP) or logistics (BNP–LSP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainFamily {
    /// `ONDC:RETxx` (and the agriculture `ONDC:AGRxx` retail domains).
    Retail,
    /// `ONDC:LOGxx`, and 1.2.0's `nic2004:60232`.
    Logistics,
}

impl DomainFamily {
    /// Classifies a `context.domain`; `None` for domains the gateway does not serve.
    pub fn of(domain: &str) -> Option<Self> {
        let code = domain.strip_prefix("ONDC:").unwrap_or("");
        let digits = |rest: &str| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        };
        if let Some(rest) = code.strip_prefix("RET").or_else(|| code.strip_prefix("AGR")) {
            return digits(rest).then_some(Self::Retail);
        }
        if let Some(rest) = code.strip_prefix("LOG") {
            return digits(rest).then_some(Self::Logistics);
        }
        (domain == "nic2004:60232").then_some(Self::Logistics)
    }

    /// `retail` or `logistics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retail => "retail",
            Self::Logistics => "logistics",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_and_know_their_sender() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        assert_eq!("search".parse::<Action>(), Err(UnknownAction));
        assert!(!Action::Cancel.is_callback() && Action::OnStatus.is_callback());
    }

    #[test]
    fn domains_map_to_legs() {
        assert_eq!(DomainFamily::of("ONDC:RET10"), Some(DomainFamily::Retail));
        assert_eq!(DomainFamily::of("ONDC:RET1A"), Some(DomainFamily::Retail));
        assert_eq!(DomainFamily::of("ONDC:LOG11"), Some(DomainFamily::Logistics));
        assert_eq!(DomainFamily::of("nic2004:60232"), Some(DomainFamily::Logistics));
        assert_eq!(DomainFamily::of("ONDC:TRV10x"), None);
        assert_eq!(DomainFamily::of("ONDC:RET"), None);
        assert_eq!(DomainFamily::of("RET10"), None);
    }
}
