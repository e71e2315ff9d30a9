//! A whole hotline started in-process for end-to-end call tests: a temporary SQLite database
//! (or the PostgreSQL one a test sets in `database.url`),
//! the repository's real Vietnamese prompts, SIP on a loopback port the OS picks and a private
//! RTP port range. Calls are placed with the raw test UAC and heard with the RTP peer, so a test
//! sees exactly what a caller would: SIP messages, clips, and afterwards the rows in the store.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration;

use hotline::config::{
    BillingSection, Config, DatabaseSection, HttpSection, MediaSection, PromptsSection,
    SecuritySection, SipSection,
};
use hotline::domain::{
    AccountKey, CallId, Clip, InsuranceCode, Password, PersonalId, PhoneNumber, Prompt,
};
use hotline::ivr::Entry;
use hotline::media::srtp::{MasterKey, SrtpSuite};
use hotline::media::{Codec, PromptLibrary};
use hotline::server::{DatabaseProbe, PingFuture, Server};
use hotline::store::{Account, CdrRow, Hasher, Limits, NewAccount, Pepper, ResetResult, Store};
use tokio::time::{Instant, sleep};

use super::rtp_peer::{DtmfTiming, HeardClip, Recognizer, RtpPeer};
use super::sdes;
use super::sip_uac::{SipMsg, Uac, sdp_offer};

/// Long enough for a loaded, shared machine; the happy path never waits this long.
pub const WAIT: Duration = Duration::from_secs(60);

/// The payload type our offers give telephone-event (any dynamic one works; 101 is common).
pub const DTMF_PT: u8 = 101;

/// Fixed so the test can build the same [`Hasher`] as the server and verify what it stored.
const PEPPER: &str = "e2e-test-pepper-0123456789";

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Key presses quicker than a human's, still well inside what RFC 4733 receivers expect.
pub const QUICK_KEYS: DtmfTiming = DtmfTiming {
    tone: Duration::from_millis(60),
    gap: Duration::from_millis(40),
    volume: 10,
};

/// The repository's prompts: the tests hear the clips a real caller hears.
pub fn prompts_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/vi"))
}

/// Ports for RTP that neither another test binary running at the same time (chosen by process
/// id) nor another server of this binary (a counter) uses, below Linux's ephemeral ports (from
/// 32768) where the test sockets bound to port 0 land. A collision would not break a call — the
/// pool skips ports held elsewhere — but a test that counts ports needs its range to itself.
fn rtp_range(width: u16) -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const PER_PROCESS: u16 = 200;
    let process = 20_000 + (std::process::id() % 60) as u16 * PER_PROCESS;
    let offset = NEXT.fetch_add(width, Ordering::Relaxed) % PER_PROCESS;
    let min = process + offset;
    (min, min + width - 1)
}

/// The configuration every test starts from: quick to reach the code, no rate announcement.
pub fn base_config(db_url: String) -> Config {
    let (rtp_port_min, rtp_port_max) = rtp_range(16);
    Config {
        sip: SipSection {
            listen: SocketAddr::new(LOCALHOST, 0),
            t1_ms: 100,
            ..SipSection::default()
        },
        // Tests run servers side by side: each its own port.
        http: HttpSection {
            listen: SocketAddr::new(LOCALHOST, 0),
        },
        media: MediaSection {
            rtp_port_min,
            rtp_port_max,
            ..MediaSection::default()
        },
        database: DatabaseSection { url: db_url },
        prompts: PromptsSection { dir: prompts_dir() },
        ivr: hotline::config::IvrSection {
            entry: Entry::Code,
            ..Default::default()
        },
        billing: BillingSection {
            announce_rate: false,
            ..BillingSection::default()
        },
        security: SecuritySection {
            pepper: Some(PEPPER.into()),
            hash_concurrency: 2,
            ..SecuritySection::default()
        },
        ..Config::default()
    }
}

/// A running hotline and what a test needs to look behind it.
pub struct Hotline {
    pub server: Server,
    /// A second handle on the server's database (SQLite in WAL mode: both may use it).
    pub store: Store,
    pub hasher: Hasher,
    pub library: PromptLibrary,
    pub config: Config,
    _dir: tempfile::TempDir,
}

/// Starts a hotline with [`base_config`] changed by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> Hotline {
    start_with_probe(tweak, |_| None).await
}

/// The "network" between a node and its database, which a test can cut. SQLite is a local file:
/// it cannot go away the way a PostgreSQL server does, so the node's health probe asks through
/// this switch — the real `Store::ping` on the same database while connected, a connection
/// error while cut. Only the probe is cut; the node's own queries still reach the file.
pub struct DatabaseSwitch {
    store: Store,
    cut: AtomicBool,
}

