//! Compiles the slice of etcd's API the benchmark uses (protox: no protoc needed).

fn main() {
    println!("cargo:rerun-if-changed=proto/etcd_kv.proto");
    let descriptors = match protox::compile(["proto/etcd_kv.proto"], ["proto"]) {
        Ok(descriptors) => descriptors,
        Err(error) => panic!("cannot parse proto/etcd_kv.proto: {error}"),
    };
    if let Err(error) = tonic_prost_build::configure().build_server(false).compile_fds(descriptors) {
        panic!("cannot generate Rust code from proto/etcd_kv.proto: {error}");
    }
}
