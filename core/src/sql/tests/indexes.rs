//! Secondary indexes and UNIQUE constraints: names, enforcement, lookups,
//! backfill, ON CONFLICT, and index entries that always match the rows.
//! Expected answers are PostgreSQL 15's (messages and details included).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// Like [`run`] for one statement, with the error's detail and hint.
fn run_verbose(session: &mut Session<Cluster, TestRuntime>, text: &str) -> String {
    let results = run_now(session.execute(text));
    let mut lines = vec![render(&results[0])];
    if let Err(error) = &results[0].outcome {
        lines.extend(error.detail.iter().map(|detail| format!("DETAIL: {detail}")));
        lines.extend(error.hint.iter().map(|hint| format!("HINT: {hint}")));
    }
    lines.join("\n")
}

fn users() -> Session<Cluster, TestRuntime> {
    let mut session = Cluster::new().session(1);
    assert_eq!(
        run(&mut session, "create table u (id int primary key, email text unique, a int, b int, unique (a, b))"),
        "CREATE TABLE"
    );
    session
}

#[test]
fn unique_constraints_refuse_duplicates_but_not_nulls() {
    let mut session = users();
    assert_eq!(run(&mut session, "insert into u values (1, 'x', 1, 1)"), "INSERT 0 1");
    assert_eq!(
        run_verbose(&mut session, "insert into u values (2, 'x', 2, 2)"),
        "ERROR 23505: duplicate key value violates unique constraint \"u_email_key\"\nDETAIL: Key (email)=(x) already exists."
    );
    assert_eq!(
        run_verbose(&mut session, "insert into u values (2, null, 1, 1)"),
        "ERROR 23505: duplicate key value violates unique constraint \"u_a_b_key\"\nDETAIL: Key (a, b)=(1, 1) already exists."
    );
    assert_eq!(run(&mut session, "insert into u values (3, null, null, 1), (4, null, null, 1)"), "INSERT 0 2");
    assert_eq!(
        run(&mut session, "insert into u values (5, 'y', 5, 5), (6, 'y', 6, 6)"),
        "ERROR 23505: duplicate key value violates unique constraint \"u_email_key\"",
        "a duplicate within one statement"
    );
    assert_eq!(run(&mut session, "update u set email = 'yx' where id = 3"), "UPDATE 1");
    assert_eq!(
        run_verbose(&mut session, "update u set email = 'yx' where id = 4"),
        "ERROR 23505: duplicate key value violates unique constraint \"u_email_key\"\nDETAIL: Key (email)=(yx) already exists."
    );
    assert_eq!(run(&mut session, "update u set email = 'x' where id = 1"), "UPDATE 1", "a row keeps its own value");
    assert_eq!(run(&mut session, "update u set id = 10 where id = 1"), "UPDATE 1", "a row moves with its entries");
    assert_eq!(run(&mut session, "select id from u where email = 'x'"), "id\n10\nSELECT 1");
    assert_eq!(run(&mut session, "delete from u where id = 10"), "DELETE 1");
    assert_eq!(run(&mut session, "insert into u values (11, 'x', 1, 1)"), "INSERT 0 1", "a deleted value is free");
    assert_eq!(run(&mut session, "select id, email from u order by id"), "id|email\n3|yx\n4|NULL\n11|x\nSELECT 3");
}

