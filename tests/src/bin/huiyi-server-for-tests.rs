//! The `huiyi` program, built by the test crate so that its scenarios that
//! run the server in a network namespace (tests/weaklink.rs) can start it
//! as a process (`CARGO_BIN_EXE_huiyi-server-for-tests`).

fn main() {
    huiyi_signaling::cli::main();
}
