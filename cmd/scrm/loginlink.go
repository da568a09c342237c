package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrmhq/scrm/bot"
)

// newLoginLinkCmd is `scrm login-link --staff ID [--base URL] [--next PATH]`:
// it prints a one-time link that signs the member in to the console (valid
// 10 minutes, good once). It writes the link to the store the server reads,
// so it runs where the server's configuration is.
func newLoginLinkCmd() *cobra.Command {
	var staffID, base, next string
	cmd := &cobra.Command{
		Use:   "login-link",
		Short: "Print a one-time console sign-in link for a staff member (10 minutes, single use)",
		Long: "Prints a link that signs --staff in to the console at /console/ once, within 10 minutes.\n" +
			"The member must be active in the staff directory. --base is scrm's public URL\n" +
			"(default SCRM_PUBLIC_URL); --next is the console page to open (default /console/).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if base == "" {
				base = cfg.PublicBase()
			}
			if base == "" {
				return errors.New("login-link: give --base (for example https://scrm.example.com) or set SCRM_PUBLIC_URL")
			}
			check := cfg
			check.PublicURL = base
			if err := check.Validate(); err != nil {
				return fmt.Errorf("login-link: --base: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			secret, exp, err := bot.NewCore(st, nil).IssueLoginLink(ctx, bot.SystemActor(bot.SourceCLI), staffID, next)
			if err != nil {
				var ae *bot.ActionError
				if errors.As(err, &ae) {
					return fmt.Errorf("login-link: %s: %s", staffID, ae.Reason)
				}
				return fmt.Errorf("login-link: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), bot.LoginLinkURL(base, secret))
			fmt.Fprintf(cmd.ErrOrStderr(), "sign-in link for %s, good once until %s\n", staffID, exp.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&staffID, "staff", "", "the staff member's WeCom UserID (required)")
	cmd.Flags().StringVar(&base, "base", "", "scrm's public URL (default SCRM_PUBLIC_URL)")
	cmd.Flags().StringVar(&next, "next", "/console/", "the console page to open after signing in")
	_ = cmd.MarkFlagRequired("staff")
	return cmd
}