#[test]
fn index_names_are_postgresqls_and_share_the_tables_namespace() {
    let mut session = users();
    assert_eq!(run(&mut session, "create table u_pkey (x int)"), "ERROR 42P07: relation \"u_pkey\" already exists");
    assert_eq!(run(&mut session, "create index on u (a)"), "CREATE INDEX");
    assert_eq!(run(&mut session, "create index on u (a)"), "CREATE INDEX");
    assert_eq!(run(&mut session, "create index u_a_idx on u (b)"), "ERROR 42P07: relation \"u_a_idx\" already exists");
    assert_eq!(
        run(&mut session, "create index if not exists u_a_idx on u (b)"),
        "NOTICE: relation \"u_a_idx\" already exists, skipping\nCREATE INDEX"
    );
    assert_eq!(run(&mut session, "drop index u_a_idx1"), "DROP INDEX");
    assert_eq!(run(&mut session, "create index on u (a)"), "CREATE INDEX", "the name is free again");
    assert_eq!(run(&mut session, "select * from u_email_key"), "ERROR 42809: \"u_email_key\" is an index");
    assert_eq!(
        run_verbose(&mut session, "drop table u_email_key"),
        "ERROR 42809: \"u_email_key\" is not a table\nHINT: Use DROP INDEX to remove an index."
    );
    assert_eq!(
        run_verbose(&mut session, "drop index u"),
        "ERROR 42809: \"u\" is not an index\nHINT: Use DROP TABLE to remove a table."
    );
    assert_eq!(
        run_verbose(&mut session, "drop index u_email_key"),
        "ERROR 2BP01: cannot drop index u_email_key because constraint u_email_key on table u requires it\n\
         HINT: You can drop constraint u_email_key on table u instead."
    );
    assert_eq!(run(&mut session, "drop index nothing"), "ERROR 42704: index \"nothing\" does not exist");
    assert_eq!(
        run(&mut session, "drop index if exists nothing"),
        "NOTICE: index \"nothing\" does not exist, skipping\nDROP INDEX"
    );
    assert_eq!(run(&mut session, "create index on u (nope)"), "ERROR 42703: column \"nope\" does not exist");
    assert_eq!(
        run(&mut session, "create index on u using hash (a)"),
        "ERROR 0A000: the index method HASH is not supported"
    );
    assert_eq!(run(&mut session, "create index on u (a) with (fillfactor = 50)"), "CREATE INDEX");
    assert_eq!(
        run(&mut session, "create index on u (a) with (foo = 50)"),
        "ERROR 22023: unrecognized parameter \"foo\""
    );
    // A table without a primary key has no index, so no name to take.
    assert_eq!(run(&mut session, "create table v (n int); create table v_pkey (m int)"), "CREATE TABLE\nCREATE TABLE");
    assert_eq!(run(&mut session, "drop table v; select * from v_pkey"), "DROP TABLE\nm\nSELECT 0");
    // Dropping a table frees its indexes' names.
    assert_eq!(run(&mut session, "drop table u; create table u_email_key (x int)"), "DROP TABLE\nCREATE TABLE");
}

#[test]
fn an_equality_on_indexed_columns_reads_through_the_index() {
    let mut session = users();
    let values: Vec<String> = (0..300).map(|n| format!("({n}, 'user{n}', {}, {n})", n % 7)).collect();
    assert_eq!(run(&mut session, &format!("insert into u values {}", values.join(", "))), "INSERT 0 300");
    assert_eq!(run(&mut session, "create index by_b on u (b desc)"), "CREATE INDEX");
    let plan = run(&mut session, "explain select id from u where email = 'user42'");
    assert_eq!(plan, "QUERY PLAN\nIndex lookup on u@u_email_key ('user42')\nEXPLAIN");
    assert_eq!(run(&mut session, "select id, a from u where email = 'user42'"), "id|a\n42|0\nSELECT 1");
    let plan = run(&mut session, "explain select id from u where a = 3 and b = 10 and id > 0");
    assert_eq!(plan, "QUERY PLAN\nFilter: (#0 > 0)\n->  Index lookup on u@u_a_b_key (3, 10)\nEXPLAIN");
    assert_eq!(run(&mut session, "select id from u where a = 3 and b = 10"), "id\n10\nSELECT 1");
    // Only the leading column pinned: every entry under it, in index order.
    let plan = run(&mut session, "explain select id from u where a = 6");
    assert_eq!(plan, "QUERY PLAN\nIndex lookup on u@u_a_b_key (6)\nEXPLAIN");
    let sixes = run(&mut session, "select count(*), sum(id) from u where a = 6");
    assert_eq!(sixes, "count|sum\n42|6279\nSELECT 1");
    // A descending index, backfilled from the rows already there.
    assert_eq!(
        run(&mut session, "explain select id from u where b = 299"),
        "QUERY PLAN\nIndex lookup on u@by_b (299)\nEXPLAIN"
    );
    assert_eq!(run(&mut session, "select id from u where b = 299"), "id\n299\nSELECT 1");
    assert_eq!(run(&mut session, "select id from u where b = null"), "id\nSELECT 0");
    assert_eq!(run(&mut session, "update u set b = 1000 where id = 299"), "UPDATE 1");
    assert_eq!(run(&mut session, "select id from u where b = 299"), "id\nSELECT 0", "the old entry went");
    assert_eq!(run(&mut session, "select id from u where b = 1000"), "id\n299\nSELECT 1");
    assert_eq!(run(&mut session, "delete from u where b = 1000"), "DELETE 1");
    assert_eq!(run(&mut session, "select id from u where b = 1000"), "id\nSELECT 0");
    // An index lookup that matches many rows reads them in batches.
    run(&mut session, "create index on u (a)");
    assert_eq!(run(&mut session, "update u set a = 1"), "UPDATE 299");
    assert_eq!(run(&mut session, "select count(*) from u where a = 1"), "count\n299\nSELECT 1");
}

