//! Accounts: customers, sellers, admins and auditors.
//!
//! Credentials are not part of the aggregate: password hashes live only where login needs
//! them, never in an event. `AccountPasswordChanged` records that a change happened, nothing
//! more. Email uniqueness is the job of [`EmailClaim`], a tiny aggregate per normalized email
//! that is appended in the same atomic append as the account, so two concurrent registrations
//! with one email cannot both succeed.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::text::DisplayName;
use crate::values::AccountId;

/// A normalized (trimmed, lower-case) email address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Validates and normalizes an address: one `@`, a local part of 1-64 characters, a
    /// domain with a dot, no spaces, at most 254 characters.
    pub fn parse(raw: &str) -> Result<Email, AccountError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.split_once('@') {
                Some((local, domain)) => {
                    (1..=64).contains(&local.len())
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Email(email))
        } else {
            Err(AccountError::InvalidEmail)
        }
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Email {
    /// What an erased person's email reads as: `erased-<id>@erased.invalid` (the `.invalid`
    /// top-level domain never delivers), distinct per person so read models keep their keys.
    pub fn erased(subject: uuid::Uuid) -> Email {
        Email(format!("erased-{}@erased.invalid", subject.simple()))
    }
}

/// What an erased person's name, or a line of their address, reads as.
pub const ERASED_TEXT: &str = "(erased)";

impl TryFrom<String> for Email {
    type Error = AccountError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account may do.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Shops: own cart and orders.
    Customer,
    /// Lists and stocks their own products.
    Seller,
    /// Manages accounts and roles, acts on any order.
    Admin,
    /// Reads history and audit endpoints.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Customer, Role::Seller, Role::Admin, Role::Auditor];

    /// The role's name in tokens and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Seller => "seller",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (bounds hashing work).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The password policy: 8-256 characters, and not the email address.
pub fn check_password_policy(password: &str, email: &Email) -> Result<(), AccountError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword(
            "must have at least 8 characters",
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword(
            "must have at most 256 characters",
        ));
    }
    if password.trim().to_lowercase() == email.as_str() {
        return Err(AccountError::WeakPassword("must not be the email address"));
    }
    Ok(())
}

/// Commands on an account.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    /// Open an account.
    Register {
        /// New account's id.
        account_id: AccountId,
        /// Normalized email.
        email: Email,
        /// Name shown to others.
        display_name: DisplayName,
        /// Initial roles.
        roles: BTreeSet<Role>,
    },
    /// Change the display name.
    ChangeProfile {
        /// New name.
        display_name: DisplayName,
    },
    /// Record that the password was changed (the hash is stored elsewhere).
    RecordPasswordChange,
    /// Close the account for good.
    Close,
    /// Record that the closed account's personal data was erased (its key destroyed).
    Erase,
    /// Give a role.
    GrantRole(Role),
    /// Take a role away.
    RevokeRole(Role),
}

/// Events of an account. None carries a credential.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountEvent {
    /// An account was opened.
    AccountRegistered {
        /// The account.
        account_id: AccountId,
        /// Normalized email.
        email: Email,
        /// Name shown to others.
        display_name: String,
        /// Initial roles.
        roles: BTreeSet<Role>,
    },
    /// The display name changed.
    AccountProfileChanged {
        /// The account.
        account_id: AccountId,
        /// New name.
        display_name: String,
    },
    /// The password was changed; existing sessions were ended.
    AccountPasswordChanged {
        /// The account.
        account_id: AccountId,
    },
    /// The account was closed; it can no longer sign in and its email is free again.
    AccountClosed {
        /// The account.
        account_id: AccountId,
    },
    /// The closed account's personal data was erased: the person's key is destroyed, so every
    /// field sealed for them (email, names, addresses) reads as erased from now on.
    AccountErased {
        /// The account.
        account_id: AccountId,
    },
    /// A role was granted.
    AccountRoleGranted {
        /// The account.
        account_id: AccountId,
        /// The role.
        role: Role,
    },
    /// A role was revoked.
    AccountRoleRevoked {
        /// The account.
        account_id: AccountId,
        /// The role.
        role: Role,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::AccountRegistered { .. } => "AccountRegistered",
            AccountEvent::AccountProfileChanged { .. } => "AccountProfileChanged",
            AccountEvent::AccountPasswordChanged { .. } => "AccountPasswordChanged",
            AccountEvent::AccountClosed { .. } => "AccountClosed",
            AccountEvent::AccountErased { .. } => "AccountErased",
            AccountEvent::AccountRoleGranted { .. } => "AccountRoleGranted",
            AccountEvent::AccountRoleRevoked { .. } => "AccountRoleRevoked",
        }
    }
}

