//! Issue 13's reach scenarios with real Chromium participants in network
//! namespaces this test creates (tests/netlink/setup.sh, the link between
//! them left unshaped): a venue whose firewall drops every UDP packet
//! (nftables in its namespace) gets its media over ICE-TCP
//! (tests/browser/udpblocked.test.mjs, which asserts that all three see and
//! hear each other and that the blocked venue's path is TCP).
//!
//! Needs root (namespaces, TUN devices, nftables); without it the test says
//! so and passes, as a machine without Chromium would fail the other
//! browser tests.

use std::path::PathBuf;
use std::process::Command;

fn root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_venue_whose_firewall_drops_udp_gets_its_media_over_ice_tcp() {
    if !root() {
        eprintln!("skipped: the reach scenarios need root (network namespaces, TUN devices, nftables)");
        return;
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let browser = here.join("browser");
    huiyi_tests::server::run_setup(&browser.join("setup.sh"));
    let netlink = here.join("netlink").join("setup.sh");
    let _ = Command::new("bash").arg(&netlink).arg("gc").status();
    let id = format!("r{}", std::process::id() % 100_000);
    let status = Command::new("bash")
        .arg(&netlink)
        .args(["run", "--id", &id, "--start-healed", "--"])
        .args(["node", "--test", "--test-reporter=spec", "udpblocked.test.mjs"])
        .current_dir(&browser)
        .env("HUIYI_BIN", env!("CARGO_BIN_EXE_huiyi-server-for-tests"))
        .env("HUIYI_REACH_SERVER_LOG", std::env::temp_dir().join(format!("huiyi-reach-{id}.log")))
        .status()
        .expect("run the scenario");
    assert!(status.success(), "the UDP-blocked venue's scenario failed (its report is above)");
}
