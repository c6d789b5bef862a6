//! Store credit: one wallet per account, with a balance per currency that never goes below
//! zero. Admins grant and withdraw credit with a reason; checkout spends it in the same atomic
//! decision that places the order; cancelling the order returns it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::text::Reason;
use crate::values::{AccountId, Currency, Money, OrderId, ValueError};

/// Commands on a wallet.
#[derive(Debug, Clone, PartialEq)]
pub enum WalletCommand {
    /// Add credit (an admin's grant, or the sign-up credit).
    Grant {
        /// The wallet's account.
        account_id: AccountId,
        /// How much.
        amount: Money,
        /// Why, in words.
        reason: Reason,
    },
    /// Take credit away (an admin's correction); never below zero.
    Withdraw {
        /// How much.
        amount: Money,
        /// Why, in words.
        reason: Reason,
    },
    /// Pay (part of) an order; never below zero.
    Spend {
        /// The order paid.
        order_id: OrderId,
        /// How much.
        amount: Money,
    },
    /// Refund (part of) an order's payment as credit instead of through the provider.
    Refund {
        /// The wallet's account (the order's customer).
        account_id: AccountId,
        /// The order refunded.
        order_id: OrderId,
        /// How much.
        amount: Money,
    },
    /// Give back what an order spent (it was cancelled).
    Return {
        /// The order.
        order_id: OrderId,
        /// How much.
        amount: Money,
    },
}

/// Events of a wallet.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum WalletEvent {
    /// Credit was added to an account's wallet.
    CreditGranted {
        /// The wallet's account.
        account_id: AccountId,
        /// How much.
        amount: Money,
        /// Why.
        reason: String,
    },
    /// Credit was taken away by an admin.
    CreditWithdrawn {
        /// The wallet's account.
        account_id: AccountId,
        /// How much.
        amount: Money,
        /// Why.
        reason: String,
    },
    /// Credit paid (part of) an order, in the same transaction that placed it.
    CreditSpent {
        /// The wallet's account.
        account_id: AccountId,
        /// The order.
        order_id: OrderId,
        /// How much.
        amount: Money,
    },
    /// An order's payment was refunded as store credit.
    CreditRefunded {
        /// The wallet's account.
        account_id: AccountId,
        /// The order.
        order_id: OrderId,
        /// How much.
        amount: Money,
    },
    /// Credit an order had spent came back (the order was cancelled).
    CreditReturned {
        /// The wallet's account.
        account_id: AccountId,
        /// The order.
        order_id: OrderId,
        /// How much.
        amount: Money,
    },
}

impl DomainEvent for WalletEvent {
    fn event_type(&self) -> &'static str {
        match self {
            WalletEvent::CreditGranted { .. } => "CreditGranted",
            WalletEvent::CreditWithdrawn { .. } => "CreditWithdrawn",
            WalletEvent::CreditSpent { .. } => "CreditSpent",
            WalletEvent::CreditReturned { .. } => "CreditReturned",
            WalletEvent::CreditRefunded { .. } => "CreditRefunded",
        }
    }
}

/// Why a wallet command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// The balance does not cover the amount.
    #[error("not enough store credit: {available} available")]
    InsufficientCredit {
        /// The balance in the amount's currency.
        available: Money,
    },
    /// Amounts of credit are positive.
    #[error("an amount of credit must be positive")]
    ZeroAmount,
    /// The wallet has never held credit (nothing to withdraw, spend or return to).
    #[error("this account has no wallet yet")]
    NoWallet,
    /// The balance would leave the range of minor units.
    #[error(transparent)]
    Value(#[from] ValueError),
}

impl WalletError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WalletError::InsufficientCredit { .. } => "insufficient_credit",
            WalletError::ZeroAmount => "invalid_credit_amount",
            WalletError::NoWallet => "insufficient_credit",
            WalletError::Value(e) => e.code(),
        }
    }
}

/// A wallet as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wallet {
    /// The account, once the wallet has seen credit.
    pub account_id: Option<AccountId>,
    /// Balance per currency, in minor units; never negative.
    pub balances: BTreeMap<Currency, i64>,
}

impl Wallet {
    /// The balance in `currency`.
    pub fn balance(&self, currency: Currency) -> Money {
        let minor = self.balances.get(&currency).copied().unwrap_or(0);
        Money::new(minor, currency).unwrap_or_else(|_| Money::zero(currency))
    }

    fn take(&self, amount: Money) -> Result<AccountId, WalletError> {
        if amount.amount_minor() == 0 {
            return Err(WalletError::ZeroAmount);
        }
        let account_id = self.account_id.ok_or(WalletError::NoWallet)?;
        let available = self.balance(amount.currency());
        if available.amount_minor() < amount.amount_minor() {
            return Err(WalletError::InsufficientCredit { available });
        }
        Ok(account_id)
    }

