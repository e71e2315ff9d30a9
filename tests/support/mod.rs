pub mod binary;
pub mod hotline_harness;
pub mod http_get;
pub mod postgres;
pub mod rtp_peer;
pub mod rtp_sprayer;
pub mod sdes;
pub mod sip_uac;
