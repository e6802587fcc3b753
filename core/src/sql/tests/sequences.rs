//! Sequences, serial and identity columns; expected answers are PostgreSQL 15's.

use super::*;

#[test]
fn a_serial_column_numbers_rows_and_never_reuses_a_value() {
    let cluster = Cluster::new();
    let mut session = cluster.session(1);
    assert_eq!(run(&mut session, "create table s1 (id serial primary key, name text)"), "CREATE TABLE");
    assert_eq!(run(&mut session, "insert into s1 (name) values ('a'), ('b') returning id"), "id\n1\n2\nINSERT 0 2");
    assert_eq!(
        run(&mut session, "begin; insert into s1 (name) values ('rolled back'); rollback"),
        "BEGIN\nINSERT 0 1\nROLLBACK"
    );
    assert_eq!(run(&mut session, "insert into s1 (name) values ('c') returning *"), "id|name\n4|c\nINSERT 0 1");
    assert_eq!(run(&mut session, "select currval('s1_id_seq')"), "currval\n4\nSELECT 1");
    assert_eq!(run(&mut session, "insert into s1 values (10, 'x')"), "INSERT 0 1");
    assert_eq!(
        run(&mut session, "select nextval('s1_id_seq'), nextval('s1_id_seq'), currval('s1_id_seq')"),
        "nextval|nextval|currval\n5|6|6\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "drop sequence s1_id_seq"),
        "ERROR 2BP01: cannot drop sequence s1_id_seq because other objects depend on it"
    );
    assert_eq!(run(&mut session, "insert into s1 (id, name) values (default, 'd') returning id"), "id\n7\nINSERT 0 1");
    // currval is the session's own: another session has taken none yet.
    let mut other = cluster.session(2);
    assert_eq!(
        run(&mut other, "select currval('s1_id_seq')"),
        "ERROR 55000: currval of sequence \"s1_id_seq\" is not yet defined in this session"
    );
    assert_eq!(run(&mut other, "insert into s1 (name) values ('e') returning id"), "id\n8\nINSERT 0 1");
    assert_eq!(run(&mut session, "select count(*) from s1"), "count\n6\nSELECT 1");
    // The sequence goes with its table.
    assert_eq!(run(&mut session, "drop table s1"), "DROP TABLE");
    assert_eq!(run(&mut session, "select nextval('s1_id_seq')"), "ERROR 42P01: relation \"s1_id_seq\" does not exist");
}

#[test]
fn sequences_step_within_their_bounds_and_setval_moves_them() {
    let mut session = Cluster::new().session(1);
    assert_eq!(run(&mut session, "create sequence s"), "CREATE SEQUENCE");
    assert_eq!(
        run(&mut session, "select currval('s')"),
        "ERROR 55000: currval of sequence \"s\" is not yet defined in this session"
    );
    assert_eq!(
        run(&mut session, "select nextval('s'), setval('s', 100), nextval('s')"),
        "nextval|setval|nextval\n1|100|101\nSELECT 1",
        "calls run in the order they are written"
    );
    assert_eq!(run(&mut session, "select setval('s', 5, false), nextval('s')"), "setval|nextval\n5|5\nSELECT 1");
    assert_eq!(
        run(&mut session, "select setval('s', 0)"),
        "ERROR 22003: setval: value 0 is out of bounds for sequence \"s\" (1..9223372036854775807)"
    );
    assert_eq!(run(&mut session, "create sequence d increment -2 minvalue 1 maxvalue 5"), "CREATE SEQUENCE");
    assert_eq!(
        run(&mut session, "select nextval('d'), nextval('d'), nextval('d')"),
        "nextval|nextval|nextval\n5|3|1\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "select nextval('d')"),
        "ERROR 2200H: nextval: reached minimum value of sequence \"d\" (1)"
    );
    assert_eq!(run(&mut session, "create sequence small as smallint start 32766"), "CREATE SEQUENCE");
    assert_eq!(
        run(&mut session, "select nextval('small'), nextval('small')"),
        "nextval|nextval\n32766|32767\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "select nextval('small')"),
        "ERROR 2200H: nextval: reached maximum value of sequence \"small\" (32767)"
    );
    assert_eq!(run(&mut session, "create sequence s"), "ERROR 42P07: relation \"s\" already exists");
    assert_eq!(
        run(&mut session, "create sequence if not exists s"),
        "NOTICE: relation \"s\" already exists, skipping\nCREATE SEQUENCE"
    );
    assert_eq!(run(&mut session, "select nextval('nope')"), "ERROR 42P01: relation \"nope\" does not exist");
    run(&mut session, "create table t (a int); insert into t values (1)");
    assert_eq!(run(&mut session, "select nextval('t')"), "ERROR 42809: \"t\" is not a sequence");
    assert_eq!(
        run(&mut session, "create sequence bad start 0"),
        "ERROR 22023: START value (0) cannot be less than MINVALUE (1)"
    );
    assert_eq!(run(&mut session, "create sequence bad increment 0"), "ERROR 22023: INCREMENT must not be zero");
    assert_eq!(run(&mut session, "select nextval('S'), nextval('public.s')"), "nextval|nextval\n6|7\nSELECT 1");
    assert_eq!(
        run(&mut session, "select a from t where nextval('s') > 0"),
        "ERROR 0A000: nextval, currval or setval in this clause is not supported"
    );
    assert_eq!(run(&mut session, "drop sequence s, d, small"), "DROP SEQUENCE");
    assert_eq!(run(&mut session, "drop sequence s"), "ERROR 42P01: sequence \"s\" does not exist");
    assert_eq!(
        run(&mut session, "drop sequence if exists s"),
        "NOTICE: sequence \"s\" does not exist, skipping\nDROP SEQUENCE"
    );
}

#[test]
fn an_identity_column_takes_values_unless_given_one() {
    let mut session = Cluster::new().session(1);
    assert_eq!(
        run(&mut session, "create table s2 (id bigint generated by default as identity, v int)"),
        "CREATE TABLE"
    );
    assert_eq!(run(&mut session, "insert into s2 (v) values (1), (2)"), "INSERT 0 2");
    assert_eq!(run(&mut session, "insert into s2 values (7, 3)"), "INSERT 0 1");
    assert_eq!(run(&mut session, "select * from s2 order by id"), "id|v\n1|1\n2|2\n7|3\nSELECT 3");
    assert_eq!(
        run(&mut session, "insert into s2 (id, v) values (null, 4)"),
        "ERROR 23502: null value in column \"id\" of relation \"s2\" violates not-null constraint"
    );
    assert_eq!(
        run(&mut session, "update s2 set id = nextval('s2_id_seq') where v = 3 returning id"),
        "id\n3\nUPDATE 1"
    );
    assert_eq!(
        run(&mut session, "create table s3 (id text generated by default as identity)"),
        "ERROR 22023: identity column type must be smallint, integer, or bigint"
    );
}