#[test]
fn a_unique_index_is_built_from_the_rows_or_refused() {
    let mut session = Cluster::new().session(1);
    run(&mut session, "create table v (n int, m int)");
    assert_eq!(run(&mut session, "insert into v values (1, 1), (1, 2), (null, 3), (null, 4)"), "INSERT 0 4");
    assert_eq!(
        run_verbose(&mut session, "create unique index vn on v (n)"),
        "ERROR 23505: could not create unique index \"vn\"\nDETAIL: Key (n)=(1) is duplicated."
    );
    assert_eq!(run(&mut session, "select * from vn"), "ERROR 42P01: relation \"vn\" does not exist");
    assert_eq!(run(&mut session, "create unique index vm on v (m)"), "CREATE INDEX");
    assert_eq!(
        run(&mut session, "insert into v values (7, 4)"),
        "ERROR 23505: duplicate key value violates unique constraint \"vm\""
    );
    assert_eq!(run(&mut session, "select n from v where m = 3"), "n\nNULL\nSELECT 1");
    // Transactional: an index created in a rolled-back block is gone, name and entries.
    assert_eq!(run(&mut session, "begin; create index vn on v (n); rollback"), "BEGIN\nCREATE INDEX\nROLLBACK");
    assert_eq!(run(&mut session, "create index vn on v (n)"), "CREATE INDEX");
    assert_eq!(run(&mut session, "select m from v where n = 1 order by m"), "m\n1\n2\nSELECT 2");
}

#[test]
fn on_conflict_skips_or_updates_the_row_it_collides_with() {
    let mut session = users();
    run(&mut session, "insert into u values (1, 'x', 1, 1)");
    assert_eq!(run(&mut session, "insert into u values (5, 'x', 9, 9) on conflict (email) do nothing"), "INSERT 0 0");
    assert_eq!(
        run(&mut session, "insert into u values (5, 'x', 9, 9) on conflict (a) do nothing"),
        "ERROR 42P10: there is no unique or exclusion constraint matching the ON CONFLICT specification"
    );
    assert_eq!(
        run(&mut session, "insert into u values (5, 'x', 9, 9) on conflict (id) do nothing"),
        "ERROR 23505: duplicate key value violates unique constraint \"u_email_key\"",
        "a collision on another index than the arbiter is an error"
    );
    assert_eq!(run(&mut session, "insert into u values (5, 'x', 1, 1) on conflict do nothing"), "INSERT 0 0");
    assert_eq!(
        run(&mut session, "insert into u values (1, 'y', 9, 9) on conflict do update set email = 'z'"),
        "ERROR 42601: ON CONFLICT DO UPDATE requires inference specification or constraint name"
    );
    assert_eq!(
        run(
            &mut session,
            "insert into u values (1, 'y', 9, 9) on conflict (id) do update set email = excluded.email || email"
        ),
        "ERROR 42702: column reference \"email\" is ambiguous"
    );
    assert_eq!(
        run(
            &mut session,
            "insert into u values (1, 'y', 9, 9), (2, 'w', 2, 2) on conflict (id) \
             do update set email = excluded.email || u.email, a = excluded.a + u.a returning *"
        ),
        "id|email|a|b\n1|yx|10|1\n2|w|2|2\nINSERT 0 2"
    );
    assert_eq!(run(&mut session, "select id from u where email = 'yx'"), "id\n1\nSELECT 1", "the entry moved");
    assert_eq!(run(&mut session, "select id from u where email = 'x'"), "id\nSELECT 0");
    assert_eq!(
        run(
            &mut session,
            "insert into u values (1, 'q', 9, 9), (1, 'r', 9, 9) on conflict (id) do update set email = excluded.email"
        ),
        "ERROR 21000: ON CONFLICT DO UPDATE command cannot affect row a second time"
    );
    assert_eq!(
        run(&mut session, "insert into u values (1, 'q', 9, 9) on conflict (id) do update set email = excluded.email where u.a = 100 returning *"),
        "id|email|a|b\nINSERT 0 0"
    );
    assert_eq!(
        run(
            &mut session,
            "insert into u as t values (1, 'q', 9, 9) on conflict on constraint u_pkey do update set b = t.b + 1"
        ),
        "INSERT 0 1"
    );
    assert_eq!(
        run(&mut session, "insert into u values (2, 'yx', 0, 0) on conflict (id) do update set email = excluded.email"),
        "ERROR 23505: duplicate key value violates unique constraint \"u_email_key\"",
        "the updated row is checked too"
    );
    assert_eq!(
        run(&mut session, "insert into u values (1, 'q', 9, 9) on conflict on constraint nope do nothing"),
        "ERROR 42704: constraint \"nope\" for table \"u\" does not exist"
    );
    assert_eq!(run(&mut session, "select * from u order by id"), "id|email|a|b\n1|yx|10|2\n2|w|2|2\nSELECT 2");
}

