//! `runsheet list` end to end.
#![allow(unused_imports)]
use crate::sheet::Sheet;
