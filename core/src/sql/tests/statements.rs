//! Statements one at a time: DDL, DML, queries and their errors.

use super::*;

fn accounts() -> (Cluster, Session<Cluster, TestRuntime>) {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    assert_eq!(
        run(&mut session, "create table accounts (id int primary key, owner text not null, balance bigint default 0 check (balance >= 0))"),
        "CREATE TABLE"
    );
    assert_eq!(run(&mut session, "insert into accounts values (1, 'ada', 100), (2, 'bob', 50)"), "INSERT 0 2");
    (cluster, session)
}

#[test]
fn rows_inserted_are_read_back_in_key_order() {
    let (_, mut session) = accounts();
    assert_eq!(run(&mut session, "insert into accounts (owner, id) values ('cy', 0)"), "INSERT 0 1");
    assert_eq!(run(&mut session, "select * from accounts"), "id|owner|balance\n0|cy|0\n1|ada|100\n2|bob|50\nSELECT 3");
    assert_eq!(
        run(&mut session, "select owner, balance * 2 as double from accounts where id = 1"),
        "owner|double\nada|200\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "select id from accounts where balance > 10 order by balance desc limit 1"),
        "id\n1\nSELECT 1"
    );
    assert_eq!(run(&mut session, "select id from accounts order by 1 desc offset 1"), "id\n1\n0\nSELECT 2");
}

#[test]
fn a_primary_key_equality_is_a_point_lookup() {
    let (_, mut session) = accounts();
    let plan = run(&mut session, "explain select owner from accounts where id = 2 and balance > 0");
    assert_eq!(plan, "QUERY PLAN\nFilter: (#2 > 0)\n->  Point lookup on accounts@accounts_pkey (2)\nEXPLAIN");
    let plan = run(&mut session, "explain select owner from accounts where balance = 2");
    assert_eq!(plan, "QUERY PLAN\nFilter: (#2 = 2)\n->  Scan on accounts (primary key order)\nEXPLAIN");
    assert_eq!(run(&mut session, "select owner from accounts where id = 2 and balance > 0"), "owner\nbob\nSELECT 1");
    assert_eq!(run(&mut session, "select owner from accounts where id = 3"), "owner\nSELECT 0");
    assert_eq!(run(&mut session, "select owner from accounts where id = null"), "owner\nSELECT 0");
    let plan = run(&mut session, "explain select owner from accounts where id in (2, 1, 2, 9)");
    assert_eq!(plan, "QUERY PLAN\nPoint lookup on accounts@accounts_pkey (2) (1) (2) (9)\nEXPLAIN");
    assert_eq!(
        run(&mut session, "select owner from accounts where id in (2, 1, 2, 9)"),
        "owner\nada\nbob\nSELECT 2",
        "key order, each once"
    );
    assert_eq!(run(&mut session, "update accounts set balance = balance + 1 where id in (1, 2, null)"), "UPDATE 2");
    let plan = run(&mut session, "explain select owner from accounts where id in (1, 2) or balance > 3");
    assert!(plan.contains("Scan on accounts"), "an OR beyond the key is a scan: {plan}");
}

#[test]
fn constraint_violations_have_postgresqls_codes_and_messages() {
    let (_, mut session) = accounts();
    assert_eq!(
        run(&mut session, "insert into accounts values (1, 'dup', 1)"),
        "ERROR 23505: duplicate key value violates unique constraint \"accounts_pkey\""
    );
    assert_eq!(
        run(&mut session, "insert into accounts (id) values (3)"),
        "ERROR 23502: null value in column \"owner\" of relation \"accounts\" violates not-null constraint"
    );
    assert_eq!(
        run(&mut session, "update accounts set balance = balance - 500 where id = 2"),
        "ERROR 23514: new row for relation \"accounts\" violates check constraint \"accounts_balance_check\""
    );
    assert_eq!(run(&mut session, "insert into accounts values (1, 'dup', 1) on conflict do nothing"), "INSERT 0 0");
    assert_eq!(run(&mut session, "select count from accounts"), "ERROR 42703: column \"count\" does not exist");
    assert_eq!(run(&mut session, "select * from nowhere"), "ERROR 42P01: relation \"nowhere\" does not exist");
    assert_eq!(run(&mut session, "create table accounts (a int)"), "ERROR 42P07: relation \"accounts\" already exists");
    assert_eq!(
        run(&mut session, "select * from accounts where id = 'x'"),
        "ERROR 22P02: invalid input syntax for type integer: \"x\""
    );
    assert_eq!(
        run(&mut session, "select owner + 1 from accounts"),
        "ERROR 42883: operator does not exist: text + integer"
    );
    assert_eq!(
        run(&mut session, "select * from accounts where balance"),
        "ERROR 42804: argument of WHERE must be type boolean, not type bigint"
    );
    assert_eq!(run(&mut session, "select 2147483647 + 1"), "ERROR 22003: integer out of range");
    assert_eq!(run(&mut session, "select 1 / 0"), "ERROR 22012: division by zero");
    assert_eq!(run(&mut session, "selec 1"), "ERROR 42601: syntax error at or near \"selec\"");
    // Nothing above changed a row.
    assert_eq!(run(&mut session, "select * from accounts"), "id|owner|balance\n1|ada|100\n2|bob|50\nSELECT 2");
}