    fn give(&self, amount: Money) -> Result<(), WalletError> {
        if amount.amount_minor() == 0 {
            return Err(WalletError::ZeroAmount);
        }
        self.balance(amount.currency()).checked_add(amount)?;
        Ok(())
    }
}

impl Aggregate for Wallet {
    type Id = AccountId;
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = WalletError;
    const CATEGORY: &'static str = "wallet";

    fn decide(&self, command: WalletCommand) -> Result<Vec<WalletEvent>, WalletError> {
        match command {
            WalletCommand::Grant {
                account_id,
                amount,
                reason,
            } => {
                self.give(amount)?;
                Ok(vec![WalletEvent::CreditGranted {
                    account_id,
                    amount,
                    reason: reason.into(),
                }])
            }
            WalletCommand::Withdraw { amount, reason } => {
                let account_id = self.take(amount)?;
                Ok(vec![WalletEvent::CreditWithdrawn {
                    account_id,
                    amount,
                    reason: reason.into(),
                }])
            }
            WalletCommand::Spend { order_id, amount } => {
                let account_id = self.take(amount)?;
                Ok(vec![WalletEvent::CreditSpent {
                    account_id,
                    order_id,
                    amount,
                }])
            }
            WalletCommand::Refund {
                account_id,
                order_id,
                amount,
            } => {
                self.give(amount)?;
                Ok(vec![WalletEvent::CreditRefunded {
                    account_id,
                    order_id,
                    amount,
                }])
            }
            WalletCommand::Return { order_id, amount } => {
                let account_id = self.account_id.ok_or(WalletError::NoWallet)?;
                self.give(amount)?;
                Ok(vec![WalletEvent::CreditReturned {
                    account_id,
                    order_id,
                    amount,
                }])
            }
        }
    }

    fn apply(&mut self, event: &WalletEvent) {
        let (account_id, amount, sign) = match event {
            WalletEvent::CreditGranted {
                account_id, amount, ..
            }
            | WalletEvent::CreditReturned {
                account_id, amount, ..
            }
            | WalletEvent::CreditRefunded {
                account_id, amount, ..
            } => (account_id, amount, 1),
            WalletEvent::CreditWithdrawn {
                account_id, amount, ..
            }
            | WalletEvent::CreditSpent {
                account_id, amount, ..
            } => (account_id, amount, -1),
        };
        self.account_id = Some(*account_id);
        let balance = self.balances.entry(amount.currency()).or_insert(0);
        *balance = balance.saturating_add(sign * amount.amount_minor());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
    }

    fn account() -> AccountId {
        AccountId::from_uuid(uuid::Uuid::from_u128(5))
    }

    fn granted(minor: i64) -> WalletEvent {
        WalletEvent::CreditGranted {
            account_id: account(),
            amount: eur(minor),
            reason: "welcome".into(),
        }
    }

    fn reason() -> Reason {
        Reason::parse("correction").unwrap()
    }

    #[test]
    fn grants_add_and_spending_takes_away() {
        let wallet = Wallet::from_events(&[granted(1000)]);
        let order_id = OrderId::from_uuid(uuid::Uuid::from_u128(9));
        let spent = wallet
            .decide(WalletCommand::Spend {
                order_id,
                amount: eur(600),
            })
            .unwrap();
        let wallet = Wallet::from_events(&[granted(1000), spent[0].clone()]);
        assert_eq!(wallet.balance(eur(0).currency()), eur(400));
    }

    #[test]
    fn never_below_zero() {
        let wallet = Wallet::from_events(&[granted(500)]);
        let order_id = OrderId::generate();
        assert_eq!(
            wallet.decide(WalletCommand::Spend {
                order_id,
                amount: eur(501)
            }),
            Err(WalletError::InsufficientCredit {
                available: eur(500)
            })
        );
        assert_eq!(
            wallet.decide(WalletCommand::Withdraw {
                amount: eur(501),
                reason: reason()
            }),
            Err(WalletError::InsufficientCredit {
                available: eur(500)
            })
        );
        let usd = Money::new(1, Currency::parse("USD").unwrap()).unwrap();
        assert!(matches!(
            wallet.decide(WalletCommand::Spend {
                order_id,
                amount: usd
            }),
            Err(WalletError::InsufficientCredit { .. })
        ));
        assert_eq!(
            Wallet::default().decide(WalletCommand::Withdraw {
                amount: eur(1),
                reason: reason()
            }),
            Err(WalletError::NoWallet)
        );
    }

    #[test]
    fn amounts_are_positive_and_balances_bounded() {
        let wallet = Wallet::from_events(&[granted(i64::MAX)]);
        assert_eq!(
            wallet.decide(WalletCommand::Grant {
                account_id: account(),
                amount: eur(0),
                reason: reason()
            }),
            Err(WalletError::ZeroAmount)
        );
        assert_eq!(
            wallet.decide(WalletCommand::Grant {
                account_id: account(),
                amount: eur(1),
                reason: reason()
            }),
            Err(WalletError::Value(ValueError::AmountOverflow))
        );
    }
}
