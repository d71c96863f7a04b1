// The Go contender of the benchmark matrix (benchmarks/src/matrix): the seed's design, a poll loop
// feeding a pool of goroutines, each record handled under its own context.Context, on franz-go.
//
//	go build -o ../.bin/go-workerpool .   (from benchmarks/go; the matrix runs ../.bin/go-workerpool '<json RunConfig>')
//
// Workers: `concurrency` in the io scenario, 64 otherwise. Unordered mode shares one job channel; key
// mode routes each record to worker hash(key) % workers, so one key is never handled twice at once.
// A record is done when its handler returns (io, consume) or its output's produce promise reports
// (passthrough, latency); the contiguous done offsets per partition are committed every second and
// once at the end (at-least-once). It prints the same result line as the Node contenders (common.ts).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	Brokers     string  `json:"brokers"`
	Scenario    string  `json:"scenario"`
	Topic       string  `json:"topic"`
	OutTopic    string  `json:"outTopic"`
	Group       string  `json:"group"`
	Records     int64   `json:"records"`
	DelayMs     float64 `json:"delayMs"`
	Concurrency int     `json:"concurrency"`
	Ordering    string  `json:"ordering"`
	StallMs     int     `json:"stallMs"`
	MaxMs       int     `json:"maxMs"`
}

type result struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	JoinMs        int64   `json:"joinMs"`
	FirstRecordMs int64   `json:"firstRecordMs"`
	WindowMs      float64 `json:"windowMs"`
	CPUSeconds    float64 `json:"cpuSeconds"`
	PeakRssMB     int64   `json:"peakRssMB"`
	Note          string  `json:"note,omitempty"`
}

var processStart = time.Now()

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// peakRssMB reads VmHWM: getrusage's ru_maxrss survives execve, so it would report at least the
// RSS of the (Node) process that spawned this one.
func peakRssMB() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d kB", &kb); err == nil {
					return kb / 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss / 1024 // KiB on Linux
}

// meter opens the window at the assignment (or the first record) and prints the result once.
type meter struct {
	mu         sync.Mutex
	assignedAt time.Time
	firstAt    time.Time
	cpuStart   float64
	bytes      atomic.Int64
	reported   atomic.Bool
}

func (m *meter) assigned() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.assignedAt.IsZero() {
		m.assignedAt = time.Now()
		m.cpuStart = cpuSeconds()
	}
}

// first returns true the first time.
func (m *meter) first() bool {
	m.mu.Lock()
	if !m.firstAt.IsZero() {
		m.mu.Unlock()
		return false
	}
	m.firstAt = time.Now()
	m.mu.Unlock()
	m.assigned()
	return true
}

func (m *meter) report(records int64, note string) {
	if !m.reported.CompareAndSwap(false, true) {
		return
	}
	now := time.Now()
	m.mu.Lock()
	first, assigned := m.firstAt, m.assignedAt
	m.mu.Unlock()
	if first.IsZero() {
		first = now
	}
	if assigned.IsZero() {
		assigned = first
	}
	line, _ := json.Marshal(result{
		Records:       records,
		Bytes:         m.bytes.Load(),
		JoinMs:        assigned.Sub(processStart).Milliseconds(),
		FirstRecordMs: first.Sub(assigned).Milliseconds(),
		WindowMs:      float64(now.Sub(assigned).Microseconds()) / 1000,
		CPUSeconds:    cpuSeconds() - m.cpuStart,
		PeakRssMB:     peakRssMB(),
		Note:          note,
	})
	fmt.Printf("BENCH_RESULT %s\n", line)
}

// tracker holds, per partition, the offsets done above the contiguous commit point.
type partition struct {
	mu    sync.Mutex
	next  int64 // first offset not yet done
	epoch int32
	done  map[int64]struct{}
	dirty bool
}

type tracker struct {
	mu    sync.Mutex
	parts map[int32]*partition
}

func (t *tracker) get(p int32) *partition {
	t.mu.Lock()
	defer t.mu.Unlock()
	part, ok := t.parts[p]
	if !ok {
		part = &partition{next: -1, done: map[int64]struct{}{}}
		t.parts[p] = part
	}
	return part
}

// seen is called by the poll loop, in offset order, before the record is dispatched.
func (t *tracker) seen(r *kgo.Record) {
	part := t.get(r.Partition)
	part.mu.Lock()
	if part.next < 0 {
		part.next = r.Offset
	}
	part.mu.Unlock()
}

func (t *tracker) markDone(r *kgo.Record) {
	part := t.get(r.Partition)
	part.mu.Lock()
	part.done[r.Offset] = struct{}{}
	for {
		if _, ok := part.done[part.next]; !ok {
			break
		}
		delete(part.done, part.next)
		part.next++
		part.epoch = r.LeaderEpoch
		part.dirty = true
	}
	part.mu.Unlock()
}

