//! Address-book commands, and how checkout resolves the addresses it is given.

use domain::address::{Address, AddressBook, AddressBookCommand, AddressId};
use domain::order::OrderAddresses;
use domain::{Aggregate, CustomerId, Money};

use crate::cart::require_customer;
use crate::error::{CommandError, Rejection};
use crate::execute::Attempt;
use crate::{CommandContext, CommandHandler, CommandOutcome};

/// An address named at checkout: one from the customer's book, or one given in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressChoice {
    /// An entry of the customer's address book.
    Saved(AddressId),
    /// An address given with the order (not added to the book).
    Given(Address),
}

/// What a checkout asks for beyond the cart. No shipping address means the book's default; no
/// billing address means the shipping address; store credit is spent from the customer's
/// wallet in the same atomic append that places the order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkout {
    /// Where the order goes.
    pub shipping: Option<AddressChoice>,
    /// Who is billed.
    pub billing: Option<AddressChoice>,
    /// Store credit to apply, at most the order total.
    pub store_credit: Option<Money>,
    /// The shipping method chosen (required when the shop ships to the address's country).
    pub shipping_method: Option<domain::pricing::Slug>,
    /// The total the customer was shown by a preview; another total refuses the checkout with
    /// `price_changed`.
    pub expected_total: Option<Money>,
}

impl Checkout {
    /// Shipped and billed to `address`.
    pub fn to(address: Address) -> Self {
        Checkout {
            shipping: Some(AddressChoice::Given(address)),
            ..Checkout::default()
        }
    }
}

/// Resolves a checkout's addresses against the customer's book (read in this attempt).
pub(crate) async fn resolve(
    at: &mut Attempt,
    customer_id: CustomerId,
    choice: &Checkout,
) -> Result<OrderAddresses, CommandError> {
    let book = at.load::<AddressBook>(&customer_id).await?;
    let pick = |choice: &AddressChoice| match choice {
        AddressChoice::Given(address) => Ok(address.clone()),
        AddressChoice::Saved(id) => book
            .get(*id)
            .cloned()
            .ok_or(CommandError::Rejected(Rejection::UnknownAddress(*id))),
    };
    let shipping = match &choice.shipping {
        Some(choice) => pick(choice)?,
        None => book
            .default_address()
            .cloned()
            .ok_or(CommandError::Rejected(Rejection::ShippingAddressRequired))?,
    };
    let billing = match &choice.billing {
        Some(choice) => pick(choice)?,
        None => shipping.clone(),
    };
    Ok(OrderAddresses { shipping, billing })
}

impl CommandHandler {
    async fn address_book_command(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        command: AddressBookCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            AddressBook::stream_id(&customer_id),
            None,
            |mut at| async move {
                require_customer(&mut at, customer_id).await?;
                let book = at.load::<AddressBook>(&customer_id).await?;
                let events = book.decide(command.clone())?;
                at.emit::<AddressBook>(&customer_id, &events);
                at.commit().await
            },
        )
        .await
    }

    /// Adds an address to the customer's book; the first one (or one added with
    /// `make_default`) becomes the default.
    pub async fn add_address(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        address: Address,
        make_default: bool,
    ) -> Result<(AddressId, CommandOutcome), CommandError> {
        let address_id = AddressId::generate();
        let command = AddressBookCommand::Add {
            customer_id,
            address_id,
            address,
            make_default,
        };
        let outcome = self.address_book_command(ctx, customer_id, command).await?;
        Ok((address_id, outcome))
    }

    /// Replaces the address of an entry.
    pub async fn change_address(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        address_id: AddressId,
        address: Address,
    ) -> Result<CommandOutcome, CommandError> {
        let command = AddressBookCommand::Change {
            address_id,
            address,
        };
        self.address_book_command(ctx, customer_id, command).await
    }

    /// Removes an entry.
    pub async fn remove_address(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        address_id: AddressId,
    ) -> Result<CommandOutcome, CommandError> {
        self.address_book_command(ctx, customer_id, AddressBookCommand::Remove { address_id })
            .await
    }

    /// Makes an entry the default address.
    pub async fn make_default_address(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        address_id: AddressId,
    ) -> Result<CommandOutcome, CommandError> {
        let command = AddressBookCommand::MakeDefault { address_id };
        self.address_book_command(ctx, customer_id, command).await
    }
}
