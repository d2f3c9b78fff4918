package mgmt

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warrenmq/warren/amqp"
)

// NewMetrics returns a server for Prometheus: GET /metrics with the aggregated families
// of RabbitMQ's rabbitmq_prometheus plugin (its default endpoint: every metric summed
// over the node, no per-object labels), under RabbitMQ's names, help texts and types
// (checked against 3.10.8's plugin), plus Go's own runtime and process metrics.
// The registry is built at the first scrape: building it (the Go collector describes
// every runtime/metrics series) takes 0.2-0.4 ms, which a broker's start need not wait
// for.
func NewMetrics(cfg Config) *Server {
	s := newServer(cfg)
	handler := sync.OnceValue(func() http.Handler {
		reg := prometheus.NewRegistry()
		reg.MustRegister(&collector{s: s})
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	s.mux.handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler().ServeHTTP(w, r)
	}))
	s.hs.Handler = s
	return s
}

// collector computes the metrics at each scrape from the broker's state.
type collector struct{ s *Server }

// family is one metric family. Its description is built at the first scrape, not at
// package initialisation: prometheus.NewDesc validates and hashes the names, and the
// 39 families took 0.04 ms of every start, metrics listener or not.
type family struct {
	desc func() *prometheus.Desc // sync.OnceValue
	kind prometheus.ValueType
}

func newFamily(name, help string, kind prometheus.ValueType, labels ...string) family {
	return family{sync.OnceValue(func() *prometheus.Desc { return prometheus.NewDesc(name, help, labels, nil) }), kind}
}

