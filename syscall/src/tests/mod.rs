//! Host tests of the whole personality through `Process`, on fakes.

mod boot;
mod io;
mod memory;
mod misc;
