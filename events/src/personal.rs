//! Erasable personal data: a vault of one encryption key per person (data subject), kept
//! outside the event log.
//!
//! A personal field (an email, a name, an address line) is stored in an event sealed with its
//! subject's key: XChaCha20-Poly1305 (the `chacha20poly1305` crate), a random nonce per value,
//! and the subject's id as associated data, so a sealed value cannot be passed off as another
//! person's. Erasing a person destroys the key: every value sealed for them, in the log, on
//! Kafka and in any copy, becomes unreadable at once, while the stored bytes, and so the hash
//! chains over them, stay as they were. The keyless row stays behind, so nothing is sealed for
//! an erased person again.
//!
//! Which fields are personal is the table [`PERSONAL_FIELDS`], per event type: the subject is
//! named by another field of the same payload (the account or customer id). Sealing happens as
//! events are appended ([`PersonalStore`] wraps any [`EventStore`]); opening as they are read
//! back (the same wrapper for the command side, history and notifications; [`open_in`] for
//! projection batches, whatever their feed). The relay publishes the stored bytes, so Kafka
//! records carry the sealed form. An erased subject's fields open as placeholders that still
//! pass their value objects: [`Email::erased`] for an email, [`ERASED_TEXT`] for any other.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use async_trait::async_trait;
use domain::account::{Email, ERASED_TEXT};

use crate::envelope::{AppendOutcome, NewEvent, RecordedEvent, StreamAppend};
use crate::store::{AppendSignal, EventStore, Snapshot, StoreError};

/// A value sealed for a subject, as stored in an event's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Whose value it is.
    pub subject: Uuid,
    /// The random nonce, base64.
    pub nonce: String,
    /// The ciphertext with its authentication tag, base64.
    pub ciphertext: String,
}

/// Why the vault could not seal or open a value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The subject was erased: nothing may be sealed for them any more.
    #[error("subject {0} was erased")]
    Erased(Uuid),
    /// The sealed value is malformed or was altered.
    #[error("sealed value of {0} is malformed or altered")]
    Corrupt(Uuid),
    /// The key table failed.
    #[error("personal keys: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where the keys are.
#[derive(Clone)]
enum Keys {
    /// The `personal_keys` table.
    Postgres(PgPool),
    /// A map, for tests and the in-memory store (`None`: erased).
    Memory(Arc<Mutex<HashMap<Uuid, Option<Vec<u8>>>>>),
}

/// How many sealing keys a vault keeps in memory before it starts over.
const SEALING_CACHE: usize = 10_000;

/// The per-subject keys: in the `personal_keys` table, or in memory.
///
/// Keys used to seal are kept in memory (a person's order placements then cost no lookup);
/// keys used to open are always read, so an erasure by any process is honoured at once. A
/// key another process erased may still seal a value here: that value is simply unreadable.
#[derive(Clone)]
pub struct Vault {
    keys: Keys,
    sealing: Arc<Mutex<HashMap<Uuid, Vec<u8>>>>,
}

impl Vault {
    /// The vault in `pool`'s database.
    pub fn new(pool: PgPool) -> Vault {
        Vault {
            keys: Keys::Postgres(pool),
            sealing: Arc::default(),
        }
    }

    /// A vault in memory, lost with the process (tests, the in-memory store).
    pub fn in_memory() -> Vault {
        Vault {
            keys: Keys::Memory(Arc::default()),
            sealing: Arc::default(),
        }
    }

