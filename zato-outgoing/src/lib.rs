//! Outgoing connections: what a service calls beyond the cluster (REST APIs, SQL databases).
//!
//! Each kind is a folder with its client and its errors; [`connections`] keeps the live ones
//! of a server by name, rebuilt when their definitions change.

pub mod connections;
pub mod rest;
pub mod sql;
