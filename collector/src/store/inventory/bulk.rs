//! [`Bulk`]: multi-row statements (`INSERT .. VALUES (..), (..)`, `DELETE .. IN (..)`) with
//! thousands of bound values.
//!
//! [`QueryBuilder`](crate::store::QueryBuilder) numbers its placeholders (`$1`, `$2`, ..),
//! which both servers understand. To SQLite a numbered placeholder is a *named* parameter, and
//! it keeps parameter names in a list that it searches from the start: once per placeholder
//! when it prepares the statement, and again for each value sqlx binds (sqlx asks
//! `sqlite3_bind_parameter_name` for every index). A statement of n values thus costs O(n²):
//! with an inventory's 800 software rows (6,400 values) in one INSERT (software was stored as
//! rows until migration 0008), that search was 81 % of the collector's CPU in a perf profile of
//! the first storm. MACs, addresses and history still go through here. SQLite's anonymous `?` has no name
//! to search and is bound in order, so on SQLite this builder writes `?`; on PostgreSQL, `$N`.
//!
//! A statement's text depends on its row count. Those of up to [`CACHED_VALUES`] values (an
//! inventory's MACs and addresses, a few history rows) are prepared once per connection and
//! cached: they come in a few dozen texts, and on PostgreSQL an uncached statement costs a second
//! round trip (Parse and Describe, then Bind and Execute) and a parse, under the write lock.
//! Larger ones run uncached (`persistent(false)`), so as not to fill the statement cache.

use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::{Arguments, Database, Encode, Type};

use crate::store::{Db, DbConn};

/// How a placeholder is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// SQLite: `?`, bound in order.
    Anonymous,
    /// PostgreSQL: `$1`, `$2`, ..
    Numbered,
}

impl Placeholders {
    pub(crate) fn of(conn: &DbConn) -> Placeholders {
        if conn.backend_name() == <sqlx::Sqlite as Database>::NAME {
            Placeholders::Anonymous
        } else {
            Placeholders::Numbered
        }
    }
}

/// The most values a statement may bind and still be cached; see the module docs.
const CACHED_VALUES: usize = 64;

/// A statement built from SQL text and bound values; see the module docs.
pub(crate) struct Bulk<'args> {
    sql: String,
    arguments: AnyArguments<'args>,
    bound: usize,
    placeholders: Placeholders,
}

impl<'args> Bulk<'args> {
    pub(crate) fn new(placeholders: Placeholders, sql: impl Into<String>) -> Self {
        Bulk {
            sql: sql.into(),
            arguments: AnyArguments::default(),
            bound: 0,
            placeholders,
        }
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds a value where the SQL text is now.
    pub(crate) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Db> + Type<Db>,
    {
        self.arguments
            .add(value)
            .expect("the Any driver encodes every type it accepts");
        self.bound += 1;
        match self.placeholders {
            Placeholders::Anonymous => self.sql.push('?'),
            Placeholders::Numbered => {
                self.sql.push('$');
                self.sql.push_str(&self.bound.to_string());
            }
        }
        self
    }

    /// The number of the value bound last, to be written again with [`Bulk::again`].
    pub(crate) fn last(&self) -> usize {
        self.bound
    }

    /// Writes the placeholder of value `n` again: PostgreSQL's numbered placeholders name a
    /// value once for all its uses. Numbered placeholders only.
    pub(crate) fn again(&mut self, n: usize) -> &mut Self {
        assert_eq!(
            self.placeholders,
            Placeholders::Numbered,
            "an anonymous placeholder cannot be written again"
        );
        assert!(n >= 1 && n <= self.bound, "value {n} is not bound");
        self.sql.push('$');
        self.sql.push_str(&n.to_string());
        self
    }

    /// `item, item, ..`: `each` writes one item (binds and SQL) per element.
    pub(crate) fn list<I, F>(&mut self, items: I, mut each: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(&mut Self, I::Item),
    {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            each(self, item);
        }
        self
    }

    /// Values bound so far.
    fn bound(&self) -> usize {
        self.bound
    }

    #[cfg(test)]
    fn sql(&self) -> &str {
        &self.sql
    }

    pub(crate) async fn execute(self, conn: &mut DbConn) -> Result<AnyQueryResult, sqlx::Error> {
        let cached = self.bound() <= CACHED_VALUES;
        sqlx::query_with(&self.sql, self.arguments)
            .persistent(cached)
            .execute(&mut *conn)
            .await
    }

    /// Runs a statement that returns one row.
    pub(crate) async fn fetch_one(self, conn: &mut DbConn) -> Result<AnyRow, sqlx::Error> {
        let cached = self.bound() <= CACHED_VALUES;
        sqlx::query_with(&self.sql, self.arguments)
            .persistent(cached)
            .fetch_one(&mut *conn)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    fn rows_sql(p: Placeholders) -> String {
        let mut q = Bulk::new(p, "INSERT INTO t (a, b, c) VALUES ");
        q.list([(1i64, "x"), (2, "y")], |q, (a, b)| {
            q.push("(").bind(a).push(", ").bind(b).push(", 'const')");
        });
        q.push(" ON CONFLICT DO NOTHING");
        assert_eq!(q.bound(), 4);
        q.sql().to_string()
    }

    #[test]
    fn a_numbered_value_is_written_again() {
        let mut q = Bulk::new(Placeholders::Numbered, "SELECT ");
        q.bind(7i64).push(", ").bind("x");
        let first = 1;
        q.push(", ").again(first);
        assert_eq!(q.sql(), "SELECT $1, $2, $1");
        assert_eq!((q.bound(), q.last()), (2, 2));
    }

    #[test]
    fn placeholders_per_server() {
        assert_eq!(
            rows_sql(Placeholders::Anonymous),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 'const'), (?, ?, 'const') ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            rows_sql(Placeholders::Numbered),
            "INSERT INTO t (a, b, c) VALUES ($1, $2, 'const'), ($3, $4, 'const') ON CONFLICT DO NOTHING"
        );
    }

    /// Near SQLite's limit of 32,766 values in one statement, on the server the tests run on
    /// (SQLite, or PostgreSQL in the PARC_TEST_POSTGRES run), values land in order.
    #[tokio::test]
    async fn thousands_of_values_in_one_statement() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&crate::testing::database_url(dir.path()), 2)
            .await
            .unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("CREATE TEMPORARY TABLE bulk_test (n BIGINT NOT NULL, s TEXT)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let p = Placeholders::of(&tx);
        let rows: Vec<(i64, String)> = (0..16_000).map(|n| (n, format!("row {n}"))).collect();
        let mut q = Bulk::new(p, "INSERT INTO bulk_test (n, s) VALUES ");
        q.list(&rows, |q, (n, s)| {
            q.push("(").bind(*n).push(", ").bind(s.as_str()).push(")");
        });
        assert_eq!(q.bound(), 32_000);
        let done = q.execute(&mut tx).await.unwrap();
        assert_eq!(done.rows_affected(), 16_000);
        let mut q = Bulk::new(p, "DELETE FROM bulk_test WHERE n IN (");
        q.list([3i64, 15_999, 20_000], |q, n| {
            q.bind(n);
        });
        q.push(")");
        assert_eq!(q.execute(&mut tx).await.unwrap().rows_affected(), 2);
        let (count, sum): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), CAST(SUM(n) AS BIGINT) FROM bulk_test")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(count, 15_998);
        assert_eq!(sum, (0..16_000i64).sum::<i64>() - 3 - 15_999);
        let s: String = sqlx::query_scalar("SELECT s FROM bulk_test WHERE n = 12345")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(s, "row 12345");
    }
}
