//! Transaction blocks, transactional DDL, and conflicts between sessions.

use super::*;
use crate::sql::session::TransactionStatus;

#[test]
fn a_rolled_back_block_leaves_nothing_behind_ddl_included() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    assert_eq!(run(&mut session, "begin"), "BEGIN");
    assert_eq!(session.status(), TransactionStatus::InBlock);
    run(&mut session, "create table t (a int primary key)");
    assert_eq!(run(&mut session, "insert into t values (1)"), "INSERT 0 1");
    assert_eq!(run(&mut session, "select * from t"), "a\n1\nSELECT 1", "a block reads its own writes");
    assert_eq!(run(&mut session, "rollback"), "ROLLBACK");
    assert_eq!(session.status(), TransactionStatus::Idle);
    assert_eq!(run(&mut session, "select * from t"), "ERROR 42P01: relation \"t\" does not exist");

    run(&mut session, "begin; create table t (a int primary key); insert into t values (2); commit");
    assert_eq!(run(&mut session, "select * from t"), "a\n2\nSELECT 1");
    assert_eq!(run(&mut session, "begin; drop table t; rollback"), "BEGIN\nDROP TABLE\nROLLBACK");
    assert_eq!(run(&mut session, "select * from t"), "a\n2\nSELECT 1");
}

#[test]
fn after_an_error_a_block_answers_25p02_until_rollback() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    run(&mut session, "create table t (a int primary key)");
    run(&mut session, "begin; insert into t values (1)");
    assert_eq!(
        run(&mut session, "insert into t values (1)"),
        "ERROR 23505: duplicate key value violates unique constraint \"t_pkey\""
    );
    assert_eq!(session.status(), TransactionStatus::Failed);
    assert_eq!(
        run(&mut session, "select 1"),
        "ERROR 25P02: current transaction is aborted, commands ignored until end of transaction block"
    );
    assert_eq!(run(&mut session, "commit"), "ROLLBACK", "COMMIT of a failed block rolls back");
    assert_eq!(session.status(), TransactionStatus::Idle);
    assert_eq!(run(&mut session, "select * from t"), "a\nSELECT 0");
    assert_eq!(run(&mut session, "commit"), "WARNING: there is no transaction in progress\nCOMMIT");
    assert_eq!(
        run(&mut session, "begin isolation level read committed"),
        "NOTICE: isolation level READ COMMITTED runs as SERIALIZABLE\nBEGIN"
    );
}

#[test]
fn a_conflict_in_a_block_reaches_the_client_as_40001_and_an_implicit_statement_retries() {
    let cluster = Cluster::new();
    let (mut first, mut second) = (cluster.session(1), cluster.session(2));
    run(&mut first, "create table counters (id int primary key, n int)");
    run(&mut first, "insert into counters values (1, 0)");
    // Both read the counter, then both write it: the second commit must not lose the first.
    run(&mut first, "begin; select n from counters where id = 1");
    run(&mut second, "begin; select n from counters where id = 1");
    run(&mut first, "update counters set n = n + 1 where id = 1");
    let second_update = run(&mut second, "update counters set n = n + 1 where id = 1");
    let first_commit = run(&mut first, "commit");
    let second_commit = run(&mut second, "commit");
    let failures =
        [&second_update, &first_commit, &second_commit].iter().filter(|text| text.contains("ERROR 40001")).count();
    assert!(failures >= 1, "one of them must fail: {second_update} / {first_commit} / {second_commit}");
    let survivors = run(&mut first, "select n from counters");
    let committed = [first_commit == "COMMIT", second_commit == "COMMIT" && !second_update.contains("ERROR")];
    let expected = committed.iter().filter(|committed| **committed).count();
    assert_eq!(survivors, format!("n\n{expected}\nSELECT 1"));

    // An implicit statement meeting the open block of another session restarts itself and gets through.
    run(&mut second, "begin; update counters set n = 100 where id = 1");
    run(&mut second, "rollback");
    assert_eq!(run(&mut first, "update counters set n = n + 1 where id = 1"), "UPDATE 1");
}

#[test]
fn several_statements_in_one_string_are_one_implicit_transaction() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    run(&mut session, "create table t (a int primary key)");
    // PostgreSQL 15: the duplicate undoes the first insert too.
    assert_eq!(
        run(&mut session, "insert into t values (1); insert into t values (1)"),
        "INSERT 0 1\nERROR 23505: duplicate key value violates unique constraint \"t_pkey\""
    );
    assert_eq!(session.status(), TransactionStatus::Idle);
    assert_eq!(run(&mut session, "select * from t"), "a\nSELECT 0");
    assert_eq!(
        run(&mut session, "insert into t values (1); insert into t values (2); select * from t"),
        "INSERT 0 1\nINSERT 0 1\na\n1\n2\nSELECT 2"
    );
    // A BEGIN makes the implicit transaction the block, the insert before it
    // included: the ROLLBACK undoes it (PostgreSQL 15 leaves no row 3 either).
    assert_eq!(
        run(&mut session, "insert into t values (3); begin; insert into t values (3)"),
        "INSERT 0 1\nBEGIN\nERROR 23505: duplicate key value violates unique constraint \"t_pkey\""
    );
    assert_eq!(session.status(), TransactionStatus::Failed);
    assert_eq!(run(&mut session, "rollback; select * from t"), "ROLLBACK\na\n1\n2\nSELECT 2");
    // A COMMIT ends the implicit transaction; what follows is another.
    assert_eq!(
        run(&mut session, "insert into t values (4); commit; insert into t values (4)"),
        "INSERT 0 1\nWARNING: there is no transaction in progress\nCOMMIT\nERROR 23505: duplicate key value violates unique constraint \"t_pkey\""
    );
    assert_eq!(run(&mut session, "select * from t"), "a\n1\n2\n4\nSELECT 3");
    // ROLLBACK in a string undoes what came before it in that string (PostgreSQL 15 warns likewise).
    assert_eq!(
        run(&mut session, "insert into t values (5); rollback"),
        "INSERT 0 1\nWARNING: there is no transaction in progress\nROLLBACK"
    );
    assert_eq!(run(&mut session, "select * from t where a = 5"), "a\nSELECT 0");
}
