//! The `tracing` feature's events: `trace_event!(...)` is `tracing::trace!`
//! with the target `dagqueue` when the feature is on, and nothing at all
//! (not even its arguments' evaluation) when it is off.

/// A trace-level event of the queue (see the module).
#[cfg(feature = "tracing")]
macro_rules! trace_event {
    ($($field:tt)*) => {
        tracing::trace!(target: "dagqueue", $($field)*)
    };
}

/// A trace-level event of the queue (see the module): off.
#[cfg(not(feature = "tracing"))]
macro_rules! trace_event {
    ($($field:tt)*) => {};
}
