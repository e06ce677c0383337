//! The web client's DOM-free parts under Node's own test runner: the
//! meeting model (every server message applied, every client message
//! built) and the dictionaries (both languages complete, every key the
//! pages use defined). `web-client/tests/*.test.mjs`; no npm packages.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_web_clients_model_and_dictionaries_pass_their_node_tests() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web-client");
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/"])
        .current_dir(&dir)
        .output()
        .expect("node (Node.js is on the machine image; see README)");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "web-client/tests failed");
    assert!(report.contains("pass") && !report.contains("# pass 0"), "no test ran");
}
