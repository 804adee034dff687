// Package loadgen drives a fixed number of calls through concurrent
// clients and reports throughput and latency percentiles, for the
// benchmark commands under bench/.
package loadgen

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one load run.
type Result struct {
	Name        string
	Concurrency int
	Latencies   []time.Duration // sorted
	Elapsed     time.Duration
	Errors      int64
}

// Throughput is calls per second.
func (r Result) Throughput() float64 { return float64(len(r.Latencies)) / r.Elapsed.Seconds() }

// Percentile returns the latency at p (0..1).
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[int(float64(len(r.Latencies)-1)*p)]
}

// Merge joins runs of the same path (e.g. alternated halves).
func Merge(name string, rs ...Result) Result {
	out := Result{Name: name}
	for _, r := range rs {
		out.Concurrency = r.Concurrency
		out.Latencies = append(out.Latencies, r.Latencies...)
		out.Elapsed += r.Elapsed
		out.Errors += r.Errors
	}
	sort.Slice(out.Latencies, func(a, b int) bool { return out.Latencies[a] < out.Latencies[b] })
	return out
}

// Run calls f n times from concurrency goroutines. The first three errors
// are printed to stderr; all are counted.
func Run(name string, concurrency, n int, f func(i int) error) Result {
	var next, errs atomic.Int64
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := f(i); err != nil && errs.Add(1) <= 3 {
					fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	r := Result{Name: name, Concurrency: concurrency, Latencies: lat, Elapsed: time.Since(start), Errors: errs.Load()}
	sort.Slice(r.Latencies, func(a, b int) bool { return r.Latencies[a] < r.Latencies[b] })
	return r
}
