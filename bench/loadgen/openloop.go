package loadgen

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// RunOpenLoop offers n calls of f at a fixed rate (calls per second), each
// on its own goroutine at its scheduled time, whether or not earlier calls
// have answered: an open loop, as real clients arriving independently are.
// Each latency runs from the call's scheduled send time, not from when it
// was actually sent, so a stall (in the server, or in this process falling
// behind its schedule) counts against every call it delayed instead of
// silently lowering the offered rate (coordinated omission). Elapsed is the
// time until the last answer; Throughput therefore falls below rate when
// the server cannot keep up.
func RunOpenLoop(name string, rate float64, n int, f func(i int) error) Result {
	var errs atomic.Int64
	lat := make([]time.Duration, n)
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(i); err != nil && errs.Add(1) <= 3 {
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	r := Result{Name: name, Latencies: lat, Elapsed: time.Since(start), Errors: errs.Load()}
	sort.Slice(r.Latencies, func(a, b int) bool { return r.Latencies[a] < r.Latencies[b] })
	return r
}
