// Package netcount counts the bytes a server reads from its clients, for
// tests and benchmarks that check how much of a hostile request body was
// read.
package netcount

import (
	"net"
	"sync/atomic"
)

// Listener wraps a net.Listener; Read counts every byte read from the
// connections it accepted.
type Listener struct {
	net.Listener
	read atomic.Int64
}

// Read is the bytes read so far from all connections.
func (l *Listener) Read() int64 { return l.read.Load() }

// Accept wraps the accepted connection so its reads are counted.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, read: &l.read}, nil
}

type conn struct {
	net.Conn
	read *atomic.Int64
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
