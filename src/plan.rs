//! Runbook + selection → the steps to run.
