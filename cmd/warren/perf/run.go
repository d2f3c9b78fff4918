package perf

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// dialParallel bounds how many connections are dialled at once (1,000 consumers
// would otherwise hit the broker's accept queue in one burst).
const dialParallel = 32

// pollInterval is how often a count-bounded run checks whether it is done.
const pollInterval = time.Millisecond

// Run runs one load test as cfg describes and returns its summary. It declares the
// queues, opens every connection, starts the clock, runs until cfg.Duration or
// cfg.Count ends it (or ctx is cancelled), closes every connection and deletes
// the queues unless cfg.Keep. On an error during the run the summary covers the
// run so far.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: &cfg, url: u}
	if err := r.declare(ctx); err != nil {
		return nil, err
	}
	defer r.cleanup()
	if err := r.connect(ctx); err != nil {
		r.closeAll()
		return nil, err
	}
	s, err := r.measure(ctx)
	r.closeAll()
	return s, err
}

// run is one Run's state; its fields are written before the goroutines start, except
// the counters inside producers and consumers.
type run struct {
	cfg       *Config
	url       brokerURL
	producers []*producer
	consumers []*consumer
	expected  int64 // deliveries a count-bounded run waits for; 0: none
}

// declare creates the queues, and the fanout exchange with its bindings, on a setup
// connection.
func (r *run) declare(ctx context.Context) error {
	cfg := r.cfg
	c, err := dial(ctx, r.url, "perf setup")
	if err != nil {
		return err
	}
	defer c.close()
	if cfg.Fanout > 0 {
		if err := c.call(&wire.ExchangeDeclare{Exchange: cfg.Exchange, Type: "fanout", Durable: cfg.Durable}, wire.MethodExchangeDeclareOk); err != nil {
			return err
		}
	}
	for i := range cfg.Queues {
		q := cfg.queueName(i)
		if err := c.call(&wire.QueueDeclare{Queue: q, Durable: cfg.Durable, Arguments: cfg.QueueArgs}, wire.MethodQueueDeclareOk); err != nil {
			return err
		}
		if cfg.Fanout > 0 {
			if err := c.call(&wire.QueueBind{Queue: q, Exchange: cfg.Exchange}, wire.MethodQueueBindOk); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleanup deletes what declare created, unless the run keeps it.
func (r *run) cleanup() {
	cfg := r.cfg
	if cfg.Keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	c, err := dial(ctx, r.url, "perf cleanup")
	if err != nil {
		return
	}
	defer c.close()
	for i := range cfg.Queues {
		if c.call(&wire.QueueDelete{Queue: cfg.queueName(i)}, wire.MethodQueueDeleteOk) != nil {
			return
		}
	}
	if cfg.Fanout > 0 {
		c.call(&wire.ExchangeDelete{Exchange: cfg.Exchange}, wire.MethodExchangeDeleteOk)
	}
}

// connect opens every consumer (qos, consume) and producer (confirm.select)
// connection, dialParallel at a time.
func (r *run) connect(ctx context.Context) error {
	cfg := r.cfg
	r.consumers = make([]*consumer, cfg.Consumers)
	r.producers = make([]*producer, cfg.Producers)
	limits := r.limits()
	sem := make(chan struct{}, dialParallel)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for j := range cfg.Consumers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			k, err := r.newConsumer(ctx, j)
			if err != nil {
				fail(err)
				return
			}
			r.consumers[j] = k
		}()
	}
	for i := range cfg.Producers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := dial(ctx, r.url, fmt.Sprintf("perf producer %d", i))
			if err != nil {
				fail(err)
				return
			}
			if cfg.Confirm > 0 {
				if err := c.call(&wire.ConfirmSelect{}, wire.MethodConfirmSelectOk); err != nil {
					c.close()
					fail(err)
					return
				}
			}
			exchange, key := "", cfg.queueName(i%cfg.Queues)
			if cfg.Fanout > 0 {
				exchange, key = cfg.Exchange, ""
			}
			r.producers[i] = newProducer(c, cfg, exchange, key, limits[i])
		}()
	}
	wg.Wait()
	return first
}

