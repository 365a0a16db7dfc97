//! Randomized-schedule (shuttle) scenarios of dagqueue, bigger than loom
//! can explore; see tests/ and `scripts/shuttle.sh`.
