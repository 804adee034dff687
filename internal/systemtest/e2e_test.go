package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runE2E runs web/e2e/<script> against the test server with env added
// (BASE_URL is set), fails the test unless it reports "1 passed, 0 failed",
// and returns the ticket it names in an "e2e: ticket N" line (0 if none).
func runE2E(t *testing.T, script string, within time.Duration, env_ ...string) (int64, []byte) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("e2e", script))
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "web")
	cmd.Env = append(append(os.Environ(), "BASE_URL="+env.baseURL), env_...)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("1 passed, 0 failed")) {
		t.Fatalf("browser test %s failed: %v\n%s", script, err, out)
	}
	var number int64
	for _, l := range strings.Split(string(out), "\n") {
		if _, err := fmt.Sscanf(l, "e2e: ticket %d", &number); err == nil {
			break
		}
	}
	return number, out
}
