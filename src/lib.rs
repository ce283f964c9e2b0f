//! runsheet makes Markdown runbooks executable.
//!
//! The pipeline, one way:
//! `.md` → [`source::Source`] → [`parse`] → [`model::Runbook`] → [`plan`] →
//! [`exec`] → [`check`] → [`record::RunRecord`] → [`report`] / [`book`] / [`update`].
//!
//! Only `exec` spawns processes, only `report` and `cli` print, only `record`
//! and `update` (and `book`, for its output tree) write files.

#![warn(unreachable_pub, clippy::print_stdout, clippy::print_stderr)]

pub mod book;
pub mod check;
pub mod cli;
pub mod color;
pub mod diag;
pub mod discover;
pub mod exec;
pub mod exit;
pub(crate) mod heap;
pub mod inputs;
pub mod model;
pub(crate) mod par;
pub mod parse;
pub mod plan;
pub mod record;
pub mod report;
pub mod requires;
pub mod runner;
pub mod secrets;
pub mod shard;
pub mod source;
pub mod update;
