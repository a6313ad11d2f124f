//! Integration tests: regression.

#[allow(unused_imports)]
use crate::common::*;
