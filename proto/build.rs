//! Compiles the protobuf schemas into Rust with prost: `proto/raft.proto` always,
//! and with the `grpc` feature `proto/node.proto` with its tonic services.
//!
//! The schemas are parsed by protox, a pure-Rust protobuf compiler, so building
//! this crate needs no `protoc` binary on the machine.

fn main() {
    println!("cargo:rerun-if-changed=proto/raft.proto");
    println!("cargo:rerun-if-changed=proto/node.proto");
    let compile = |file: &str| match protox::compile([file], ["proto"]) {
        Ok(descriptors) => descriptors,
        // protox's error renders the file, line and column of the problem.
        Err(error) => panic!("cannot parse {file}: {error}"),
    };
    if let Err(error) = prost_build::Config::new().compile_fds(compile("proto/raft.proto")) {
        panic!("cannot generate Rust code from proto/raft.proto: {error}");
    }
    #[cfg(feature = "grpc")]
    if let Err(error) = tonic_prost_build::configure().compile_fds(compile("proto/node.proto")) {
        panic!("cannot generate Rust code from proto/node.proto: {error}");
    }
}
