//! Sellers of the marketplace: an account applies with a store profile; admins verify it (with
//! a commission rate) or reject it with a reason, change the commission, suspend and reinstate.
//! A suspended seller's products leave the catalog and cannot be bought. One stream per
//! account (`seller-<account id>`).

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::text::{Description, Reason, StoreName};
use crate::values::{AccountId, ValueError};

/// The marketplace's cut of a seller's sales, in basis points (0-10,000 = 0-100 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommissionRate(u16);

impl CommissionRate {
    /// Validates a rate.
    pub fn new(raw: i64) -> Result<Self, ValueError> {
        if (0..=10_000).contains(&raw) {
            Ok(CommissionRate(raw as u16))
        } else {
            Err(ValueError::InvalidCommission(raw))
        }
    }

    /// Basis points.
    pub fn basis_points(self) -> u16 {
        self.0
    }
}

/// Where a seller stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SellerStatus {
    /// Applied, waiting for an admin.
    Applied,
    /// Verified: sells.
    Verified,
    /// Refused by an admin (may apply again).
    Rejected,
    /// Verified, then suspended: its products are out of the catalog.
    Suspended,
}

impl SellerStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SellerStatus::Applied => "applied",
            SellerStatus::Verified => "verified",
            SellerStatus::Rejected => "rejected",
            SellerStatus::Suspended => "suspended",
        }
    }
}

/// Commands on a seller.
#[derive(Debug, Clone, PartialEq)]
pub enum SellerCommand {
    /// Apply to sell (again after a rejection, or to change a pending application).
    Apply {
        /// The applying account.
        account_id: AccountId,
        /// The store's name.
        store_name: StoreName,
        /// What the store sells.
        description: Description,
    },
    /// Admins: accept the application at a commission rate.
    Verify {
        /// The commission.
        commission: CommissionRate,
    },
    /// Admins: refuse the application.
    Reject {
        /// Why.
        reason: Reason,
    },
    /// Admins: change the commission of a verified (or suspended) seller.
    SetCommission {
        /// The new rate.
        commission: CommissionRate,
    },
    /// Admins: suspend a verified seller.
    Suspend {
        /// Why.
        reason: Reason,
    },
    /// Admins: end a suspension.
    Reinstate,
}

/// Events of a seller.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum SellerEvent {
    /// An account applied to sell with a store profile.
    SellerApplied {
        /// The account.
        account_id: AccountId,
        /// The store's name.
        store_name: String,
        /// What the store sells.
        description: String,
    },
    /// An admin verified the seller at a commission rate; the account holds the seller role
    /// from the same transaction on.
    SellerVerified {
        /// The account.
        account_id: AccountId,
        /// Commission in basis points.
        commission_bp: u16,
    },
    /// An admin refused the application.
    SellerRejected {
        /// The account.
        account_id: AccountId,
        /// Why.
        reason: String,
    },
    /// An admin changed the seller's commission.
    SellerCommissionSet {
        /// The account.
        account_id: AccountId,
        /// Commission in basis points.
        commission_bp: u16,
    },
    /// An admin suspended the seller: its products leave the catalog.
    SellerSuspended {
        /// The account.
        account_id: AccountId,
        /// Why.
        reason: String,
    },
    /// An admin ended the suspension.
    SellerReinstated {
        /// The account.
        account_id: AccountId,
    },
}

impl DomainEvent for SellerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            SellerEvent::SellerApplied { .. } => "SellerApplied",
            SellerEvent::SellerVerified { .. } => "SellerVerified",
            SellerEvent::SellerRejected { .. } => "SellerRejected",
            SellerEvent::SellerCommissionSet { .. } => "SellerCommissionSet",
            SellerEvent::SellerSuspended { .. } => "SellerSuspended",
            SellerEvent::SellerReinstated { .. } => "SellerReinstated",
        }
    }
}

