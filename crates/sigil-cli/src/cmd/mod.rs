//! One file per command: its flags (`Args`) and its `run`.

pub mod alerts;
pub mod compile;
pub mod compile_weights;
pub mod diff;
pub mod eval;
pub mod promote;
pub mod quickstart;
pub mod render;
pub mod run;
pub mod serve;
pub mod show;
pub mod traces;
pub mod ui;
