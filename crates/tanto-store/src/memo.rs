//! Small values kept by key across engines sharing the state dir: what a
//! module's SDK registered, and function results made of plain values (no
//! object IDs, which live only as long as their engine). A row is written in
//! one SQLite transaction, so it is whole or absent; a secret value never
//! enters one (keys name secrets by their keyed digest, and the results of
//! calls that took a secret are not kept).

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS memos (
    key     TEXT PRIMARY KEY,     -- a digest made by the caller
    value   BLOB NOT NULL,
    created INTEGER NOT NULL      -- unix seconds
);
";

pub(crate) fn init(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

impl Store {
    /// The value kept under `key`, if any, with its age in seconds.
    pub fn memo(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        let db = self.inner.db.lock();
        let row: Option<(Vec<u8>, i64)> = db
            .query_row("SELECT value, created FROM memos WHERE key = ?1", params![key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.map(|(v, created)| (v, now().saturating_sub(created.max(0) as u64))))
    }

    /// Keeps `value` under `key` (replacing an earlier one).
    pub fn set_memo(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let db = self.inner.db.lock();
        db.execute(
            "INSERT OR REPLACE INTO memos (key, value, created) VALUES (?1, ?2, ?3)",
            params![key, value, now() as i64],
        )?;
        Ok(())
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memos_are_kept_replaced_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // (operation, key, value, what `memo` then answers)
        type Case<'a> = (&'a str, &'a str, &'a [u8], Option<&'a [u8]>);
        let cases: &[Case] = &[
            ("get", "a", b"", None),
            ("set", "a", b"one", Some(b"one")),
            ("set", "a", b"two", Some(b"two")),
            ("set", "b", b"", Some(b"")),
        ];
        for (op, key, value, want) in cases {
            if *op == "set" {
                store.set_memo(key, value).unwrap();
            }
            let got = store.memo(key).unwrap().map(|(v, _)| v);
            assert_eq!(got.as_deref(), *want, "{op} {key}");
        }
        // another engine on the same state dir sees what was kept
        store.set_memo("c", b"kept").unwrap();
        drop(store);
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.memo("c").unwrap().map(|(v, _)| v).as_deref(), Some(&b"kept"[..]));
    }
}
