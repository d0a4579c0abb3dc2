mod blacklist;
mod machine;
