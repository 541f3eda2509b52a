//! The JSON rewrite engine against its reference, JSONTestSuite and generated documents.

mod differential;
mod jsontestsuite;
mod support;