func (r *run) newConsumer(ctx context.Context, j int) (*consumer, error) {
	cfg := r.cfg
	c, err := dial(ctx, r.url, fmt.Sprintf("perf consumer %d", j))
	if err != nil {
		return nil, err
	}
	if !cfg.NoAck && cfg.Prefetch > 0 {
		if err := c.call(&wire.BasicQos{PrefetchCount: uint16(cfg.Prefetch)}, wire.MethodBasicQosOk); err != nil {
			c.close()
			return nil, err
		}
	}
	consume := &wire.BasicConsume{Queue: cfg.queueName(j % cfg.Queues), ConsumerTag: fmt.Sprintf("perf-%d", j), NoAck: cfg.NoAck}
	if err := c.call(consume, wire.MethodBasicConsumeOk); err != nil {
		c.close()
		return nil, err
	}
	return &consumer{c: c, noAck: cfg.NoAck, multiAck: uint64(cfg.MultiAck), timed: cfg.Size >= 8}, nil
}

// limits splits cfg.Count across the producers (-1 each without a count) and sets
// r.expected: the deliveries those messages route to queues that have consumers.
func (r *run) limits() []int64 {
	cfg := r.cfg
	l := make([]int64, cfg.Producers)
	if cfg.Count == 0 {
		for i := range l {
			l[i] = -1
		}
		return l
	}
	if cfg.Producers == 0 {
		r.expected = cfg.Count
		return l
	}
	consumed := func(q int) bool { return q < cfg.Consumers } // consumer j takes queue j mod Queues
	for i := range l {
		l[i] = cfg.Count / int64(cfg.Producers)
		if int64(i) < cfg.Count%int64(cfg.Producers) {
			l[i]++
		}
		for q := range cfg.Queues {
			if consumed(q) && (cfg.Fanout > 0 || q == i%cfg.Queues) {
				r.expected += l[i]
			}
		}
	}
	return l
}

// measure starts the clock and every goroutine, waits for the end of the run and
// builds the summary.
func (r *run) measure(parent context.Context) (*Summary, error) {
	cfg := r.cfg
	if cfg.OnReady != nil {
		cfg.OnReady()
	}
	var brokerCPU0 time.Duration
	var rss0 int64
	if cfg.BrokerPID > 0 {
		var err error
		if brokerCPU0, rss0, err = ProcUsage(cfg.BrokerPID); err != nil {
			return nil, err
		}
	}
	selfCPU0 := selfCPU()
	start := time.Now()

	// runCtx ends the measurement: Duration, the caller, or a failure. consCtx stops
	// consumers, also once a count-bounded run has its deliveries.
	runCtx, stopRun := context.WithCancelCause(parent)
	defer stopRun(nil)
	if cfg.Duration > 0 {
		var stopTimer context.CancelFunc
		runCtx, stopTimer = context.WithTimeout(runCtx, cfg.Duration)
		defer stopTimer()
	}
	consCtx, stopConsumers := context.WithCancel(runCtx)
	defer stopConsumers()

	// The measurement ends when the run's time is up or its messages are through,
	// before the connections close: that teardown (a broker working off its socket
	// buffers, say) is not the load being measured.
	var (
		end              time.Time
		brokerCPU1, cpu1 time.Duration
		rss1             int64
		procErr          error
	)
	sample := sync.OnceFunc(func() {
		end, cpu1 = time.Now(), selfCPU()
		if cfg.BrokerPID > 0 {
			brokerCPU1, rss1, procErr = ProcUsage(cfg.BrokerPID)
		}
	})
	stopSample := context.AfterFunc(runCtx, sample)
	defer stopSample()

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		stopRun(err)
	}
	for _, k := range r.consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := k.loop(consCtx); err != nil {
				fail(err)
			}
		}()
	}
	var pwg, loops sync.WaitGroup // producers' goroutines; their publishing loops
	for _, p := range r.producers {
		pwg.Add(2)
		loops.Add(1)
		go func() {
			defer pwg.Done()
			p.readLoop()
		}()
		go func() {
			defer pwg.Done()
			err := p.loop(runCtx)
			loops.Done()
			if err != nil && err != errPartialWrite {
				fail(err)
			}
			p.finish(err)
		}()
	}
	rep := newReporter(r, start)
	repDone := make(chan struct{})
	go func() {
		defer close(repDone)
		rep.loop(runCtx)
	}()

	// A count-bounded run ends when the producers have published (and their confirms
	// are in) and so have the deliveries, or DrainTimeout after publishing ended.
	if cfg.Count > 0 {
		producersDone := make(chan struct{})
		go func() { loops.Wait(); close(producersDone) }()
		select {
		case <-producersDone:
		case <-runCtx.Done():
		}
		deadline := time.NewTimer(cfg.DrainTimeout)
		tick := time.NewTicker(pollInterval)
	wait:
		for r.delivered() < r.expected {
			select {
			case <-tick.C:
			case <-deadline.C:
				break wait
			case <-runCtx.Done():
				break wait
			}
		}
		tick.Stop()
		deadline.Stop()
		sample()
		stopConsumers()
	}
	wg.Wait()
	stopRun(nil)
	pwg.Wait()
	sample() // waits for the AfterFunc's call if it is under way
	<-repDone
	rep.finish(end)

	s := r.summary(start, end, rep)
	if cfg.BrokerPID > 0 && procErr == nil {
		s.BrokerCPU = (brokerCPU1 - brokerCPU0).Seconds()
		s.BrokerCPUPerMsg = s.perMsg(s.BrokerCPU)
		s.BrokerRSSStart, s.BrokerRSS = rss0, rss1
	}
	s.ClientCPU = (cpu1 - selfCPU0).Seconds()
	s.ClientCPUPerMsg = s.perMsg(s.ClientCPU)
	if first != nil && errors.Is(first, context.Canceled) && parent.Err() != nil {
		first = nil // the caller stopped the run: not a failure
	}
	return s, first
}

