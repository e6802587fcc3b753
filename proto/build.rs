//! Compiles `proto/raft.proto` into Rust with prost.
//!
//! The schema is parsed by protox, a pure-Rust protobuf compiler, so building this
//! crate needs no `protoc` binary on the machine.

fn main() {
    println!("cargo:rerun-if-changed=proto/raft.proto");
    let descriptors = match protox::compile(["proto/raft.proto"], ["proto"]) {
        Ok(descriptors) => descriptors,
        // protox's error renders the file, line and column of the problem.
        Err(error) => panic!("cannot parse proto/raft.proto: {error}"),
    };
    if let Err(error) = prost_build::Config::new().compile_fds(descriptors) {
        panic!("cannot generate Rust code from proto/raft.proto: {error}");
    }
}
