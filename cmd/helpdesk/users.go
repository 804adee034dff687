package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
)

// runUsers manages accounts from the command line; `users create --role
// admin` makes the first admin of a new installation.
func runUsers(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: helpdesk users create --email E --role requester|agent|lead|admin [--name N] [--password-stdin]")
	}
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	email := fs.String("email", "", "email address (the sign-in name)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", "", "requester, agent, lead or admin")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	r, err := identity.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	var password string
	if *pwStdin {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := identity.New(st.Pool()).CreateUser(ctx, identity.NewUser{Email: *email, Name: *name, Role: r, Password: password})
	if err != nil {
		return err
	}
	fmt.Printf("created user %d %s (%s)\n", u.ID, u.Email, u.Role)
	return nil
}

// openStore opens the configured PostgreSQL for a one-off command.
func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	if cfg.DatabaseURL == "" {
		return nil, &config.OptionError{Option: "database_url", Reason: "must be set (postgres://…)"}
	}
	return store.Open(ctx, cfg.DatabaseURL, dbTimeouts(cfg))
}