// delivered is the deliveries so far.
func (r *run) delivered() int64 {
	var n int64
	for _, k := range r.consumers {
		n += k.delivered.Load()
	}
	return n
}

// summary adds up the counters once every goroutine has stopped.
func (r *run) summary(start, end time.Time, rep *reporter) *Summary {
	cfg := r.cfg
	s := &Summary{
		Producers: cfg.Producers, Consumers: cfg.Consumers, Queues: cfg.Queues, Size: cfg.Size,
		Persistent: cfg.Persistent, Confirm: cfg.Confirm, Prefetch: cfg.Prefetch, MultiAck: cfg.MultiAck,
		NoAck: cfg.NoAck, Fanout: cfg.Fanout, Rate: cfg.Rate,
		Elapsed:  end.Sub(start).Seconds(),
		Expected: r.expected,
	}
	var lastPub, lastConf, lastDel int64
	for _, p := range r.producers {
		s.Published += p.published.Load()
		s.Confirmed += p.confirmed.Load()
		s.Nacked += p.nacked.Load()
		s.Returned += p.returned.Load()
		lastPub = max(lastPub, p.lastPublish.Load())
		lastConf = max(lastConf, p.lastConfirm.Load())
	}
	for _, k := range r.consumers {
		s.Delivered += k.delivered.Load()
		lastDel = max(lastDel, k.lastDeliver.Load())
	}
	rate := func(n, last int64) float64 {
		d := time.Duration(last - start.UnixNano()).Seconds()
		if n == 0 || d <= 0 {
			return 0
		}
		return float64(n) / d
	}
	s.PublishRate = rate(s.Published, lastPub)
	s.ConfirmRate = rate(s.Confirmed+s.Nacked, lastConf)
	s.DeliverRate = rate(s.Delivered, lastDel)
	s.Latency = latencyOf(&rep.total)
	return s
}

// closeAll ends every connection, in parallel (a consumer's close waits for
// close-ok behind the deliveries still in flight).
func (r *run) closeAll() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, dialParallel)
	for _, k := range r.consumers {
		if k == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			k.c.close()
		}()
	}
	wg.Wait()
	for _, p := range r.producers {
		if p != nil {
			p.c.nc.Close() // finish already closed it politely; only a failed connect leaves one open
		}
	}
}
