pub mod rtp_peer;
pub mod sip_uac;
