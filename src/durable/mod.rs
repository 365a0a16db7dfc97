//! The durable queue (feature `durable`; docs/DURABILITY.md): being built.
//! So far the rows it stores and their encodings ([`codec`]).

// Until the durable queue (DURABILITY.md, step 4) uses them, only the
// tests do.
#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod codec;

pub use codec::DurablePayload;
