//! (Runbook, RunRecord) → mdBook source; building; the preprocessor. Never runs a step.
