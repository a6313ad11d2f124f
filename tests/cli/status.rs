//! Integration tests: status.

#[allow(unused_imports)]
use crate::common::*;
