use super::*;

fn sources(env: &[(&str, &str)], overrides: &[&str]) -> Sources {
    Sources {
        file: None,
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        overrides: overrides.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn defaults_are_valid_and_loopback() {
    let config = Config::load(&Sources::default()).expect("defaults load");
    assert_eq!(config, Config::default());
    assert!(config.http.listen.ip().is_loopback());
    assert_eq!(config.http.listen.port(), DEFAULT_HTTP_PORT);
}

#[test]
fn bad_port_names_key_and_reason() {
    let err = Config::load(&sources(&[], &["sfu.udp_port=70000"])).expect_err("70000 is refused");
    assert_eq!(err.to_string(), "invalid configuration:\n  sfu.udp_port: 70000 is not a port");
}

#[test]
fn wrong_type_names_key() {
    let err = Config::load(&sources(&[("HUIYI_SFU_WORKERS", "many")], &[])).expect_err("string for a number");
    let problems = err.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].key, "sfu.workers");
}

#[test]
fn unknown_key_is_refused() {
    let err = Config::load(&sources(&[], &["sfu.udp_prot=1"])).expect_err("typo");
    assert!(err.to_string().contains("udp_prot"), "{err}");
}

#[test]
fn later_sources_win() {
    let dir = std::env::temp_dir().join(format!("huiyi-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("a.toml");
    std::fs::write(&file, "[sfu]\nudp_port = 41000\nworkers = 3\n[log]\nlevel = \"debug\"\n").expect("write");
    let mut s =
        sources(&[("HUIYI_SFU_UDP_PORT", "42000"), ("HUIYI_DATA_DIR", "/srv/huiyi")], &["sfu.workers=2"]);
    s.file = Some(file);
    let config = Config::load(&s).expect("loads");
    assert_eq!(config.sfu.udp_port, 42000, "env beats file");
    assert_eq!(config.sfu.workers, 2, "flag beats file");
    assert_eq!(config.log.level, "debug", "file beats default");
    assert_eq!(config.data_dir, PathBuf::from("/srv/huiyi"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn comma_list_from_env() {
    let config = Config::load(&sources(
        &[("HUIYI_SFU_ADVERTISED_IPS", "10.1.2.3,10.1.2.4"), ("HUIYI_SFU_BIND_ADDRESS", "0.0.0.0")],
        &[],
    ))
    .expect("loads");
    assert_eq!(config.sfu.advertised_ips.len(), 2);
}

#[test]
fn unspecified_bind_needs_advertised_ips() {
    let err = Config::load(&sources(&[], &["sfu.bind_address=\"0.0.0.0\""])).expect_err("needs ips");
    assert_eq!(err.problems()[0].key, "sfu.advertised_ips");
}

#[test]
fn broken_toml_file_is_a_syntax_error() {
    let dir = std::env::temp_dir().join(format!("huiyi-config-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[sfu\nudp_port = ").expect("write");
    let s = Sources { file: Some(file), ..Default::default() };
    assert!(matches!(Config::load(&s), Err(ConfigError::Syntax { .. })));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_log_level() {
    let err = Config::load(&sources(&[("HUIYI_LOG_LEVEL", "loud")], &[])).expect_err("refused");
    assert_eq!(err.problems()[0].key, "log.level");
}

#[test]
fn sample_file_documents_every_key_and_parses() {
    let text = include_str!("../huiyi.toml");
    let config = Config::from_toml_str(text).expect("sample parses");
    // Every key of the defaults appears in the sample, so the sample documents them all.
    let defaults = toml::Value::try_from(Config::default()).expect("serialize");
    let sample: toml::Table = text.parse().expect("toml");
    for (section, value) in defaults.as_table().expect("table") {
        match value {
            toml::Value::Table(keys) => {
                for key in keys.keys() {
                    let present = sample.get(section).and_then(|s| s.get(key)).is_some()
                        || text.contains(&format!("# {key} ="));
                    assert!(present, "{section}.{key} is not documented in config/huiyi.toml");
                }
            }
            _ => assert!(sample.contains_key(section), "{section} is not documented"),
        }
    }
    assert_eq!(config.sfu.udp_port, 40000);
}

#[test]
fn limits_are_checked_and_settable_from_the_environment() {
    let config = Config::load(&sources(&[("HUIYI_LIMITS_MEETINGS", "20")], &[])).expect("loads");
    assert_eq!(config.limits.meetings, 20);
    let err =
        Config::load(&sources(&[], &["limits.participants=100", "limits.participants_per_meeting=500"]))
            .expect_err("a meeting larger than the server");
    assert_eq!(err.problems()[0].key, "limits.participants_per_meeting");
    let err = Config::load(&sources(&[], &["limits.sdp_bytes=100"])).expect_err("too small for any browser");
    assert_eq!(err.to_string(), "invalid configuration:\n  limits.sdp_bytes: must be between 4096 and 61440");
}