#[test]
fn updates_and_deletes_return_what_they_changed() {
    let (_, mut session) = accounts();
    assert_eq!(
        run(&mut session, "update accounts set balance = balance + 1 where id >= 1 returning id, balance"),
        "id|balance\n1|101\n2|51\nUPDATE 2"
    );
    assert_eq!(run(&mut session, "update accounts set id = 7 where id = 1"), "UPDATE 1");
    assert_eq!(
        run(&mut session, "update accounts set id = 2 where id = 7"),
        "ERROR 23505: duplicate key value violates unique constraint \"accounts_pkey\""
    );
    assert_eq!(run(&mut session, "select id, owner from accounts"), "id|owner\n2|bob\n7|ada\nSELECT 2");
    assert_eq!(
        run(&mut session, "delete from accounts where owner = 'bob' returning *"),
        "id|owner|balance\n2|bob|51\nDELETE 1"
    );
    assert_eq!(run(&mut session, "delete from accounts"), "DELETE 1");
    assert_eq!(run(&mut session, "select * from accounts"), "id|owner|balance\nSELECT 0");
}

#[test]
fn a_table_without_a_primary_key_gets_a_hidden_row_id() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    run(&mut session, "create table events (name varchar(5), amount numeric(6,2))");
    assert_eq!(run(&mut session, "insert into events values ('a', 1.005), ('a', 2), (null, null)"), "INSERT 0 3");
    let rows = run(&mut session, "select * from events order by amount");
    assert_eq!(rows, "name|amount\na|1.01\na|2.00\nNULL|NULL\nSELECT 3");
    assert_eq!(
        run(&mut session, "insert into events values ('toolong', 1)"),
        "ERROR 22001: value too long for type character varying(5)"
    );
    assert_eq!(run(&mut session, "insert into events values ('b', 12345)"), "ERROR 22003: numeric field overflow");
}

#[test]
fn scans_read_in_batches_across_ranges() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    run(&mut session, "create table numbers (n int primary key, square bigint)");
    for chunk in 0..10 {
        let values: Vec<String> = (chunk * 100..(chunk + 1) * 100).map(|n| format!("({n}, {})", n * n)).collect();
        assert_eq!(run(&mut session, &format!("insert into numbers values {}", values.join(", "))), "INSERT 0 100");
    }
    let table = run_now(crate::sql::catalog::table_by_name(&mut Reader(&cluster), "numbers")).unwrap().unwrap();
    for n in [150, 500, 777] {
        let key =
            crate::sql::execute::table_rows::key_of_values(&table, &[&crate::sql::types::Value::Int4(n)]).unwrap();
        cluster.split(&key);
    }
    assert_eq!(cluster.range_count(), 4);
    let all = run(&mut session, "select n, square from numbers");
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 1 + 1000 + 1);
    assert_eq!(lines[1], "0|0");
    assert_eq!(lines[1000], "999|998001");
    assert_eq!(lines[1001], "SELECT 1000");
    assert_eq!(run(&mut session, "select n from numbers where square = 776 * 776"), "n\n776\nSELECT 1");
    assert_eq!(run(&mut session, "delete from numbers where n >= 100"), "DELETE 900");
    assert_eq!(run(&mut session, "select n from numbers where n = 99 or n = 100"), "n\n99\nSELECT 1");
}

/// Reads the catalog outside any session, for tests that need a descriptor.
struct Reader<'a>(&'a Cluster);