    /// The subject's key, created on first use; `None` once erased.
    async fn key(&self, subject: Uuid) -> Result<Option<Vec<u8>>, VaultError> {
        if let Some(key) = self.sealing.lock().expect("vault cache").get(&subject) {
            return Ok(Some(key.clone()));
        }
        let fresh = XChaCha20Poly1305::generate_key(&mut OsRng).to_vec();
        let key = match &self.keys {
            Keys::Postgres(pool) => {
                // One statement: the insert's own row, or the one already there. A row another
                // transaction committed after this statement's snapshot is not seen by its
                // select (the insert still conflicts with it): it is read again then.
                let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
                    "with created as (
                         insert into personal_keys (subject, key) values ($1, $2)
                         on conflict do nothing returning key)
                     select key from created
                     union all
                     select key from personal_keys where subject = $1
                     limit 1",
                )
                .bind(subject)
                .bind(&fresh)
                .fetch_optional(pool)
                .await?;
                match row {
                    Some((key,)) => key,
                    None => {
                        sqlx::query_as::<_, (Option<Vec<u8>>,)>(
                            "select key from personal_keys where subject = $1",
                        )
                        .bind(subject)
                        .fetch_one(pool)
                        .await?
                        .0
                    }
                }
            }
            Keys::Memory(keys) => keys
                .lock()
                .expect("vault keys")
                .entry(subject)
                .or_insert(Some(fresh))
                .clone(),
        };
        if let Some(key) = &key {
            let mut cache = self.sealing.lock().expect("vault cache");
            if cache.len() >= SEALING_CACHE {
                cache.clear();
            }
            cache.insert(subject, key.clone());
        }
        Ok(key)
    }

    /// The keys of `subjects` that still exist (erased and unknown subjects are absent).
    async fn keys(&self, subjects: &[Uuid]) -> Result<HashMap<Uuid, Vec<u8>>, VaultError> {
        match &self.keys {
            Keys::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                keys_in(&mut conn, subjects, false).await
            }
            Keys::Memory(keys) => {
                let keys = keys.lock().expect("vault keys");
                Ok(subjects
                    .iter()
                    .filter_map(|s| Some((*s, keys.get(s)?.clone()?)))
                    .collect())
            }
        }
    }

    /// Seals `plaintext` for `subject`.
    pub async fn seal(&self, subject: Uuid, plaintext: &str) -> Result<Sealed, VaultError> {
        let key = self
            .key(subject)
            .await?
            .ok_or(VaultError::Erased(subject))?;
        let cipher =
            XChaCha20Poly1305::new_from_slice(&key).map_err(|_| VaultError::Corrupt(subject))?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: subject.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Corrupt(subject))?;
        Ok(Sealed {
            subject,
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    /// Opens a sealed value: `None` when its subject was erased.
    pub async fn open(&self, sealed: &Sealed) -> Result<Option<String>, VaultError> {
        let keys = self.keys(&[sealed.subject]).await?;
        match keys.get(&sealed.subject) {
            None => Ok(None),
            Some(key) => open_with(key, sealed).map(Some),
        }
    }

    /// Erases `subject`: destroys their key, for good. Erasing twice changes nothing.
    pub async fn erase(&self, subject: Uuid) -> Result<(), VaultError> {
        self.sealing.lock().expect("vault cache").remove(&subject);
        match &self.keys {
            Keys::Postgres(pool) => {
                sqlx::query(
                    "insert into personal_keys (subject, key, erased_at) values ($1, null, now())
                     on conflict (subject) do update set key = null,
                       erased_at = coalesce(personal_keys.erased_at, now())",
                )
                .bind(subject)
                .execute(pool)
                .await?;
            }
            Keys::Memory(keys) => {
                keys.lock().expect("vault keys").insert(subject, None);
            }
        }
        Ok(())
    }

    /// Seals the personal fields of `events` (see [`PERSONAL_FIELDS`]) in place. Fields
    /// already sealed, and events without personal fields, are left as they are.
    pub async fn seal_events(&self, events: &mut [NewEvent]) -> Result<(), VaultError> {
        for event in events {
            let Some(spec) = personal_fields(&event.event_type) else {
                continue;
            };
            let Some(subject) = subject_of(spec, &event.payload) else {
                continue;
            };
            for pointer in spec.fields {
                let Some(value) = event.payload.pointer_mut(pointer) else {
                    continue;
                };
                if let Value::String(plain) = value {
                    let sealed = self.seal(subject, plain).await?;
                    *value = serde_json::to_value(sealed).expect("a sealed value serializes");
                }
            }
        }
        Ok(())
    }

    /// Opens the sealed fields of `events` in place: one key lookup for the whole batch, and
    /// none when nothing is sealed. An erased subject's fields become their placeholders.
    pub async fn open_events(&self, events: &mut [RecordedEvent]) -> Result<(), StoreError> {
        let subjects = sealed_subjects(events);
        if subjects.is_empty() {
            return Ok(());
        }
        let keys = self.keys(&subjects).await.map_err(StoreError::from)?;
        open_all(events, &keys)
    }
}

impl From<VaultError> for StoreError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Erased(subject) => StoreError::Erased(subject),
            VaultError::Corrupt(subject) => StoreError::Failed(format!(
                "a value sealed for {subject} is malformed or altered"
            )),
            VaultError::Database(e) => e.into(),
        }
    }
}

