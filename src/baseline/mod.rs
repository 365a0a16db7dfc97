//! Mutex baselines: the same [`Scheduler`](crate::Scheduler) operations with one
//! lock around plain collections. (Being written.)
