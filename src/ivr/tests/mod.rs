//! The call flow driven through every branch and timeout on a virtual clock.

mod harness;

mod code;
mod hangup;
mod menu;
mod operator;
mod random;
mod verify;
