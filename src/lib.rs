//! hotline: the IVR behind a social-insurance hotline's branch 8, where callers reset their
//! VssID password by phone.

pub mod admin;
pub mod admission;
pub mod config;
pub mod domain;
pub mod http;
pub mod ivr;
pub mod media;
pub mod os;
pub mod overload;
pub mod privacy;
pub mod server;
pub mod sip;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod udp_batch;
