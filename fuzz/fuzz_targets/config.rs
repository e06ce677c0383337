//! The configuration: a TOML file (`Config::from_toml_str`, parse and
//! validate), and the same text as `--set key=value` overrides and
//! `HUIYI_*` environment variables, one per line (`Config::load`).
//!
//! Holds: a configuration that loads serialises to TOML that loads to the
//! same configuration; errors say what is wrong, and where; the values
//! the server derives from a valid configuration (ports per worker,
//! candidates) come out without a panic; nothing panics.

#![no_main]

use huiyi_config::{Config, ConfigError, Sources};
use libfuzzer_sys::fuzz_target;

fn holds(config: &Config) {
    config.validate().expect("a loaded configuration is valid");
    let text = toml::to_string(config).expect("a valid configuration serialises");
    let back = Config::from_toml_str(&text).expect("its own TOML loads");
    assert_eq!(&back, config, "the configuration round-trips through TOML");
    for i in 0..config.sfu.worker_count().min(300) {
        let udp = config.sfu.port_of_worker(i);
        let _ = config.sfu.tcp_port_of_worker(i, udp);
    }
    assert!(!config.sfu.candidate_ips().is_empty());
}

fn refused(e: &ConfigError) {
    assert!(!e.to_string().is_empty());
    for p in e.problems() {
        // The key is the override's text when it is not `key=value` (empty for `--set ""`).
        assert!(!p.reason.is_empty(), "a problem says what is wrong: {p:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_toml_str(text) {
        Ok(config) => holds(&config),
        Err(e) => refused(&e),
    }
    let lines: Vec<&str> = text.lines().take(32).collect();
    let env = lines
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("HUIYI_{}", k.trim().replace('.', "_").to_ascii_uppercase()), v.to_string()))
        .collect();
    for sources in [
        Sources { file: None, env: Vec::new(), overrides: lines.iter().map(|l| l.to_string()).collect() },
        Sources { file: None, env, overrides: Vec::new() },
    ] {
        match Config::load(&sources) {
            Ok(config) => holds(&config),
            Err(e) => refused(&e),
        }
    }
});