/// The keys of `subjects` that still exist, read on `conn`; with `hold`, each key row is
/// share-locked until `conn`'s transaction ends.
async fn keys_in(
    conn: &mut PgConnection,
    subjects: &[Uuid],
    hold: bool,
) -> Result<HashMap<Uuid, Vec<u8>>, VaultError> {
    let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(if hold {
        "select subject, key from personal_keys where subject = any($1) and key is not null
         for share"
    } else {
        "select subject, key from personal_keys where subject = any($1) and key is not null"
    })
    .bind(subjects)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// `events` with their sealed fields opened, keys read on `conn` (a projection batch's
/// transaction); `None` when nothing in them is sealed, so the batch is used as it is.
///
/// The keys read stay share-locked until the batch commits, so an erasure (which updates the
/// key's row) waits for a batch that opened the person's values: the batch's rows are then
/// committed before `AccountErased` exists, and its patch of the read models finds them. Without
/// the lock, a batch that opened values just before the erasure could commit them after the
/// patch, leaving them in the clear.
pub async fn open_in(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
    let subjects = sealed_subjects(events);
    if subjects.is_empty() {
        return Ok(None);
    }
    let keys = keys_in(conn, &subjects, true)
        .await
        .map_err(StoreError::from)?;
    let mut opened = events.to_vec();
    open_all(&mut opened, &keys)?;
    Ok(Some(opened))
}

fn open_with(key: &[u8], sealed: &Sealed) -> Result<String, VaultError> {
    let subject = sealed.subject;
    let corrupt = || VaultError::Corrupt(subject);
    let nonce = BASE64.decode(&sealed.nonce).map_err(|_| corrupt())?;
    if nonce.len() != 24 {
        return Err(corrupt());
    }
    let ciphertext = BASE64.decode(&sealed.ciphertext).map_err(|_| corrupt())?;
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| corrupt())?;
    let plaintext = cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: subject.as_bytes(),
            },
        )
        .map_err(|_| corrupt())?;
    String::from_utf8(plaintext).map_err(|_| corrupt())
}

/// The personal fields of one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalFields {
    /// The event type.
    pub event_type: &'static str,
    /// JSON pointer to the member naming the person (an account or customer id).
    pub subject: &'static str,
    /// JSON pointers to the personal members (absent or `null` ones are skipped).
    pub fields: &'static [&'static str],
}

macro_rules! address {
    ($prefix:literal) => {
        [
            concat!($prefix, "/name"),
            concat!($prefix, "/line1"),
            concat!($prefix, "/line2"),
            concat!($prefix, "/city"),
            concat!($prefix, "/region"),
            concat!($prefix, "/postal_code"),
            concat!($prefix, "/phone"),
        ]
    };
}

const ADDRESS: [&str; 7] = address!("/address");
const SHIPPING_AND_BILLING: [&str; 14] = {
    let shipping = address!("/shipping_address");
    let billing = address!("/billing_address");
    let mut all = [""; 14];
    let mut i = 0;
    while i < 7 {
        all[i] = shipping[i];
        all[i + 7] = billing[i];
        i += 1;
    }
    all
};

