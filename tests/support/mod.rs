pub mod rtp_peer;
