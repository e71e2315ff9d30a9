use figment::Jail;

use super::*;
use crate::media::dtmf::DtmfMode;

// figment's Jail closure must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
fn load_in_jail(toml: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut result = None;
    Jail::expect_with(|jail| {
        let file = match toml {
            Some(text) => {
                jail.create_file("hotline.toml", text)?;
                Some(jail.directory().join("hotline.toml"))
            }
            None => None,
        };
        for (name, value) in env {
            jail.set_env(name, value);
        }
        result = Some(Config::load(file.as_deref()));
        Ok(())
    });
    result.expect("jail ran")
}

#[test]
fn every_key_has_a_default() {
    let config = load_in_jail(None, &[]).unwrap();
    assert_eq!(config.sip.listen.to_string(), "127.0.0.1:5060");
    assert_eq!(config.public_address().to_string(), "127.0.0.1");
    assert_eq!(config.database.url, "sqlite://hotline.db");
    assert_eq!(config.prompts.dir, PathBuf::from("prompts/vi"));
    assert_eq!(config.ivr.entry, Entry::Menu);
    assert_eq!(config.first_digit_timeout(), Duration::from_secs(10));
    assert_eq!(config.inter_digit_timeout(), Duration::from_secs(5));
    assert_eq!((config.ivr.menu_tries, config.ivr.code_tries), (3, 3));
    assert_eq!(config.billing.rate_per_minute, 1000);
    assert_eq!(config.billing.currency, "VND");
    assert!(config.billing.announce_rate);
    assert_eq!(config.orphan_after(), Duration::from_secs(150));
    assert_eq!(
        Some(config.node.id.as_str().to_owned()),
        crate::os::host_name().filter(|name| crate::domain::NodeId::parse(name).is_ok()),
        "the node is named after its host"
    );
    let named = load_in_jail(None, &[("HOTLINE_NODE__ID", "hotline-b")]).unwrap();
    assert_eq!(named.node.id.as_str(), "hotline-b");
    assert!(config.security.pepper.is_none());
    assert_eq!(config.security.max_failures_per_caller, 5);
    assert_eq!(config.security.max_failures_per_code, 3);
    assert_eq!(config.security.max_resets_per_account, 5);
    assert_eq!(config.media.realtime_priority, 10);
    assert_eq!(config.sip.threads, 0);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(config.async_threads(), (cores / 4).max(1));
    let three = load_in_jail(None, &[("HOTLINE_SIP__THREADS", "3")]).unwrap();
    assert_eq!(three.async_threads(), 3);
    assert!(
        !config.sip.log_messages,
        "the raw SIP log carries caller numbers: off by default"
    );
}

#[test]
fn file_values_override_defaults_and_env_overrides_the_file() {
    let toml = r#"
        [sip]
        listen = "0.0.0.0:5080"
        public_address = "192.0.2.10"
        allowed_peers = ["10.0.0.0/24"]
        trusted_peers = ["10.0.0.1", "10.0.0.2"]
        [ivr]
        entry = "code"
        [media]
        rtp_port_min = 30000
        rtp_port_max = 30100
    "#;
    let config = load_in_jail(
        Some(toml),
        &[
            ("HOTLINE_SIP__LISTEN", "0.0.0.0:5090"),
            ("HOTLINE_BILLING__RATE_PER_MINUTE", "2000"),
        ],
    )
    .unwrap();
    assert_eq!(config.sip.listen.to_string(), "0.0.0.0:5090");
    assert_eq!(config.public_address().to_string(), "192.0.2.10");
    assert_eq!(config.sip.trusted_peers.len(), 2);
    assert_eq!(config.ivr.entry, Entry::Code);
    assert_eq!(
        (config.media.rtp_port_min, config.media.rtp_port_max),
        (30000, 30100)
    );
    assert_eq!(config.billing.rate_per_minute, 2000);
}

#[test]
fn trusted_peers_accept_a_comma_separated_environment_value() {
    let config = load_in_jail(
        None,
        &[
            (
                "HOTLINE_SIP__ALLOWED_PEERS",
                "127.0.0.1, 10.0.0.0/24, 2001:db8::/32",
            ),
            ("HOTLINE_SIP__TRUSTED_PEERS", "10.0.0.1, 10.0.0.2"),
        ],
    )
    .unwrap();
    assert_eq!(
        config.sip.trusted_peers,
        vec![
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "10.0.0.2".parse().unwrap()
        ]
    );
}

fn error_of(toml: Option<&str>, env: &[(&str, &str)]) -> ConfigError {
    load_in_jail(toml, env).expect_err("the configuration should be refused")
}

