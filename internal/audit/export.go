package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/store"
)

// Export formats.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// ExportFile is one file of an exported period.
type ExportFile struct {
	Format string // FormatCSV or FormatNDJSON
	Path   string
	Rows   int64
	// LastHash is the hash of the period's last row: the chain position the
	// file ends at, to compare with the database later. Nil for no rows.
	LastHash []byte
}

// exportFormats in the order Export returns them.
var exportFormats = []string{FormatCSV, FormatNDJSON}

// fileTime names period bounds in file names (no colons).
const fileTime = "20060102T150405.999999999Z"

// csvHeader names the CSV columns: Entry's JSON names.
var csvHeader = []string{"id", "at", "actor_id", "actor", "action", "object", "result", "ip", "user_agent", "request_id", "detail", "prev_hash", "hash"}

// Export writes the entries with from <= at < to, in id order, to
// <dir>/audit-<from>-<to>.csv (a header row, detail in canonical JSON, hashes
// in hex) and .ndjson (one Entry per line), and records them in
// audit_exports. Files appear atomically (written aside, synced, renamed).
// A period already exported is not written again: the recorded files are
// returned as they are, so retries are safe. Exports of one period are
// serialized.
func (l *Log) Export(ctx context.Context, from, to time.Time, dir string) ([]ExportFile, error) {
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: export period %s..%s is empty", ErrInvalid, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: export: %w", err)
	}
	files, err := l.export(ctx, from, to, dir)
	if err != nil {
		return nil, fmt.Errorf("audit: export %s..%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return files, nil
}

func (l *Log) export(ctx context.Context, from, to time.Time, dir string) ([]ExportFile, error) {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// One statement reads the whole period, longer than a request may
	// take; the activity's own timeout bounds it.
	if err := store.SetLocalTimeouts(ctx, tx, store.ExportTimeouts); err != nil {
		return nil, err
	}
	// Two workers retrying the same period take turns, so the recorded
	// counts describe the files on disk.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('audit-export:' || $1::text, 0))`, from.Format(time.RFC3339Nano)); err != nil {
		return nil, err
	}
	done, err := recordedExports(ctx, tx, from, to)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, f := range exportFormats {
		if _, ok := done[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		base := filepath.Join(dir, "audit-"+from.Format(fileTime)+"-"+to.Format(fileTime))
		written, err := writeExport(ctx, tx, from, to, base, missing)
		if err != nil {
			return nil, err
		}
		for _, f := range written {
			if _, err := tx.Exec(ctx,
				`INSERT INTO audit_exports (period_start, period_end, format, path, rows, last_hash)
				 VALUES ($1, $2, $3, $4, $5, $6)
				 ON CONFLICT (period_start, format) DO NOTHING`,
				from, to, f.Format, f.Path, f.Rows, f.LastHash); err != nil {
				return nil, fmt.Errorf("record %s export: %w", f.Format, err)
			}
			done[f.Format] = f
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	out := make([]ExportFile, 0, len(exportFormats))
	for _, f := range exportFormats {
		out = append(out, done[f])
	}
	return out, nil
}

// recordedExports returns the files already recorded for the period.
func recordedExports(ctx context.Context, tx pgx.Tx, from, to time.Time) (map[string]ExportFile, error) {
	rows, err := tx.Query(ctx, `SELECT format, period_end, path, rows, last_hash FROM audit_exports WHERE period_start = $1`, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[string]ExportFile{}
	for rows.Next() {
		var f ExportFile
		var end time.Time
		if err := rows.Scan(&f.Format, &end, &f.Path, &f.Rows, &f.LastHash); err != nil {
			return nil, err
		}
		if !end.Equal(to) {
			return nil, fmt.Errorf("%w: %s was exported up to %s", ErrExportConflict, f.Format, end.UTC().Format(time.RFC3339Nano))
		}
		done[f.Format] = f
	}
	return done, rows.Err()
}

// exportWriter is one format's file being written.
type exportWriter struct {
	file ExportFile
	tmp  *os.File
	buf  *bufio.Writer
	csv  *csv.Writer
}

// writeExport streams the period's rows once into a file per format.
func writeExport(ctx context.Context, tx pgx.Tx, from, to time.Time, base string, formats []string) (_ []ExportFile, err error) {
	if err := os.MkdirAll(filepath.Dir(base), 0o750); err != nil {
		return nil, err
	}
	ws := make([]*exportWriter, 0, len(formats))
	defer func() {
		for _, w := range ws {
			if w.tmp != nil {
				w.tmp.Close()
				os.Remove(w.tmp.Name())
			}
		}
	}()
	for _, f := range formats {
		tmp, err := os.CreateTemp(filepath.Dir(base), ".audit-export-*.tmp")
		if err != nil {
			return nil, err
		}
		w := &exportWriter{file: ExportFile{Format: f, Path: base + "." + f}, tmp: tmp, buf: bufio.NewWriterSize(tmp, 64<<10)}
		ws = append(ws, w)
		if f == FormatCSV {
			w.csv = csv.NewWriter(w.buf)
			if err := w.csv.Write(csvHeader); err != nil {
				return nil, err
			}
		}
	}

	rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM audit_log WHERE at >= $1 AND at < $2 ORDER BY id`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var detail []byte
	record := make([]string, len(csvHeader))
	for rows.Next() {
		e, err := scanEntry(rows, &detail)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			w.file.Rows++
			w.file.LastHash = e.Hash
			switch {
			case w.csv != nil:
				if err := csvRecord(record, e); err != nil {
					return nil, err
				}
				if err := w.csv.Write(record); err != nil {
					return nil, err
				}
			default:
				line, err := json.Marshal(e)
				if err != nil {
					return nil, err
				}
				line = append(line, '\n')
				if _, err := w.buf.Write(line); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	out := make([]ExportFile, 0, len(ws))
	for _, w := range ws {
		if w.csv != nil {
			w.csv.Flush()
			if err := w.csv.Error(); err != nil {
				return nil, err
			}
		}
		if err := w.buf.Flush(); err != nil {
			return nil, err
		}
		if err := w.tmp.Chmod(0o640); err != nil {
			return nil, err
		}
		if err := w.tmp.Sync(); err != nil {
			return nil, err
		}
		if err := w.tmp.Close(); err != nil {
			return nil, err
		}
		if err := os.Rename(w.tmp.Name(), w.file.Path); err != nil {
			return nil, err
		}
		w.tmp = nil
		out = append(out, w.file)
	}
	return out, syncDir(filepath.Dir(base))
}

// csvRecord fills record (reused across rows) with e in csvHeader's order.
func csvRecord(record []string, e Entry) error {
	actorID := ""
	if e.ActorID != nil {
		actorID = strconv.FormatInt(*e.ActorID, 10)
	}
	detail, err := appendValue(nil, e.Detail)
	if err != nil {
		return fmt.Errorf("row %d: %w", e.ID, err)
	}
	copy(record, []string{
		strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339Nano), actorID, e.Actor, e.Action, e.Object,
		e.Result, e.IP, e.UserAgent, e.RequestID, string(detail), hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash),
	})
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) {
		return nil // some filesystems cannot sync directories
	}
	return err
}
