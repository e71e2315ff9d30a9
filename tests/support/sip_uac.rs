//! A minimal SIP user agent client over a raw UDP socket, a TCP connection or a TLS one, for
//! end-to-end tests.
//!
//! Messages are plain text built with `format!`, so a test can also send what no real stack
//! would (broken headers, garbage). One `Uac` drives one call (one Call-ID and From tag); it
//! answers the server's BYE with 200 by itself and keeps every message it received, so a test
//! can count retransmissions afterwards. Over TCP and TLS, messages are framed by Content-Length
//! (RFC 3261 §18.3) and `send_raw` writes exactly the bytes given, so a test can split or join
//! messages as it likes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;
use tokio::time::Instant;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SIP message as received, with just enough parsing for assertions.
#[derive(Clone, Debug)]
pub struct SipMsg {
    pub raw: String,
    pub at: Instant,
}

impl SipMsg {
    pub fn start_line(&self) -> &str {
        self.raw.lines().next().unwrap_or("")
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        let line = self.start_line();
        line.strip_prefix("SIP/2.0 ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        if self.start_line().starts_with("SIP/") {
            None
        } else {
            self.start_line().split_whitespace().next()
        }
    }

    /// The first value of a header (full name, case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    pub fn headers(&self, name: &str) -> Vec<String> {
        self.head()
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// The CSeq method (`INVITE`, `CANCEL`, …).
    pub fn cseq_method(&self) -> String {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_default()
    }

    pub fn head(&self) -> &str {
        self.raw.split("\r\n\r\n").next().unwrap_or("")
    }

    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    /// The `tag` parameter of the To header.
    pub fn to_tag(&self) -> Option<String> {
        tag_of(&self.header("To")?)
    }
}

fn tag_of(value: &str) -> Option<String> {
    value
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag=").map(str::to_string))
}

/// An SDP offer from 127.0.0.1 with the given RTP port and `m=` format list plus rtpmap lines.
pub fn sdp_offer(rtp_port: u16, formats: &str, rtpmaps: &[&str]) -> String {
    let mut sdp = format!(
        "v=0\r\no=qa 1 1 IN IP4 127.0.0.1\r\ns=qa\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP {formats}\r\n"
    );
    for map in rtpmaps {
        sdp.push_str(&format!("a=rtpmap:{map}\r\n"));
    }
    sdp.push_str("a=sendrecv\r\n");
    sdp
}

type Reader = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
type Writer = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// How the caller reaches the server.
enum Link {
    Udp(UdpSocket),
    /// A TCP or TLS connection: what was read but not yet framed into a message, and the write
    /// half (behind a lock, as answering a BYE takes `&self`).
    Stream {
        local: SocketAddr,
        reader: Reader,
        unread: Vec<u8>,
        writer: Mutex<Writer>,
    },
}

/// One test caller.
pub struct Uac {
    link: Link,
    /// `UDP`, `TCP` or `TLS`: the Via transport.
    transport: &'static str,
    pub server: SocketAddr,
    pub call_id: String,
    pub from_tag: String,
    from: String,
    to: String,
    cseq: u32,
    invite_branch: String,
    invite_cseq: u32,
    /// The server's tag, learnt from its first response with one.
    pub to_tag: Option<String>,
    /// Everything received, in order (including what `wait_*` skipped).
    pub received: Vec<SipMsg>,
    /// Received but not yet returned by `next`.
    backlog: std::collections::VecDeque<SipMsg>,
}

impl Uac {
    pub async fn new(server: SocketAddr) -> Uac {
        Uac::new_from("127.0.0.1".parse().expect("loopback"), server).await
    }

    /// A UAC on another local address, e.g. `127.0.0.5`: a source outside a narrow allowed list.
    pub async fn new_from(local: std::net::IpAddr, server: SocketAddr) -> Uac {
        let socket = UdpSocket::bind((local, 0)).await.expect("bind test UAC");
        Uac::over(Link::Udp(socket), "UDP", server)
    }

    /// A UAC with a TCP connection to `server`.
    pub async fn connect_tcp(server: SocketAddr) -> Uac {
        let stream = TcpStream::connect(server).await.expect("connect over TCP");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let local = stream.local_addr().expect("local addr");
        let (reader, writer) = tokio::io::split(stream);
        Uac::over(
            Uac::stream(local, Box::new(reader), Box::new(writer)),
            "TCP",
            server,
        )
    }

