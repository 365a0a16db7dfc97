//! Loom models of dagqueue's concurrent protocols; see tests/.
