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

/// A projection batch that opened a person's values holds their key until it commits: an
/// erasure started meanwhile waits for it, so the batch's rows exist before `AccountErased`
/// does, and the read models' patch on that event finds them.
#[tokio::test]
async fn an_erasure_waits_for_a_batch_that_opened_the_persons_values() {
    use events::personal::{open_in, PersonalStore, Vault};
    use events::{ExpectedVersion, Metadata, NewEvent, StreamAppend};
    let db = events::testing::TestDatabase::create().await;
    let vault = Vault::new(db.pool.clone());
    let store = PersonalStore::new(Arc::new(PgEventStore::new(db.pool.clone())), vault.clone());
    let ada = uuid::Uuid::now_v7();
    store
        .append(vec![StreamAppend {
            stream_id: format!("account-{ada}"),
            expected: ExpectedVersion::NoStream,
            events: vec![NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: "AccountProfileChanged".into(),
                schema_version: 1,
                payload: serde_json::json!({"account_id": ada, "display_name": "Ada"}),
                metadata: Metadata::default(),
            }],
        }])
        .await
        .unwrap();
    let stored = PgEventStore::new(db.pool.clone())
        .read_all(0, 10)
        .await
        .unwrap();

    // A batch opens Ada's name and has not committed yet.
    let mut batch = db.pool.begin().await.unwrap();
    let opened = open_in(&mut batch, &stored).await.unwrap().unwrap();
    assert_eq!(opened[0].payload["display_name"], "Ada");

    // The erasure waits for it (its session is seen waiting on a lock)...
    let erasing = tokio::spawn({
        let vault = vault.clone();
        async move { vault.erase(ada).await }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "select count(*) from pg_stat_activity
             where wait_event_type = 'Lock' and query like '%personal_keys%'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(
            !erasing.is_finished(),
            "the erasure did not wait for the batch"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the erasure never waited"
        );
        tokio::task::yield_now().await;
    }
    // ...and goes through once the batch commits; from then on the name reads as erased.
    batch.commit().await.unwrap();
    erasing.await.unwrap().unwrap();
    let mut after = db.pool.begin().await.unwrap();
    let reopened = open_in(&mut after, &stored).await.unwrap().unwrap();
    assert_eq!(reopened[0].payload["display_name"], "(erased)");
}
