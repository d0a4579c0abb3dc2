pub(crate) mod support;

mod enumerator;
mod reader;