/// Why an account command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Not a usable email address.
    #[error("invalid email address")]
    InvalidEmail,
    /// The email belongs to another account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The password policy refused the password.
    #[error("password {0}")]
    WeakPassword(&'static str),
    /// The account id is taken.
    #[error("account already registered")]
    AlreadyRegistered,
    /// No such account.
    #[error("account not found")]
    NotFound,
    /// The account is closed.
    #[error("account is closed")]
    Closed,
    /// Erasure needs the account closed first.
    #[error("account is still open: close it before erasing its personal data")]
    NotClosed,
}

impl AccountError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AccountError::InvalidEmail => "invalid_email",
            AccountError::EmailTaken => "email_taken",
            AccountError::WeakPassword(_) => "weak_password",
            AccountError::AlreadyRegistered => "account_already_registered",
            AccountError::NotFound => "account_not_found",
            AccountError::Closed => "account_closed",
            AccountError::NotClosed => "account_not_closed",
        }
    }
}

/// An account as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// Present once registered.
    pub profile: Option<Profile>,
}

/// A registered account.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The account.
    pub account_id: AccountId,
    /// Normalized email.
    pub email: Email,
    /// Name shown to others.
    pub display_name: String,
    /// Current roles.
    pub roles: BTreeSet<Role>,
    /// Closed accounts cannot sign in or change.
    pub closed: bool,
    /// Its personal data was erased (it is closed too).
    pub erased: bool,
}

impl Account {
    fn active(&self) -> Result<&Profile, AccountError> {
        match &self.profile {
            None => Err(AccountError::NotFound),
            Some(p) if p.closed => Err(AccountError::Closed),
            Some(p) => Ok(p),
        }
    }
}

impl Aggregate for Account {
    type Id = crate::values::AccountId;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    const CATEGORY: &'static str = "account";

    fn decide(&self, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        match command {
            AccountCommand::Register {
                account_id,
                email,
                display_name: name,
                roles,
            } => {
                if self.profile.is_some() {
                    return Err(AccountError::AlreadyRegistered);
                }
                Ok(vec![AccountEvent::AccountRegistered {
                    account_id,
                    email,
                    display_name: name.into(),
                    roles,
                }])
            }
            AccountCommand::ChangeProfile { display_name: name } => {
                let p = self.active()?;
                let name = String::from(name);
                if name == p.display_name {
                    return Ok(vec![]);
                }
                Ok(vec![AccountEvent::AccountProfileChanged {
                    account_id: p.account_id,
                    display_name: name,
                }])
            }
            AccountCommand::RecordPasswordChange => {
                let p = self.active()?;
                Ok(vec![AccountEvent::AccountPasswordChanged {
                    account_id: p.account_id,
                }])
            }
            AccountCommand::Close => {
                let p = self.active()?;
                Ok(vec![AccountEvent::AccountClosed {
                    account_id: p.account_id,
                }])
            }
            AccountCommand::Erase => match &self.profile {
                None => Err(AccountError::NotFound),
                Some(p) if !p.closed => Err(AccountError::NotClosed),
                Some(p) if p.erased => Ok(vec![]),
                Some(p) => Ok(vec![AccountEvent::AccountErased {
                    account_id: p.account_id,
                }]),
            },
            AccountCommand::GrantRole(role) => {
                let p = self.active()?;
                if p.roles.contains(&role) {
                    return Ok(vec![]);
                }
                Ok(vec![AccountEvent::AccountRoleGranted {
                    account_id: p.account_id,
                    role,
                }])
            }
            AccountCommand::RevokeRole(role) => {
                let p = self.active()?;
                if !p.roles.contains(&role) {
                    return Ok(vec![]);
                }
                Ok(vec![AccountEvent::AccountRoleRevoked {
                    account_id: p.account_id,
                    role,
                }])
            }
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountRegistered {
                account_id,
                email,
                display_name,
                roles,
            } => {
                self.profile = Some(Profile {
                    account_id: *account_id,
                    email: email.clone(),
                    display_name: display_name.clone(),
                    roles: roles.clone(),
                    closed: false,
                    erased: false,
                });
            }
            AccountEvent::AccountProfileChanged { display_name, .. } => {
                if let Some(p) = &mut self.profile {
                    p.display_name = display_name.clone();
                }
            }
            AccountEvent::AccountPasswordChanged { .. } => {}
            AccountEvent::AccountClosed { .. } => {
                if let Some(p) = &mut self.profile {
                    p.closed = true;
                }
            }
            AccountEvent::AccountErased { account_id } => {
                if let Some(p) = &mut self.profile {
                    p.erased = true;
                    p.email = Email::erased(account_id.as_uuid());
                    p.display_name = ERASED_TEXT.to_owned();
                }
            }
            AccountEvent::AccountRoleGranted { role, .. } => {
                if let Some(p) = &mut self.profile {
                    p.roles.insert(*role);
                }
            }
            AccountEvent::AccountRoleRevoked { role, .. } => {
                if let Some(p) = &mut self.profile {
                    p.roles.remove(role);
                }
            }
        }
    }
}

