//! The engine's roles as separate processes. Crash safety of the Kafka pipeline: two API
//! processes take commands while relays (one active, one standing by) and projection workers
//! are killed with SIGKILL, then restarted. Afterwards
//! the read models must equal a fresh projection of the event log: nothing lost, nothing
//! applied twice. And liveness and readiness of an API process whose projections or broker
//! are missing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{head, read_topic, Api, EngineEnv, Process, Staff, TestDatabase};
use projections::{projector, registry, Projector};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

/// Customers shopping: add to cart, place, pay, and every fourth one cancels.
async fn shoppers(anonymous: Api, admin: Api, count: usize, done: Arc<AtomicUsize>) {
    for i in 0..count {
        let api = anonymous.customer().await;
        let customer = api.id();
        let sku = ["RED", "GREEN", "BLUE"][i % 3];
        api.ok(
            Method::POST,
            &format!("/customers/{customer}/cart/items"),
            Some(json!({"sku": sku, "quantity": 1 + i % 2})),
        )
        .await;
        let (status, placed) = api
            .post(&format!("/customers/{customer}/orders"), json!(null))
            .await;
        assert_eq!(status, 201, "{placed}");
        let order = placed["order_id"].as_str().unwrap().to_owned();
        let total = 700 * (1 + i % 2) as i64;
        // Paid offline, as recorded by an admin.
        admin.ok(
            Method::POST,
            &format!("/orders/{order}/payment"),
            Some(json!({"amount": {"amount_minor": total, "currency": "EUR"}, "payment_reference": format!("p{i}")})),
        )
        .await;
        if i % 4 == 0 {
            api.ok(
                Method::POST,
                &format!("/orders/{order}/cancellation"),
                Some(json!({"reason": "test"})),
            )
            .await;
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

async fn relay_checkpoint(pool: &PgPool) -> i64 {
    sqlx::query_as::<_, (i64,)>(
        "select coalesce(max(position), 0) from checkpoints where name like 'relay:%'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
    .0
}

async fn projected_orders(pool: &PgPool) -> i64 {
    sqlx::query_as::<_, (i64,)>("select count(*) from orders")
        .fetch_one(pool)
        .await
        .unwrap()
        .0
}

/// Streams whose newest event `projection` has not applied: (stream, newest, applied).
async fn behind(
    pool: &PgPool,
    projection: &dyn projections::Projection,
) -> Vec<(String, i64, Option<i64>)> {
    sqlx::query_as(
        "select e.stream_id, max(e.stream_version), max(ps.version) from events e
         left join projection_streams ps on ps.projection = $1 and ps.stream_id = e.stream_id
         where split_part(e.stream_id, '-', 1) = any($2)
         group by e.stream_id having max(ps.version) is null or max(ps.version) < max(e.stream_version)
         order by 1 limit 20",
    )
    .bind(projection.name())
    .bind(projection.categories())
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The consumer group as the broker sees it: members and what they hold, and per partition
/// the committed offset against the end of the log (to tell a stalled group from a slow one).
fn group_report(env: &EngineEnv) -> String {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let var = |k: &str| env.get(k).expect("kafka env").to_owned();
    let (topic, group) = (var("KAFKA_TOPIC"), var("KAFKA_GROUP_ID"));
    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", var("KAFKA_BROKERS"))
        .set("group.id", &group)
        .create()
        .unwrap();
    let timeout = Duration::from_secs(5);
    let mut out = String::new();
    match probe.fetch_group_list(Some(&group), timeout) {
        Ok(list) => {
            for g in list.groups() {
                out += &format!(
                    "group {} state {} protocol {}\n",
                    g.name(),
                    g.state(),
                    g.protocol()
                );
                for m in g.members() {
                    out += &format!("  member {} assignment {:?}\n", m.id(), m.assignment());
                }
            }
        }
        Err(e) => out += &format!("group list failed: {e}\n"),
    }
    let mut partitions = rdkafka::TopicPartitionList::new();
    for p in 0..3 {
        partitions.add_partition(&topic, p);
    }
    let committed = probe.committed_offsets(partitions, timeout);
    for p in 0..3 {
        let end = probe.fetch_watermarks(&topic, p, timeout);
        let at = committed
            .as_ref()
            .ok()
            .and_then(|c| c.find_partition(&topic, p))
            .map(|e| e.offset());
        out += &format!("  partition {p}: committed {at:?}, log {end:?}\n");
        // Can a fresh consumer read on from the committed offset?
        if let Some(rdkafka::Offset::Offset(from)) = at {
            let fresh: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", var("KAFKA_BROKERS"))
                .set("group.id", format!("{group}-probe"))
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(&topic, p, rdkafka::Offset::Offset(from))
                .unwrap();
            fresh.assign(&tpl).unwrap();
            let mut got = Vec::new();
            let until = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < until && got.len() < 5 {
                if let Some(m) = fresh.poll(Duration::from_millis(200)) {
                    use rdkafka::Message;
                    got.push(m.map(|m| m.offset()).map_err(|e| e.to_string()));
                }
            }
            out += &format!("    a fresh consumer from {from} got {got:?}\n");
        }
    }
    out
}

/// Waits until `probe` reaches `target`; returns its value.
async fn wait_until(what: &str, target: i64, probe: impl AsyncFn() -> i64) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let now = probe().await;
        if now >= target {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} stuck at {now} (< {target})"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_relay_and_workers_mid_stream_loses_and_duplicates_nothing() {
    const CUSTOMERS: usize = 300;
    let db = TestDatabase::create().await;
    let env = EngineEnv::kafka(&db);
    // Two API processes, two relays (one publishing, one standing by) and two workers.
    let mut server = Process::start("serve", &env);
    let mut second_server = Process::start("serve", &env);
    let api = Api::new(server.base_url().await);
    let second_api = Api::new(second_server.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    let mut relay = Process::start("relay", &env);
    let standby = Process::start("relay", &env);
    let mut workers = vec![
        Process::start("project", &env),
        Process::start("project", &env),
    ];

    for sku in ["RED", "GREEN", "BLUE"] {
        staff.list(sku, 700, 10_000).await;
    }

    let done = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(shoppers(
        api.clone(),
        staff.admin.clone(),
        CUSTOMERS / 2,
        done.clone(),
    ));
    let second_load = tokio::spawn(shoppers(
        second_api.clone(),
        staff.admin.clone(),
        CUSTOMERS - CUSTOMERS / 2,
        done.clone(),
    ));
    let pool = db.pool.clone();

    // Crash the relay while it is publishing.
    let at = wait_until("relay", 150, || relay_checkpoint(&pool)).await;
    relay.crash().await;
    eprintln!("figure[crash]: relay killed at checkpoint {at}");
    relay = Process::start("relay", &env);

    // Crash a worker while it is projecting.
    let at = wait_until("projection", 40, || projected_orders(&pool)).await;
    workers.remove(0).crash().await;
    eprintln!("figure[crash]: worker killed at {at} orders projected");
    workers.push(Process::start("project", &env));

    // Both at once, later in the stream.
    let at = wait_until("relay", 700, || relay_checkpoint(&pool)).await;
    relay.crash().await;
    workers.remove(0).crash().await;
    eprintln!("figure[crash]: relay and a worker killed at checkpoint {at}");
    relay = Process::start("relay", &env);
    workers.push(Process::start("project", &env));

    load.await.unwrap();
    second_load.await.unwrap();
    assert_eq!(done.load(Ordering::Relaxed), CUSTOMERS);
    let head = head(&db.pool).await;
    eprintln!("figure[crash]: {head} events appended in all");

    if let Some(name) = common::lagging(&db.pool, head, Duration::from_secs(120)).await {
        let projection = registry::named(name).unwrap();
        eprintln!(
            "figure[crash]: relay at {}; {name} behind on: {:?}\n{}",
            relay_checkpoint(&db.pool).await,
            behind(&db.pool, &*projection).await,
            group_report(&env)
        );
        panic!("{name} did not catch up after the crashes");
    }
    wait_until("relay", head, || relay_checkpoint(&pool)).await;

    // Stop everything before comparing.
    relay.crash().await;
    standby.crash().await;
    for w in workers {
        w.crash().await;
    }
    server.child.kill().await.unwrap();
    second_server.child.kill().await.unwrap();

    let through_kafka = projector::snapshot(&db.pool).await.unwrap();
    assert_eq!(through_kafka["orders"].as_array().unwrap().len(), CUSTOMERS);

    // The topic holds every event (at least once); redelivering all of it changes nothing.
    let records = read_topic(&env, head as usize).await;
    let distinct: std::collections::HashSet<_> = records.iter().map(|e| e.event_id).collect();
    eprintln!(
        "figure[crash]: topic holds {} records for {} distinct events",
        records.len(),
        distinct.len()
    );
    assert_eq!(distinct.len() as i64, head, "every event reached Kafka");
    let projector = Projector::new(db.pool.clone(), registry::all());
    assert_eq!(projector.apply_batch(&records, None).await.unwrap(), 0);
    assert_eq!(projector::snapshot(&db.pool).await.unwrap(), through_kafka);

    // And the read models equal a fresh projection of the store's log.
    projector::reset(&db.pool).await.unwrap();
    let log: Vec<_> = {
        use events::EventStore;
        events::PgEventStore::new(db.pool.clone())
            .read_all(0, 1_000_000)
            .await
            .unwrap()
    };
    assert_eq!(log.len() as i64, head, "no gaps in this log");
    projector.apply_batch(&log, None).await.unwrap();
    let fresh = projector::snapshot(&db.pool).await.unwrap();
    assert_eq!(
        through_kafka, fresh,
        "read models differ from a fresh projection of the log"
    );
}

/// `/health/ready` of an API process: 503 `not_ready` (with `Retry-After`) while no projection
/// worker runs and the log grows past `READY_MAX_LAG`, 200 once a worker caught up; 503 when
/// its broker does not answer. `/health/live` is 200 throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_projection_lag_and_the_broker() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("READY_MAX_LAG", "3");
    let mut server = Process::start("serve", &env);
    let base = server.base_url().await;
    let http = reqwest::Client::new();
    let probe = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let response = http.get(format!("{base}{path}")).send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = response.json().await.unwrap();
            (status, retry_after, body)
        }
    };

    // An empty log: nothing to be behind on.
    let (status, _, body) = probe("/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true);
    assert_eq!(body["checks"]["projections"]["ok"], true);
    assert!(
        body["checks"].get("broker").is_none(),
        "no broker configured"
    );

    // Events nobody projects (no worker runs): more than 3 behind is not ready.
    let api = Api::new(base.clone());
    for n in 0..3 {
        api.register(&format!("lag-{n}@example.org"), "a long password 1")
            .await;
    }
    assert!(head(&db.pool).await > 3);
    let (status, retry_after, body) = probe("/health/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "not_ready");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(body["checks"]["database"]["ok"], true);
    assert_eq!(body["checks"]["projections"]["ok"], false);
    let behind = body["checks"]["projections"]["behind"].as_array().unwrap();
    assert!(
        behind
            .iter()
            .any(|b| b["projection"] == "accounts" && b["lag_events"].as_i64() > Some(3)),
        "{body}"
    );
    let (status, _, body) = probe("/health/live").await;
    assert_eq!((status, &body["status"]), (200, &json!("live")));

    // A worker catches up: ready again.
    let _worker = Process::start("project", &env);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = probe("/health/ready").await;
        if status == 200 {
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An API process whose broker does not answer is not ready, but alive.
    let unreachable = EngineEnv::embedded(&db).with("KAFKA_BROKERS", "127.0.0.1:1");
    let mut orphan = Process::start("serve", &unreachable);
    let orphan_base = orphan.base_url().await;
    let response = http
        .get(format!("{orphan_base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["broker"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    let response = http
        .get(format!("{orphan_base}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// One sample of a Prometheus text exposition: name, labels, value.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses the samples of a Prometheus text exposition (label values may hold braces, as
/// route patterns do).
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => (&line[..i], &line[i..]),
            None => continue,
        };
        let mut labels = Vec::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let (mut key, mut value, mut in_value, mut end) =
                (String::new(), String::new(), false, 0);
            while let Some((i, c)) = chars.next() {
                match (in_value, c) {
                    (false, '}') => {
                        end = i + 1;
                        break;
                    }
                    (false, '=' | ',') => {}
                    (false, '"') => in_value = true,
                    (false, c) => key.push(c),
                    (true, '\\') => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    (true, '"') => {
                        labels.push((std::mem::take(&mut key), std::mem::take(&mut value)));
                        in_value = false;
                    }
                    (true, c) => value.push(c),
                }
            }
            rest = &body[end..];
        }
        if let Ok(value) = rest.trim().parse() {
            out.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
    }
    out
}

/// The sum of the samples named `name` carrying every label of `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// `/metrics` of a running engine counts requests by route and status, commands by outcome
/// code, append groups and their events, and shows each projection's lag, back to zero once
/// it caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_commands_appends_and_projection_lag() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let endpoint = engine
        .metrics
        .clone()
        .expect("the engine prints its metrics endpoint");
    let staff = Staff::hire(&api, &env).await;
    staff.list("LAMP", 2500, 2).await;
    let first = api.customer().await;
    first.buy("LAMP", 2).await;
    let second = api.customer().await;
    second
        .ok(
            Method::POST,
            &format!("/customers/{}/cart/items", second.id()),
            Some(json!({"sku": "LAMP", "quantity": 1})),
        )
        .await;
    let (status, body) = second
        .post(&format!("/customers/{}/orders", second.id()), json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("insufficient_stock"))
    );

    let http = reqwest::Client::new();
    let scrape = || async {
        let response = http.get(&endpoint).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        samples(&response.text().await.unwrap())
    };
    let orders = "POST /customers/{customer_id}/orders";
    let route = [
        ("route", "/customers/{customer_id}/orders"),
        ("method", "POST"),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let seen = scrape().await;
        let orders = [("projection", "orders")];
        let caught_up = total(&seen, "commerce_projection_lag_events", &orders) == Some(0.0)
            && total(&seen, "commerce_projection_lag_seconds", &orders) == Some(0.0);
        if caught_up {
            break seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "projection lag never 0"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let requests = |status: &str| {
        let mut with = route.to_vec();
        with.push(("status", status));
        total(&seen, "commerce_http_requests_total", &with)
    };
    assert_eq!(requests("201").or(requests("200")), Some(1.0));
    assert_eq!(requests("422"), Some(1.0));
    assert_eq!(
        total(
            &seen,
            "commerce_http_request_duration_seconds_count",
            &route
        ),
        Some(2.0)
    );
    assert_eq!(
        total(
            &seen,
            "commerce_commands_total",
            &[("command", orders), ("outcome", "accepted")]
        ),
        Some(1.0)
    );
    assert_eq!(
        total(
            &seen,
            "commerce_commands_total",
            &[("command", orders), ("outcome", "insufficient_stock")]
        ),
        Some(1.0)
    );
    // Every event this process appended, counted once (the admin came from the command line,
    // another process).
    let (by_engine,): (i64,) = sqlx::query_as(
        "select count(*) from events where metadata->>'actor' is distinct from 'cli:admin-create'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let appended = total(&seen, "commerce_append_events_total", &[]).unwrap_or(0.0);
    assert_eq!(appended, by_engine as f64);
    assert!(total(&seen, "commerce_append_group_size_count", &[]).unwrap_or(0.0) >= 1.0);
    assert!(total(&seen, "commerce_append_commit_seconds_bucket", &[]).is_some());
    assert!(
        total(
            &seen,
            "commerce_projection_events_total",
            &[("projection", "orders")]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert_eq!(total(&seen, "commerce_build_info", &[]), Some(1.0));
}

/// Two API processes sharing Redis (`REDIS_URL`) allow a client's per-minute limit once
/// between them; without it each allows it on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_processes_share_rate_limits_through_redis() {
    let db = TestDatabase::create().await;
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("commerce-it:{}:", uuid::Uuid::new_v4().simple());
    let http = reqwest::Client::new();
    // How many of 16 requests, alternating between the two processes, are let through.
    let allowed = |bases: [String; 2]| {
        let http = http.clone();
        async move {
            let mut allowed = 0;
            for n in 0..16 {
                let response = http
                    .get(format!("{}/health", bases[n % 2]))
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    200 => allowed += 1,
                    429 => assert!(response.headers().contains_key("retry-after")),
                    other => panic!("unexpected {other}"),
                }
            }
            allowed
        }
    };

    let shared = EngineEnv::embedded(&db)
        .with("RATE_LIMIT_PER_MINUTE", "5")
        .with("REDIS_URL", &redis)
        .with("REDIS_KEY_PREFIX", &prefix);
    let mut first = Process::start("serve", &shared);
    let mut second = Process::start("serve", &shared);
    let bases = [first.base_url().await, second.base_url().await];
    assert_eq!(allowed(bases).await, 5, "one limit for both processes");

    let apart = EngineEnv::embedded(&db).with("RATE_LIMIT_PER_MINUTE", "5");
    let mut third = Process::start("serve", &apart);
    let mut fourth = Process::start("serve", &apart);
    let bases = [third.base_url().await, fourth.base_url().await];
    assert_eq!(
        allowed(bases).await,
        10,
        "a limit per process without Redis"
    );

    // REDIS_URL names a server that does not answer: the process refuses to start.
    let broken = EngineEnv::embedded(&db).with("REDIS_URL", "redis://127.0.0.1:1");
    let status = Process::start("serve", &broken).child.wait().await.unwrap();
    assert!(!status.success());
}

/// The relay (of those whose lines `said` carries) that says it took the lease within `limit`.
async fn active_within(
    said: &mut tokio::sync::mpsc::UnboundedReceiver<(usize, String)>,
    limit: Duration,
) -> Option<usize> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, said.recv()).await {
            Ok(Some((n, line))) if line == "commerce: relay active" => return Some(n),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Two relays: one publishes, the other stands by; killed, the active one is replaced within
/// five seconds, and every event reaches the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_relay_takes_over_within_seconds() {
    use tokio::io::AsyncBufReadExt;
    let db = TestDatabase::create().await;
    let env = EngineEnv::kafka(&db);
    let mut server = Process::start("serve", &env);
    let api = Api::new(server.base_url().await);

    // Each relay's stdout lines, tagged with which relay said them.
    let (lines, mut said) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let mut relays = Vec::new();
    for n in 0..2 {
        let mut relay = Process::start("relay", &env);
        let stdout = relay.child.stdout.take().unwrap();
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = lines.send((n, line));
            }
        });
        relays.push(Some(relay));
    }
    let first = active_within(&mut said, Duration::from_secs(30))
        .await
        .expect("one relay takes the lease");

    for n in 0..5 {
        api.register(&format!("relay-a-{n}@example.org"), "a long password 1")
            .await;
    }
    let published = read_topic(&env, head(&db.pool).await as usize).await;
    assert_eq!(published.len() as i64, head(&db.pool).await);
    assert_eq!(
        active_within(&mut said, Duration::from_millis(500)).await,
        None,
        "the other relay stands by"
    );

    let killed_at = std::time::Instant::now();
    relays[first].take().unwrap().crash().await;
    let second = active_within(&mut said, Duration::from_secs(5))
        .await
        .expect("the standby takes over within 5 s");
    assert_ne!(second, first);
    eprintln!(
        "figure[failover]: standby active {} ms after the kill",
        killed_at.elapsed().as_millis()
    );

    for n in 0..5 {
        api.register(&format!("relay-b-{n}@example.org"), "a long password 1")
            .await;
    }
    let head = head(&db.pool).await;
    let published = read_topic(&env, head as usize).await;
    let distinct: std::collections::BTreeSet<i64> =
        published.iter().map(|e| e.global_position).collect();
    assert_eq!(distinct.len() as i64, head, "every event reached the topic");
}

/// Spans an OTLP/HTTP (JSON) endpoint received: every span of every export, flattened.
#[derive(Clone, Default)]
struct Collector(Arc<std::sync::Mutex<Vec<serde_json::Value>>>);

impl Collector {
    /// Serves `POST /v1/traces` on a free port; returns its base URL.
    async fn start(&self) -> String {
        let spans = self.0.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let spans = spans.clone();
                async move {
                    let export: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let mut spans = spans.lock().unwrap();
                    for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                            spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                        }
                    }
                    axum::Json(json!({}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// The spans named `name` in trace `trace_id`, or linked to it when `linked`.
    fn named(&self, name: &str, trace_id: &str, linked: bool) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == name)
            .filter(|s| {
                if linked {
                    s["links"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|l| l["traceId"] == trace_id))
                } else {
                    s["traceId"] == trace_id
                }
            })
            .cloned()
            .collect()
    }
}

/// One trace from the HTTP request (continuing the caller's `traceparent`) through the command
/// and the append; the event's metadata and its Kafka record carry the trace context, and the
/// projection batch that applied it, after the trip through Kafka, links to the trace. The
/// spans are received by a local OTLP/HTTP endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_runs_from_the_request_to_the_projection_batch() {
    let db = TestDatabase::create().await;
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let env = EngineEnv::kafka(&db)
        .with("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .with("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .with("OTEL_BSP_SCHEDULE_DELAY", "100");
    let mut engine = Process::start("up", &env);
    let base = engine.base_url().await;

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let response = reqwest::Client::new()
        .post(format!("{base}/auth/register"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(
            &json!({"email": "traced@example.org", "display_name": "Traced",
            "password": "a long password 1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    // The events carry the command's trace context, in the store and on the topic.
    let stored: Vec<(String,)> = sqlx::query_as(
        "select metadata->>'traceparent' from events where metadata ? 'traceparent'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|(t,)| t.starts_with(&format!("00-{trace_id}-"))),
        "{stored:?}"
    );
    let published = read_topic(&env, stored.len()).await;
    assert!(published.iter().any(|e| e
        .metadata
        .traceparent
        .as_deref()
        .is_some_and(|t| t.contains(&trace_id))));

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let http = collector.named("http", &trace_id, false);
        let command = collector.named("command", &trace_id, false);
        let append = collector.named("append", &trace_id, false);
        let batch = collector.named("projection_batch", &trace_id, true);
        if !http.is_empty() && !command.is_empty() && !append.is_empty() && !batch.is_empty() {
            assert_eq!(
                http[0]["parentSpanId"], caller_span,
                "the caller's span is the parent"
            );
            assert_eq!(command[0]["parentSpanId"], http[0]["spanId"]);
            assert_eq!(append[0]["parentSpanId"], command[0]["spanId"]);
            let link = batch[0]["links"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["traceId"] == trace_id.as_str())
                .unwrap()
                .clone();
            assert_eq!(
                link["spanId"], command[0]["spanId"],
                "linked to the command"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "spans missing: http {}, command {}, append {}, batch {}",
            http.len(),
            command.len(),
            append.len(),
            batch.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
