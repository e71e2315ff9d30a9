//! Offer/answer: codecs, telephone-event, addresses, declined streams and refusals.
use super::*;

fn offer(media_lines: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n{media_lines}"
    )
}

fn ok(sdp: &str) -> NegotiatedMedia {
    negotiate(sdp, SrtpMode::Optional).unwrap_or_else(|e| panic!("{e}: {sdp}"))
}

#[test]
fn caller_preference_order_decides_the_codec() {
    let m = ok(&offer(
        "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    ));
    assert_eq!((m.codec, m.payload_type), (Codec::Pcma, 8));
    let m = ok(&offer("m=audio 4000 RTP/AVP 0 8\r\n"));
    assert_eq!(m.codec, Codec::Pcmu);
    assert_eq!(m.remote_rtp, "192.0.2.9:4000".parse().unwrap());
    assert_eq!(m.telephone_event_pt, None);
}

#[test]
fn unknown_codecs_before_g711_are_skipped() {
    let m = ok(&offer(
        "m=audio 4000 RTP/AVP 9 18 96 8 97\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 telephone-event/8000\r\n",
    ));
    assert_eq!(m.codec, Codec::Pcma);
    assert_eq!(m.telephone_event_pt, Some(97));
}

#[test]
fn rtpmap_names_are_case_insensitive_and_dynamic_types_are_kept() {
    let m = ok(&offer(
        "m=audio 4000 RTP/AVP 112 100\r\na=rtpmap:112 pcmu/8000/1\r\na=rtpmap:100 Telephone-Event/8000\r\n",
    ));
    assert_eq!(
        (m.codec, m.payload_type, m.telephone_event_pt),
        (Codec::Pcmu, 112, Some(100))
    );
}

#[test]
fn telephone_event_at_another_rate_is_not_ours() {
    let m = ok(&offer(
        "m=audio 4000 RTP/AVP 0 110\r\na=rtpmap:110 telephone-event/48000\r\n",
    ));
    assert_eq!(m.telephone_event_pt, None);
}

#[test]
fn media_level_connection_wins_over_session_level() {
    let m = ok(&offer(
        "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 198.51.100.7\r\n",
    ));
    assert_eq!(m.remote_rtp, "198.51.100.7:4000".parse().unwrap());
    let no_session_c =
        "v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nt=0 0\r\nm=audio 5 RTP/AVP 0\r\nc=IN IP4 10.0.0.1\r\n";
    assert_eq!(ok(no_session_c).remote_rtp, "10.0.0.1:5".parse().unwrap());
}

#[test]
fn ipv6_connection_is_read() {
    let sdp = "v=0\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(ok(sdp).remote_rtp, "[2001:db8::1]:4000".parse().unwrap());
}

#[test]
fn video_is_declined_and_audio_taken_from_the_second_line() {
    let m = ok(&offer(
        "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 4000 RTP/AVP 0\r\n",
    ));
    assert_eq!(m.remote_rtp.port(), 4000);
    assert_eq!(m.declined.len(), 1);
    let answer = answer("203.0.113.5".parse().unwrap(), 30000, &m, 7);
    let m_lines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(m_lines, ["m=video 0 RTP/AVP 96", "m=audio 30000 RTP/AVP 0"]);
}

#[test]
fn disabled_insecure_and_directional_streams_are_refused_with_a_reason() {
    assert_eq!(
        negotiate(&offer("m=audio 0 RTP/AVP 0\r\n"), SrtpMode::Optional),
        Err(SdpError::AudioDisabled)
    );
    assert_eq!(
        negotiate(&offer("m=audio 4000 RTP/SAVPF 0\r\n"), SrtpMode::Optional),
        Err(SdpError::UnsupportedTransport("RTP/SAVPF".into()))
    );
    assert_eq!(
        negotiate(
            &offer("m=audio 4000 RTP/AVP 0\r\na=inactive\r\n"),
            SrtpMode::Optional
        ),
        Err(SdpError::NotSendRecv("inactive"))
    );
    assert_eq!(
        negotiate(&offer("m=video 4000 RTP/AVP 96\r\n"), SrtpMode::Optional),
        Err(SdpError::NoAudio)
    );
    assert_eq!(
        negotiate(&offer(""), SrtpMode::Optional),
        Err(SdpError::NoAudio)
    );
}

#[test]
fn a_session_level_direction_applies_unless_the_stream_overrides_it() {
    let sdp = "v=0\r\nc=IN IP4 192.0.2.1\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        negotiate(sdp, SrtpMode::Optional),
        Err(SdpError::NotSendRecv("sendonly"))
    );
    let sdp = "v=0\r\nc=IN IP4 192.0.2.1\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n";
    assert_eq!(ok(sdp).codec, Codec::Pcmu);
}

#[test]
fn no_common_codec_is_its_own_error() {
    let sdp = offer("m=audio 4000 RTP/AVP 9 96\r\na=rtpmap:96 opus/48000/2\r\n");
    assert_eq!(
        negotiate(&sdp, SrtpMode::Optional),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    assert_eq!(negotiate("", SrtpMode::Optional), Err(SdpError::Empty));
    assert!(matches!(
        negotiate("hello world", SrtpMode::Optional),
        Err(SdpError::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        negotiate("v=0\r\nm=audio\r\n", SrtpMode::Optional),
        Err(SdpError::Malformed { line: 2, .. })
    ));
    assert!(matches!(
        negotiate("v=0\r\nm=audio x RTP/AVP 0\r\n", SrtpMode::Optional),
        Err(SdpError::Malformed { line: 2, .. })
    ));
    assert_eq!(
        negotiate("v=0\r\nc=IN IP4 pbx.example\r\n", SrtpMode::Optional),
        Err(SdpError::BadAddress("pbx.example".into()))
    );
    assert_eq!(
        negotiate("v=0\r\nm=audio 4000 RTP/AVP 0\r\n", SrtpMode::Optional),
        Err(SdpError::NoConnection)
    );
    assert!(
        negotiate(
            "v=0\r\na=rtpmap:\r\nm=audio 1 RTP/AVP 0 \u{1F600}\r\nc=IN IP4 1.2.3.4\r\n",
            SrtpMode::Optional
        )
        .is_ok()
    );
}

#[test]
fn the_answer_has_one_codec_telephone_events_and_our_address() {
    let m = ok(&offer(
        "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    ));
    let sdp = answer("203.0.113.5".parse().unwrap(), 30000, &m, 42);
    assert_eq!(
        sdp,
        "v=0\r\no=hotline 42 42 IN IP4 203.0.113.5\r\ns=hotline\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    // Our own answer is a valid offer for the same codec.
    let back = ok(&sdp);
    assert_eq!(
        (back.codec, back.telephone_event_pt),
        (Codec::Pcma, Some(101))
    );
}
