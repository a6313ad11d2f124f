//! Integration tests: data.

#[allow(unused_imports)]
use crate::common::*;