// The families, with RabbitMQ's help texts (prometheus_rabbitmq_core_metrics_collector).
var (
	famConnections   = newFamily("rabbitmq_connections", "Connections currently open", prometheus.GaugeValue)
	famChannels      = newFamily("rabbitmq_channels", "Channels currently open", prometheus.GaugeValue)
	famConsumers     = newFamily("rabbitmq_consumers", "Consumers currently connected", prometheus.GaugeValue)
	famQueues        = newFamily("rabbitmq_queues", "Queues available", prometheus.GaugeValue)
	famReady         = newFamily("rabbitmq_queue_messages_ready", "Messages ready to be delivered to consumers", prometheus.GaugeValue)
	famUnacked       = newFamily("rabbitmq_queue_messages_unacked", "Messages delivered to consumers but not yet acknowledged", prometheus.GaugeValue)
	famMessages      = newFamily("rabbitmq_queue_messages", "Sum of ready and unacknowledged messages - total queue depth", prometheus.GaugeValue)
	famBytes         = newFamily("rabbitmq_queue_messages_bytes", "Size in bytes of ready and unacknowledged messages", prometheus.GaugeValue)
	famReadyBytes    = newFamily("rabbitmq_queue_messages_ready_bytes", "Size in bytes of ready messages", prometheus.GaugeValue)
	famUnackedBytes  = newFamily("rabbitmq_queue_messages_unacked_bytes", "Size in bytes of all unacknowledged messages", prometheus.GaugeValue)
	famPagedOut      = newFamily("rabbitmq_queue_messages_paged_out", "Messages paged out to disk", prometheus.GaugeValue)
	famPersistent    = newFamily("rabbitmq_queue_messages_persistent", "Persistent messages", prometheus.GaugeValue)
	famRAM           = newFamily("rabbitmq_queue_messages_ram", "Ready and unacknowledged messages stored in memory", prometheus.GaugeValue)
	famReadyRAM      = newFamily("rabbitmq_queue_messages_ready_ram", "Ready messages stored in memory", prometheus.GaugeValue)
	famUnackedRAM    = newFamily("rabbitmq_queue_messages_unacked_ram", "Unacknowledged messages stored in memory", prometheus.GaugeValue)
	famQueueCons     = newFamily("rabbitmq_queue_consumers", "Consumers on a queue", prometheus.GaugeValue)
	famGlobalCons    = newFamily("rabbitmq_global_consumers", "Current number of consumers", prometheus.GaugeValue, "protocol")
	famAlarmDisk     = newFamily("rabbitmq_alarms_free_disk_space_watermark", "is 1 if free disk space watermark alarm is in effect", prometheus.GaugeValue)
	famAlarmMemory   = newFamily("rabbitmq_alarms_memory_used_watermark", "is 1 if VM memory watermark alarm is in effect", prometheus.GaugeValue)
	famBuildInfo     = newFamily("rabbitmq_build_info", "RabbitMQ & Erlang/OTP version info", prometheus.UntypedValue, "rabbitmq_version", "warren_version", "prometheus_plugin_version", "prometheus_client_version")
	famIdentityInfo  = newFamily("rabbitmq_identity_info", "RabbitMQ node & cluster identity info", prometheus.UntypedValue, "rabbitmq_node", "rabbitmq_cluster")
	allGaugeFamilies = []family{famConnections, famChannels, famConsumers, famQueues, famReady, famUnacked, famMessages,
		famBytes, famReadyBytes, famUnackedBytes, famPagedOut, famPersistent, famRAM, famReadyRAM, famUnackedRAM,
		famQueueCons, famGlobalCons, famAlarmDisk, famAlarmMemory, famBuildInfo, famIdentityInfo}
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range allGaugeFamilies {
		ch <- f.desc()
	}
	for _, f := range counterFamilies {
		ch <- f.desc()
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	emit := func(f family, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(f.desc(), f.kind, v, labels...)
	}
	var queues, consumers, ready, unacked, pagedOut, persistent int
	var readyBytes, unackedBytes int64
	for _, v := range s.cfg.Broker.ListVHosts() {
		for _, q := range v.Queues() {
			queues++
			consumers += q.Consumers
			ready += q.Ready
			unacked += q.Unacked
			pagedOut += q.PagedOut
			persistent += q.Persistent
			readyBytes += q.ReadyBytes
			unackedBytes += q.UnackedBytes
		}
	}
	var conns, chans int
	if s.cfg.AMQP != nil {
		for _, ci := range s.cfg.AMQP.Connections() {
			conns++
			chans += ci.Channels
		}
	}
	emit(famConnections, float64(conns))
	emit(famChannels, float64(chans))
	emit(famConsumers, float64(consumers))
	emit(famQueues, float64(queues))
	emit(famReady, float64(ready))
	emit(famUnacked, float64(unacked))
	emit(famMessages, float64(ready+unacked))
	emit(famBytes, float64(readyBytes+unackedBytes))
	emit(famReadyBytes, float64(readyBytes))
	emit(famUnackedBytes, float64(unackedBytes))
	emit(famPagedOut, float64(pagedOut))
	emit(famPersistent, float64(persistent))
	emit(famRAM, float64(ready-pagedOut+unacked))
	emit(famReadyRAM, float64(ready-pagedOut))
	emit(famUnackedRAM, float64(unacked))
	emit(famQueueCons, float64(consumers))
	emit(famGlobalCons, float64(consumers), "amqp091")
	reason, active := s.cfg.Broker.Alarmed()
	disk, mem := 0.0, 0.0
	if active && containsWord(reason, "disk") {
		disk = 1
	}
	if active && containsWord(reason, "memory") {
		mem = 1
	}
	emit(famAlarmDisk, disk)
	emit(famAlarmMemory, mem)
	emit(famBuildInfo, 1, amqp.RabbitMQVersion, amqp.Version, amqp.RabbitMQVersion, "client_golang")
	emit(famIdentityInfo, 1, s.node, s.node)
	c.collectCounters(emit)
}

// The counters, with RabbitMQ's help texts and labels: protocol "amqp091", and for the
// delivery side queue_type "rabbit_classic_queue" (warren's only queue type).
var (
	famConnsOpened  = newFamily("rabbitmq_connections_opened_total", "Total number of connections opened", prometheus.CounterValue)
	famConnsClosed  = newFamily("rabbitmq_connections_closed_total", "Total number of connections closed or terminated", prometheus.CounterValue)
	famChansOpened  = newFamily("rabbitmq_channels_opened_total", "Total number of channels opened", prometheus.CounterValue)
	famChansClosed  = newFamily("rabbitmq_channels_closed_total", "Total number of channels closed", prometheus.CounterValue)
	famReceived     = newFamily("rabbitmq_global_messages_received_total", "Total number of messages received from publishers", prometheus.CounterValue, "protocol")
	famReceivedConf = newFamily("rabbitmq_global_messages_received_confirm_total", "Total number of messages received from publishers expecting confirmations", prometheus.CounterValue, "protocol")
	famRouted       = newFamily("rabbitmq_global_messages_routed_total", "Total number of messages routed to queues or streams", prometheus.CounterValue, "protocol")
	famDropped      = newFamily("rabbitmq_global_messages_unroutable_dropped_total", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", prometheus.CounterValue, "protocol")
	famReturned     = newFamily("rabbitmq_global_messages_unroutable_returned_total", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", prometheus.CounterValue, "protocol")
	famConfirmed    = newFamily("rabbitmq_global_messages_confirmed_total", "Total number of messages confirmed to publishers", prometheus.CounterValue, "protocol")
	famDelivered    = newFamily("rabbitmq_global_messages_delivered_total", "Total number of messages delivered to consumers", prometheus.CounterValue, "protocol", "queue_type")
	famConsAuto     = newFamily("rabbitmq_global_messages_delivered_consume_auto_ack_total", "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment", prometheus.CounterValue, "protocol", "queue_type")
	famConsManual   = newFamily("rabbitmq_global_messages_delivered_consume_manual_ack_total", "Total number of messages delivered to consumers using basic.consume with manual acknowledgment", prometheus.CounterValue, "protocol", "queue_type")
	famGetAuto      = newFamily("rabbitmq_global_messages_delivered_get_auto_ack_total", "Total number of messages delivered to consumers using basic.get with automatic acknowledgment", prometheus.CounterValue, "protocol", "queue_type")
	famGetManual    = newFamily("rabbitmq_global_messages_delivered_get_manual_ack_total", "Total number of messages delivered to consumers using basic.get with manual acknowledgment", prometheus.CounterValue, "protocol", "queue_type")
	famGetEmpty     = newFamily("rabbitmq_global_messages_get_empty_total", "Total number of times basic.get operations fetched no message", prometheus.CounterValue, "protocol", "queue_type")
	famRedelivered  = newFamily("rabbitmq_global_messages_redelivered_total", "Total number of messages redelivered to consumers", prometheus.CounterValue, "protocol", "queue_type")
	famAcked        = newFamily("rabbitmq_global_messages_acknowledged_total", "Total number of messages acknowledged by consumers", prometheus.CounterValue, "protocol", "queue_type")

	counterFamilies = []family{famConnsOpened, famConnsClosed, famChansOpened, famChansClosed, famReceived, famReceivedConf,
		famRouted, famDropped, famReturned, famConfirmed, famDelivered, famConsAuto, famConsManual, famGetAuto, famGetManual,
		famGetEmpty, famRedelivered, famAcked}
)

func (c *collector) collectCounters(emit func(f family, v float64, labels ...string)) {
	var n amqp.Counters
	if c.s.cfg.AMQP != nil {
		n = c.s.cfg.AMQP.Counters("")
	}
	const proto, qt = "amqp091", "rabbit_classic_queue"
	emit(famConnsOpened, float64(n.ConnectionsOpened))
	emit(famConnsClosed, float64(n.ConnectionsClosed))
	emit(famChansOpened, float64(n.ChannelsOpened))
	emit(famChansClosed, float64(n.ChannelsClosed))
	emit(famReceived, float64(n.Published), proto)
	emit(famReceivedConf, float64(n.PublishedConfirm), proto)
	emit(famRouted, float64(n.Routed()), proto)
	emit(famDropped, float64(n.Dropped()), proto)
	emit(famReturned, float64(n.Returned), proto)
	emit(famConfirmed, float64(n.Confirmed), proto)
	emit(famDelivered, float64(n.Delivered()), proto, qt)
	emit(famConsAuto, float64(n.DeliveredConsumeNoAck), proto, qt)
	emit(famConsManual, float64(n.DeliveredConsumeAck), proto, qt)
	emit(famGetAuto, float64(n.DeliveredGetNoAck), proto, qt)
	emit(famGetManual, float64(n.DeliveredGetAck), proto, qt)
	emit(famGetEmpty, float64(n.GetEmpty), proto, qt)
	emit(famRedelivered, float64(n.Redelivered), proto, qt)
	emit(famAcked, float64(n.Acked), proto, qt)
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

var _ http.Handler = (*Server)(nil)
