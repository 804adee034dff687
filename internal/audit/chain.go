package audit

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/jackc/pgx/v5"
)

// appendInTx chains entries onto the log inside tx: it locks the chain
// head (which serializes appends), stamps every entry with one time,
// normalizes it, chains each hash onto the previous one, inserts the rows
// and moves the head. The entries are updated in place to what is stored.
// Actor, action and result must have been validated.
func (l *Log) appendInTx(ctx context.Context, tx pgx.Tx, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	var lastHash []byte
	if err := tx.QueryRow(ctx, `SELECT last_hash FROM audit_chain_head FOR UPDATE`).Scan(&lastHash); err != nil {
		return err
	}
	at := l.now().UTC().Truncate(time.Microsecond)
	details := make([][]byte, len(entries))
	for i := range entries {
		e := &entries[i]
		e.ID, e.At = 0, at
		detailJSON, err := normalize(e)
		if err != nil {
			return err
		}
		details[i] = detailJSON
		canon, err := Canonical(*e)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(append(append([]byte{}, lastHash...), canon...))
		e.PrevHash, e.Hash = lastHash, sum[:]
		lastHash = e.Hash
	}
	b := &pgx.Batch{}
	for i, e := range entries {
		b.Queue(`INSERT INTO audit_log (at, actor_id, actor, action, object, result, ip, user_agent, request_id, detail, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12) RETURNING id`,
			e.At, e.ActorID, e.Actor, e.Action, e.Object, e.Result, e.IP, e.UserAgent, e.RequestID, string(details[i]), e.PrevHash, e.Hash)
	}
	br := tx.SendBatch(ctx, b)
	for i := range entries {
		if err := br.QueryRow().Scan(&entries[i].ID); err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	last := entries[len(entries)-1]
	_, err := tx.Exec(ctx, `UPDATE audit_chain_head SET last_id = $1, last_hash = $2`, last.ID, last.Hash)
	return err
}
