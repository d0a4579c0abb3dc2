mod blacklist;
mod blacklist_props;
mod key;
mod machine;
