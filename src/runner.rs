//! The run engine: a plan of steps → exec, checks → a RunRecord, emitting events
//! to reporters (terminal, record writer). Used by `run` and `check`.