impl DatabaseSwitch {
    pub fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

impl DatabaseProbe for DatabaseSwitch {
    fn ping(&self) -> PingFuture<'_> {
        let cut = self.cut.load(Ordering::SeqCst);
        Box::pin(async move {
            if cut {
                let refused = std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "test: the database is cut off",
                );
                return Err(hotline::store::StoreError::Database(sqlx::Error::Io(
                    refused,
                )));
            }
            self.store.ping().await
        })
    }
}

/// Starts a hotline whose database can be cut off from its health probe ([`DatabaseSwitch`]).
pub async fn start_with_switch(tweak: impl FnOnce(&mut Config)) -> (Hotline, Arc<DatabaseSwitch>) {
    let mut switch = None;
    let hotline = start_with_probe(tweak, |store| {
        let made = Arc::new(DatabaseSwitch {
            store,
            cut: AtomicBool::new(false),
        });
        switch = Some(made.clone());
        Some(made as Arc<dyn DatabaseProbe>)
    })
    .await;
    (hotline, switch.expect("the switch was made"))
}

/// Starts a hotline; `probe` may give it a database health probe of the test's own, made from a
/// second handle on its database.
async fn start_with_probe(
    tweak: impl FnOnce(&mut Config),
    probe: impl FnOnce(Store) -> Option<Arc<dyn DatabaseProbe>>,
) -> Hotline {
    if let Ok(filter) = std::env::var("HOTLINE_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let mut config = base_config(url);
    tweak(&mut config);
    let store = Store::connect(&config.database.url)
        .await
        .expect("test store");
    let pepper = Pepper::from_configured(PEPPER).expect("pepper");
    let hasher = Hasher::new(pepper, 1);
    let library = PromptLibrary::load(&config.prompts.dir).expect("the repository's prompts");
    let server = match probe(store.clone()) {
        Some(probe) => Server::start_with_database_probe(config.clone(), probe).await,
        None => Server::start(config.clone()).await,
    }
    .expect("hotline starts");
    Hotline {
        server,
        store,
        hasher,
        library,
        config,
        _dir: dir,
    }
}

impl Hotline {
    /// Adds a registered account (with a personal ID when given).
    pub async fn add_account(&self, code: &str, phone: &str, personal_id: Option<&str>) {
        let account = NewAccount {
            code: InsuranceCode::parse(code).expect("test code"),
            phone: PhoneNumber::parse(phone).expect("test phone"),
            personal_id: personal_id.map(|p| PersonalId::parse(p).expect("test personal id")),
            registered: true,
        };
        self.store.add_account(&account).await.expect("add account");
    }

    pub async fn account(&self, code: &str) -> Account {
        let key = AccountKey::parse(code).expect("test key");
        self.store
            .find_account(&key)
            .await
            .expect("find account")
            .expect("account exists")
    }

    /// Gives the account a password as a reset by phone would (through the store, with the
    /// server's pepper) and returns it, so a test can show a later call left it alone.
    pub async fn preset_password(&self, code: &str, phone: &str) -> String {
        let result = self
            .store
            .verify_and_reset(
                &self.hasher,
                &Limits::default(),
                &PhoneNumber::parse(phone).expect("test phone"),
                &AccountKey::parse(code).expect("test key"),
                time::OffsetDateTime::now_utc(),
            )
            .await
            .expect("preset password");
        match result {
            ResetResult::Reset(password) => {
                String::from_utf8_lossy(&password.expose_ascii()[..]).into_owned()
            }
            other => panic!("presetting the password gave {other:?}"),
        }
    }

    /// Whether `digits` is the account's current password.
    pub async fn password_verifies(&self, code: &str, digits: &str) -> bool {
        let code = InsuranceCode::parse(code).expect("test code");
        let password = Password::from_digits(digits).expect("six digits");
        self.store
            .check_password(&self.hasher, &code, &password)
            .await
            .expect("check password")
    }

    /// The call's CDR once closed (the server closes it just after the call ends).
    pub async fn closed_cdr(&self, call: &Call) -> CdrRow {
        closed_cdr(&self.store, &call.call_id()).await
    }

    /// Places a call: INVITE with an SDP offer of `codec` first (the other G.711 second) and
    /// telephone-event on `dtmf_pt`, from `from_user`, with a P-Asserted-Identity when given;
    /// waits for the 200 OK and ACKs it.
    pub async fn place_call(
        &self,
        from_user: &str,
        pai: Option<&str>,
        codec: Codec,
        dtmf_pt: u8,
    ) -> Call {
        self.place_call_offering(from_user, pai, codec, Some(dtmf_pt))
            .await
    }

    /// As [`Hotline::place_call`], offering telephone-event only when `dtmf_pt` is given: a
    /// phone that sends its keys as tones in the audio offers none.
    pub async fn place_call_offering(
        &self,
        from_user: &str,
        pai: Option<&str>,
        codec: Codec,
        dtmf_pt: Option<u8>,
    ) -> Call {
        let uac = Uac::new(self.server.sip_addr()).await;
        self.place_call_on(uac, from_user, pai, codec, dtmf_pt)
            .await
    }

    /// As [`Hotline::place_call_offering`], signalling with `uac` (over TCP or TLS, say).
    pub async fn place_call_on(
        &self,
        uac: Uac,
        from_user: &str,
        pai: Option<&str>,
        codec: Codec,
        dtmf_pt: Option<u8>,
    ) -> Call {
        let peer = RtpPeer::bind().await.expect("RTP peer");
        let sdp_port = peer.local_addr().port();
        self.place_call_from(uac, peer, sdp_port, from_user, pai, codec, dtmf_pt, None)
            .await
    }

    /// A call from a caller behind NAT: its SDP names one port of 127.0.0.1 — the returned
    /// peer, where nothing is sent from, as a phone's private address — while its RTP comes from
    /// (and is wanted back at) `Call::peer`, another port of the same IP, the signalling one, as
    /// a NAT rewrites it. The caller must send before it can be heard, or hear anything
    /// (symmetric RTP latches to a source that sent; see [`RtpPeer::send_silence`]).
    pub async fn place_call_behind_nat(
        &self,
        from_user: &str,
        codec: Codec,
        dtmf_pt: u8,
    ) -> (Call, RtpPeer) {
        let private = RtpPeer::bind().await.expect("RTP peer (SDP side)");
        let public = RtpPeer::bind().await.expect("RTP peer (NAT side)");
        let sdp_port = private.local_addr().port();
        let uac = Uac::new(self.server.sip_addr()).await;
        let call = self
            .place_call_from(
                uac,
                public,
                sdp_port,
                from_user,
                None,
                codec,
                Some(dtmf_pt),
                None,
            )
            .await;
        (call, private)
    }

    /// As [`Hotline::place_call`], offering RTP/SAVP with one SDES key of `suite`: the call's
    /// RTP is SRTP both ways (the peer keeps what it received encrypted as well).
    pub async fn place_srtp_call(
        &self,
        from_user: &str,
        codec: Codec,
        dtmf_pt: u8,
        suite: SrtpSuite,
    ) -> Call {
        let uac = Uac::new(self.server.sip_addr()).await;
        let peer = RtpPeer::bind().await.expect("RTP peer");
        let sdp_port = peer.local_addr().port();
        self.place_call_from(
            uac,
            peer,
            sdp_port,
            from_user,
            None,
            codec,
            Some(dtmf_pt),
            Some(suite),
        )
        .await
    }

    /// Places a call signalled by `uac` whose media is `peer`, with `sdp_port` in the offer, and
    /// SDES keys of `srtp` when given.
    #[allow(clippy::too_many_arguments)]
    async fn place_call_from(
        &self,
        mut uac: Uac,
        peer: RtpPeer,
        sdp_port: u16,
        from_user: &str,
        pai: Option<&str>,
        codec: Codec,
        dtmf_pt: Option<u8>,
        srtp: Option<SrtpSuite>,
    ) -> Call {
        let event = dtmf_pt.map(|pt| format!(" {pt}")).unwrap_or_default();
        let formats = match codec {
            Codec::Pcmu => format!("0 8{event}"),
            Codec::Pcma => format!("8 0{event}"),
        };
        let event_map = dtmf_pt.map(|pt| format!("{pt} telephone-event/8000"));
        let mut rtpmaps = vec!["0 PCMU/8000", "8 PCMA/8000"];
        rtpmaps.extend(event_map.as_deref());
        let mut offer = sdp_offer(sdp_port, &formats, &rtpmaps);
        let our_key = srtp.map(|suite| {
            let key = MasterKey::generate().expect("a key");
            offer = sdes::savp_offer(&offer, suite, &key);
            peer.expect_srtp();
            (suite, key)
        });
        let started = Instant::now();
        uac.invite(from_user, pai, &[], &offer).await;
        let ok = loop {
            let msg = uac
                .next(WAIT)
                .await
                .unwrap_or_else(|| panic!("no answer to the INVITE within {WAIT:?}"));
            match msg.status() {
                Some(200) if msg.cseq_method() == "INVITE" => break msg,
                Some(status) if status >= 300 && msg.cseq_method() == "INVITE" => {
                    panic!("the INVITE was refused: {}", msg.start_line())
                }
                _ => continue,
            }
        };
        uac.ack().await;
        let answer = SdpAnswer::parse(ok.body());
        if let Some((suite, ours)) = &our_key {
            let (answered_suite, theirs) = sdes::answered_key(ok.body());
            assert_eq!(
                answered_suite, *suite,
                "the answer's suite is the one offered"
            );
            peer.start_srtp(*suite, ours, &theirs);
        }
        peer.set_target(SocketAddr::new(answer.address, answer.port));
        Call {
            recognizer: Recognizer::new(&self.library, answer.codec),
            uac,
            peer,
            dtmf_pt,
            answer,
            started,
            answered: ok.at,
        }
    }
}

/// The CDR of `id` once closed, waiting up to [`WAIT`] for it (for tests that moved the server
/// out of their [`Hotline`] to drain it).
pub async fn closed_cdr(store: &Store, id: &CallId) -> CdrRow {
    let until = Instant::now() + WAIT;
    loop {
        let row = store.cdr(id).await.expect("read CDR");
        match row {
            Some(row) if row.ended_at.is_some() => return row,
            _ if Instant::now() > until => panic!("CDR of {id} not closed: {row:?}"),
            _ => sleep(Duration::from_millis(20)).await,
        }
    }
}

/// What the server's SDP answer says, as far as the tests care.
#[derive(Debug, Clone, Copy)]
pub struct SdpAnswer {
    pub address: IpAddr,
    pub port: u16,
    /// The first (the only audio) format of the answer.
    pub codec: Codec,
}

impl SdpAnswer {
    fn parse(sdp: &str) -> SdpAnswer {
        let address = sdp
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no c= address in the answer:\n{sdp}"));
        let media: Vec<&str> = sdp
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .unwrap_or_else(|| panic!("no m=audio in the answer:\n{sdp}"))
            .split_whitespace()
            .collect();
        let port = media
            .first()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad m= port in the answer:\n{sdp}"));
        let codec = match media.get(2).copied() {
            Some("0") => Codec::Pcmu,
            Some("8") => Codec::Pcma,
            other => panic!("answer's first format is {other:?}:\n{sdp}"),
        };
        SdpAnswer {
            address,
            port,
            codec,
        }
    }
}

/// One call in progress: its signalling, its media and what was heard.
pub struct Call {
    pub uac: Uac,
    pub peer: RtpPeer,
    pub recognizer: Recognizer,
    /// The telephone-event payload type offered, if any.
    pub dtmf_pt: Option<u8>,
    pub answer: SdpAnswer,
    /// When the INVITE was sent.
    pub started: Instant,
    /// When the 200 OK arrived.
    pub answered: Instant,
}

impl Call {
    pub fn call_id(&self) -> CallId {
        CallId::new(self.uac.call_id.clone())
    }

    /// The clips heard completely so far, in order.
    pub fn heard(&self) -> Vec<Clip> {
        self.peer.heard_clips(&self.recognizer)
    }

    /// Every clip heard so far, including those cut short.
    pub fn heard_all(&self) -> Vec<HeardClip> {
        self.recognizer.recognize(&self.peer.received())
    }

    /// Waits until `clip` is being heard (it started, complete or not).
    pub async fn wait_hearing(&self, clip: Clip) {
        self.wait_until(
            |heard| heard.iter().any(|h| h.clip == clip),
            &format!("{clip:?}"),
        )
        .await;
    }

    /// Waits until `clip` was heard to its end.
    pub async fn wait_heard(&self, clip: Clip) {
        self.wait_until(
            |heard| heard.iter().any(|h| h.clip == clip && h.complete),
            &format!("all of {clip:?}"),
        )
        .await;
    }

    /// Waits until the clips heard satisfy `done`.
    pub async fn wait_until(&self, done: impl Fn(&[HeardClip]) -> bool, what: &str) {
        let until = Instant::now() + WAIT;
        loop {
            let heard = self.heard_all();
            if done(&heard) {
                return;
            }
            assert!(
                Instant::now() < until,
                "{what} not heard within {WAIT:?}; heard {heard:?}"
            );
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the first reading of a new password was heard, and returns it. The store
    /// holds the password before a digit of it is spoken, so a test about something else than
    /// the reading itself can check it and hang up here.
    pub async fn wait_first_reading(&self) -> String {
        self.wait_until(
            |heard| first_reading(&completed(heard)).is_some(),
            "a first reading of a password",
        )
        .await;
        first_reading(&self.heard()).expect("the reading just heard")
    }

    /// Presses `keys` by RFC 4733 on the payload type offered.
    pub async fn press(&self, keys: &str) {
        let pt = self
            .dtmf_pt
            .expect("press() needs telephone-event in the offer");
        self.peer
            .send_dtmf_with(keys, pt, QUICK_KEYS)
            .await
            .expect("send DTMF");
    }

    /// Presses `keys` by SIP INFO, one `application/dtmf-relay` request per key, each
    /// answered 200 before the next.
    pub async fn press_by_info(&mut self, keys: &str) {
        for key in keys.chars() {
            let body = format!("Signal={key}\r\nDuration=160\r\n");
            self.uac
                .in_dialog("INFO", "application/dtmf-relay", &body)
                .await;
            self.uac.wait_response(200, "INFO", WAIT).await;
        }
    }

    /// Presses `keys` as dual tones in the audio, in the codec of the answer.
    pub async fn press_inband(&self, keys: &str) {
        self.peer
            .send_inband_dtmf(keys, self.answer.codec, DtmfTiming::default())
            .await
            .expect("send in-band DTMF");
    }

    /// Waits for the greeting to start (the caller check is done and keys are listened to),
    /// then keys `keys`, barging in.
    pub async fn barge_in(&self, keys: &str) {
        self.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
        self.press(keys).await;
    }

    /// Waits for the server to hang up (the UAC answers its BYE), then for the last packets.
    pub async fn wait_for_bye(&mut self) -> SipMsg {
        let bye = self.uac.wait_request("BYE", WAIT).await;
        sleep(Duration::from_millis(100)).await;
        bye
    }

    /// We hang up: BYE, and its 200.
    pub async fn hang_up(&mut self) {
        self.uac.bye().await;
        self.uac.wait_response(200, "BYE", WAIT).await;
    }
}

/// The prompt a clip is, if it is one (digits are the password and stay opaque).
pub fn prompts_of(clips: &[Clip]) -> Vec<Prompt> {
    clips
        .iter()
        .filter_map(|c| match c {
            Clip::Prompt(p) => Some(*p),
            Clip::Digit(_) => None,
        })
        .collect()
}

/// The password spoken in `clips`, which must end with exactly
/// `NewPassword d1..d6 RepeatPassword d1..d6 Goodbye`, the same six digits twice.
pub fn spoken_password(clips: &[Clip]) -> String {
    let start = clips
        .iter()
        .rposition(|c| *c == Clip::Prompt(Prompt::NewPassword))
        .unwrap_or_else(|| panic!("no new-password announcement in {clips:?}"));
    let reading = &clips[start..];
    assert_eq!(reading.len(), 15, "the reading is {reading:?}");
    let digits = |part: &[Clip]| -> String {
        part.iter()
            .map(|c| match c {
                Clip::Digit(d) => char::from(b'0' + d),
                other => panic!("{other:?} where a digit was due in {reading:?}"),
            })
            .collect()
    };
    let first = digits(&reading[1..7]);
    assert_eq!(reading[7], Clip::Prompt(Prompt::RepeatPassword));
    let second = digits(&reading[8..14]);
    assert_eq!(reading[14], Clip::Prompt(Prompt::Goodbye));
    assert_eq!(first, second, "the password was read differently twice");
    first
}

/// The first password spoken in `clips` (its first reading only): for calls hung up mid-reading.
pub fn first_reading(clips: &[Clip]) -> Option<String> {
    let start = clips
        .iter()
        .position(|c| *c == Clip::Prompt(Prompt::NewPassword))?;
    let digits: String = clips
        .get(start + 1..start + 7)?
        .iter()
        .map_while(|c| match c {
            Clip::Digit(d) => Some(char::from(b'0' + d)),
            Clip::Prompt(_) => None,
        })
        .collect();
    (digits.len() == 6).then_some(digits)
}

/// A six-digit string that differs from `digits` (to show a wrong password does not verify).
pub fn another_password(digits: &str) -> String {
    digits
        .chars()
        .map(|c| match c {
            '9' => '0',
            c => char::from(c as u8 + 1),
        })
        .collect()
}

/// The clips of a recognition that were heard to their end.
pub fn completed(heard: &[HeardClip]) -> Vec<Clip> {
    heard
        .iter()
        .filter(|h| h.complete)
        .map(|h| h.clip)
        .collect()
}
