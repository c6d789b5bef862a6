//! Fresh, migrated PostgreSQL databases for tests; dropped when the guard goes out of scope.
//!
//! The server comes from `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). A missing server fails the test with an
//! explanation; it is never skipped.

use sqlx::PgPool;
use uuid::Uuid;

/// Default server for tests, matching the development machines.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A throw-away database.
pub struct TestDatabase {
    /// Connection URL of the new database.
    pub url: String,
    /// A pool on it.
    pub pool: PgPool,
    name: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

fn with_database(url: &str, name: &str) -> String {
    match url.rfind('/') {
        Some(i) if url[..i].contains("://") && !url[..i].ends_with('/') => {
            let query = url[i..].find('?').map_or("", |q| &url[i + q..]);
            format!("{}/{}{}", &url[..i], name, query)
        }
        _ => format!("{}/{}", url.trim_end_matches('/'), name),
    }
}

impl TestDatabase {
    /// Creates and migrates a database named `commerce_test_<random>`.
    pub async fn create() -> TestDatabase {
        let admin_url = admin_url();
        let name = format!("commerce_test_{}", Uuid::new_v4().simple());
        let admin = PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for this test but {admin_url} is unreachable ({e}). \
                 Start it (see README, 'Running the tests') or set TEST_DATABASE_URL."
            )
        });
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let pool = crate::postgres::connect(&url, 20)
            .await
            .expect("connect to test database");
        crate::postgres::migrate(&pool)
            .await
            .expect("migrate test database");
        TestDatabase {
            url,
            pool,
            name,
            admin_url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DATABASES").is_some() {
            eprintln!("keeping test database {}", self.name);
            return;
        }
        let name = self.name.clone();
        let admin_url = self.admin_url.clone();
        // Drop may run on a test's only runtime thread, so work on a private runtime, and do
        // not wait for the pool: returning its connections needs the blocked runtime. Dropping
        // the database with (force) ends them server-side.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_swapped_in_the_url() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