impl crate::sql::kv::KeyValueTransaction for Reader<'_> {
    async fn get(&mut self, key: &crate::keys::Key) -> crate::sql::SqlResult<Option<Vec<u8>>> {
        let mut transaction = crate::txn::coordinator::Transaction::begin(
            crate::types::TransactionId(7),
            Timestamp { wall_nanos: u64::MAX / 2, logical: 0 },
            0,
            Default::default(),
        );
        let mut sender = self.0.clone();
        Ok(transaction.get(&mut sender, key).await.unwrap())
    }

    async fn put(&mut self, _: &crate::keys::Key, _: Option<Vec<u8>>) -> crate::sql::SqlResult<()> {
        unreachable!("the reader only reads")
    }

    async fn scan(
        &mut self,
        _: &crate::keys::Key,
        _: &crate::keys::KeyEnd,
        _: usize,
    ) -> crate::sql::SqlResult<crate::sql::kv::ScanBatch> {
        unreachable!("the reader only gets")
    }

    async fn update_outside(
        &mut self,
        _: &crate::keys::Key,
        _: &mut crate::sql::kv::ValueChange<'_>,
    ) -> crate::sql::SqlResult<()> {
        unreachable!("the reader only gets")
    }
}

#[test]
fn select_without_from_and_session_settings() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    assert_eq!(
        run(&mut session, "select 1, 'a' || 'b', 1.50 + 1, 2.0::float8 / 4, -(3)"),
        "?column?|?column?|?column?|?column?|?column?\n1|ab|2.50|0.5|-3\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "select current_database(), current_schema(), current_user"),
        "current_database|current_schema|current_user\npostgres|public|postgres\nSELECT 1"
    );
    assert_eq!(run(&mut session, "values (1, 'x'), (2, 'y')"), "column1|column2\n1|x\n2|y\nSELECT 2");
    assert_eq!(run(&mut session, "show transaction isolation level"), "transaction_isolation\nserializable\nSHOW");
    assert_eq!(
        run(&mut session, "set application_name = 'psql'; show application_name"),
        "SET\napplication_name\npsql\nSHOW"
    );
    assert_eq!(run(&mut session, "set nonsense = 1"), "ERROR 42704: unrecognized configuration parameter \"nonsense\"");
    assert_eq!(session.settings.take_reported_changes(), [("application_name".to_string(), "psql".to_string())]);
    assert_eq!(
        run(&mut session, "select null is null, 1 between 0 and 2, 3 in (1, 2), null and false"),
        "?column?|?column?|?column?|?column?\nt|t|f|f\nSELECT 1"
    );
}

#[test]
fn a_prepared_statement_is_typed_by_the_catalog_and_runs_with_values() {
    use crate::sql::types::{DataType, Value};
    let (_, mut session) = accounts();
    let prepared = run_now(session.prepare("select owner, balance + $2 from accounts where id = $1", &[])).unwrap();
    assert_eq!(prepared.parameter_types, [DataType::Int4, DataType::Int8]);
    let columns: Vec<_> = prepared.columns.iter().map(|column| (column.name.as_str(), column.data_type)).collect();
    assert_eq!(columns, [("owner", DataType::Text), ("?column?", DataType::Int8)]);
    let statement = prepared.statement.expect("one statement");
    let result = run_now(session.run(&statement, &[Value::Int4(1), Value::Int8(5)]));
    assert_eq!(render(&result), "owner|?column?\nada|105\nSELECT 1");

    let insert = run_now(session.prepare("insert into accounts values ($1, $2, $3)", &[None, None, None])).unwrap();
    assert_eq!(insert.parameter_types, [DataType::Int4, DataType::Text, DataType::Int8]);
    assert!(insert.columns.is_empty());
    let declared = run_now(session.prepare("select $1", &[Some(DataType::Int8)])).unwrap();
    assert_eq!(declared.parameter_types, [DataType::Int8]);
    assert_eq!(declared.columns[0].data_type, DataType::Int8);
    let error = run_now(session.prepare("select * from nowhere where a = $1", &[])).unwrap_err();
    assert_eq!(error.state.0, "42P01");
    assert!(run_now(session.prepare("select 1; select 2", &[])).is_err());
    assert!(run_now(session.prepare("", &[])).unwrap().statement.is_none());
}

