package localsvc

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestProcCPUCountsThisProcess(t *testing.T) {
	var ru syscall.Rusage
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	want := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	got := procCPU(os.Getpid())
	// /proc counts in 10 ms ticks and lags getrusage by up to a tick per thread.
	if got <= 0 || got > want+10*time.Millisecond || got < want/2 {
		t.Fatalf("procCPU(self) = %s, getrusage says %s", got, want)
	}
	if procCPU(1<<30) != 0 {
		t.Fatal("a missing process must count as no CPU time")
	}
}
