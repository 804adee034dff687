package api

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// auditVerification is the answer of GET /audit-log/verify.
type auditVerification struct {
	OK bool `json:"ok"`
	// Rows is how many rows were checked, the bad one included.
	Rows     int64        `json:"rows"`
	FirstBad *auditBadRow `json:"first_bad"`
}

// auditBadRow names the first row whose hashes do not follow from the rows
// before it.
type auditBadRow struct {
	ID int64 `json:"id"`
	// At is the row's stored time; null when the row no longer exists
	// (rows removed from the end of the log).
	At     *time.Time `json:"at"`
	Reason string     `json:"reason"`
}

// verifyAuditLog walks the whole hash chain, as `helpdesk audit verify`
// does. A broken chain is an answer, not an error: 200 with ok false and
// the first bad row.
func (s *Server) verifyAuditLog(c *fiber.Ctx) error {
	res, err := s.auditLog.Verify(c.UserContext())
	if err != nil {
		return err
	}
	out := auditVerification{OK: res.OK, Rows: res.Rows}
	if !res.OK {
		out.FirstBad = &auditBadRow{ID: res.FirstBadID, Reason: res.Reason}
		if !res.FirstBadAt.IsZero() {
			at := res.FirstBadAt
			out.FirstBad.At = &at
		}
	}
	return c.JSON(out)
}
