//! The generator's SDP: the one offer every call makes, and the few facts it needs from the
//! service's answer (where its RTP comes from, which codec, which telephone-event type).

use std::net::{IpAddr, SocketAddr};

use crate::media::Codec;

/// The payload type our offer gives telephone-event.
pub const OFFER_EVENT_PT: u8 = 101;

/// An offer of PCMU, PCMA and telephone-event from `rtp` (the generator's one RTP socket).
pub fn offer(rtp: SocketAddr, session_id: u64) -> String {
    let ip = rtp.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\n\
         o=load {session_id} 1 IN {family} {ip}\r\n\
         s=hotline load\r\n\
         c=IN {family} {ip}\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP 0 8 {OFFER_EVENT_PT}\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:{OFFER_EVENT_PT} telephone-event/8000\r\n\
         a=fmtp:{OFFER_EVENT_PT} 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n",
        port = rtp.port(),
    )
}

/// What the generator takes from the service's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The service's RTP address: it sends from it, and we send to it.
    pub media: SocketAddr,
    pub codec: Codec,
    /// telephone-event's payload type in the answer (ours when the answer does not map it).
    pub event_pt: u8,
}

/// Why an answer is unusable; the text becomes the call's failure reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("sdp without c=")]
    NoAddress,
    #[error("sdp without m=audio")]
    NoAudio,
    #[error("sdp bad port")]
    BadPort,
    #[error("sdp codec not g711")]
    Codec,
}

impl Answer {
    /// Parses the answer. A media-level `c=` wins over the session-level one (RFC 4566 §5.7).
    pub fn parse(sdp: &str) -> Result<Answer, AnswerError> {
        let mut session_addr: Option<IpAddr> = None;
        let mut media_addr: Option<IpAddr> = None;
        let mut media: Option<&str> = None;
        let mut event_pt = None;
        for line in sdp.lines().map(str::trim) {
            if let Some(m) = line.strip_prefix("m=audio ") {
                if media.is_some() {
                    break; // only the first audio stream is ours
                }
                media = Some(m);
            } else if let Some(c) = line.strip_prefix("c=") {
                let addr = c.split_whitespace().nth(2).and_then(|a| a.parse().ok());
                if media.is_some() {
                    media_addr = addr;
                } else {
                    session_addr = addr;
                }
            } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
                let (pt, name) = map.split_once(' ').unwrap_or((map, ""));
                if name.to_ascii_lowercase().starts_with("telephone-event/") {
                    event_pt = pt.trim().parse().ok();
                }
            }
        }
        let media = media.ok_or(AnswerError::NoAudio)?;
        let address = media_addr.or(session_addr).ok_or(AnswerError::NoAddress)?;
        let mut fields = media.split_whitespace();
        let port: u16 = fields
            .next()
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != 0)
            .ok_or(AnswerError::BadPort)?;
        let codec = fields
            .nth(1)
            .and_then(|f| f.parse().ok())
            .and_then(Codec::from_payload_type)
            .ok_or(AnswerError::Codec)?;
        Ok(Answer {
            media: SocketAddr::new(address, port),
            codec,
            event_pt: event_pt.unwrap_or(OFFER_EVENT_PT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_service_s_answer() {
        let sdp = "v=0\r\no=hotline 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
                   m=audio 20042 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                   a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
        let answer = Answer::parse(sdp).unwrap();
        assert_eq!(answer.media, "10.0.0.5:20042".parse().unwrap());
        assert_eq!(answer.codec, Codec::Pcma);
        assert_eq!(answer.event_pt, 101);
    }

    #[test]
    fn media_level_address_and_a_remapped_event_type_win() {
        let sdp = "v=0\nc=IN IP4 1.1.1.1\nm=audio 4000 RTP/AVP 0 96\nc=IN IP4 2.2.2.2\n\
                   a=rtpmap:96 TELEPHONE-EVENT/8000\n";
        let answer = Answer::parse(sdp).unwrap();
        assert_eq!(answer.media, "2.2.2.2:4000".parse().unwrap());
        assert_eq!(answer.codec, Codec::Pcmu);
        assert_eq!(answer.event_pt, 96);
    }

    #[test]
    fn unusable_answers_say_why() {
        assert_eq!(Answer::parse(""), Err(AnswerError::NoAudio));
        assert_eq!(
            Answer::parse("m=audio 4000 RTP/AVP 0\r\n"),
            Err(AnswerError::NoAddress)
        );
        assert_eq!(
            Answer::parse("c=IN IP4 1.1.1.1\r\nm=audio 0 RTP/AVP 0\r\n"),
            Err(AnswerError::BadPort)
        );
        assert_eq!(
            Answer::parse("c=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 18\r\n"),
            Err(AnswerError::Codec)
        );
    }

    #[test]
    fn the_offer_round_trips_through_the_parser() {
        let offer = offer("127.0.0.1:40000".parse().unwrap(), 7);
        let seen = Answer::parse(&offer).unwrap();
        assert_eq!(seen.media, "127.0.0.1:40000".parse().unwrap());
        assert_eq!((seen.codec, seen.event_pt), (Codec::Pcmu, 101));
        assert!(offer.contains("a=sendrecv\r\n"));
    }
}
