//! SDP offer/answer (RFC 3264, RFC 4566) for one G.711 audio stream plus RFC 4733 telephone-events.
//!
//! Written by hand: the subset a telephony trunk sends is small (v/o/s/c/t/m/a lines), and the
//! decisions that matter here — which codec, which telephone-event payload type, where to send
//! RTP — need only these lines. Anything we do not understand in an offer is ignored, never fatal,
//! except where it leaves us without a usable audio stream.
//!
//! SRTP is negotiated with SDES keys (RFC 4568, [`super::sdes`]) as `media.srtp` says: an
//! `RTP/SAVP` stream needs an `a=crypto` line we can do; an `RTP/AVP` stream that carries one
//! anyway (best-effort SRTP, what baresip's `menc srtp` offers) is answered `RTP/AVP` with our
//! key too, so that such a caller is encrypted whenever it can be.

use std::net::{IpAddr, SocketAddr};

use super::sdes;
use crate::media::Codec;
use crate::media::srtp::{MasterKey, SrtpKeys, SrtpMode};

/// What the offer and our capabilities agreed on for the call's single audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Where the caller wants to receive RTP (its `c=` address and audio `m=` port).
    pub remote_rtp: SocketAddr,
    /// The caller's most preferred codec among PCMU and PCMA.
    pub codec: Codec,
    /// The RTP payload type the offer mapped `codec` to (0 or 8 unless the offer used a dynamic
    /// type for it); the answer and the RTP stream use the same number.
    pub payload_type: u8,
    /// The payload type of `telephone-event/8000` in the offer, if it offered RFC 4733 at all.
    pub telephone_event_pt: Option<u8>,
    /// The offer's other m-lines, which the answer must repeat with port 0 (RFC 3264 §6).
    pub declined: Vec<DeclinedStream>,
    /// The audio m-line's transport, which the answer repeats.
    pub profile: RtpProfile,
    /// SRTP, when the offer's `a=crypto` was taken: its tag, and both keys.
    pub srtp: Option<SdesAnswer>,
}

/// `RTP/AVP` or `RTP/SAVP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtpProfile {
    Avp,
    Savp,
}

impl RtpProfile {
    fn parse(proto: &str) -> Option<RtpProfile> {
        if proto.eq_ignore_ascii_case("RTP/AVP") {
            Some(RtpProfile::Avp)
        } else if proto.eq_ignore_ascii_case("RTP/SAVP") {
            Some(RtpProfile::Savp)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RtpProfile::Avp => "RTP/AVP",
            RtpProfile::Savp => "RTP/SAVP",
        }
    }
}

/// The `a=crypto` line we answer: the offered line's tag, and the keys of both directions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesAnswer {
    pub tag: u32,
    pub keys: SrtpKeys,
}

/// An m-line of the offer we do not use (video, a second audio stream, …), kept so the answer has
/// as many m-lines as the offer, in the same order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclinedStream {
    /// Position of the m-line in the offer (0-based).
    pub position: usize,
    pub media: String,
    pub proto: String,
    pub format: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("the SDP body is empty")]
    Empty,
    #[error("SDP line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },
    #[error("the offer has no audio stream")]
    NoAudio,
    #[error("the audio stream is disabled (port 0)")]
    AudioDisabled,
    #[error("the audio stream uses {0}; only RTP/AVP and RTP/SAVP are supported")]
    UnsupportedTransport(String),
    #[error("the audio stream is RTP/SAVP and this service does not use SRTP (media.srtp = off)")]
    SrtpOff,
    #[error(
        "none of the audio stream's a=crypto lines is usable: AES_CM_128_HMAC_SHA1_80 or _32 \
         with one inline key, no MKI, no session parameter but WSH"
    )]
    NoUsableCrypto,
    #[error(
        "SRTP is required: offer RTP/SAVP with an a=crypto line (AES_CM_128_HMAC_SHA1_80 or _32)"
    )]
    SrtpRequired,
    #[error("no random bytes for an SRTP key from the OS")]
    NoRandomness,
    #[error("the audio stream has no connection address (no c= line)")]
    NoConnection,
    #[error("connection address {0:?} is not an IP address")]
    BadAddress(String),
    #[error("the audio stream is {0}; the service needs to send and receive audio")]
    NotSendRecv(&'static str),
    #[error("none of the offered codecs is PCMU or PCMA")]
    NoCommonCodec,
}

