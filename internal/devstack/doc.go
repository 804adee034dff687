// Package devstack is the parent of the local development and test stack,
// not product code: what `helpdesk dev`, the tests and the benchmarks run
// instead of a deployment's services.
//
//   - localsvc: private PostgreSQL, Elasticsearch and Dovecot child
//     processes (and localsvc/pgtest, the TestMain harness for packages
//     that need a database);
//   - temporalserver: the embedded single-process Temporal server with its
//     Web UI;
//   - devmail: the dev SMTP listener that delivers into the dev inbox;
//   - ssotest: a real OpenID Connect provider for SSO tests;
//   - stack: the one harness the system tests and every benchmark start
//     their services with (PostgreSQL migrated with a store, optionally
//     Elasticsearch with the index and the embedded Temporal server with a
//     client).
//
// Product packages never import these; only cmd/helpdesk (for `helpdesk
// dev`), tests and bench/ do.
package devstack
