package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
)

// newTokenCmd is `scrm token create --staff ID --ttl 720h`: it prints a
// bearer token for /api/v1 that acts as one staff member. The token is
// signed with a key derived from SCRM_API_TOKEN, so it needs no storage;
// changing SCRM_API_TOKEN revokes every staff token.
func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens",
	}
	var staffID string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Print a staff token for /api/v1 (role and team come from the staff directory)",
		Long: "Prints a bearer token acting as --staff until --ttl from now. The member must exist\n" +
			"and be active in the staff directory (PUT /api/v1/staff/{id}); their role and team are\n" +
			"read at each request, so a role change applies at once and deactivation revokes the token.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.APIToken == "" {
				return errors.New("token create: SCRM_API_TOKEN is not set; staff tokens are signed with a key derived from it")
			}
			if ttl <= 0 || ttl > handlers.MaxStaffTokenTTL {
				return fmt.Errorf("token create: --ttl must be positive and at most %s", handlers.MaxStaffTokenTTL)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := checkStaff(ctx, cfg, staffID); err != nil {
				return err
			}
			exp := time.Now().Add(ttl).UTC().Truncate(time.Second)
			tok, err := handlers.MintStaffToken(cfg.APIToken, staffID, exp)
			if err != nil {
				return fmt.Errorf("token create: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "token for %s, expires %s\n", staffID, exp.Format(time.RFC3339))
			return nil
		},
	}
	create.Flags().StringVar(&staffID, "staff", "", "the staff member's WeCom UserID (required)")
	create.Flags().DurationVar(&ttl, "ttl", handlers.DefaultStaffTokenTTL, "how long the token is valid")
	_ = create.MarkFlagRequired("staff")
	cmd.AddCommand(create)
	return cmd
}

// checkStaff refuses to mint a token for someone the API would reject.
func checkStaff(ctx context.Context, cfg config.Config, staffID string) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	dir, ok := st.(store.StaffStore)
	if !ok {
		return errors.New("token create: this store has no staff directory")
	}
	m, err := dir.FindStaffByID(ctx, staffID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("token create: no staff member %q; add them first with PUT /api/v1/staff/%s", staffID, staffID)
	}
	if err != nil {
		return fmt.Errorf("token create: find staff %s: %w", staffID, err)
	}
	if !m.Active {
		return fmt.Errorf("token create: staff member %q is inactive", staffID)
	}
	return nil
}