/// One `m=` section of the offer, with the attributes that follow it.
struct Section<'a> {
    media: &'a str,
    port: u16,
    proto: &'a str,
    formats: Vec<&'a str>,
    connection: Option<IpAddr>,
    rtpmaps: Vec<(u8, &'a str)>,
    /// The values of the section's `a=crypto:` attributes, in offer order.
    cryptos: Vec<&'a str>,
    /// `None`: no direction attribute here; `Some(None)`: sendrecv; `Some(Some(d))`: another.
    direction: Option<Option<&'static str>>,
}

/// Chooses the codec, the telephone-event payload type, the RTP destination and, as `srtp`
/// allows, SRTP from an offer. Our SRTP key is made here, from the OS CSPRNG.
pub fn negotiate(offer: &str, srtp: SrtpMode) -> Result<NegotiatedMedia, SdpError> {
    if offer.trim().is_empty() {
        return Err(SdpError::Empty);
    }
    let (session_connection, session_direction, sections) = parse(offer)?;
    let mut declined = Vec::new();
    let mut chosen = None;
    let mut first_problem = None;
    for (position, section) in sections.iter().enumerate() {
        let usable = if chosen.is_some() || !section.media.eq_ignore_ascii_case("audio") {
            None
        } else {
            match check_audio(section, session_connection, session_direction, srtp) {
                Ok(m) => Some(m),
                Err(e) => {
                    first_problem.get_or_insert(e);
                    None
                }
            }
        };
        match usable {
            Some(m) => chosen = Some(m),
            None => declined.push(DeclinedStream {
                position,
                media: section.media.to_string(),
                proto: section.proto.to_string(),
                format: section.formats.first().copied().unwrap_or("0").to_string(),
            }),
        }
    }
    match chosen {
        Some(mut media) => {
            media.declined = declined;
            Ok(media)
        }
        None => Err(first_problem.unwrap_or(SdpError::NoAudio)),
    }
}

/// Whether one audio m-line is usable, and with which codec.
fn check_audio(
    section: &Section<'_>,
    session_connection: Option<IpAddr>,
    session_direction: Option<&'static str>,
    srtp_mode: SrtpMode,
) -> Result<NegotiatedMedia, SdpError> {
    if section.port == 0 {
        return Err(SdpError::AudioDisabled);
    }
    let profile = RtpProfile::parse(section.proto)
        .ok_or_else(|| SdpError::UnsupportedTransport(section.proto.to_string()))?;
    if let Some(direction) = section.direction.unwrap_or(session_direction) {
        return Err(SdpError::NotSendRecv(direction));
    }
    let ip = section
        .connection
        .or(session_connection)
        .ok_or(SdpError::NoConnection)?;
    let mut codec = None;
    let mut telephone_event_pt = None;
    for pt in section.formats.iter().filter_map(|f| f.parse::<u8>().ok()) {
        let name = section
            .rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, name)| *name);
        match (name, pt) {
            (Some(name), _) if codec.is_none() => codec = codec_by_name(name).map(|c| (c, pt)),
            (None, 0) if codec.is_none() => codec = Some((Codec::Pcmu, 0)),
            (None, 8) if codec.is_none() => codec = Some((Codec::Pcma, 8)),
            _ => {}
        }
        if telephone_event_pt.is_none() && name.is_some_and(is_telephone_event) {
            telephone_event_pt = Some(pt);
        }
    }
    let (codec, payload_type) = codec.ok_or(SdpError::NoCommonCodec)?;
    let srtp = choose_srtp(section, profile, srtp_mode)?;
    Ok(NegotiatedMedia {
        remote_rtp: SocketAddr::new(ip, section.port),
        codec,
        payload_type,
        telephone_event_pt,
        declined: Vec::new(),
        profile,
        srtp,
    })
}

