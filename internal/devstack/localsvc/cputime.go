package localsvc

import (
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user + system) the server's processes have used:
// the leader and every live descendant, each with the children it has
// reaped (a postgres backend that ended), so every process of the tree is
// counted once. Benchmarks read it before and after a run to say where the
// machine's cores went.
func (s *server) cpuTime() time.Duration {
	total := procCPU(s.pgid)
	for _, p := range descendants(s.pgid) {
		total += procCPU(p.pid)
	}
	return total
}

// procCPU reads utime + stime + cutime + cstime of pid.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	_, f := statFields(b)
	if len(f) <= 14 {
		return 0
	}
	var ticks int64
	for i := 11; i <= 14; i++ {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// CPUTime is the CPU time PostgreSQL's processes have used so far.
func (p *Postgres) CPUTime() time.Duration { return p.srv.cpuTime() }

// CPUTime is the CPU time Elasticsearch's processes have used so far.
func (e *Elasticsearch) CPUTime() time.Duration { return e.srv.cpuTime() }

// CPUTime is the CPU time Dovecot's processes have used so far.
func (d *Dovecot) CPUTime() time.Duration { return d.srv.cpuTime() }
