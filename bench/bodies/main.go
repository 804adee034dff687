// Command bodies measures what hostile request bodies cost the API: the
// issue's decompression bomb (512 MiB of zeros compressed twice, under a
// kilobyte, `Content-Encoding: gzip, gzip`) and an anonymous 10 MiB body,
// both to POST /api/v1/auth/login on the API as `helpdesk api` builds it,
// from concurrent clients. It reports latency, how many bytes
// the server read per request, and the process's resident memory (the
// API runs in this process; the clients stream from small buffers).
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/bodies -requests 200 -clients 16
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/bench/loadgen"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/decompress/decompresstest"
	"github.com/helpdesk/helpdesk/internal/netcount"
	"github.com/helpdesk/helpdesk/policies"
)

func main() {
	requests := flag.Int("requests", 200, "requests per attack")
	clients := flag.Int("clients", 16, "concurrent clients")
	size := flag.Int("size", 10<<20, "bytes of the oversized body")
	flag.Parse()
	if err := run(*requests, *clients, *size); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(requests, clients, size int) error {
	ctx := context.Background()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		return err
	}
	// Both attacks are answered before any handler runs, so the API needs
	// no services here; a request that reached one would fail the run.
	srv := api.New(api.Deps{Config: config.Default(), Enforcer: enforcer})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	counted := &netcount.Listener{Listener: ln}
	go func() { _ = srv.Serve(counted) }()
	defer srv.Shutdown(ctx)
	addr := ln.Addr().String()

	bomb := decompresstest.NestedGzipBomb(512 << 20)
	runtime.GC()
	debug.FreeOSMemory()
	baseline := memory()
	fmt.Printf("machine: %d CPUs, %s; API in this process; %d clients, %d requests per attack\n",
		runtime.NumCPU(), runtime.Version(), clients, requests)
	fmt.Printf("RSS before: %d MiB\n\n", baseline.rss>>20)
	fmt.Println("| attack | body sent | answer | p50 | p99 | server read per request | peak RSS | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|")

	attack := func(name string, status int, head string, body func(io.Writer) error, sentDesc string) error {
		resetPeak()
		before := counted.Read()
		r := loadgen.Run(name, clients, requests, func(int) error { return exchange(addr, head, body, status) })
		read := (counted.Read() - before) / int64(requests)
		m := memory()
		fmt.Printf("| %s | %s | %d | %s | %s | %s | %d MiB | %d |\n", name, sentDesc, status,
			r.Percentile(0.5).Round(10*time.Microsecond), r.Percentile(0.99).Round(10*time.Microsecond), bytesText(read), m.peak>>20, r.Errors)
		if r.Errors > 0 {
			return fmt.Errorf("%s: %d requests were not answered %d", name, r.Errors, status)
		}
		return nil
	}
	if err := attack("decompression bomb (gzip, gzip → 512 MiB)", http.StatusUnsupportedMediaType,
		fmt.Sprintf("POST /api/v1/auth/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Encoding: gzip, gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(bomb)),
		func(w io.Writer) error { _, err := w.Write(bomb); return err }, bytesText(int64(len(bomb)))); err != nil {
		return err
	}
	if err := attack("anonymous oversized body (Content-Length)", http.StatusRequestEntityTooLarge,
		fmt.Sprintf("POST /api/v1/auth/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", size),
		zeros(size, false), bytesText(int64(size))); err != nil {
		return err
	}
	if err := attack("anonymous oversized body (chunked)", http.StatusRequestEntityTooLarge,
		"POST /api/v1/auth/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
		zeros(size, true), bytesText(int64(size))); err != nil {
		return err
	}
	fmt.Printf("\nRSS after: %d MiB (server read per request includes up to %s drained after the answer so the client sees it)\n", memory().rss>>20, bytesText(256<<10))
	return nil
}

// exchange sends head and streams body while it reads the answer, which
// must have status want.
func exchange(addr, head string, body func(io.Writer) error, want int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		return err
	}
	go func() { _ = body(conn) }()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		return fmt.Errorf("status %d, want %d", res.StatusCode, want)
	}
	return nil
}

// zeros writes n zero bytes, plain or as a chunked body, until the server
// stops reading.
func zeros(n int, chunked bool) func(io.Writer) error {
	return func(w io.Writer) error {
		chunk := make([]byte, 32<<10)
		for left := n; left > 0; left -= len(chunk) {
			k := min(left, len(chunk))
			var err error
			if chunked {
				_, err = fmt.Fprintf(w, "%x\r\n%s\r\n", k, chunk[:k])
			} else {
				_, err = w.Write(chunk[:k])
			}
			if err != nil {
				return err
			}
		}
		if chunked {
			_, err := io.WriteString(w, "0\r\n\r\n")
			return err
		}
		return nil
	}
}

type mem struct{ rss, peak int64 }

// memory reads this process's resident set and its peak since resetPeak.
func memory() mem {
	var m mem
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.peak = kb << 10
		}
	}
	return m
}

// resetPeak starts a new VmHWM measurement (Linux: clear_refs 5).
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
