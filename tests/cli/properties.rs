//! Integration tests: properties.

#[allow(unused_imports)]
use crate::common::*;
