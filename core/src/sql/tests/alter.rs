//! ALTER TABLE and TRUNCATE; expected answers are PostgreSQL 15's.

use super::*;

#[test]
fn columns_are_added_dropped_and_renamed_with_postgresqls_checks() {
    let mut session = Cluster::new().session(1);
    run(&mut session, "create table a1 (id int primary key, v int); insert into a1 values (1, 10), (2, 20)");
    assert_eq!(run(&mut session, "alter table a1 add column w text default 'x'"), "ALTER TABLE");
    assert_eq!(run(&mut session, "select * from a1 order by id"), "id|v|w\n1|10|x\n2|20|x\nSELECT 2");
    assert_eq!(
        run(&mut session, "alter table a1 add column n int not null"),
        "ERROR 23502: column \"n\" of relation \"a1\" contains null values"
    );
    assert_eq!(
        run(&mut session, "alter table a1 add column c int check (c > 0) default 0"),
        "ERROR 23514: check constraint \"a1_c_check\" of relation \"a1\" is violated by some row"
    );
    assert_eq!(
        run(&mut session, "alter table a1 add column w int"),
        "ERROR 42701: column \"w\" of relation \"a1\" already exists"
    );
    assert_eq!(
        run(&mut session, "alter table a1 add column if not exists w int"),
        "NOTICE: column \"w\" of relation \"a1\" already exists, skipping\nALTER TABLE"
    );
    assert_eq!(
        run(&mut session, "alter table a1 drop column nope"),
        "ERROR 42703: column \"nope\" of relation \"a1\" does not exist"
    );
    assert_eq!(
        run(&mut session, "alter table a1 drop column if exists nope"),
        "NOTICE: column \"nope\" of relation \"a1\" does not exist, skipping\nALTER TABLE"
    );
    assert_eq!(run(&mut session, "create index on a1 (v)"), "CREATE INDEX");
    assert_eq!(run(&mut session, "alter table a1 drop column v"), "ALTER TABLE");
    assert_eq!(run(&mut session, "select * from a1 order by id"), "id|w\n1|x\n2|x\nSELECT 2");
    assert_eq!(run(&mut session, "create index a1_v_idx on a1 (w)"), "CREATE INDEX", "the dropped column's index went");
    assert_eq!(run(&mut session, "alter table a1 rename column w to ww"), "ALTER TABLE");
    assert_eq!(
        run(&mut session, "alter table a1 rename column nope to x"),
        "ERROR 42703: column \"nope\" does not exist"
    );
    assert_eq!(
        run(&mut session, "alter table a1 rename column ww to id"),
        "ERROR 42701: column \"id\" of relation \"a1\" already exists"
    );
    assert_eq!(run(&mut session, "alter table a1 rename to a2"), "ALTER TABLE");
    assert_eq!(run(&mut session, "select * from a2 where ww = 'x' order by id"), "id|ww\n1|x\n2|x\nSELECT 2");
    assert_eq!(run(&mut session, "select * from a1"), "ERROR 42P01: relation \"a1\" does not exist");
    // A column added without a default reads as NULL in the rows already there: nothing is rewritten.
    assert_eq!(
        run(&mut session, "alter table a2 add column later int; select later from a2"),
        "ALTER TABLE\nlater\nNULL\nNULL\nSELECT 2"
    );
    assert_eq!(run(&mut session, "alter table nope add column x int"), "ERROR 42P01: relation \"nope\" does not exist");
    assert_eq!(
        run(&mut session, "alter table if exists nope add column x int"),
        "NOTICE: relation \"nope\" does not exist, skipping\nALTER TABLE"
    );
    // Transactional: a rolled-back ALTER leaves the table as it was.
    assert_eq!(
        run(&mut session, "begin; alter table a2 drop column ww; rollback; select ww from a2 where id = 1"),
        "BEGIN\nALTER TABLE\nROLLBACK\nww\nx\nSELECT 1"
    );
}

#[test]
fn truncate_empties_tables_and_restart_identity_rewinds_their_sequences() {
    let mut session = Cluster::new().session(1);
    run(&mut session, "create table a3 (id serial primary key, t text unique); create table a4 (n int)");
    assert_eq!(
        run(&mut session, "insert into a3 (t) values ('a'), ('b'); insert into a4 values (1)"),
        "INSERT 0 2\nINSERT 0 1"
    );
    assert_eq!(run(&mut session, "truncate a3"), "TRUNCATE TABLE");
    assert_eq!(run(&mut session, "select * from a3"), "id|t\nSELECT 0");
    assert_eq!(run(&mut session, "select * from a3 where t = 'a'"), "id|t\nSELECT 0", "the index is empty too");
    assert_eq!(run(&mut session, "insert into a3 (t) values ('a') returning id"), "id\n3\nINSERT 0 1");
    assert_eq!(run(&mut session, "truncate a3, a4 restart identity"), "TRUNCATE TABLE");
    assert_eq!(run(&mut session, "insert into a3 (t) values ('a') returning id"), "id\n1\nINSERT 0 1");
    assert_eq!(run(&mut session, "select * from a4"), "n\nSELECT 0");
    assert_eq!(run(&mut session, "select * from a3 where t = 'a'"), "id|t\n1|a\nSELECT 1");
    assert_eq!(
        run(&mut session, "drop index a3_t_key"),
        "ERROR 2BP01: cannot drop index a3_t_key because constraint a3_t_key on table a3 requires it",
        "the name follows the new index"
    );
    assert_eq!(
        run(&mut session, "begin; truncate a3; rollback; select count(*) from a3"),
        "BEGIN\nTRUNCATE TABLE\nROLLBACK\ncount\n1\nSELECT 1"
    );
    assert_eq!(run(&mut session, "truncate nope"), "ERROR 42P01: relation \"nope\" does not exist");
}
