//! Transfer to an agent by REFER (RFC 3515): where to (`ivr.operator_uri`, parsed once at
//! start-up) and what the NOTIFYs that follow say (a `message/sipfrag` status line).

use std::fmt;

use rsipstack::dialog::dialog::Dialog;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Request, Scheme, StatusCode, Uri};

/// The address calls are transferred to, from configuration only: a SIP or SIPS URI with a host,
/// and no URI headers (`?…`), which would make the transferee put them into its INVITE.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TransferTarget(String);

/// Why `ivr.operator_uri` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferTargetError {
    #[error("{0:?} is not a SIP URI")]
    Malformed(String),
    #[error("{0:?} must be a sip: or sips: URI (e.g. \"sip:agents@pbx.example\")")]
    Scheme(String),
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("{0:?} carries URI headers (after '?'); give a plain address")]
    Headers(String),
}

impl TransferTarget {
    pub fn parse(raw: &str) -> Result<TransferTarget, TransferTargetError> {
        let raw = raw.trim();
        // rsip strips surrounding <> and takes a bare host as a URI: both would hide a typo.
        if raw.starts_with('<') || !raw.contains(':') {
            return Err(TransferTargetError::Malformed(raw.to_owned()));
        }
        let uri = Uri::try_from(raw).map_err(|_| TransferTargetError::Malformed(raw.to_owned()))?;
        match uri.scheme {
            Some(Scheme::Sip) | Some(Scheme::Sips) => {}
            _ => return Err(TransferTargetError::Scheme(raw.to_owned())),
        }
        if uri.host_with_port.host.to_string().is_empty() {
            return Err(TransferTargetError::NoHost(raw.to_owned()));
        }
        if !uri.headers.is_empty() || raw.contains('?') {
            return Err(TransferTargetError::Headers(raw.to_owned()));
        }
        Ok(TransferTarget(uri.to_string()))
    }

    pub(super) fn uri(&self) -> Result<Uri, TransferTargetError> {
        Uri::try_from(self.0.as_str()).map_err(|_| TransferTargetError::Malformed(self.0.clone()))
    }
}

impl TryFrom<String> for TransferTarget {
    type Error = TransferTargetError;
    fn try_from(raw: String) -> Result<TransferTarget, TransferTargetError> {
        TransferTarget::parse(&raw)
    }
}

impl From<TransferTarget> for String {
    fn from(target: TransferTarget) -> String {
        target.0
    }
}

impl fmt::Display for TransferTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one NOTIFY of the transfer said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferProgress {
    /// 1xx: the transferee is still trying.
    Trying,
    /// 2xx: the new call is up.
    Succeeded,
    /// 3xx–6xx: it failed.
    Failed(u16),
}

impl TransferProgress {
    /// Reads the status line of a `message/sipfrag` body (RFC 3420): `SIP/2.0 200 OK`, perhaps
    /// followed by headers. `None` for anything else; the transfer's timer then decides.
    pub fn from_sipfrag(body: &[u8]) -> Option<TransferProgress> {
        let text = std::str::from_utf8(body).ok()?;
        let line = text.trim_start().lines().next()?;
        let mut words = line.split_whitespace();
        let version = words.next()?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return None;
        }
        let code = words.next()?;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let status: u16 = code.parse().ok()?;
        match status {
            100..=199 => Some(TransferProgress::Trying),
            200..=299 => Some(TransferProgress::Succeeded),
            300..=699 => Some(TransferProgress::Failed(status)),
            _ => None,
        }
    }
}

/// Why a REFER did not start a transfer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferError {
    #[error("the REFER was answered {0}")]
    Refused(u16),
    #[error("the REFER got no answer")]
    Unanswered,
    #[error("the REFER could not be sent: {0}")]
    Stack(String),
}

