// Package mgmt serves RabbitMQ's management HTTP API (issue 8) for warren, so that the
// tools written against RabbitMQ's (rabbitmqadmin, testcontainers, NServiceBus,
// ServiceControl, dashboards, amqp091-go's recovery tests) work unchanged, and the
// Prometheus metrics RabbitMQ's rabbitmq_prometheus plugin serves.
//
//	api := mgmt.New(mgmt.Config{Broker: core, AMQP: srv, Logger: log})
//	go api.Serve(ln)          // ln: 15672, as RabbitMQ's management listener
//	defer api.Shutdown(ctx)   // net/http semantics
//
// Field names, status codes and error bodies follow RabbitMQ 3.10.8's management plugin
// (Debian's rabbitmq-server), checked against a running node: see the tests, whose
// expectations were taken from one. Where warren has nothing to report (Erlang process
// statistics, garbage collection, the stats database) the field is left out rather than
// faked; where a field is a constant in a single-node broker (node, state, type) it is
// given.
//
// Authentication is HTTP basic auth against vhost.Broker.Authenticate. Authorization
// follows RabbitMQ's user tags (RW:docs/management.md#permissions): "management" and up
// may use the API for the vhosts they have permissions on; "monitoring" sees every
// connection, channel and vhost; "administrator" manages users, vhosts, permissions and
// definitions. A loopback-only user (guest) may log in from loopback addresses only.
//
// warren's own addition is the non-destructive peek, GET
// /api/queues/{vhost}/{name}/peek (vhost.VHost.Peek): ready and unacknowledged messages
// listed without delivering, requeueing or reordering them.
//
// The web UI (ui.go, embedded files in ui/static) is served at / on the same listener, as
// RabbitMQ serves its own: plain HTML, CSS and JavaScript modules that call this API with
// the user's basic-auth credentials; ui_test.go drives it in headless Chromium.
//
// Policies (api_policies.go) are vhost.VHost's; message_stats and their rates (rates.go)
// sample the counters of vhost (queues, exchanges) and amqp (channels, connections).
//
// The package imports amqp (connections, channels, consumers) and vhost (everything
// else). It holds no locks of its own across calls into either.
package mgmt
