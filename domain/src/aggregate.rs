//! The shape every aggregate shares.

/// An event-sourced aggregate: state rebuilt by folding its events, decisions made purely.
pub trait Aggregate: Default {
    /// What callers ask the aggregate to do.
    type Command;
    /// What happened, once accepted.
    type Event: DomainEvent;
    /// Why a command was refused.
    type Error;

    /// What identifies one instance (and names its stream).
    type Id: std::fmt::Display;

    /// Stream category: streams of this aggregate are named `{CATEGORY}-{id}`.
    const CATEGORY: &'static str;

    /// The name of the stream holding the instance `id`: the one definition commands,
    /// projections and the order history all use.
    fn stream_id(id: &Self::Id) -> String {
        format!("{}-{}", Self::CATEGORY, id)
    }

    /// Validates a command against the current state. Never mutates.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Evolves the state by one event. Events are facts, so this cannot fail.
    fn apply(&mut self, event: &Self::Event);

    /// Rebuilds the state from its history.
    fn from_events<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

/// An event with a stable name and schema version; both are part of the published contract
/// and never change once released.
pub trait DomainEvent {
    /// Stable type name, e.g. `OrderPlaced`.
    fn event_type(&self) -> &'static str;

    /// Schema version of the payload shape.
    fn schema_version(&self) -> u16 {
        1
    }
}