/// Commands on an email claim.
#[derive(Debug, Clone, PartialEq)]
pub enum EmailClaimCommand {
    /// Take the email for an account.
    Claim(AccountId),
    /// Free the email (the account closed).
    Release(AccountId),
}

/// Events of an email claim. The stream id names the (hashed) email; payloads hold no email.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EmailClaimEvent {
    /// An account took the email.
    EmailClaimed {
        /// The owner.
        account_id: AccountId,
    },
    /// The owner gave the email up.
    EmailReleased {
        /// The former owner.
        account_id: AccountId,
    },
}

impl DomainEvent for EmailClaimEvent {
    fn event_type(&self) -> &'static str {
        match self {
            EmailClaimEvent::EmailClaimed { .. } => "EmailClaimed",
            EmailClaimEvent::EmailReleased { .. } => "EmailReleased",
        }
    }
}

/// Who holds an email address, if anyone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmailClaim {
    /// Current owner.
    pub owner: Option<AccountId>,
}

impl Aggregate for EmailClaim {
    type Id = Email;
    type Command = EmailClaimCommand;
    type Event = EmailClaimEvent;
    type Error = AccountError;
    const CATEGORY: &'static str = "email";

    /// Named by the address's SHA-256, so stream ids and Kafka keys carry no address.
    fn stream_id(email: &Email) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(email.as_str().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{hex}", Self::CATEGORY)
    }

    fn decide(&self, command: EmailClaimCommand) -> Result<Vec<EmailClaimEvent>, AccountError> {
        match command {
            EmailClaimCommand::Claim(account_id) => match self.owner {
                Some(owner) if owner == account_id => Ok(vec![]),
                Some(_) => Err(AccountError::EmailTaken),
                None => Ok(vec![EmailClaimEvent::EmailClaimed { account_id }]),
            },
            EmailClaimCommand::Release(account_id) => match self.owner {
                Some(owner) if owner == account_id => {
                    Ok(vec![EmailClaimEvent::EmailReleased { account_id }])
                }
                _ => Ok(vec![]),
            },
        }
    }

