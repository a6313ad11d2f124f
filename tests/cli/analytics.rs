//! Integration tests: analytics.

#[allow(unused_imports)]
use crate::common::*;
