//! A real PostgreSQL server for tests, and a fresh database for each test.
