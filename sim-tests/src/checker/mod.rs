//! Checkers that judge a history recorded by a simulation run: each takes what clients
//! invoked and what they were answered, and either accepts it or returns a violation that
//! names the operations at fault. They are pure functions of the history, so a failing run
//! can be re-checked offline from its seed, and a checker is tested with crafted histories.

pub mod linearizability;
pub mod list_append;
