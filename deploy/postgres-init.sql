-- Prefect's own database beside gallra's index, on the same server.
CREATE DATABASE prefect OWNER gallra;
-- The key store apart from the index: an index dump never carries a key.
CREATE DATABASE gallra_keys OWNER gallra;