func (t *tracker) commit(ctx context.Context, client *kgo.Client, topic string) {
	offsets := map[string]map[int32]kgo.EpochOffset{topic: {}}
	t.mu.Lock()
	for p, part := range t.parts {
		part.mu.Lock()
		if part.dirty {
			offsets[topic][p] = kgo.EpochOffset{Epoch: part.epoch, Offset: part.next}
			part.dirty = false
		}
		part.mu.Unlock()
	}
	t.mu.Unlock()
	if len(offsets[topic]) > 0 {
		client.CommitOffsetsSync(ctx, offsets, nil)
	}
}

func main() {
	var cfg config
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-workerpool '<json RunConfig>'")
		os.Exit(2)
	}
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bad config:", err)
		os.Exit(2)
	}
	m := &meter{}
	root, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(cfg.Brokers, ",")...),
		kgo.ClientID("bench-go"),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { m.assigned() }),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}

	workers := 64
	if cfg.Scenario == "io" && cfg.Concurrency > 0 {
		workers = cfg.Concurrency
	}
	target := cfg.Records
	var doneCount atomic.Int64
	var handed atomic.Int64
	finished := make(chan struct{})
	var finishOnce sync.Once
	tr := &tracker{parts: map[int32]*partition{}}

	recordDone := func(r *kgo.Record) {
		tr.markDone(r)
		if n := doneCount.Add(1); target > 0 && n == target {
			finishOnce.Do(func() { close(finished) })
		}
	}
	delay := time.Duration(cfg.DelayMs * float64(time.Millisecond))

	// The handler, under the record's own context.
	handle := func(ctx context.Context, cancel context.CancelFunc, r *kgo.Record) {
		switch cfg.Scenario {
		case "passthrough", "latency":
			out := &kgo.Record{Topic: cfg.OutTopic, Key: r.Key, Value: r.Value}
			client.Produce(ctx, out, func(_ *kgo.Record, err error) {
				defer cancel()
				if err != nil {
					fmt.Fprintln(os.Stderr, "produce:", err)
					os.Exit(1)
				}
				recordDone(r)
			})
			return
		case "io":
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			}
		case "stall":
			<-ctx.Done()
			cancel()
			return
		}
		cancel()
		recordDone(r)
	}

	var queues []chan *kgo.Record
	if cfg.Ordering == "key" {
		for i := 0; i < workers; i++ {
			queues = append(queues, make(chan *kgo.Record, 16))
		}
	} else {
		shared := make(chan *kgo.Record, workers*2)
		for i := 0; i < workers; i++ {
			queues = append(queues, shared)
		}
	}
	for i := 0; i < workers; i++ {
		go func(jobs <-chan *kgo.Record) {
			for r := range jobs {
				ctx, cancel := context.WithCancel(root)
				handle(ctx, cancel, r)
			}
		}(queues[i])
	}
	dispatch := func(r *kgo.Record) {
		q := queues[0]
		if cfg.Ordering == "key" {
			h := fnv.New32a()
			_, _ = h.Write(r.Key)
			q = queues[h.Sum32()%uint32(workers)]
		}
		q <- r
	}

	exit := func(note string) {
		m.report(doneCount.Load(), note)
		os.Exit(0)
	}

	// Periodic commits of the contiguous done offsets.
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				tr.commit(root, client, cfg.Topic)
			case <-root.Done():
				return
			}
		}
	}()
	go func() {
		select {
		case <-finished:
			tr.commit(context.Background(), client, cfg.Topic)
			exit("")
		case <-root.Done():
			exit("stopped by signal")
		}
	}()

	for {
		fetches := client.PollRecords(root, 10_000)
		if root.Err() != nil {
			select {}
		}
		fetches.EachError(func(t string, p int32, err error) {
			fmt.Fprintln(os.Stderr, "fetch:", t, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if m.first() {
				if cfg.Scenario == "stall" {
					time.AfterFunc(time.Duration(cfg.StallMs)*time.Millisecond, func() {
						m.report(handed.Load(), fmt.Sprintf("%d records handed to the stalled handlers", handed.Load()))
						os.Exit(0)
					})
				} else if cfg.MaxMs > 0 {
					time.AfterFunc(time.Duration(cfg.MaxMs)*time.Millisecond, func() { exit("window cut at maxMs") })
				}
			}
			m.bytes.Add(int64(len(r.Value)))
			tr.seen(r)
			handed.Add(1)
			dispatch(r)
		})
	}
}
