package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
)

// runAudit is `helpdesk audit verify`: walk the audit log's hash chain and
// report; a broken chain is an error naming the first bad row (exit 1).
func runAudit(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) != 1 || args[0] != "verify" {
		return errors.New("usage: helpdesk audit verify")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := audit.New(st.Pool()).Verify(ctx)
	if err != nil {
		return err
	}
	if !res.OK {
		return errors.New(res.String())
	}
	fmt.Println(res.String())
	return nil
}