#[test]
fn aggregates_and_groups_give_postgresqls_results_and_types() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    run(
        &mut session,
        "create table sales (id int primary key, region text, amount bigint, price numeric(8,2), ratio float8)",
    );
    run(&mut session, "insert into sales values (1, 'east', 10, 1.50, 0.5), (2, 'west', 20, 2.25, 1.5), (3, 'east', 30, null, 2), (4, null, 5, 4.00, null)");
    // Each expected answer is PostgreSQL 15's.
    assert_eq!(
        run(&mut session, "select count(*), count(price), sum(amount), avg(amount), min(region), max(price), sum(price), avg(ratio), sum(id) from sales"),
        "count|count|sum|avg|min|max|sum|avg|sum\n4|3|65|16.2500000000000000|east|4.00|7.75|1.3333333333333333|10\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "select region, count(*), sum(amount) from sales group by region order by region"),
        "region|count|sum\neast|2|40\nwest|1|20\nNULL|1|5\nSELECT 3"
    );
    assert_eq!(
        run(
            &mut session,
            "select region, sum(amount) as total from sales group by 1 having sum(amount) > 10 order by total desc"
        ),
        "region|total\neast|40\nwest|20\nSELECT 2"
    );
    assert_eq!(
        run(&mut session, "select count(*), sum(amount) from sales where id > 100"),
        "count|sum\n0|NULL\nSELECT 1"
    );
    assert_eq!(run(&mut session, "select avg(id) from sales"), "avg\n2.5000000000000000\nSELECT 1");
    assert_eq!(
        run(&mut session, "select amount + 1, count(*) from sales group by amount + 1 order by 1"),
        "?column?|count\n6|1\n11|1\n21|1\n31|1\nSELECT 4"
    );
    assert_eq!(
        run(&mut session, "select region, amount from sales group by region"),
        "ERROR 42803: column \"sales.amount\" must appear in the GROUP BY clause or be used in an aggregate function"
    );
    assert_eq!(
        run(&mut session, "select * from sales group by region"),
        "ERROR 42803: column \"sales.id\" must appear in the GROUP BY clause or be used in an aggregate function"
    );
    assert_eq!(
        run(&mut session, "select count(*) from sales where sum(amount) > 1"),
        "ERROR 42803: aggregate functions are not allowed in WHERE"
    );
    let plan = run(&mut session, "explain select region, count(*) from sales group by region");
    assert_eq!(plan, "QUERY PLAN\nAggregate Count(*) by #1\n->  Scan on sales (primary key order)\nEXPLAIN");
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    const WORDS: &[&str] = &[
        "select",
        "insert",
        "into",
        "values",
        "update",
        "set",
        "delete",
        "from",
        "where",
        "and",
        "or",
        "not",
        "null",
        "is",
        "in",
        "between",
        "order",
        "by",
        "group",
        "having",
        "limit",
        "offset",
        "returning",
        "create",
        "table",
        "drop",
        "primary",
        "key",
        "default",
        "check",
        "begin",
        "commit",
        "rollback",
        "explain",
        "on",
        "conflict",
        "do",
        "nothing",
        "t",
        "a",
        "b",
        "c",
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "abs",
        "lower",
        "length",
        "int",
        "bigint",
        "text",
        "numeric(5,2)",
        "varchar(3)",
        "float8",
        "boolean",
        "true",
        "false",
        "*",
        "(",
        ")",
        ",",
        ";",
        "=",
        "<>",
        "<",
        ">=",
        "+",
        "-",
        "/",
        "%",
        "||",
        "::",
        "$1",
        "$2",
        "0",
        "1",
        "-1",
        "2147483647",
        "9223372036854775807",
        "1.5",
        "1e400",
        "'x'",
        "'1'",
        "''",
        "'NaN'",
        "desc",
        "nulls",
        "first",
        "as",
        "distinct",
        "join",
    ];

    fn statement() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(WORDS), 1..24).prop_map(|words| words.join(" "))
    }

    fn expression() -> impl Strategy<Value = String> {
        let leaf = proptest::sample::select(
            &[
                "a",
                "b",
                "c",
                "t.a",
                "1",
                "0",
                "-1",
                "2147483647",
                "9223372036854775807",
                "1.5",
                "-0.005",
                "'x'",
                "'7'",
                "null",
                "true",
                "$1",
                "1e300",
                "'NaN'",
            ][..],
        )
        .prop_map(str::to_string);
        leaf.prop_recursive(4, 24, 3, |inner| {
            let operator =
                proptest::sample::select(&["+", "-", "*", "/", "%", "=", "<>", "<", ">=", "and", "or", "||"][..]);
            let function =
                proptest::sample::select(&["abs", "lower", "length", "count", "sum", "avg", "min", "max", "upper"][..]);
            let cast = proptest::sample::select(
                &["int", "bigint", "smallint", "text", "numeric(5,2)", "float8", "real", "boolean", "varchar(2)"][..],
            );
            prop_oneof![
                (inner.clone(), operator, inner.clone())
                    .prop_map(|(left, operator, right)| format!("({left} {operator} {right})")),
                (function, inner.clone()).prop_map(|(function, argument)| format!("{function}({argument})")),
                (inner.clone(), cast).prop_map(|(operand, cast)| format!("{operand}::{cast}")),
                inner.clone().prop_map(|operand| format!("-{operand}")),
                inner.clone().prop_map(|operand| format!("not {operand}")),
                inner.clone().prop_map(|operand| format!("{operand} is not null")),
                (inner.clone(), inner.clone(), inner).prop_map(|(a, b, c)| format!("{a} between {b} and {c}")),
            ]
        })
    }

    fn structured() -> impl Strategy<Value = String> {
        let e = expression;
        prop_oneof![
            (e(), e()).prop_map(|(item, condition)| format!("select {item} from t where {condition}")),
            (e(), e(), e())
                .prop_map(|(item, group, having)| format!("select {item} from t group by {group} having {having}")),
            (e(), e()).prop_map(|(item, order)| format!(
                "select {item}, count(*) from t group by 1 order by {order} limit 2"
            )),
            (e(), e(), e()).prop_map(|(a, b, c)| format!(
                "insert into t values ({a}, {b}, {c}) on conflict do nothing returning *"
            )),
            (e(), e()).prop_map(|(value, condition)| format!("update t set c = {value} where {condition}")),
            (e(), e()).prop_map(|(value, condition)| format!("update t set a = {value} where {condition} returning a")),
            e().prop_map(|condition| format!("delete from t where {condition}")),
            e().prop_map(|item| format!("select {item}")),
            e().prop_map(|default| format!(
                "create table u (x int primary key, y text default {default}); insert into u (x) values (1)"
            )),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

        /// Statements built from a grammar of expressions: answered, or refused
        /// with a SQLSTATE that is not an internal error, never a panic.
        #[test]
        fn random_expressions_are_answered_or_refused_never_an_internal_error(texts in proptest::collection::vec(structured(), 1..4)) {
            let cluster = Cluster::new();
            let mut session = cluster.session(1);
            run(&mut session, "create table t (a int primary key, b text, c numeric(5,2) check (c > -100))");
            run(&mut session, "insert into t values (1, 'x', 1.5), (2, null, null)");
            for text in &texts {
                for result in run_now(session.execute(text)) {
                    if let Err(error) = &result.outcome {
                        prop_assert!(error.state.0 != "XX000", "an internal error for {}: {:?}", text, error);
                    }
                }
            }
            let rollback = run(&mut session, "rollback");
            prop_assert!(rollback.ends_with("ROLLBACK"), "{}", rollback);
            prop_assert_eq!(run(&mut session, "select 1"), "?column?\n1\nSELECT 1");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        /// Whatever the text, a statement gets an answer or an error with a
        /// SQLSTATE, never a panic, and the session stays usable.
        #[test]
        fn random_statements_are_answered_or_refused_never_a_panic(texts in proptest::collection::vec(statement(), 1..4)) {
            let cluster = Cluster::new();
            let mut session = cluster.session(1);
            run(&mut session, "create table t (a int primary key, b text, c numeric(5,2) check (c > -100))");
            run(&mut session, "insert into t values (1, 'x', 1.5), (2, null, null)");
            for text in &texts {
                for result in run_now(session.execute(text)) {
                    if let Err(error) = &result.outcome {
                        prop_assert_eq!(error.state.0.len(), 5, "{}: {:?}", text, error);
                        prop_assert!(error.state.0 != "XX000", "an internal error for {}: {:?}", text, error);
                    }
                }
            }
            let rollback = run(&mut session, "rollback");
            prop_assert!(rollback.ends_with("ROLLBACK"), "{}", rollback);
            prop_assert_eq!(run(&mut session, "select 1"), "?column?\n1\nSELECT 1");
        }
    }
}

#[test]
fn unknown_names_are_placed_where_postgresql_puts_the_caret() {
    let (_, mut session) = accounts();
    let position = |session: &mut Session<Cluster, TestRuntime>, text: &str| {
        let results = run_now(session.execute(text));
        results.last().and_then(|result| result.outcome.as_ref().err()).and_then(|error| error.position)
    };
    // PostgreSQL 15 puts the caret under `count` (8) and under `nowhere` (15).
    assert_eq!(position(&mut session, "select count from accounts"), Some(8));
    assert_eq!(position(&mut session, "select * from nowhere"), Some(15));
    assert_eq!(
        position(&mut session, "select 1;\nselect id from accounts where nothing = 1"),
        Some(41),
        "second line: 10 characters, then column 31"
    );
    assert_eq!(position(&mut session, "select accounts.nothing from accounts"), Some(8));
    let prepared = run_now(session.prepare("select * from nowhere where a = $1", &[])).unwrap_err();
    assert_eq!(prepared.position, Some(15), "Parse places it too");
}
