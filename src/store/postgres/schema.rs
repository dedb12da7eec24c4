//! Schema migrations: SQL files in `migrations/postgres/`, built into the binary, applied in
//! order, each once, in one transaction under an advisory lock (so nodes starting together
//! apply them once).

use super::engine;
use crate::store::StoreError;

/// Every migration this build knows: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "init",
    include_str!("../../../migrations/postgres/0001_init.sql"),
)];

/// Any number, the same on every node: the lock that serialises migrations.
const LOCK: i64 = 0x6f6e_6463_6777; // "ondcgw"

/// Applies the migrations the database lacks; the versions applied now. Refuses a database
/// migrated by a newer build.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<Vec<i32>, StoreError> {
    let tx = client.transaction().await.map_err(engine)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await
        .map_err(engine)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS gw_migrations ( \
           version integer PRIMARY KEY, name text NOT NULL, \
           applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(engine)?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM gw_migrations ORDER BY version", &[])
        .await
        .map_err(engine)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if let Some(newer) = done.iter().find(|v| **v > known) {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {newer}; this build knows up to {known}: run a newer build"
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await.map_err(engine)?;
        tx.execute(
            "INSERT INTO gw_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(engine)?;
        applied.push(*version);
    }
    tx.commit().await.map_err(engine)?;
    Ok(applied)
}

/// Creates a new, empty database named `name` on the server of `url` (whose role may create
/// databases) and returns `url` pointing at it: for benchmarks and tests, which each want a
/// store of their own on one server.
pub async fn create_database(url: &str, name: &str) -> Result<String, StoreError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::Corrupt(format!(
            "{name:?} is not a plain database name"
        )));
    }
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(engine)?;
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(engine)?;
    drop(client);
    let _ = connection.await;
    with_database(url, name)
}

/// `url` with its database replaced by `name` (URL form only).
fn with_database(url: &str, name: &str) -> Result<String, StoreError> {
    let not_url = || StoreError::Corrupt("a postgres:// URL is needed to name another database".into());
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(not_url)?;
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let host = base.split_once('/').map_or(base, |(h, _)| h);
    let scheme = &url[..url.len() - rest.len()];
    Ok(match query {
        Some(q) => format!("{scheme}{host}/{name}?{q}"),
        None => format!("{scheme}{host}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn another_database_on_the_same_server() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "gw_1").unwrap(),
            "postgres://u:p@127.0.0.1:5432/gw_1"
        );
        assert_eq!(
            with_database("postgresql://h:1?sslmode=disable", "x").unwrap(),
            "postgresql://h:1/x?sslmode=disable"
        );
        assert!(with_database("host=h dbname=d", "x").is_err());
    }
}
