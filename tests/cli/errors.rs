//! Integration tests: errors.

#[allow(unused_imports)]
use crate::common::*;