    fn apply(&mut self, event: &EmailClaimEvent) {
        match event {
            EmailClaimEvent::EmailClaimed { account_id } => self.owner = Some(*account_id),
            EmailClaimEvent::EmailReleased { .. } => self.owner = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> AccountId {
        AccountId::from_uuid(uuid::Uuid::from_u128(n))
    }
    fn email() -> Email {
        Email::parse("Ada@Example.org").unwrap()
    }
    fn registered() -> AccountEvent {
        AccountEvent::AccountRegistered {
            account_id: id(1),
            email: email(),
            display_name: "Ada".into(),
            roles: BTreeSet::from([Role::Customer]),
        }
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(email().as_str(), "ada@example.org");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a da@example.org",
            "a@b@c.org",
        ] {
            assert_eq!(Email::parse(bad), Err(AccountError::InvalidEmail), "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        let e = email();
        assert!(check_password_policy("correct horse", &e).is_ok());
        assert_eq!(
            check_password_policy("short", &e),
            Err(AccountError::WeakPassword(
                "must have at least 8 characters"
            ))
        );
        assert_eq!(
            check_password_policy("ADA@example.org", &e),
            Err(AccountError::WeakPassword("must not be the email address"))
        );
        assert!(check_password_policy(&"x".repeat(257), &e).is_err());
    }

    #[test]
    fn register_opens_an_account() {
        let then = Account::default().decide(AccountCommand::Register {
            account_id: id(1),
            email: email(),
            display_name: DisplayName::parse(" Ada ").unwrap(),
            roles: BTreeSet::from([Role::Customer]),
        });
        assert_eq!(then, Ok(vec![registered()]));
    }

    #[test]
    fn register_twice_is_refused() {
        let again = Account::from_events(&[registered()]).decide(AccountCommand::Register {
            account_id: id(1),
            email: email(),
            display_name: DisplayName::parse("Ada").unwrap(),
            roles: BTreeSet::new(),
        });
        assert_eq!(again, Err(AccountError::AlreadyRegistered));
    }

    #[test]
    fn change_profile_and_password() {
        let given = Account::from_events(&[registered()]);
        assert_eq!(
            given.decide(AccountCommand::ChangeProfile {
                display_name: DisplayName::parse("Ada L.").unwrap()
            }),
            Ok(vec![AccountEvent::AccountProfileChanged {
                account_id: id(1),
                display_name: "Ada L.".into()
            }])
        );
        assert_eq!(
            given.decide(AccountCommand::RecordPasswordChange),
            Ok(vec![AccountEvent::AccountPasswordChanged {
                account_id: id(1)
            }])
        );
    }

    #[test]
    fn a_closed_account_refuses_everything() {
        let given = Account::from_events(&[
            registered(),
            AccountEvent::AccountClosed { account_id: id(1) },
        ]);
        assert_eq!(
            given.decide(AccountCommand::Close),
            Err(AccountError::Closed)
        );
        assert_eq!(
            given.decide(AccountCommand::GrantRole(Role::Admin)),
            Err(AccountError::Closed)
        );
        assert_eq!(
            Account::default().decide(AccountCommand::Close),
            Err(AccountError::NotFound)
        );
    }

    #[test]
    fn erasure_needs_a_closed_account_and_happens_once() {
        let open = Account::from_events(&[registered()]);
        assert_eq!(
            open.decide(AccountCommand::Erase),
            Err(AccountError::NotClosed)
        );
        assert_eq!(
            Account::default().decide(AccountCommand::Erase),
            Err(AccountError::NotFound)
        );
        let mut closed = open.clone();
        closed.apply(&AccountEvent::AccountClosed { account_id: id(1) });
        let erased = closed.decide(AccountCommand::Erase).unwrap();
        assert_eq!(
            erased,
            vec![AccountEvent::AccountErased { account_id: id(1) }]
        );
        closed.apply(&erased[0]);
        let profile = closed.profile.as_ref().unwrap();
        assert!(profile.erased && profile.closed);
        assert_eq!(profile.email, Email::erased(uuid::Uuid::from_u128(1)));
        assert_eq!(profile.display_name, ERASED_TEXT);
        assert_eq!(closed.decide(AccountCommand::Erase), Ok(vec![]));
        // The placeholder is a valid email of its own, so it passes its value object again.
        let placeholder = Email::erased(uuid::Uuid::from_u128(1));
        assert_eq!(Email::parse(placeholder.as_str()), Ok(placeholder));
    }

    #[test]
    fn roles_are_granted_and_revoked_idempotently() {
        let given = Account::from_events(&[registered()]);
        let granted = given
            .decide(AccountCommand::GrantRole(Role::Seller))
            .unwrap();
        let mut state = given.clone();
        state.apply(&granted[0]);
        assert!(state
            .profile
            .as_ref()
            .unwrap()
            .roles
            .contains(&Role::Seller));
        assert_eq!(
            state.decide(AccountCommand::GrantRole(Role::Seller)),
            Ok(vec![])
        );
        let revoked = state
            .decide(AccountCommand::RevokeRole(Role::Seller))
            .unwrap();
        state.apply(&revoked[0]);
        assert!(!state.profile.unwrap().roles.contains(&Role::Seller));
    }

    #[test]
    fn an_email_has_one_owner_until_released() {
        let claim = EmailClaim::default();
        let claimed = claim.decide(EmailClaimCommand::Claim(id(1))).unwrap();
        let state = EmailClaim::from_events(&claimed);
        assert_eq!(
            state.decide(EmailClaimCommand::Claim(id(2))),
            Err(AccountError::EmailTaken)
        );
        assert_eq!(state.decide(EmailClaimCommand::Release(id(2))), Ok(vec![]));
        let released = state.decide(EmailClaimCommand::Release(id(1))).unwrap();
        let mut state = state;
        state.apply(&released[0]);
        assert!(state.decide(EmailClaimCommand::Claim(id(2))).is_ok());
    }

    #[test]
    fn no_event_carries_a_credential() {
        let json = serde_json::to_string(&registered()).unwrap();
        assert!(!json.contains("password") && !json.contains("hash"));
    }
}
