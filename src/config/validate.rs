//! The checks types alone cannot make: ranges, relations between keys, required pairings. Each
//! failure names its key in one line.

use super::{
    Config, ConfigError, MAX_CALLS_LIMIT, MAX_DRAIN_SECONDS, MAX_NEW_CALLS_PER_SECOND_LIMIT,
};

impl Config {
    /// Checks what types alone cannot: ranges, relations between keys, required pairings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.drain_seconds > MAX_DRAIN_SECONDS {
            return Err(ConfigError::new(
                "server.drain_seconds",
                format!(
                    "{} is more than {MAX_DRAIN_SECONDS} (one day)",
                    self.server.drain_seconds
                ),
            ));
        }
        let sip = &self.sip;
        if sip.listen.ip().is_unspecified() && sip.public_address.is_none() {
            return Err(ConfigError::new(
                "sip.public_address",
                format!(
                    "must be set when sip.listen is the wildcard {}",
                    sip.listen.ip()
                ),
            ));
        }
        if let Some(public) = sip.public_address
            && public.is_unspecified()
        {
            return Err(ConfigError::new(
                "sip.public_address",
                "must be an address peers can reach, not a wildcard",
            ));
        }
        if !(10..=10_000).contains(&sip.t1_ms) {
            return Err(ConfigError::new(
                "sip.t1_ms",
                format!("{} is outside 10..=10000", sip.t1_ms),
            ));
        }
        self.validate_peers()?;
        self.validate_streams()?;
        if sip.answer_delay_ms > 60_000 {
            return Err(ConfigError::new(
                "sip.answer_delay_ms",
                "must be at most 60000 (one minute of ringing)",
            ));
        }
        for (key, value, most) in [
            ("sip.max_calls", sip.max_calls, MAX_CALLS_LIMIT),
            (
                "sip.max_new_calls_per_second",
                sip.max_new_calls_per_second,
                MAX_NEW_CALLS_PER_SECOND_LIMIT,
            ),
        ] {
            if !(1..=most).contains(&value) {
                return Err(ConfigError::new(
                    key,
                    format!("{value} is outside 1..={most}"),
                ));
            }
        }
        let media = &self.media;
        if media.rtp_port_min < 1024 {
            return Err(ConfigError::new(
                "media.rtp_port_min",
                format!(
                    "{} is a privileged port; use 1024 or more",
                    media.rtp_port_min
                ),
            ));
        }
        if media.rtp_port_max < media.rtp_port_min.saturating_add(1) {
            return Err(ConfigError::new(
                "media.rtp_port_max",
                format!(
                    "{} must be above media.rtp_port_min ({})",
                    media.rtp_port_max, media.rtp_port_min
                ),
            ));
        }
        if self.sip.threads > 256 {
            return Err(ConfigError::new(
                "sip.threads",
                format!("{} is more than 256", self.sip.threads),
            ));
        }
        if media.threads > 256 {
            return Err(ConfigError::new(
                "media.threads",
                format!("{} is more than 256", media.threads),
            ));
        }
        if media.realtime_priority > 99 {
            return Err(ConfigError::new(
                "media.realtime_priority",
                format!(
                    "{} is outside 1..=99 (0: not real-time)",
                    media.realtime_priority
                ),
            ));
        }
        if !(-20..=19).contains(&media.thread_nice) {
            return Err(ConfigError::new(
                "media.thread_nice",
                format!("{} is outside -20..=19", media.thread_nice),
            ));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database.url",
                format!(
                    "{:?} must start with sqlite: or postgres://",
                    crate::store::redact_credentials(url)
                ),
            ));
        }
        let ivr = &self.ivr;
        for (key, ms) in [
            ("ivr.first_digit_timeout_ms", ivr.first_digit_timeout_ms),
            ("ivr.inter_digit_timeout_ms", ivr.inter_digit_timeout_ms),
        ] {
            if !(500..=120_000).contains(&ms) {
                return Err(ConfigError::new(
                    key,
                    format!("{ms} is outside 500..=120000 ms"),
                ));
            }
        }
        for (key, tries) in [
            ("ivr.menu_tries", ivr.menu_tries),
            ("ivr.code_tries", ivr.code_tries),
        ] {
            if !(1..=10).contains(&tries) {
                return Err(ConfigError::new(key, format!("{tries} is outside 1..=10")));
            }
        }
        if !(30..=86_400).contains(&ivr.max_call_seconds) {
            return Err(ConfigError::new(
                "ivr.max_call_seconds",
                format!("{} is outside 30..=86400", ivr.max_call_seconds),
            ));
        }
        let currency = &self.billing.currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::new(
                "billing.currency",
                format!("{currency:?} is not an ISO 4217 code like \"VND\""),
            ));
        }
        let orphan_after = self.billing.orphan_after_seconds;
        if !(61..=86_400).contains(&orphan_after) {
            return Err(ConfigError::new(
                "billing.orphan_after_seconds",
                format!(
                    "{orphan_after} is outside 61..=86400 (live calls tick every 60 s, so it must be more than 60)"
                ),
            ));
        }
        let security = &self.security;
        if let Some(pepper) = &security.pepper
            && pepper.len() < 16
        {
            return Err(ConfigError::new(
                "security.pepper",
                "must be at least 16 characters",
            ));
        }
        for (key, n) in [
            (
                "security.max_failures_per_caller",
                security.max_failures_per_caller,
            ),
            (
                "security.max_failures_per_code",
                security.max_failures_per_code,
            ),
            (
                "security.max_resets_per_account",
                security.max_resets_per_account,
            ),
            ("security.window_hours", security.window_hours),
        ] {
            if n == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if !(1..=64).contains(&security.hash_concurrency) {
            return Err(ConfigError::new(
                "security.hash_concurrency",
                format!("{} is outside 1..=64", security.hash_concurrency),
            ));
        }
        if !(1..=3650).contains(&self.audit.retention_days) {
            return Err(ConfigError::new(
                "audit.retention_days",
                format!("{} is outside 1..=3650", self.audit.retention_days),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            return Err(ConfigError::new("log.filter", e.to_string()));
        }
        Ok(())
    }

    /// `sip.tcp_listen`, `sip.tls_listen` and the TLS files: the certificate and key are read
    /// and checked now, so a bad file stops start-up rather than the first handshake.
    fn validate_streams(&self) -> Result<(), ConfigError> {
        let sip = &self.sip;
        let public = self.public_address();
        for (key, listen) in [
            ("sip.tcp_listen", sip.tcp_listen),
            ("sip.tls_listen", sip.tls_listen),
        ] {
            if let Some(listen) = listen
                && listen.is_ipv4() != public.is_ipv4()
            {
                return Err(ConfigError::new(
                    key,
                    format!("{listen} is not of the IP family of the public address {public}"),
                ));
            }
        }
        match (sip.tls_listen, &sip.tls_certificate, &sip.tls_private_key) {
            (Some(_), Some(certificate), Some(key)) => crate::sip::load_identity(certificate, key)
                .map(drop)
                .map_err(|e| ConfigError::new(e.key, e.problem)),
            (Some(_), None, _) => Err(ConfigError::new(
                "sip.tls_certificate",
                "must be set when sip.tls_listen is (a PEM file, leaf certificate first)",
            )),
            (Some(_), _, None) => Err(ConfigError::new(
                "sip.tls_private_key",
                "must be set when sip.tls_listen is (the certificate's key, PEM)",
            )),
            (None, Some(_), _) => Err(ConfigError::new(
                "sip.tls_certificate",
                "is set but sip.tls_listen is not: set both, or neither",
            )),
            (None, _, Some(_)) => Err(ConfigError::new(
                "sip.tls_private_key",
                "is set but sip.tls_listen is not: set both, or neither",
            )),
            (None, None, None) => Ok(()),
        }
    }

    /// `sip.allowed_peers` against the SIP listen addresses and `sip.trusted_peers`.
    fn validate_peers(&self) -> Result<(), ConfigError> {
        let sip = &self.sip;
        let listens = [Some(sip.listen), sip.tcp_listen, sip.tls_listen];
        let exposed = listens
            .into_iter()
            .flatten()
            .map(|l| l.ip().to_canonical())
            .find(|ip| !ip.is_loopback());
        match (&sip.allowed_peers, exposed) {
            (None, Some(listen)) => {
                return Err(ConfigError::new(
                    "sip.allowed_peers",
                    format!(
                        "must be set when SIP listens on {listen}, not a loopback address: list your \
                         trunks' addresses or CIDR blocks, e.g. [\"10.0.0.5\", \"192.0.2.0/24\"] \
                         (\"0.0.0.0/0\" lets anyone in and is not recommended)"
                    ),
                ));
            }
            (Some(blocks), _) if blocks.is_empty() => {
                return Err(ConfigError::new(
                    "sip.allowed_peers",
                    "is empty: nobody could call; remove the key for loopback only",
                ));
            }
            _ => {}
        }
        let allowed = self.allowed_peers();
        if let Some(outside) = sip.trusted_peers.iter().find(|p| !allowed.contains(**p)) {
            return Err(ConfigError::new(
                "sip.trusted_peers",
                format!("{outside} is not inside sip.allowed_peers, so it could never be heard"),
            ));
        }
        Ok(())
    }
}
