//! Protocol clients for Home Assistant: the Supervisor REST API ([`supervisor`]), the Core
//! websocket ([`websocket`]) and Core's REST API ([`core_api`]: states, events, services, backup
//! upload), the parts of a partial backup both take ([`partial`]), and update entities
//! ([`updates`]).

pub mod core_api;
pub mod partial;
pub mod supervisor;
pub mod updates;
pub mod websocket;
