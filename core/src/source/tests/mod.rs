pub(crate) mod support;

mod enumerator;
mod pipeline;
mod reader;
