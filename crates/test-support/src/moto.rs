//! A moto server on a free loopback port, for tests of code that calls AWS APIs.