/// Sends the REFER that asks the caller's side to call `target` (Refer-To, fixed in
/// configuration), naming us in Referred-By (the address the caller called). `Ok` once it was
/// accepted, usually with 202, which says only that the transferee will try: the NOTIFYs say how.
pub(super) async fn send_refer(
    dialog: &InviteDialog,
    target: &TransferTarget,
) -> Result<(), ReferError> {
    let uri = target.uri().map_err(|e| ReferError::Stack(e.to_string()))?;
    // On our (server) side of the dialog, its To is the INVITE's: the hotline's own address.
    let us = Dialog::Invite(dialog.clone()).to().uri;
    let headers = vec![Header::ReferredBy(format!("<{us}>").into())];
    match dialog.refer(uri, Some(headers), None).await {
        Ok(Some(response)) => {
            let status = u16::from(response.status_code);
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(ReferError::Refused(status))
            }
        }
        Ok(None) => Err(ReferError::Unanswered),
        Err(e) => Err(ReferError::Stack(e.to_string())),
    }
}

/// The answer to an in-dialog NOTIFY and what it told us. Only the `refer` event package is
/// ours (RFC 3515 §2.4.4): any other gets 489 Bad Event. A body that is not a readable sipfrag
/// is still answered 200 (the transferee did nothing wrong by telling us) and tells nothing.
pub(super) fn read_notify(request: &Request) -> (StatusCode, Option<TransferProgress>) {
    let event = request.header_value("Event").unwrap_or_default();
    let package = event.split(';').next().unwrap_or_default().trim();
    if !package.eq_ignore_ascii_case("refer") {
        return (StatusCode::BadEvent, None);
    }
    (
        StatusCode::OK,
        TransferProgress::from_sipfrag(&request.body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_and_sips_uris_are_targets() {
        for good in [
            "sip:agents@pbx.example",
            "sips:agents@pbx.example:5061",
            "sip:100@192.0.2.7;transport=udp",
            " sip:queue@[2001:db8::1] ",
        ] {
            let target = TransferTarget::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert!(target.uri().is_ok(), "{good}");
        }
        assert_eq!(
            TransferTarget::parse("sip:agents@pbx.example")
                .map(String::from)
                .as_deref(),
            Ok("sip:agents@pbx.example")
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (bad, why) in [
            ("", "is not a SIP URI"),
            ("pbx.example", "is not a SIP URI"),
            ("<sip:agents@pbx.example>", "is not a SIP URI"),
            ("tel:+842838000000", "must be a sip: or sips: URI"),
            ("http://pbx.example/agents", "must be a sip: or sips: URI"),
            ("sip:agents@pbx.example?Subject=x", "URI headers"),
        ] {
            let error = TransferTarget::parse(bad)
                .map(|t| t.to_string())
                .expect_err(bad)
                .to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn sipfrag_status_lines_are_read() {
        use TransferProgress::*;
        for (body, progress) in [
            (&b"SIP/2.0 100 Trying\r\n"[..], Some(Trying)),
            (b"SIP/2.0 180 Ringing", Some(Trying)),
            (b"SIP/2.0 200 OK\r\nContact: <sip:a@b>\r\n", Some(Succeeded)),
            (b"\r\n sip/2.0 202 Accepted", Some(Succeeded)),
            (b"SIP/2.0 503 Service Unavailable\r\n", Some(Failed(503))),
            (b"SIP/2.0 486", Some(Failed(486))),
        ] {
            assert_eq!(
                TransferProgress::from_sipfrag(body),
                progress,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn malformed_sipfrags_are_none_never_a_panic() {
        for body in [
            &b""[..],
            b"\r\n",
            b"SIP/2.0",
            b"SIP/2.0 OK 200",
            b"SIP/2.0 2000 OK",
            b"SIP/2.0 099 Low",
            b"SIP/2.0 700 High",
            b"HTTP/1.1 200 OK",
            b"SIP/2.0 \xff\xfe0 OK",
            b"\xc3\x28 SIP/2.0 200 OK",
            b"SIP/2.0 2\xcc\x880 OK",
            b"SIP/2.0 +20 OK",
        ] {
            assert_eq!(
                TransferProgress::from_sipfrag(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
