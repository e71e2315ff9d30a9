//! SIP signalling: the only module that talks to rsipstack.
//!
//! ```text
//!  UDP ──▶ wire::ScreenedSocket ──▶ rsipstack transport/transactions ──▶ server (dispatch)
//!          (400/501/505 for what          (retransmissions, timers,        │ new INVITE: sdp::negotiate,
//!           rsipstack would drop,          CANCEL, 2xx until ACK)          │ identity, dialog ─▶ IncomingCall
//!           optional wire log)                     ▲                       └ OPTIONS/others: responses
//!  TCP/TLS ──▶ streams (allowed peers, cap, ───────┘ transports: Contact, Via, sips:, stream wire log
//!              TLS handshake deadline; tls: the certificate)
//!  the application ──CallControl (ring/answer/reject/hangup)──▶ call ──▶ rsipstack dialog
//!  the application ◀──CallEvent (Acked, Cancelled, HungUp, AckTimeout, Dtmf, Transfer)── call
//!                     (HungUp also when the call's TCP/TLS connection closes)
//!  transfer: REFER to `ivr.operator_uri`, NOTIFY sipfrags read into TransferProgress
//! ```
//!
//! rsipstack is pinned exactly (its API broke three times in 2026), so every use of it stays in
//! this folder; the rest of the crate sees only the types re-exported here.

mod call;
mod config;
mod identity;
mod peers;
mod responses;
mod sdes;
pub mod sdp;
mod server;
mod streams;
mod tls;
mod transfer;
mod transports;
mod wire;

pub use call::{CallControl, CallError, CallEvent, CallInfo, IncomingCall};
pub use config::{SipConfig, SipConfigError, StreamLimits, TlsListen};
pub use identity::CallerIdentity;
pub use peers::AllowedPeers;
pub use sdp::{NegotiatedMedia, SdpError};
pub use server::{SipError, SipServer};
pub use tls::{TlsIdentityError, load_identity};
pub use transfer::{ReferError, TransferProgress, TransferTarget, TransferTargetError};
