-- Prefect's own database beside gallra's index, on the same server.
CREATE DATABASE prefect OWNER gallra;
