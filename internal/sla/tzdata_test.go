package sla

import (
	"os/exec"
	"strings"
	"testing"
)

// TestZoneDataIsLinked: the helpdesk binary carries its own time zone
// database (through this package), so its business hours and deadlines do
// not depend on what the machine has installed (issue 19).
func TestZoneDataIsLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/helpdesk/helpdesk/cmd/helpdesk").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains("\n"+string(out), "\ntime/tzdata\n") {
		t.Fatal("cmd/helpdesk does not link time/tzdata")
	}
}
