//! Protocol clients for Home Assistant: the Core websocket and the Supervisor REST API.

pub mod core_api;
pub mod partial;
pub mod supervisor;
pub mod websocket;