/// SRTP or not for one usable audio stream, as `media.srtp` says, with a fresh key of ours.
fn choose_srtp(
    section: &Section<'_>,
    profile: RtpProfile,
    mode: SrtpMode,
) -> Result<Option<SdesAnswer>, SdpError> {
    if mode == SrtpMode::Off {
        // A best-effort offer's a=crypto is ignored; RTP/SAVP cannot be answered.
        return match profile {
            RtpProfile::Savp => Err(SdpError::SrtpOff),
            RtpProfile::Avp => Ok(None),
        };
    }
    let Some(offered) = sdes::choose(section.cryptos.iter().copied()) else {
        return match (profile, mode) {
            (RtpProfile::Savp, _) => Err(SdpError::NoUsableCrypto),
            (RtpProfile::Avp, SrtpMode::Required) => Err(SdpError::SrtpRequired),
            (RtpProfile::Avp, _) => Ok(None),
        };
    };
    let ours = MasterKey::generate().map_err(|_| SdpError::NoRandomness)?;
    Ok(Some(SdesAnswer {
        tag: offered.tag,
        keys: SrtpKeys {
            suite: offered.suite,
            ours,
            theirs: offered.key,
        },
    }))
}

/// `PCMU/8000` or `pcma/8000/1` → the codec; other encodings → `None`.
fn codec_by_name(rtpmap: &str) -> Option<Codec> {
    let mut parts = rtpmap.split('/');
    let name = parts.next()?.trim();
    let rate = parts.next()?.trim();
    if rate != "8000" {
        return None;
    }
    [Codec::Pcmu, Codec::Pcma]
        .into_iter()
        .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
}

fn is_telephone_event(rtpmap: &str) -> bool {
    let mut parts = rtpmap.split('/');
    parts
        .next()
        .is_some_and(|n| n.trim().eq_ignore_ascii_case("telephone-event"))
        && parts.next().is_some_and(|r| r.trim() == "8000")
}

type Parsed<'a> = (Option<IpAddr>, Option<&'static str>, Vec<Section<'a>>);

/// Splits the offer into its session-level connection/direction and its m-sections.
fn parse(offer: &str) -> Result<Parsed<'_>, SdpError> {
    let mut session_connection = None;
    let mut session_direction = None;
    let mut sections: Vec<Section<'_>> = Vec::new();
    let mut saw_version = false;
    for (index, line) in offer.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let (kind, value) =
            line.split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or(SdpError::Malformed {
                    line: number,
                    reason: "expected <type>=<value>",
                })?;
        match kind {
            "v" => saw_version = true,
            "c" => {
                let ip = parse_connection(value, number)?;
                match sections.last_mut() {
                    Some(section) => section.connection = Some(ip),
                    None => session_connection = Some(ip),
                }
            }
            "m" => sections.push(parse_media(value, number)?),
            "a" => {
                let direction = direction_attribute(value);
                match sections.last_mut() {
                    Some(section) => {
                        if let Some(map) = parse_rtpmap(value) {
                            section.rtpmaps.push(map);
                        }
                        if let Some(crypto) = value.strip_prefix("crypto:") {
                            section.cryptos.push(crypto);
                        }
                        if direction.is_some() {
                            section.direction = direction;
                        }
                    }
                    None if direction.is_some() => session_direction = direction.flatten(),
                    None => {}
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err(SdpError::Malformed {
            line: 1,
            reason: "no v= line; this is not SDP",
        });
    }
    Ok((session_connection, session_direction, sections))
}

/// `IN IP4 192.0.2.1` (optionally `/ttl`) → the address.
fn parse_connection(value: &str, line: usize) -> Result<IpAddr, SdpError> {
    let mut fields = value.split_whitespace();
    let (Some(net), Some(_family), Some(address)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(SdpError::Malformed {
            line,
            reason: "c= needs <nettype> <addrtype> <address>",
        });
    };
    if !net.eq_ignore_ascii_case("IN") {
        return Err(SdpError::Malformed {
            line,
            reason: "c= network type is not IN",
        });
    }
    let host = address.split('/').next().unwrap_or(address);
    host.parse()
        .map_err(|_| SdpError::BadAddress(host.to_string()))
}

/// `audio 49170 RTP/AVP 0 8 101` → a section without attributes yet.
fn parse_media(value: &str, line: usize) -> Result<Section<'_>, SdpError> {
    let mut fields = value.split_whitespace();
    let (Some(media), Some(port), Some(proto)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(SdpError::Malformed {
            line,
            reason: "m= needs <media> <port> <proto> <fmt>…",
        });
    };
    // `49170/2` declares a port range; the first port is the stream's.
    let port = port
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or(SdpError::Malformed {
            line,
            reason: "m= port is not a number",
        })?;
    Ok(Section {
        media,
        port,
        proto,
        formats: fields.collect(),
        connection: None,
        rtpmaps: Vec::new(),
        cryptos: Vec::new(),
        direction: None,
    })
}

