//! The one integration test binary: runs the built `runsheet` on fixtures under
//! `tests/fixtures/` and asserts exit codes, output and files.

mod pty;
mod sheet;

mod book;
mod check;
mod cli;
mod contain;
mod corpus;
mod dialects;
mod guarantees;
mod hostile;
mod lint;
mod list;
mod record;
mod remote;
mod run;
mod secrets;
mod shard;
mod terminal;