/// Why a seller command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SellerError {
    /// Nobody applied from this account.
    #[error("this account has not applied to sell")]
    NotFound,
    /// The seller is suspended: no new products, and its products cannot be bought.
    #[error("the seller is suspended")]
    Suspended,
    /// The command does not fit the seller's status.
    #[error("cannot {action} a seller who is {}", .from.as_str())]
    InvalidTransition {
        /// Status now.
        from: SellerStatus,
        /// What was asked.
        action: &'static str,
    },
}

impl SellerError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SellerError::NotFound => "seller_not_found",
            SellerError::Suspended => "seller_suspended",
            SellerError::InvalidTransition { .. } => "invalid_seller_transition",
        }
    }
}

/// A seller as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seller {
    /// Present once applied.
    pub profile: Option<SellerProfile>,
}

/// What is known of a seller.
#[derive(Debug, Clone, PartialEq)]
pub struct SellerProfile {
    /// The account.
    pub account_id: AccountId,
    /// The store's name.
    pub store_name: String,
    /// Status.
    pub status: SellerStatus,
    /// Commission in basis points (0 until verified).
    pub commission_bp: u16,
}

impl Seller {
    /// Whether the seller is suspended (its products are out of the catalog).
    pub fn suspended(&self) -> bool {
        self.profile
            .as_ref()
            .is_some_and(|p| p.status == SellerStatus::Suspended)
    }
}

impl Aggregate for Seller {
    type Id = AccountId;
    type Command = SellerCommand;
    type Event = SellerEvent;
    type Error = SellerError;
    const CATEGORY: &'static str = "seller";

    fn decide(&self, command: SellerCommand) -> Result<Vec<SellerEvent>, SellerError> {
        use SellerStatus::{Applied, Rejected, Suspended, Verified};
        if let SellerCommand::Apply {
            account_id,
            store_name,
            description,
        } = command
        {
            if let Some(p) = &self.profile {
                if matches!(p.status, Verified | Suspended) {
                    return Err(SellerError::InvalidTransition {
                        from: p.status,
                        action: "accept an application from",
                    });
                }
            }
            return Ok(vec![SellerEvent::SellerApplied {
                account_id,
                store_name: store_name.into(),
                description: description.into(),
            }]);
        }
        let p = self.profile.as_ref().ok_or(SellerError::NotFound)?;
        let account_id = p.account_id;
        let refuse = |action| {
            Err(SellerError::InvalidTransition {
                from: p.status,
                action,
            })
        };
        match (command, p.status) {
            (SellerCommand::Apply { .. }, _) => unreachable!("handled above"),
            (SellerCommand::Verify { commission }, Applied) => {
                Ok(vec![SellerEvent::SellerVerified {
                    account_id,
                    commission_bp: commission.basis_points(),
                }])
            }
            (SellerCommand::Verify { .. }, _) => refuse("verify"),
            (SellerCommand::Reject { reason }, Applied) => Ok(vec![SellerEvent::SellerRejected {
                account_id,
                reason: reason.into(),
            }]),
            (SellerCommand::Reject { .. }, _) => refuse("reject"),
            (SellerCommand::SetCommission { commission }, Verified | Suspended) => {
                if p.commission_bp == commission.basis_points() {
                    return Ok(vec![]);
                }
                Ok(vec![SellerEvent::SellerCommissionSet {
                    account_id,
                    commission_bp: commission.basis_points(),
                }])
            }
            (SellerCommand::SetCommission { .. }, _) => refuse("set the commission of"),
            (SellerCommand::Suspend { reason }, Verified) => {
                Ok(vec![SellerEvent::SellerSuspended {
                    account_id,
                    reason: reason.into(),
                }])
            }
            (SellerCommand::Suspend { .. }, Suspended) => Ok(vec![]),
            (SellerCommand::Suspend { .. }, Applied | Rejected) => refuse("suspend"),
            (SellerCommand::Reinstate, Suspended) => {
                Ok(vec![SellerEvent::SellerReinstated { account_id }])
            }
            (SellerCommand::Reinstate, Verified) => Ok(vec![]),
            (SellerCommand::Reinstate, Applied | Rejected) => refuse("reinstate"),
        }
    }