/// `rtpmap:101 telephone-event/8000` → (101, "telephone-event/8000").
fn parse_rtpmap(attribute: &str) -> Option<(u8, &str)> {
    let rest = attribute.strip_prefix("rtpmap:")?;
    let (pt, encoding) = rest.trim().split_once(char::is_whitespace)?;
    Some((pt.parse().ok()?, encoding.trim()))
}

/// `Some(None)` for `a=sendrecv`, `Some(Some(name))` for a direction we cannot serve, `None` for
/// any other attribute.
fn direction_attribute(attribute: &str) -> Option<Option<&'static str>> {
    match attribute.trim() {
        "sendrecv" => Some(None),
        "sendonly" => Some(Some("sendonly")),
        "recvonly" => Some(Some("recvonly")),
        "inactive" => Some(Some("inactive")),
        _ => None,
    }
}

/// The SDP answer: one codec plus telephone-event (when offered), 20 ms packets, send and receive.
/// Declined m-lines of the offer are repeated with port 0.
pub fn answer(public_ip: IpAddr, port: u16, media: &NegotiatedMedia, session_id: u64) -> String {
    let family = if public_ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut sdp = format!(
        "v=0\r\n\
         o=hotline {session_id} {session_id} IN {family} {public_ip}\r\n\
         s=hotline\r\n\
         c=IN {family} {public_ip}\r\n\
         t=0 0\r\n"
    );
    let audio_position = (0..=media.declined.len())
        .find(|p| !media.declined.iter().any(|d| d.position == *p))
        .unwrap_or(media.declined.len());
    for position in 0..=media.declined.len() {
        if position == audio_position {
            push_audio(&mut sdp, port, media);
        } else if let Some(d) = media.declined.iter().find(|d| d.position == position) {
            sdp.push_str(&format!("m={} 0 {} {}\r\n", d.media, d.proto, d.format));
        }
    }
    sdp
}

fn push_audio(sdp: &mut String, port: u16, media: &NegotiatedMedia) {
    let pt = media.payload_type;
    let name = media.codec.encoding_name();
    let proto = media.profile.as_str();
    match media.telephone_event_pt {
        Some(te) => sdp.push_str(&format!(
            "m=audio {port} {proto} {pt} {te}\r\n\
             a=rtpmap:{pt} {name}/8000\r\n\
             a=rtpmap:{te} telephone-event/8000\r\n\
             a=fmtp:{te} 0-16\r\n"
        )),
        None => sdp.push_str(&format!(
            "m=audio {port} {proto} {pt}\r\na=rtpmap:{pt} {name}/8000\r\n"
        )),
    }
    sdp.push_str("a=ptime:20\r\na=sendrecv\r\n");
    if let Some(srtp) = &media.srtp {
        sdp.push_str(&sdes::answer_line(
            srtp.tag,
            srtp.keys.suite,
            &srtp.keys.ours,
        ));
    }
}

#[cfg(test)]
#[path = "sdp_srtp_tests.rs"]
mod srtp_tests;

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
