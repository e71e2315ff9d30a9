//! Responses the endpoint gives on its own, without the application: OPTIONS, refusals, 481.

use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::ToTypedHeader;
use rsipstack::sip::{Header, Param, Request, StatusCode};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::transaction::{Transaction, TransactionEvent, TransactionEventSender};
use tracing::debug;

use crate::admission::Refusal;

/// The methods this UAS implements, for Allow headers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY";

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

/// Answers a new INVITE 503 with `Retry-After`, and waits for its ACK.
pub(super) async fn refuse_new_invite(mut tx: Transaction, refusal: &Refusal) {
    debug!(reason = %refusal.reason, "INVITE refused with 503");
    reply(&mut tx, 503, refusal_headers(refusal)).await;
    // Kept alive for the 503's retransmissions until the ACK.
    while tx.receive().await.is_some() {}
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

/// Sends a final response of our own making to a new INVITE whose dialog the application holds.
///
/// rsipstack's `reject` can add no header but `Reason`, and a 503 without `Retry-After` tells a
/// dispatcher nothing about when to come back. So the response is built here and queued on the
/// INVITE's transaction ahead of the dialog's own rejection, which then finds the transaction
/// completed and is dropped by its state machine (a final response is sent once).
#[derive(Clone)]
pub(super) struct InviteRefuser {
    transaction: TransactionEventSender,
    endpoint: EndpointInnerRef,
    invite: Request,
}

impl InviteRefuser {
    pub(super) fn of(tx: &Transaction) -> InviteRefuser {
        InviteRefuser {
            transaction: tx.tu_sender.clone(),
            endpoint: tx.endpoint_inner.clone(),
            invite: tx.original.clone(),
        }
    }

    /// Answers the INVITE 503 with `Retry-After` (its To tagged with the dialog's local tag,
    /// RFC 3261 §8.2.6.2), then ends `dialog`: its own 503 finds the transaction answered and
    /// goes nowhere.
    pub(super) fn refuse(&self, dialog: &InviteDialog, refusal: &Refusal) {
        let mut response =
            self.endpoint
                .make_response(&self.invite, StatusCode::ServiceUnavailable, None);
        let local_tag = dialog.id().local_tag;
        for header in response.headers.iter_mut() {
            if let Header::To(to) = header
                && let Ok(mut typed) = to.typed()
            {
                if !typed.params.iter().any(|p| matches!(p, Param::Tag(_))) {
                    typed.params.push(Param::Tag(local_tag.clone().into()));
                }
                *to = typed.into();
            }
        }
        response.headers.extend(refusal_headers(refusal));
        if self
            .transaction
            .send(TransactionEvent::Respond(response))
            .is_err()
        {
            debug!("could not queue a refusal: the INVITE transaction is over");
        }
        dialog
            .reject(Some(StatusCode::ServiceUnavailable), None)
            .ok();
    }
}
