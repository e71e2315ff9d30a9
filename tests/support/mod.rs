pub mod sip_uac;
