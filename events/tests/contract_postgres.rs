//! The event store contract against PostgreSQL (a fresh database per test).

use std::sync::Arc;

use events::testing::TestDatabase;
use events::{EventStore, PgEventStore};

async fn make() -> (Arc<dyn EventStore>, TestDatabase) {
    let db = TestDatabase::create().await;
    (Arc::new(PgEventStore::new(db.pool.clone())), db)
}

events::event_store_contract!(make());

/// The personal-data vault: values sealed for a subject open with its key, are bound to that
/// subject, cannot be altered, and cannot be read (or sealed) once the subject is erased,
/// while another subject's stay readable.
#[tokio::test]
async fn sealed_personal_data_opens_until_its_subject_is_erased() {
    use events::personal::{Sealed, Vault, VaultError};
    let db = events::testing::TestDatabase::create().await;
    let vault = Vault::new(db.pool.clone());
    let (ada, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());

    let email = vault.seal(ada, "ada@example.org").await.unwrap();
    let again = vault.seal(ada, "ada@example.org").await.unwrap();
    assert_ne!(
        email.ciphertext, again.ciphertext,
        "a fresh nonce per value"
    );
    assert!(!email.ciphertext.contains("ada"));
    assert_eq!(
        vault.open(&email).await.unwrap().as_deref(),
        Some("ada@example.org")
    );
    let name = vault.seal(bob, "Bob").await.unwrap();

    // Bound to its subject, and tamper-evident.
    let moved = Sealed {
        subject: bob,
        ..email.clone()
    };
    assert!(matches!(
        vault.open(&moved).await,
        Err(VaultError::Corrupt(_))
    ));
    let mut altered = email.clone();
    altered.ciphertext.replace_range(0..4, "AAAA");
    assert!(matches!(
        vault.open(&altered).await,
        Err(VaultError::Corrupt(_))
    ));

    // Erased: unreadable for good, nothing new sealed, others untouched.
    vault.erase(ada).await.unwrap();
    vault.erase(ada).await.unwrap();
    assert_eq!(vault.open(&email).await.unwrap(), None);
    assert!(matches!(
        vault.seal(ada, "again").await,
        Err(VaultError::Erased(_))
    ));
    assert_eq!(vault.open(&name).await.unwrap().as_deref(), Some("Bob"));
    let (keys,): (i64,) =
        sqlx::query_as("select count(*) from personal_keys where key is not null")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(keys, 1, "only Bob's key is left");
}
