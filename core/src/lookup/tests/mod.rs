mod blacklist;
