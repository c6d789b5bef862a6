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

    /// How the state is kept in snapshots, for aggregates whose streams grow long (an
    /// inventory gains an event with every order); `None`, the default, for those whose
    /// streams stay short, which are always replayed.
    fn snapshots() -> Option<SnapshotFormat<Self>> {
        None
    }

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

/// How an aggregate's state is written to and read from a snapshot.
pub struct SnapshotFormat<A> {
    /// The encoding's version. Bump it whenever the state's shape or what `apply` makes of an
    /// event changes: snapshots of another version are then ignored and the stream replayed.
    pub version: u16,
    /// A new snapshot is taken once this many events were folded since the last one.
    pub every: i64,
    encode: fn(&A) -> serde_json::Result<serde_json::Value>,
    decode: fn(serde_json::Value) -> serde_json::Result<A>,
}

impl<A: serde::Serialize + serde::de::DeserializeOwned> SnapshotFormat<A> {
    /// The state as its serde JSON form (which must round-trip: decoding an encoded state
    /// gives it back equal).
    pub fn json(version: u16, every: i64) -> Self {
        SnapshotFormat {
            version,
            every,
            encode: |state| serde_json::to_value(state),
            decode: |value| serde_json::from_value(value),
        }
    }
}

impl<A> SnapshotFormat<A> {
    /// Encodes a state.
    pub fn encode(&self, state: &A) -> serde_json::Result<serde_json::Value> {
        (self.encode)(state)
    }

    /// Decodes a state this format encoded.
    pub fn decode(&self, value: serde_json::Value) -> serde_json::Result<A> {
        (self.decode)(value)
    }
}
