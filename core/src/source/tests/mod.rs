pub(crate) mod support;

mod enumerator;
