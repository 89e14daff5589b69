//! Threads and signals: the thread table, futex queues, signal generation
//! and delivery, signal frames, restart rules, timers, thread exit.
pub mod deliver;
pub mod exit;
pub mod futex;
pub mod restart;
pub mod sigframe;
pub mod signal;
pub mod sigpipe;
pub mod table;
pub mod timers;
