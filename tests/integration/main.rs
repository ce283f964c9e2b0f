//! The one integration test binary: runs the built `runsheet` on fixtures under
//! `tests/fixtures/` and asserts exit codes, output and files.

mod sheet;

mod book;
mod check;
mod contain;
mod lint;
mod list;
mod run;