/// Every event type with personal fields, and which they are. A country stays in the clear
/// (tax and shipping read it; alone it names nobody); so do review texts, which are the
/// reviewer's published words (the name shown beside them comes from the account, erased
/// with it).
pub const PERSONAL_FIELDS: &[PersonalFields] = &[
    PersonalFields {
        event_type: "AccountRegistered",
        subject: "/account_id",
        fields: &["/email", "/display_name"],
    },
    PersonalFields {
        event_type: "AccountProfileChanged",
        subject: "/account_id",
        fields: &["/display_name"],
    },
    PersonalFields {
        event_type: "AddressAdded",
        subject: "/customer_id",
        fields: &ADDRESS,
    },
    PersonalFields {
        event_type: "AddressChanged",
        subject: "/customer_id",
        fields: &ADDRESS,
    },
    PersonalFields {
        event_type: "OrderPlaced",
        subject: "/customer_id",
        fields: &SHIPPING_AND_BILLING,
    },
];

/// The personal fields of `event_type`, if it has any.
pub fn personal_fields(event_type: &str) -> Option<&'static PersonalFields> {
    PERSONAL_FIELDS.iter().find(|p| p.event_type == event_type)
}

/// What a personal field of an erased subject reads as.
pub fn erased_value(pointer: &str, subject: Uuid) -> Value {
    if pointer.ends_with("/email") {
        Value::String(Email::erased(subject).to_string())
    } else {
        Value::String(ERASED_TEXT.to_owned())
    }
}

/// What a stored address (a JSON object) of an erased person is patched with: every personal
/// member as [`ERASED_TEXT`]; the country stays.
pub fn erased_address() -> Value {
    Value::Object(
        ADDRESS
            .iter()
            .map(|pointer| {
                let member = pointer.trim_start_matches("/address/");
                (member.to_owned(), Value::String(ERASED_TEXT.to_owned()))
            })
            .collect(),
    )
}

/// The person an `AccountErased` event names: read models patch their copies of that
/// person's fields as [`erased_value`] and [`erased_address`] say.
pub fn erased_subject(event: &RecordedEvent) -> Option<Uuid> {
    if event.event_type != "AccountErased" {
        return None;
    }
    event.payload.get("account_id")?.as_str()?.parse().ok()
}

fn subject_of(spec: &PersonalFields, payload: &Value) -> Option<Uuid> {
    payload.pointer(spec.subject)?.as_str()?.parse().ok()
}

/// Whether `value` is a sealed value (an object with a ciphertext), as opposed to a legacy
/// plain one (events written before sealing existed stay as they were).
fn sealed(value: &Value) -> Option<Sealed> {
    value.get("ciphertext")?;
    serde_json::from_value(value.clone()).ok()
}

/// The subjects of the sealed values in `events`.
fn sealed_subjects(events: &[RecordedEvent]) -> Vec<Uuid> {
    let mut subjects = BTreeSet::new();
    for event in events {
        let Some(spec) = personal_fields(&event.event_type) else {
            continue;
        };
        for pointer in spec.fields {
            if let Some(s) = event.payload.pointer(pointer).and_then(sealed) {
                subjects.insert(s.subject);
            }
        }
    }
    subjects.into_iter().collect()
}

fn open_all(events: &mut [RecordedEvent], keys: &HashMap<Uuid, Vec<u8>>) -> Result<(), StoreError> {
    for event in events {
        let Some(spec) = personal_fields(&event.event_type) else {
            continue;
        };
        for pointer in spec.fields {
            let Some(value) = event.payload.pointer_mut(pointer) else {
                continue;
            };
            let Some(s) = sealed(value) else {
                continue;
            };
            *value = match keys.get(&s.subject) {
                Some(key) => Value::String(open_with(key, &s).map_err(|_| StoreError::Decode {
                    event_id: event.event_id,
                    reason: format!("the sealed value at {pointer} is malformed or altered"),
                })?),
                None => erased_value(pointer, s.subject),
            };
        }
    }
    Ok(())
}

