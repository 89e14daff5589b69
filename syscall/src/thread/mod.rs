//! Threads and signals: the thread table, futex queues, signal queues and
//! dispositions, signal frames, restart rules, timers. What needs the whole
//! process (sending and delivering signals, a thread's exit, firing timers)
//! is in `process/`.
pub mod futex;
pub mod restart;
pub mod sigframe;
pub mod signal;
pub mod sigpipe;
pub mod table;
pub mod timers;
