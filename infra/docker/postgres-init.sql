-- lakeFS keeps its key-value store in its own database beside Dagster's.
CREATE DATABASE lakefs;
