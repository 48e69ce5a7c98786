-- docker-compose: the warehouse stand-in lives beside the source database, as in the embedded stack.
CREATE DATABASE warehouse OWNER cdc;
