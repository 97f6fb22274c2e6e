//! [`QueryBuilder`]: sqlx's dynamic query builder, with `$1`-style placeholders.
//!
//! sqlx's own `QueryBuilder` asks the driver how to write a placeholder, and the `Any` driver
//! answers `?` whatever the server: PostgreSQL rejects that as a syntax error. `$N` is
//! understood by both PostgreSQL and SQLite (which binds `$N` to the N-th value), so this
//! builder always writes it. Same methods, same behaviour otherwise; store code imports this one
//! (`use crate::store::QueryBuilder`), never `sqlx::QueryBuilder`.

use std::fmt::Display;
use std::marker::PhantomData;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Arguments, Encode, FromRow, Type};

use super::Db;

/// See the module docs. The second parameter only keeps the spelling `QueryBuilder<'_, Db>`.
pub struct QueryBuilder<'args, DB = Db> {
    sql: String,
    init_len: usize,
    /// None once built, until [`QueryBuilder::reset`].
    arguments: Option<AnyArguments<'args>>,
    _db: PhantomData<DB>,
}

impl<'args> QueryBuilder<'args, Db> {
    pub fn new(init: impl Into<String>) -> Self {
        let sql = init.into();
        QueryBuilder {
            init_len: sql.len(),
            sql,
            arguments: Some(AnyArguments::default()),
            _db: PhantomData,
        }
    }

    fn arguments(&mut self) -> &mut AnyArguments<'args> {
        self.arguments
            .as_mut()
            .expect("QueryBuilder must be reset before reuse after build()")
    }

    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.arguments();
        use std::fmt::Write;
        write!(self.sql, "{sql}").expect("writing to a String");
        self
    }

    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Db> + Type<Db>,
    {
        let arguments = self.arguments();
        arguments
            .add(value)
            .expect("the Any driver encodes every type it accepts");
        let n = arguments.len();
        self.sql.push('$');
        self.sql.push_str(&n.to_string());
        self
    }

    pub fn separated<'qb, Sep: Display>(
        &'qb mut self,
        separator: Sep,
    ) -> Separated<'qb, 'args, Sep> {
        Separated {
            builder: self,
            separator,
            push_separator: false,
        }
    }

    /// `VALUES (..), (..)`: `push_tuple` writes each tuple's values through its `Separated`.
    pub fn push_values<I, F>(&mut self, tuples: I, mut push_tuple: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_, 'args, &'static str>, I::Item),
    {
        self.push("VALUES ");
        let mut first = true;
        for tuple in tuples {
            if !first {
                self.push(", ");
            }
            first = false;
            self.push("(");
            push_tuple(self.separated(", "), tuple);
            self.push(")");
        }
        self
    }

    pub fn build(&mut self) -> Query<'_, Db, AnyArguments<'_>> {
        let arguments = self.take_arguments();
        sqlx::query_with(&self.sql, arguments)
    }

    pub fn build_query_as<'q, T>(&'q mut self) -> QueryAs<'q, Db, T, AnyArguments<'q>>
    where
        T: for<'r> FromRow<'r, AnyRow>,
    {
        let arguments = self.take_arguments();
        sqlx::query_as_with(&self.sql, arguments)
    }

    pub fn build_query_scalar<'q, T>(&'q mut self) -> QueryScalar<'q, Db, T, AnyArguments<'q>>
    where
        (T,): for<'r> FromRow<'r, AnyRow>,
    {
        let arguments = self.take_arguments();
        sqlx::query_scalar_with(&self.sql, arguments)
    }

    fn take_arguments(&mut self) -> AnyArguments<'args> {
        self.arguments
            .take()
            .expect("QueryBuilder must be reset before reuse after build()")
    }

    /// Back to the initial SQL, with no bound values.
    pub fn reset(&mut self) -> &mut Self {
        self.sql.truncate(self.init_len);
        self.arguments = Some(AnyArguments::default());
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn into_sql(self) -> String {
        self.sql
    }
}

/// Items separated by a separator, as from sqlx's `QueryBuilder::separated`.
pub struct Separated<'qb, 'args, Sep> {
    builder: &'qb mut QueryBuilder<'args, Db>,
    separator: Sep,
    push_separator: bool,
}

impl<'args, Sep: Display> Separated<'_, 'args, Sep> {
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        if self.push_separator {
            self.builder.push(&self.separator);
        }
        self.builder.push(sql);
        self.push_separator = true;
        self
    }

    pub fn push_unseparated(&mut self, sql: impl Display) -> &mut Self {
        self.builder.push(sql);
        self
    }

    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Db> + Type<Db>,
    {
        if self.push_separator {
            self.builder.push(&self.separator);
        }
        self.builder.push_bind(value);
        self.push_separator = true;
        self
    }

    pub fn push_bind_unseparated<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Db> + Type<Db>,
    {
        self.builder.push_bind(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut q: QueryBuilder<Db> = QueryBuilder::new("SELECT id FROM assets WHERE kind = ");
        q.push_bind("pc").push(" AND id IN (");
        let mut ids = q.separated(", ");
        for id in [1i64, 2, 3] {
            ids.push_bind(id);
        }
        ids.push_unseparated(")");
        q.push(" LIMIT ").push_bind(10i64);
        assert_eq!(
            q.sql(),
            "SELECT id FROM assets WHERE kind = $1 AND id IN ($2, $3, $4) LIMIT $5"
        );
        q.reset();
        q.push_values([(1i64, "a"), (2, "b")], |mut row, (id, name)| {
            row.push_bind(id).push_bind(name);
        });
        assert_eq!(
            q.sql(),
            "SELECT id FROM assets WHERE kind = VALUES ($1, $2), ($3, $4)"
        );
    }

    /// The same built query runs on SQLite (PostgreSQL: the PARC_TEST_POSTGRES run).
    #[tokio::test]
    async fn built_queries_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&crate::testing::database_url(dir.path()), 2)
            .await
            .unwrap();
        store.create_token("north").await.unwrap();
        store.create_token("south").await.unwrap();
        let mut q: QueryBuilder<Db> =
            QueryBuilder::new("SELECT COUNT(*) FROM sites WHERE name IN (");
        let mut names = q.separated(", ");
        names.push_bind("north").push_bind("east");
        names.push_unseparated(") AND id > ");
        q.push_bind(0i64);
        let n: i64 = q
            .build_query_scalar()
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
