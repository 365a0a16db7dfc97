//! The design, rendered from `docs/DESIGN.md`: the state machine, the
//! linearization point of every operation, the memory orderings and why,
//! the locks and where they are never taken, and what the loom models see.
#![doc = include_str!("../docs/DESIGN.md")]
