//! Test harness shared by the crates' tests: real services on loopback, never stand-ins.
//!
//! * [`postgres`]: finds a PostgreSQL server (`DATABASE_URL`, 127.0.0.1:5432, or a
//!   throwaway `initdb` cluster) and hands each test a fresh database.
//! * [`moto`]: starts moto's server (Secrets Manager, Step Functions) on a free loopback port.

pub mod moto;
pub mod postgres;
