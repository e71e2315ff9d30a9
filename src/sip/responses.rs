//! Responses the endpoint gives on its own, without the application: OPTIONS, refusals, 481.

use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tracing::debug;

use crate::admission::Refusal;

/// The methods this UAS implements, for Allow headers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";

/// What an OPTIONS response advertises (RFC 3261 §11.2).
pub fn capabilities() -> Vec<Header> {
    vec![
        Header::Allow(ALLOW.into()),
        Header::Accept("application/sdp".into()),
    ]
}

/// The Warning header (RFC 3261 §20.43) that explains a refusal in words.
pub fn warning(code: u16, text: &str) -> Header {
    let text = text.replace('"', "'");
    Header::Warning(format!("{code} hotline \"{text}\"").into())
}

/// The headers of a 503 that takes this node out of rotation: `Retry-After` (RFC 3261 §20.33),
/// and a Warning that tells the operator reading a trace why.
pub fn refusal_headers(refusal: &Refusal) -> Vec<Header> {
    vec![
        Header::RetryAfter(refusal.retry_after_secs().to_string().into()),
        warning(399, refusal.reason.as_str()),
    ]
}

/// Sends a final response on a server transaction, logging (not failing) if the peer is gone.
pub async fn reply(tx: &mut Transaction, status: u16, headers: Vec<Header>) {
    if let Err(e) = tx.reply_with(StatusCode::from(status), headers, None).await {
        debug!(status, error = %e, "could not send response");
    }
}

/// Answers an out-of-dialog request the application never sees.
pub async fn answer_outside_dialog(tx: &mut Transaction) {
    use rsipstack::sip::Method;
    match tx.original.method {
        // An ACK has no response; a stray one (for a finished transaction) is dropped.
        Method::Ack => {}
        Method::Options => reply(tx, 200, capabilities()).await,
        // Requests that only make sense inside a dialog we do not have (RFC 3261 §12.2.2). New
        // INVITEs never come here, so an INVITE here is a re-INVITE of an unknown dialog.
        Method::Invite
        | Method::Bye
        | Method::Cancel
        | Method::Info
        | Method::Update
        | Method::PRack
        | Method::Refer
        | Method::Notify => reply(tx, 481, vec![]).await,
        Method::Register | Method::Subscribe | Method::Message | Method::Publish => {
            reply(tx, 405, vec![Header::Allow(ALLOW.into())]).await
        }
    }
}
