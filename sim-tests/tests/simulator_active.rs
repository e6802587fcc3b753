//! Guard: these tests mean nothing outside the simulator. An environment
//! `RUSTFLAGS` silently replaces the `--cfg madsim` flag of `.cargo/config.toml`,
//! which would run the "simulation" on real time, sockets and threads.

#[test]
fn the_simulator_is_active() {
    let simulator_active = cfg!(madsim);
    assert!(
        simulator_active,
        "sim-tests was built without `--cfg madsim`: is RUSTFLAGS set in the environment? \
         It replaces the flags in .cargo/config.toml. Unset it, or add `--cfg madsim` to it."
    );
}