    fn apply(&mut self, event: &SellerEvent) {
        match event {
            SellerEvent::SellerApplied {
                account_id,
                store_name,
                ..
            } => {
                let commission_bp = self.profile.as_ref().map_or(0, |p| p.commission_bp);
                self.profile = Some(SellerProfile {
                    account_id: *account_id,
                    store_name: store_name.clone(),
                    status: SellerStatus::Applied,
                    commission_bp,
                });
            }
            SellerEvent::SellerVerified { commission_bp, .. } => {
                if let Some(p) = &mut self.profile {
                    p.status = SellerStatus::Verified;
                    p.commission_bp = *commission_bp;
                }
            }
            SellerEvent::SellerRejected { .. } => {
                if let Some(p) = &mut self.profile {
                    p.status = SellerStatus::Rejected;
                }
            }
            SellerEvent::SellerCommissionSet { commission_bp, .. } => {
                if let Some(p) = &mut self.profile {
                    p.commission_bp = *commission_bp;
                }
            }
            SellerEvent::SellerSuspended { .. } => {
                if let Some(p) = &mut self.profile {
                    p.status = SellerStatus::Suspended;
                }
            }
            SellerEvent::SellerReinstated { .. } => {
                if let Some(p) = &mut self.profile {
                    p.status = SellerStatus::Verified;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> AccountId {
        AccountId::from_uuid(uuid::Uuid::from_u128(7))
    }
    fn apply() -> SellerCommand {
        SellerCommand::Apply {
            account_id: me(),
            store_name: StoreName::parse("Mugs Ltd").unwrap(),
            description: Description::parse("Mugs.").unwrap(),
        }
    }
    fn run(commands: Vec<SellerCommand>) -> Result<Seller, SellerError> {
        let mut seller = Seller::default();
        for c in commands {
            for e in seller.decide(c)? {
                seller.apply(&e);
            }
        }
        Ok(seller)
    }
    fn bp(n: i64) -> CommissionRate {
        CommissionRate::new(n).unwrap()
    }
    fn reason() -> Reason {
        Reason::parse("because").unwrap()
    }

    #[test]
    fn an_application_is_verified_suspended_and_reinstated() {
        let seller = run(vec![
            apply(),
            SellerCommand::Verify {
                commission: bp(1200),
            },
        ])
        .unwrap();
        let p = seller.profile.clone().unwrap();
        assert_eq!((p.status, p.commission_bp), (SellerStatus::Verified, 1200));
        let seller = run(vec![
            apply(),
            SellerCommand::Verify {
                commission: bp(1200),
            },
            SellerCommand::Suspend { reason: reason() },
        ])
        .unwrap();
        assert!(seller.suspended());
        assert_eq!(
            seller.decide(SellerCommand::Suspend { reason: reason() }),
            Ok(vec![])
        );
        let events = seller.decide(SellerCommand::Reinstate).unwrap();
        assert_eq!(
            events,
            vec![SellerEvent::SellerReinstated { account_id: me() }]
        );
    }

    #[test]
    fn transitions_that_do_not_fit_are_refused() {
        assert_eq!(
            Seller::default().decide(SellerCommand::Verify { commission: bp(0) }),
            Err(SellerError::NotFound)
        );
        let applied = run(vec![apply()]).unwrap();
        for command in [
            SellerCommand::Suspend { reason: reason() },
            SellerCommand::Reinstate,
            SellerCommand::SetCommission { commission: bp(5) },
        ] {
            assert_eq!(
                applied.decide(command).unwrap_err().code(),
                "invalid_seller_transition"
            );
        }
        let verified = run(vec![apply(), SellerCommand::Verify { commission: bp(1) }]).unwrap();
        assert!(
            verified.decide(apply()).is_err(),
            "a seller does not apply again"
        );
        assert!(verified
            .decide(SellerCommand::Reject { reason: reason() })
            .is_err());
        // A rejected applicant may apply again.
        let rejected = run(vec![apply(), SellerCommand::Reject { reason: reason() }]).unwrap();
        assert!(rejected.decide(apply()).is_ok());
        assert!(CommissionRate::new(10_001).is_err() && CommissionRate::new(-1).is_err());
    }
}