/// An event store that seals personal fields as they are appended and opens them as they are
/// read, over any other store. The wrapped store, and so its hash chains, its verification
/// and the relay reading it, only ever sees the sealed bytes.
pub struct PersonalStore {
    inner: Arc<dyn EventStore>,
    vault: Vault,
}

impl PersonalStore {
    /// `inner` with personal fields sealed by `vault`.
    pub fn new(inner: Arc<dyn EventStore>, vault: Vault) -> PersonalStore {
        PersonalStore { inner, vault }
    }

    /// The wrapped store (sealed values as stored).
    pub fn inner(&self) -> &Arc<dyn EventStore> {
        &self.inner
    }

    async fn opened(
        &self,
        mut events: Vec<RecordedEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.vault.open_events(&mut events).await?;
        Ok(events)
    }
}

#[async_trait]
impl EventStore for PersonalStore {
    fn appended(&self) -> Option<AppendSignal> {
        self.inner.appended()
    }

    async fn append(&self, mut appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        for append in &mut appends {
            self.vault.seal_events(&mut append.events).await?;
        }
        self.inner.append(appends).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_stream(stream_id, from_version).await?;
        self.opened(events).await
    }

    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_all(after, limit).await?;
        self.opened(events).await
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        self.inner.head_position().await
    }

    async fn stream_versions_between(
        &self,
        after: i64,
        upto: i64,
        categories: &[&str],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.inner
            .stream_versions_between(after, upto, categories)
            .await
    }

    async fn events_naming(
        &self,
        field: &str,
        value: &str,
        streams: &[String],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.events_naming(field, value, streams).await?;
        self.opened(events).await
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream_id).await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }

    async fn verify(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<crate::verify::Report, StoreError> {
        self.inner.verify(progress).await
    }

    async fn erase_personal_data(&self, subject: Uuid) -> Result<(), StoreError> {
        Ok(self.vault.erase(subject).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use crate::envelope::{ExpectedVersion, Metadata};
    use crate::MemoryEventStore;
    use domain::account::{AccountEvent, Role};
    use domain::address::{Address, AddressBookEvent, AddressId, AddressInput};
    use domain::{AccountId, CustomerId};

    fn address() -> Address {
        Address::parse(&AddressInput {
            name: "Ada Lovelace".into(),
            line1: "12 St James's Square".into(),
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
            phone: "+44 20 7946 0000".into(),
            ..Default::default()
        })
        .unwrap()
    }

    /// Appends a registration and an address through a sealing store over `inner`.
    async fn record(store: &PersonalStore, person: uuid::Uuid) {
        let registered = AccountEvent::AccountRegistered {
            account_id: AccountId::from_uuid(person),
            email: Email::parse("ada@example.org").unwrap(),
            display_name: "Ada".into(),
            roles: [Role::Customer].into(),
        };
        let added = AddressBookEvent::AddressAdded {
            customer_id: CustomerId::from_uuid(person),
            address_id: AddressId::generate(),
            address: address(),
        };
        store
            .append(vec![
                StreamAppend {
                    stream_id: format!("account-{person}"),
                    expected: ExpectedVersion::NoStream,
                    events: vec![encode(&registered, &Metadata::default())],
                },
                StreamAppend {
                    stream_id: format!("addresses-{person}"),
                    expected: ExpectedVersion::NoStream,
                    events: vec![encode(&added, &Metadata::default())],
                },
            ])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn personal_fields_are_stored_sealed_and_read_as_erased_once_erased() {
        let inner: Arc<dyn EventStore> = Arc::new(MemoryEventStore::new());
        let store = PersonalStore::new(inner.clone(), Vault::in_memory());
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        record(&store, ada).await;
        record(&store, bob).await;

        // Stored: sealed, with none of the plain values; the country stays readable.
        let stored = inner.read_all(0, 100).await.unwrap();
        let text = serde_json::to_string(&stored).unwrap();
        for plain in [
            "ada@example.org",
            "Lovelace",
            "James",
            "London",
            "SW1Y",
            "7946",
        ] {
            assert!(!text.contains(plain), "{plain} is stored in the clear");
        }
        assert_eq!(stored[1].payload["address"]["country"], "GB");
        assert_eq!(stored[0].payload["email"]["subject"], ada.to_string());

        // Read back through the store: the plain values, decoding as domain events.
        let read = store.read_all(0, 100).await.unwrap();
        let AccountEvent::AccountRegistered { email, .. } = decode(&read[0]).unwrap() else {
            panic!("a registration")
        };
        assert_eq!(email.as_str(), "ada@example.org");
        let AddressBookEvent::AddressAdded {
            address: read_address,
            ..
        } = decode(&read[1]).unwrap()
        else {
            panic!("an address")
        };
        assert_eq!(read_address, address());

        // Erased: Ada's fields read as placeholders that still decode; Bob's are untouched.
        store.erase_personal_data(ada).await.unwrap();
        let read = store.read_all(0, 100).await.unwrap();
        let AccountEvent::AccountRegistered {
            email,
            display_name,
            ..
        } = decode(&read[0]).unwrap()
        else {
            panic!("a registration")
        };
        assert_eq!(
            (email, display_name.as_str()),
            (Email::erased(ada), ERASED_TEXT)
        );
        let AddressBookEvent::AddressAdded {
            address: erased, ..
        } = decode(&read[1]).unwrap()
        else {
            panic!("an address")
        };
        assert_eq!(
            (erased.line1.as_str(), erased.phone.as_str()),
            (ERASED_TEXT, ERASED_TEXT)
        );
        assert_eq!(erased.country, address().country);
        let AccountEvent::AccountRegistered { email, .. } = decode(&read[2]).unwrap() else {
            panic!("a registration")
        };
        assert_eq!(email.as_str(), "ada@example.org");
        // The stored bytes did not change.
        assert_eq!(inner.read_all(0, 100).await.unwrap(), stored);
        // Nothing is sealed for Ada again.
        let again = store
            .append(vec![StreamAppend {
                stream_id: format!("account-{ada}"),
                expected: ExpectedVersion::Any,
                events: vec![encode(
                    &AccountEvent::AccountProfileChanged {
                        account_id: AccountId::from_uuid(ada),
                        display_name: "Ada L.".into(),
                    },
                    &Metadata::default(),
                )],
            }])
            .await;
        assert!(matches!(again, Err(StoreError::Erased(s)) if s == ada));
    }

    #[tokio::test]
    async fn a_value_moved_to_another_person_does_not_open() {
        let inner: Arc<dyn EventStore> = Arc::new(MemoryEventStore::new());
        let vault = Vault::in_memory();
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut sealed = vault.seal(ada, "ada@example.org").await.unwrap();
        vault.seal(bob, "bob@example.org").await.unwrap();
        sealed.subject = bob;
        assert!(matches!(
            vault.open(&sealed).await,
            Err(VaultError::Corrupt(_))
        ));
        // In an event, such a value fails the read instead of passing as Bob's.
        let mut event = encode(
            &AccountEvent::AccountRegistered {
                account_id: AccountId::from_uuid(bob),
                email: Email::parse("x@example.org").unwrap(),
                display_name: "x".into(),
                roles: Default::default(),
            },
            &Metadata::default(),
        );
        event.payload["email"] = serde_json::to_value(&sealed).unwrap();
        inner
            .append(vec![StreamAppend {
                stream_id: format!("account-{bob}"),
                expected: ExpectedVersion::NoStream,
                events: vec![event],
            }])
            .await
            .unwrap();
        let store = PersonalStore::new(inner, vault);
        assert!(matches!(
            store.read_stream(&format!("account-{bob}"), 1).await,
            Err(StoreError::Decode { .. })
        ));
    }
}
