//! Login failures take the same time whether or not the account exists. A test binary of its
//! own, so no other test competes for the CPU while it measures.

mod common;

use std::time::{Duration, Instant};

use common::{Api, EngineEnv, Process, TestDatabase};
use serde_json::json;
use uuid::Uuid;

fn email() -> String {
    format!("u-{}@example.org", Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_reveal_nothing_about_accounts() {
    let db = TestDatabase::create().await;
    // Real argon2id cost, so skipping the hash for unknown accounts would show in timing.
    let env = EngineEnv::embedded(&db)
        .with("ARGON2_MEMORY_KIB", "19456")
        .with("ARGON2_ITERATIONS", "2");
    let mut engine = Process::start("serve", &env);
    let api = Api::new(engine.base_url().await);
    let address = email();
    api.register(&address, "timing password").await;

    let mut wrong_password = Vec::new();
    let mut unknown_account = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..40 {
        let (target, samples) = if i % 2 == 0 {
            (address.clone(), &mut wrong_password)
        } else {
            (email(), &mut unknown_account)
        };
        let start = Instant::now();
        let (status, body) = api
            .post(
                "/auth/login",
                json!({"email": target, "password": "not the password"}),
            )
            .await;
        samples.push(start.elapsed());
        assert_eq!(status, 401);
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "identical answers: {bodies:?}"
    );
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (known, unknown) = (median(&mut wrong_password), median(&mut unknown_account));
    eprintln!(
        "figure[auth]: failed login median, wrong password {known:?}, unknown account {unknown:?}"
    );
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "timing differs: {known:?} vs {unknown:?}"
    );
}
