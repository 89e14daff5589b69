//! Building blocks of threads and signals: futex queues and the signal
//! frame layout.
pub mod futex;
pub mod sigframe;
