package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/audit"
)

// Audit carries the dependencies of the audit log activities. Workflows
// refer to its methods through a nil pointer; the worker registers a real one.
type Audit struct {
	Log *audit.Log
	// Dir is where exported files are written.
	Dir string
}

// ExportInput is the period to export: From <= at < To.
type ExportInput struct {
	From, To time.Time
}

// ExportResult lists the files holding the period.
type ExportResult struct {
	Files []audit.ExportFile
}

// ErrCodeBadExportPeriod marks a period that retrying cannot export: empty,
// or overlapping an earlier export with another end.
const ErrCodeBadExportPeriod = "BadAuditExportPeriod"

// ExportAuditLog writes the period's audit entries to CSV and NDJSON files.
// A period already exported is returned as recorded, so retries are safe.
func (a *Audit) ExportAuditLog(ctx context.Context, in ExportInput) (ExportResult, error) {
	files, err := a.Log.Export(ctx, in.From, in.To, a.Dir)
	if errors.Is(err, audit.ErrInvalid) || errors.Is(err, audit.ErrExportConflict) {
		return ExportResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrCodeBadExportPeriod, err)
	}
	if err != nil {
		return ExportResult{}, err
	}
	return ExportResult{Files: files}, nil
}