    /// A UAC with a TLS connection to `server`, trusting the PEM certificate `ca` only.
    pub async fn connect_tls(server: SocketAddr, ca: &Path) -> Uac {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
            roots.add(cert.expect("CA certificate")).expect("trusted");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let stream = TcpStream::connect(server).await.expect("connect for TLS");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let local = stream.local_addr().expect("local addr");
        let name = ServerName::IpAddress(server.ip().into());
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .expect("TLS handshake");
        let (reader, writer) = tokio::io::split(tls);
        Uac::over(
            Uac::stream(local, Box::new(reader), Box::new(writer)),
            "TLS",
            server,
        )
    }

    fn stream(local: SocketAddr, reader: Reader, writer: Writer) -> Link {
        Link::Stream {
            local,
            reader,
            unread: Vec::new(),
            writer: Mutex::new(writer),
        }
    }

    fn over(link: Link, transport: &'static str, server: SocketAddr) -> Uac {
        Uac {
            link,
            transport,
            server,
            call_id: unique("call"),
            from_tag: unique("tag"),
            from: String::new(),
            to: format!("<sip:19009068@{server}>"),
            cseq: 0,
            invite_branch: String::new(),
            invite_cseq: 0,
            to_tag: None,
            received: Vec::new(),
            backlog: Default::default(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        match &self.link {
            Link::Udp(socket) => socket.local_addr().expect("local addr"),
            Link::Stream { local, .. } => *local,
        }
    }

    /// Sends `bytes` as they are: one datagram, or one write on the connection.
    pub async fn send_raw(&self, bytes: &[u8]) {
        match &self.link {
            Link::Udp(socket) => {
                socket.send_to(bytes, self.server).await.expect("send");
            }
            Link::Stream { writer, .. } => {
                let mut writer = writer.lock().await;
                writer.write_all(bytes).await.expect("write");
                writer.flush().await.expect("flush");
            }
        }
    }

    /// Closes the TCP or TLS connection, as a phone that loses its network does.
    pub async fn drop_connection(self) {
        if let Link::Stream { writer, .. } = self.link {
            let _ = writer.into_inner().shutdown().await;
        }
    }

    /// Our URI scheme and Contact for this transport: `sips:` over TLS (RFC 5630), a
    /// `transport=tcp` parameter over TCP.
    fn scheme(&self) -> &'static str {
        if self.transport == "TLS" {
            "sips"
        } else {
            "sip"
        }
    }

    fn contact(&self) -> String {
        let local = self.local_addr();
        match self.transport {
            "TCP" => format!("<sip:qa@{local};transport=tcp>"),
            "TLS" => format!("<sips:qa@{local}>"),
            _ => format!("<sip:qa@{local}>"),
        }
    }

    /// The next message on the link within `within`, as text.
    async fn receive(&mut self, within: Duration) -> Option<String> {
        match &mut self.link {
            Link::Udp(socket) => {
                let mut buf = vec![0u8; 65_535];
                let (len, _) = tokio::time::timeout(within, socket.recv_from(&mut buf))
                    .await
                    .ok()?
                    .ok()?;
                Some(String::from_utf8_lossy(&buf[..len]).into_owned())
            }
            Link::Stream { reader, unread, .. } => {
                let deadline = Instant::now() + within;
                loop {
                    if let Some(message) = frame(unread) {
                        return Some(message);
                    }
                    let mut buf = vec![0u8; 65_535];
                    let left = deadline.saturating_duration_since(Instant::now());
                    let n = tokio::time::timeout(left, reader.read(&mut buf))
                        .await
                        .ok()?
                        .ok()?;
                    if n == 0 {
                        return None;
                    }
                    unread.extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    fn to_header(&self) -> String {
        match &self.to_tag {
            Some(tag) => format!("{};tag={tag}", self.to),
            None => self.to.clone(),
        }
    }

    /// Builds a request of this call. `branch` None = a fresh one.
    fn request(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &[&str],
        body: &str,
        content_type: &str,
    ) -> String {
        let local = self.local_addr();
        let mut msg = format!(
            "{method} {scheme}:19009068@{server} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: {from};tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: {contact}\r\n",
            scheme = self.scheme(),
            transport = self.transport,
            contact = self.contact(),
            server = self.server,
            from = self.caller_header(),
            tag = self.from_tag,
            to = self.to_header(),
            call_id = self.call_id,
        );
        for h in extra {
            msg.push_str(h);
            msg.push_str("\r\n");
        }
        if !body.is_empty() {
            msg.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        msg.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        msg
    }

    fn caller_header(&self) -> String {
        if self.from.is_empty() {
            format!("<sip:qa@{}>", self.local_addr())
        } else {
            self.from.clone()
        }
    }

    /// Sends the INVITE that starts this call. `from_user` becomes the From URI user.
    pub async fn invite(
        &mut self,
        from_user: &str,
        pai: Option<&str>,
        extra_headers: &[&str],
        sdp: &str,
    ) {
        self.from = format!("<sip:{from_user}@127.0.0.1>");
        self.cseq += 1;
        self.invite_cseq = self.cseq;
        self.invite_branch = unique("z9hG4bK-inv");
        let pai_header = pai.map(|p| format!("P-Asserted-Identity: {p}"));
        let mut extra: Vec<&str> = extra_headers.to_vec();
        if let Some(h) = pai_header.as_deref() {
            extra.push(h);
        }
        let msg = self.request(
            "INVITE",
            self.invite_cseq,
            &self.invite_branch,
            &extra,
            sdp,
            "application/sdp",
        );
        self.send_raw(msg.as_bytes()).await;
    }

    /// ACK for a 2xx (a new transaction, RFC 3261 §13.2.2.4).
    pub async fn ack(&mut self) {
        let msg = self.request("ACK", self.invite_cseq, &unique("z9hG4bK-ack"), &[], "", "");
        self.send_raw(msg.as_bytes()).await;
    }

    /// ACK for a non-2xx final response (same branch as the INVITE, §17.1.1.3).
    pub async fn ack_failure(&mut self) {
        let msg = self.request(
            "ACK",
            self.invite_cseq,
            &self.invite_branch.clone(),
            &[],
            "",
            "",
        );
        self.send_raw(msg.as_bytes()).await;
    }

    pub async fn bye(&mut self) {
        self.cseq += 1;
        let msg = self.request("BYE", self.cseq, &unique("z9hG4bK-bye"), &[], "", "");
        self.send_raw(msg.as_bytes()).await;
    }

    /// CANCEL of the pending INVITE: same branch, same CSeq number, no To tag (§9.1).
    pub async fn cancel(&mut self) {
        let saved = self.to_tag.take();
        let msg = self.request(
            "CANCEL",
            self.invite_cseq,
            &self.invite_branch.clone(),
            &[],
            "",
            "",
        );
        self.to_tag = saved;
        self.send_raw(msg.as_bytes()).await;
    }

    /// An in-dialog request of any method with an optional body.
    pub async fn in_dialog(&mut self, method: &str, content_type: &str, body: &str) {
        self.cseq += 1;
        let msg = self.request(
            method,
            self.cseq,
            &unique("z9hG4bK-req"),
            &[],
            body,
            content_type,
        );
        self.send_raw(msg.as_bytes()).await;
    }

    /// A NOTIFY of the transfer the server asked for by REFER (RFC 3515): `sipfrag` is its body,
    /// e.g. `SIP/2.0 200 OK`; `event` its Event header (`refer` for a genuine one).
    pub async fn notify(&mut self, event: &str, state: &str, sipfrag: &str) {
        self.cseq += 1;
        let event = format!("Event: {event}");
        let state = format!("Subscription-State: {state}");
        let msg = self.request(
            "NOTIFY",
            self.cseq,
            &unique("z9hG4bK-ntf"),
            &[&event, &state],
            sipfrag,
            "message/sipfrag",
        );
        self.send_raw(msg.as_bytes()).await;
    }

    /// A re-INVITE in the dialog with an SDP offer.
    pub async fn reinvite(&mut self, sdp: &str) {
        self.cseq += 1;
        self.invite_cseq = self.cseq;
        self.invite_branch = unique("z9hG4bK-reinv");
        let msg = self.request(
            "INVITE",
            self.cseq,
            &self.invite_branch.clone(),
            &[],
            sdp,
            "application/sdp",
        );
        self.send_raw(msg.as_bytes()).await;
    }

    /// An out-of-dialog request of `method` (OPTIONS, REGISTER, …) on a fresh Call-ID.
    pub async fn out_of_dialog(&mut self, method: &str) {
        let local = self.local_addr();
        let msg = format!(
            "{method} {scheme}:19009068@{server} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:qa@{local}>;tag={tag}\r\n\
             To: <sip:19009068@{server}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n",
            scheme = self.scheme(),
            transport = self.transport,
            server = self.server,
            branch = unique("z9hG4bK-ood"),
            tag = unique("tag"),
            call_id = unique("ood"),
        );
        self.send_raw(msg.as_bytes()).await;
    }

    pub async fn options(&mut self) {
        self.out_of_dialog("OPTIONS").await;
    }

    /// The next message from the server within `within`; a BYE is answered with 200 first.
    pub async fn next(&mut self, within: Duration) -> Option<SipMsg> {
        if let Some(m) = self.backlog.pop_front() {
            return Some(m);
        }
        let msg = SipMsg {
            raw: self.receive(within).await?,
            at: Instant::now(),
        };
        if msg.method() == Some("BYE") {
            self.answer_request(&msg, 200).await;
        }
        if self.to_tag.is_none()
            && msg.status().is_some_and(|s| s > 100)
            && msg.cseq_method() == "INVITE"
        {
            self.to_tag = msg.to_tag();
        }
        self.received.push(msg.clone());
        Some(msg)
    }

    /// Waits for a response with `status` to a request of `cseq_method`, skipping anything else.
    /// The first final answer (2xx–6xx) to a request of `method`, skipping provisional ones and
    /// anything else; panics when none comes within `within`.
    pub async fn final_response(&mut self, method: &str, within: Duration) -> SipMsg {
        loop {
            let msg = self
                .next(within)
                .await
                .unwrap_or_else(|| panic!("no final answer to {method} within {within:?}"));
            if msg.cseq_method() == method && msg.status().is_some_and(|s| s >= 200) {
                return msg;
            }
        }
    }

    pub async fn wait_response(
        &mut self,
        status: u16,
        cseq_method: &str,
        within: Duration,
    ) -> SipMsg {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(m) if m.status() == Some(status) && m.cseq_method() == cseq_method => {
                    return m;
                }
                Some(_) => continue,
                None => panic!(
                    "no {status} to {cseq_method} within {within:?}; received: {:#?}",
                    self.received
                        .iter()
                        .map(|m| m.start_line().to_string())
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Waits for a request of `method` from the server (a BYE is answered with 200 already).
    pub async fn wait_request(&mut self, method: &str, within: Duration) -> SipMsg {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(m) if m.method() == Some(method) => return m,
                Some(_) => continue,
                None => panic!("no {method} within {within:?}"),
            }
        }
    }

    /// Collects everything the server sends for `during`.
    pub async fn collect(&mut self, during: Duration) -> Vec<SipMsg> {
        let deadline = Instant::now() + during;
        let mut out = Vec::new();
        while let Some(m) = self
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            out.push(m);
        }
        out
    }

    /// How many `status` responses to `cseq_method` were received so far (retransmissions too).
    pub fn count(&self, status: u16, cseq_method: &str) -> usize {
        self.received
            .iter()
            .filter(|m| m.status() == Some(status) && m.cseq_method() == cseq_method)
            .count()
    }

    /// Answers a request from the server, copying its Via/From/To/Call-ID/CSeq.
    pub async fn answer_request(&self, request: &SipMsg, status: u16) {
        let mut resp = format!("SIP/2.0 {status} OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for value in request.headers(name) {
                resp.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        resp.push_str("Content-Length: 0\r\n\r\n");
        self.send_raw(resp.as_bytes()).await;
    }
}

/// Takes one whole message off the front of a stream's bytes (Content-Length framing, keep-alive
/// CRLFs skipped), or `None` until more bytes come.
fn frame(unread: &mut Vec<u8>) -> Option<String> {
    while unread.starts_with(b"\r\n") {
        unread.drain(..2);
    }
    let head_end = unread.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&unread[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| {
            n.trim().eq_ignore_ascii_case("Content-Length") || n.trim().eq_ignore_ascii_case("l")
        })
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    if unread.len() < head_end + length {
        return None;
    }
    let message: Vec<u8> = unread.drain(..head_end + length).collect();
    Some(String::from_utf8_lossy(&message).into_owned())
}