/// One random change to the table `t (id pk, code unique, tag)` and what a
/// model of it predicts.
#[derive(Clone, Debug)]
enum Change {
    Insert { id: u8, code: Option<u8>, tag: u8 },
    SetCode { id: u8, code: Option<u8> },
    SetTag { tag: u8, new_tag: u8 },
    Delete { id: u8 },
}

fn change() -> impl Strategy<Value = Change> {
    let code = prop_oneof![1 => Just(None), 4 => (0u8..12).prop_map(Some)];
    prop_oneof![
        (0u8..16, code.clone(), 0u8..4).prop_map(|(id, code, tag)| Change::Insert { id, code, tag }),
        (0u8..16, code).prop_map(|(id, code)| Change::SetCode { id, code }),
        (0u8..4, 0u8..4).prop_map(|(tag, new_tag)| Change::SetTag { tag, new_tag }),
        (0u8..16).prop_map(|id| Change::Delete { id }),
    ]
}

fn sql_code(code: Option<u8>) -> String {
    code.map_or("null".into(), |code| code.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// After any sequence of changes, each index answers what the rows hold:
    /// every lookup by `code` and by `tag` returns exactly the model's rows,
    /// and a change is refused exactly when the model says it breaks a key.
    #[test]
    fn index_lookups_always_agree_with_the_rows(changes in proptest::collection::vec(change(), 1..24)) {
        let mut session = Cluster::new().session(3);
        run(&mut session, "create table t (id int primary key, code int unique, tag int)");
        run(&mut session, "create index t_tag on t (tag)");
        let mut model: BTreeMap<u8, (Option<u8>, u8)> = BTreeMap::new();
        for change in changes {
            let code_taken = |model: &BTreeMap<u8, (Option<u8>, u8)>, code: Option<u8>, except: Option<u8>| {
                code.is_some() && model.iter().any(|(id, row)| Some(*id) != except && row.0 == code)
            };
            let (text, accepted) = match change {
                Change::Insert { id, code, tag } => {
                    let accepted = !model.contains_key(&id) && !code_taken(&model, code, None);
                    if accepted {
                        model.insert(id, (code, tag));
                    }
                    (format!("insert into t values ({id}, {}, {tag})", sql_code(code)), accepted)
                }
                Change::SetCode { id, code } => {
                    let accepted = !model.contains_key(&id) || !code_taken(&model, code, Some(id));
                    if accepted {
                        if let Some(row) = model.get_mut(&id) {
                            row.0 = code;
                        }
                    }
                    (format!("update t set code = {} where id = {id}", sql_code(code)), accepted)
                }
                Change::SetTag { tag, new_tag } => {
                    model.values_mut().filter(|row| row.1 == tag).for_each(|row| row.1 = new_tag);
                    (format!("update t set tag = {new_tag} where tag = {tag}"), true)
                }
                Change::Delete { id } => {
                    model.remove(&id);
                    (format!("delete from t where id = {id}"), true)
                }
            };
            let answer = run(&mut session, &text);
            prop_assert_eq!(!answer.starts_with("ERROR 23505"), accepted, "{} answered {}", text, answer);
        }
        for code in 0u8..12 {
            let expected: Vec<String> =
                model.iter().filter(|(_, row)| row.0 == Some(code)).map(|(id, _)| id.to_string()).collect();
            let answer = run(&mut session, &format!("select id from t where code = {code}"));
            prop_assert_eq!(answer, format!("id\n{}SELECT {}", expected.iter().map(|id| format!("{id}\n")).collect::<String>(), expected.len()));
        }
        for tag in 0u8..4 {
            let expected: Vec<String> =
                model.iter().filter(|(_, row)| row.1 == tag).map(|(id, _)| id.to_string()).collect();
            let answer = run(&mut session, &format!("select id from t where tag = {tag} order by id"));
            prop_assert_eq!(answer, format!("id\n{}SELECT {}", expected.iter().map(|id| format!("{id}\n")).collect::<String>(), expected.len()));
        }
    }
}