#[test]
fn a_bad_value_names_its_key_in_one_line() {
    let e = error_of(None, &[("HOTLINE_SIP__LISTEN", "not-an-address")]);
    assert_eq!(e.key, "sip.listen");
    assert!(e.problem.contains("HOTLINE_"), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");

    let e = error_of(
        Some("[media]\nrtp_port_min = 20000\nrtp_port_max = 10000\n"),
        &[],
    );
    assert_eq!(e.key, "media.rtp_port_max");

    let e = error_of(Some("[ivr]\nentry = \"sometimes\"\n"), &[]);
    assert_eq!(e.key, "ivr.entry");

    let e = error_of(None, &[("HOTLINE_SIP__TRUSTED_PEERS", "10.0.0.1,pbx")]);
    assert!(e.problem.contains("\"pbx\" is not an IP address"), "{e}");

    let e = error_of(
        None,
        &[("HOTLINE_DATABASE__URL", "mysql://root:hunter2@db/x")],
    );
    assert_eq!(e.key, "database.url");
    assert!(!e.to_string().contains("hunter2"), "{e}");

    let e = error_of(None, &[("HOTLINE_NODE__ID", "node a")]);
    assert_eq!(e.key, "node.id");
    assert!(e.problem.contains("letters, digits"), "{e}");

    let e = error_of(None, &[("HOTLINE_BILLING__ORPHAN_AFTER_SECONDS", "60")]);
    assert_eq!(e.key, "billing.orphan_after_seconds");
    assert!(e.problem.contains("more than 60"), "{e}");

    let e = error_of(None, &[("HOTLINE_AUDIT__RETENTION_DAYS", "0")]);
    assert_eq!(e.key, "audit.retention_days");

    let e = error_of(None, &[("HOTLINE_BILLING__UTC_OFFSET", "+7:00")]);
    assert_eq!(e.key, "billing.utc_offset");
    assert!(e.problem.contains("like \"+07:00\""), "{e}");

    let e = error_of(None, &[("HOTLINE_BILLING__CURRENCY", "dong")]);
    assert_eq!(e.key, "billing.currency");

    let e = error_of(None, &[("HOTLINE_SECURITY__PEPPER", "short")]);
    assert_eq!(e.key, "security.pepper");
    assert!(
        !e.to_string().contains("short"),
        "the error must not echo the secret: {e}"
    );

    let e = error_of(None, &[("HOTLINE_IVR__OPERATOR_URI", "tel:+842838000000")]);
    assert_eq!(e.key, "ivr.operator_uri");
    assert!(e.to_string().contains("sip: or sips:"), "{e}");
    let e = error_of(None, &[("HOTLINE_IVR__CODE_TRIES", "0")]);
    assert_eq!(e.key, "ivr.code_tries");

    let e = error_of(None, &[("HOTLINE_MEDIA__THREAD_NICE", "-21")]);
    assert_eq!(e.key, "media.thread_nice");
    assert!(e.problem.contains("-20..=19"), "{e}");

    let e = error_of(None, &[("HOTLINE_MEDIA__REALTIME_PRIORITY", "100")]);
    assert_eq!(e.key, "media.realtime_priority");
    assert!(e.problem.contains("1..=99"), "{e}");

    let e = error_of(None, &[("HOTLINE_MEDIA__THREADS", "1000")]);
    assert_eq!(e.key, "media.threads");

    let e = error_of(None, &[("HOTLINE_SIP__THREADS", "1000")]);
    assert_eq!(e.key, "sip.threads");
}

#[test]
fn call_limits_default_to_what_one_node_serves_and_refuse_zero_or_absurd_values() {
    let defaults = load_in_jail(None, &[]).unwrap();
    assert_eq!(
        defaults.call_limits(),
        CallLimits {
            max_calls: 1000,
            max_new_calls_per_second: 200
        }
    );
    let set = load_in_jail(
        Some("[sip]\nmax_calls = 50\nmax_new_calls_per_second = 5\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        (set.sip.max_calls, set.sip.max_new_calls_per_second),
        (50, 5)
    );

    for (variable, key) in [
        ("HOTLINE_SIP__MAX_CALLS", "sip.max_calls"),
        (
            "HOTLINE_SIP__MAX_NEW_CALLS_PER_SECOND",
            "sip.max_new_calls_per_second",
        ),
    ] {
        for bad in ["0", "2000000"] {
            let e = error_of(None, &[(variable, bad)]);
            assert_eq!(e.key, key, "{variable}={bad}: {e}");
            assert!(e.problem.contains("outside 1..="), "{e}");
        }
        let e = error_of(None, &[(variable, "many")]);
        assert_eq!(e.key, key, "{e}");
    }
}

#[test]
fn a_misspelt_key_is_refused_rather_than_ignored() {
    let e = error_of(Some("[sip]\nlisen = \"127.0.0.1:5060\"\n"), &[]);
    assert!(e.problem.contains("lisen"), "{e}");
}

#[test]
fn a_wildcard_listen_needs_a_public_address() {
    let e = error_of(None, &[("HOTLINE_SIP__LISTEN", "0.0.0.0:5060")]);
    assert_eq!(e.key, "sip.public_address");
}

#[test]
fn a_missing_file_is_named() {
    let e = Config::load(Some(Path::new("/nonexistent/hotline.toml"))).unwrap_err();
    assert_eq!(e.key, "/nonexistent/hotline.toml");
}

#[test]
fn debug_output_hides_the_pepper() {
    let config = load_in_jail(
        None,
        &[("HOTLINE_SECURITY__PEPPER", "0123456789abcdef-secret")],
    )
    .unwrap();
    let dump = format!("{config:?}");
    assert!(!dump.contains("secret"), "{dump}");
    assert!(dump.contains("<set>"));
}

#[test]
fn the_documented_example_is_exactly_the_defaults() {
    let example = include_str!("../../docs/hotline.example.toml");
    let config = load_in_jail(Some(example), &[]).unwrap();
    let defaults = Config::default();
    assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
}

#[test]
fn rtp_is_symmetric_by_default_and_can_be_made_strict() {
    let peer: IpAddr = "10.0.0.5".parse().unwrap();
    let defaults = load_in_jail(None, &[]).unwrap();
    assert!(defaults.media.symmetric_rtp);
    assert_eq!(
        defaults.rtp_sources(peer),
        SourcePolicy::Symmetric {
            signalling_ip: peer
        }
    );
    let from_file = load_in_jail(Some("[media]\nsymmetric_rtp = false\n"), &[]).unwrap();
    assert_eq!(from_file.rtp_sources(peer), SourcePolicy::SdpOnly);
    let from_env = load_in_jail(None, &[("HOTLINE_MEDIA__SYMMETRIC_RTP", "false")]).unwrap();
    assert_eq!(from_env.rtp_sources(peer), SourcePolicy::SdpOnly);
    let bad = load_in_jail(None, &[("HOTLINE_MEDIA__SYMMETRIC_RTP", "sometimes")]).unwrap_err();
    assert_eq!(bad.key, "media.symmetric_rtp");
}

#[test]
fn dtmf_mode_defaults_to_auto_and_can_be_set_per_trunk() {
    let defaults = load_in_jail(None, &[]).unwrap();
    assert_eq!(defaults.media.dtmf, DtmfMode::Auto);
    assert_eq!(
        defaults.dtmf_mode("10.0.0.5".parse().unwrap()),
        DtmfMode::Auto
    );

    let toml = r#"
        [media]
        dtmf = "rfc4733"
        [media.dtmf_by_peer]
        "10.0.0.5" = "inband"
        "2001:db8::7" = "info"
    "#;
    let config = load_in_jail(Some(toml), &[]).unwrap();
    assert_eq!(
        config.dtmf_mode("10.0.0.5".parse().unwrap()),
        DtmfMode::Inband
    );
    assert_eq!(
        config.dtmf_mode("2001:db8::7".parse().unwrap()),
        DtmfMode::Info
    );
    assert_eq!(
        config.dtmf_mode("10.0.0.6".parse().unwrap()),
        DtmfMode::Rfc4733
    );
    // An IPv4 peer seen on a dual-stack socket as ::ffff:10.0.0.5 is the same trunk.
    assert_eq!(
        config.dtmf_mode("::ffff:10.0.0.5".parse().unwrap()),
        DtmfMode::Inband
    );

    let env = load_in_jail(None, &[("HOTLINE_MEDIA__DTMF", "info")]).unwrap();
    assert_eq!(env.media.dtmf, DtmfMode::Info);
}

#[test]
fn bad_dtmf_modes_and_peers_name_the_key() {
    let bad_mode = load_in_jail(Some("[media]\ndtmf = \"tones\"\n"), &[]).unwrap_err();
    assert_eq!(bad_mode.key, "media.dtmf");
    assert!(bad_mode.problem.contains("inband"), "{bad_mode}");

    let bad_peer = load_in_jail(
        Some("[media.dtmf_by_peer]\n\"gateway.example\" = \"inband\"\n"),
        &[],
    )
    .unwrap_err();
    assert!(bad_peer.key.starts_with("media.dtmf_by_peer"), "{bad_peer}");
    assert!(!bad_peer.to_string().contains('\n'), "{bad_peer}");

    let bad_peer_mode =
        load_in_jail(Some("[media.dtmf_by_peer]\n\"10.0.0.5\" = \"loud\"\n"), &[]).unwrap_err();
    assert!(
        bad_peer_mode.key.starts_with("media.dtmf_by_peer"),
        "{bad_peer_mode}"
    );
}

#[test]
fn sip_is_open_to_loopback_only_unless_the_operator_lists_the_trunks() {
    let defaults = load_in_jail(None, &[]).unwrap();
    let allowed = defaults.allowed_peers();
    assert!(allowed.contains("127.0.0.1".parse().unwrap()));
    assert!(allowed.contains("::1".parse().unwrap()));
    assert!(!allowed.contains("10.0.0.5".parse().unwrap()));

    // Listening beyond loopback without saying who may call is refused, in one line.
    let e = error_of(
        None,
        &[
            ("HOTLINE_SIP__LISTEN", "0.0.0.0:5060"),
            ("HOTLINE_SIP__PUBLIC_ADDRESS", "192.0.2.10"),
        ],
    );
    assert_eq!(e.key, "sip.allowed_peers");
    assert!(e.problem.contains("0.0.0.0/0"), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");

    let open = load_in_jail(
        None,
        &[
            ("HOTLINE_SIP__LISTEN", "0.0.0.0:5060"),
            ("HOTLINE_SIP__PUBLIC_ADDRESS", "192.0.2.10"),
            ("HOTLINE_SIP__ALLOWED_PEERS", "0.0.0.0/0"),
        ],
    )
    .unwrap();
    assert!(open.allowed_peers().is_open_to_anyone());

    let listed = load_in_jail(
        Some("[sip]\nallowed_peers = [\"10.0.0.5\", \"192.0.2.0/24\", \"2001:db8::1\"]\n"),
        &[],
    )
    .unwrap();
    let allowed = listed.allowed_peers();
    assert!(allowed.contains("10.0.0.5".parse().unwrap()));
    assert!(allowed.contains("192.0.2.77".parse().unwrap()));
    assert!(allowed.contains("2001:db8::1".parse().unwrap()));
    assert!(
        !allowed.contains("127.0.0.1".parse().unwrap()),
        "a list replaces the default"
    );

    let e = error_of(None, &[("HOTLINE_SIP__ALLOWED_PEERS", "10.0.0.0/24, pbx")]);
    assert_eq!(e.key, "sip.allowed_peers");
    assert!(e.problem.contains("\"pbx\""), "{e}");

    let e = error_of(None, &[("HOTLINE_SIP__TRUSTED_PEERS", "10.0.0.1")]);
    assert_eq!(e.key, "sip.trusted_peers");
    assert!(e.problem.contains("allowed_peers"), "{e}");
}

#[test]
fn drain_seconds_defaults_to_five_minutes_allows_zero_and_refuses_more_than_a_day() {
    let defaults = load_in_jail(None, &[]).unwrap();
    assert_eq!(defaults.drain_duration(), Duration::from_secs(300));
    let at_once = load_in_jail(None, &[("HOTLINE_SERVER__DRAIN_SECONDS", "0")]).unwrap();
    assert_eq!(at_once.drain_duration(), Duration::ZERO);
    let file = load_in_jail(Some("[server]\ndrain_seconds = 30\n"), &[]).unwrap();
    assert_eq!(file.server.drain_seconds, 30);

    let e = error_of(None, &[("HOTLINE_SERVER__DRAIN_SECONDS", "86401")]);
    assert_eq!(e.key, "server.drain_seconds");
    let e = error_of(None, &[("HOTLINE_SERVER__DRAIN_SECONDS", "-1")]);
    assert_eq!(e.key, "server.drain_seconds");
}

#[test]
fn http_listens_on_loopback_9464_by_default_and_can_be_moved() {
    let defaults = load_in_jail(None, &[]).unwrap();
    assert_eq!(defaults.http.listen, "127.0.0.1:9464".parse().unwrap());
    let from_env = load_in_jail(None, &[("HOTLINE_HTTP__LISTEN", "0.0.0.0:9100")]).unwrap();
    assert_eq!(from_env.http.listen, "0.0.0.0:9100".parse().unwrap());
    let bad = load_in_jail(None, &[("HOTLINE_HTTP__LISTEN", "everywhere")]).unwrap_err();
    assert_eq!(bad.key, "http.listen");
}

/// The test certificate and keys in testdata/tls (README there).
fn tls_file(name: &str) -> String {
    format!("{}/testdata/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn tls_env<'a>(cert: &'a str, key: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("HOTLINE_SIP__TLS_LISTEN", "127.0.0.1:5061"),
        ("HOTLINE_SIP__TLS_CERTIFICATE", cert),
        ("HOTLINE_SIP__TLS_PRIVATE_KEY", key),
    ]
}

#[test]
fn tcp_and_tls_are_off_by_default_and_a_good_certificate_is_accepted() {
    let defaults = load_in_jail(None, &[]).unwrap();
    assert_eq!(defaults.sip.tcp_listen, None);
    assert_eq!(defaults.sip.tls_listen, None);
    let (cert, key) = (tls_file("cert.pem"), tls_file("key.pem"));
    let mut env = tls_env(&cert, &key).to_vec();
    env.push(("HOTLINE_SIP__TCP_LISTEN", "127.0.0.1:5060"));
    let config = load_in_jail(None, &env).unwrap();
    assert_eq!(
        config.sip.tls_listen,
        Some("127.0.0.1:5061".parse().unwrap())
    );
    assert_eq!(
        config.sip.tcp_listen,
        Some("127.0.0.1:5060".parse().unwrap())
    );
}

#[test]
fn bad_or_missing_tls_files_stop_start_up_naming_the_key() {
    let (cert, key, other) = (
        tls_file("cert.pem"),
        tls_file("key.pem"),
        tls_file("other-key.pem"),
    );
    let missing = tls_file("nowhere.pem");
    let cases = [
        (
            tls_env(&cert, &other),
            "sip.tls_private_key",
            "does not match",
        ),
        (
            tls_env(&missing, &key),
            "sip.tls_certificate",
            "nowhere.pem",
        ),
        (
            tls_env(&cert, &missing),
            "sip.tls_private_key",
            "nowhere.pem",
        ),
        // A key where the certificate belongs: no CERTIFICATE block.
        (
            tls_env(&key, &key),
            "sip.tls_certificate",
            "no PEM CERTIFICATE",
        ),
        // A certificate where the key belongs: no key block.
        (tls_env(&cert, &cert), "sip.tls_private_key", "cert.pem"),
    ];
    for (env, key_name, words) in cases {
        let err = load_in_jail(None, &env).unwrap_err();
        assert_eq!(err.key, key_name, "{err}");
        assert!(err.problem.contains(words), "{err}");
    }
    let without_key = load_in_jail(None, &tls_env(&cert, &key)[..2]).unwrap_err();
    assert_eq!(without_key.key, "sip.tls_private_key");
    let without_cert = load_in_jail(None, &[tls_env(&cert, &key)[0]]).unwrap_err();
    assert_eq!(without_cert.key, "sip.tls_certificate");
    let without_listen = load_in_jail(None, &tls_env(&cert, &key)[1..]).unwrap_err();
    assert_eq!(without_listen.key, "sip.tls_certificate");
    assert!(without_listen.problem.contains("sip.tls_listen"));
}

#[test]
fn a_stream_listener_outside_loopback_needs_allowed_peers() {
    let err = load_in_jail(None, &[("HOTLINE_SIP__TCP_LISTEN", "0.0.0.0:5060")]).unwrap_err();
    assert_eq!(err.key, "sip.allowed_peers");
    let err = load_in_jail(None, &[("HOTLINE_SIP__TCP_LISTEN", "[::1]:5060")]).unwrap_err();
    assert_eq!(err.key, "sip.tcp_listen");
}

#[test]
fn srtp_defaults_to_optional_and_a_bad_value_names_the_key() {
    use crate::media::srtp::SrtpMode;
    assert_eq!(Config::default().media.srtp, SrtpMode::Optional);
    let required = load_in_jail(Some("[media]\nsrtp = \"required\"\n"), &[]).unwrap();
    assert_eq!(required.media.srtp, SrtpMode::Required);
    let env = load_in_jail(None, &[("HOTLINE_MEDIA__SRTP", "off")]).unwrap();
    assert_eq!(env.media.srtp, SrtpMode::Off);
    let bad = load_in_jail(Some("[media]\nsrtp = \"yes\"\n"), &[]).unwrap_err();
    assert_eq!(bad.key, "media.srtp");
    assert!(bad.problem.contains("required"), "{bad}");
}
