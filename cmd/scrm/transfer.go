package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/transfer"
)

// The operator's tools for getting customers in and out: import and export
// of spreadsheets (package transfer) and backup/restore of the embedded
// store. They open the store the server uses (SCRM_DATA_DIR or
// SCRM_MONGO_URI); on the embedded store they work beside a running server,
// SQLite's WAL letting a second process read and write — except restore,
// which needs the server stopped.

// newTransferCmds returns the import, export, backup and restore commands.
func newTransferCmds() []*cobra.Command {
	imp := &cobra.Command{Use: "import", Short: "Import customers from a spreadsheet"}
	imp.AddCommand(newImportCustomersCmd())
	exp := &cobra.Command{Use: "export", Short: "Export customers or the manager KPIs to a spreadsheet"}
	exp.AddCommand(newExportCustomersCmd(), newExportKPIsCmd())
	return []*cobra.Command{imp, exp, newBackupCmd(), newRestoreCmd()}
}

// transferStore opens the configured store as what transfer needs (every
// store has it: the compiler checks store.Store against transfer.SheetsStore).
func transferStore(ctx context.Context, cfg config.Config) (store.Store, transfer.SheetsStore, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return st, st, nil
}

func newImportCustomersCmd() *cobra.Command {
	var (
		mappingPath, ownerDefault, sheet, reportPath string
		dryRun                                       bool
		limit, every                                 int
	)
	cmd := &cobra.Command{
		Use:   "customers FILE",
		Short: "Import customers from .xlsx or .csv (UTF-8 or GBK), merging duplicates",
		Long: `Import customers from an .xlsx workbook or a .csv file (UTF-8 with or without BOM, or GBK as Chinese
Excel saves it). Columns are recognised by their headers (姓名/客户名称, 手机/电话, 公司, 职位, 标签, 负责人,
阶段, 备注, 生日, 到期日, 微信, 邮箱 …) or by --mapping, a YAML file:

  sheet: 客户名单        # optional
  header_row: 2         # optional, 1-based
  columns:
    客户姓名: name
    手机号码: phone
    行业: field:industry

Rows of the same person (same phone, unionid, customer ID, or name and company) are merged, and rows
matching an existing customer update it: nothing is duplicated, and importing the same file again
changes nothing. Rows with an invalid phone, an unknown owner or an unknown stage are rejected whole;
invalid dates and emails are dropped with a warning. --dry-run prints what would be created, updated
and rejected without writing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			var mapping *transfer.Mapping
			if mappingPath != "" {
				f, err := os.Open(mappingPath)
				if err != nil {
					return fmt.Errorf("--mapping: %w", err)
				}
				mapping, err = transfer.ParseMapping(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("--mapping %s: %w", mappingPath, err)
				}
				if sheet == "" {
					sheet = mapping.Sheet
				}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			t, err := transfer.ReadTable(filepath.Base(args[0]), f, sheet)
			f.Close()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// An import is idempotent, so it writes with synchronous=NORMAL
			// (about 1.5 times faster on SQLite): a crash can only lose the
			// last rows written (the file stays consistent), and running the
			// import again adds them.
			icfg := cfg
			icfg.SQLiteSynchronous = "NORMAL"
			st, ts, err := transferStore(ctx, icfg)
			if err != nil {
				return err
			}
			defer st.Close()
			errOut := cmd.ErrOrStderr()
			rep, err := transfer.Import(ctx, ts, t, transfer.ImportOptions{
				Mapping:       mapping,
				DryRun:        dryRun,
				DefaultOwner:  ownerDefault,
				Actor:         "cli",
				ProgressEvery: every,
				Progress: func(p transfer.Progress) {
					if p.Total >= every { // small sheets finish before progress matters
						fmt.Fprintf(errOut, "已处理 %d/%d 行，%.0f 行/秒\n", p.Done, p.Total, p.Rate())
					}
				},
				Logger: newLogger(cfg.LogLevel),
			})
			if rep != nil {
				if werr := rep.WriteText(cmd.OutOrStdout(), limit); werr != nil {
					return werr
				}
				if reportPath != "" && len(rep.Issues) > 0 {
					if werr := writeFileAtomic(reportPath, rep.WriteIssuesCSV); werr != nil {
						return fmt.Errorf("--report: %w", werr)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "问题清单已写入 %s\n", reportPath)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "用时 %s\n", time.Duration(rep.Elapsed).Round(time.Millisecond))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&mappingPath, "mapping", "", "YAML column mapping (see above)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be created, updated and rejected; write nothing")
	cmd.Flags().StringVar(&ownerDefault, "owner-default", "", "staff ID that owns rows without an owner")
	cmd.Flags().StringVar(&sheet, "sheet", "", "workbook sheet (default: the first with data)")
	cmd.Flags().StringVar(&reportPath, "report", "", "also write the row issues to this CSV file")
	cmd.Flags().IntVar(&limit, "limit", 50, "list at most this many issues and changes (0: all)")
	cmd.Flags().IntVar(&every, "progress-every", 10000, "print progress every N rows")
	return cmd
}

// exportFlags are the customer filters of GET /api/v1/customers.
type exportFlags struct {
	format, out, tag, stage, owner, before, after, q string
}

func (f *exportFlags) register(cmd *cobra.Command, filters bool) {
	cmd.Flags().StringVar(&f.format, "format", transfer.FormatXLSX, "xlsx or csv (UTF-8 with BOM)")
	cmd.Flags().StringVar(&f.out, "out", "", "output file (- for standard output)")
	_ = cmd.MarkFlagRequired("out")
	if !filters {
		return
	}
	cmd.Flags().StringVar(&f.tag, "tag", "", "only customers with this tag")
	cmd.Flags().StringVar(&f.stage, "stage", "", "only customers in this stage")
	cmd.Flags().StringVar(&f.owner, "owner", "", "only customers this staff ID follows")
	cmd.Flags().StringVar(&f.before, "last-contact-before", "", "last contact before (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVar(&f.after, "last-contact-after", "", "last contact after (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVar(&f.q, "q", "", "name contains")
}

func (f *exportFlags) filter(loc *time.Location) (store.CustomerFilter, error) {
	cf := store.CustomerFilter{Tag: f.tag, Stage: f.stage, StaffID: f.owner, Query: f.q}
	var err error
	if f.before != "" {
		if cf.LastContactBefore, err = parseWhen(f.before, loc); err != nil {
			return cf, fmt.Errorf("--last-contact-before: %w", err)
		}
	}
	if f.after != "" {
		if cf.LastContactAfter, err = parseWhen(f.after, loc); err != nil {
			return cf, fmt.Errorf("--last-contact-after: %w", err)
		}
	}
	return cf, nil
}

func parseWhen(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, errors.New("must be RFC 3339 or YYYY-MM-DD")
	}
	return t.UTC(), nil
}

// cliViewer is the operator: whoever can read the data directory or the
// MongoDB credentials sees everything anyway.
var cliViewer = bot.Viewer{StaffID: "cli", Role: bot.RoleAdmin}

func newExportCustomersCmd() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "customers",
		Short: "Export customers (with the API's filters) to .xlsx or .csv with Chinese headers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			filter, err := f.filter(cfg.Location())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, ts, err := transferStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			n := 0
			err = writeOut(cmd, f.out, func(w io.Writer) error {
				n, err = transfer.ExportCustomers(ctx, ts, w, transfer.ExportOptions{Format: f.format, Filter: filter,
					Viewer: cliViewer, Location: cfg.Location()})
				return err
			})
			if err != nil {
				return err
			}
			if err := auditExport(ctx, st, fmt.Sprintf("customers format=%s count=%d out=%s", f.format, n, f.out)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "已导出 %d 位客户到 %s\n", n, f.out)
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func newExportKPIsCmd() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "kpis",
		Short: "Export this month's KPIs per salesperson (customers, new, followed up, dormant, lost)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, ts, err := transferStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			var kpis []transfer.KPI
			err = writeOut(cmd, f.out, func(w io.Writer) error {
				kpis, err = transfer.ExportKPIs(ctx, ts, w, transfer.ExportOptions{Format: f.format, Viewer: cliViewer,
					Location: cfg.Location()})
				return err
			})
			if err != nil {
				return err
			}
			if err := auditExport(ctx, st, fmt.Sprintf("kpis format=%s staff=%d out=%s", f.format, len(kpis), f.out)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "已导出 %d 位员工的指标到 %s\n", len(kpis), f.out)
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}

// auditExport records a CLI export in the audit log (PIPL: who took
// customers' data out), when the store keeps one.
func auditExport(ctx context.Context, st store.Store, detail string) error {
	a, ok := st.(store.AuditStore)
	if !ok {
		return nil
	}
	e := &store.AuditEntry{Actor: "cli", Action: "export", Target: "customers", Detail: detail, At: time.Now().UTC()}
	if err := a.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	return nil
}

// writeOut writes to standard output for "-", else to a temporary file
// renamed over out when complete, so out is never half written.
func writeOut(cmd *cobra.Command, out string, fn func(io.Writer) error) error {
	if out == "-" {
		return fn(cmd.OutOrStdout())
	}
	return writeFileAtomic(out, fn)
}

func writeFileAtomic(path string, fn func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fn(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newBackupCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Write a consistent snapshot of the embedded store while the server runs",
		Long: `backup writes a consistent snapshot of the embedded SQLite store in SCRM_DATA_DIR to --out, online:
the server keeps serving while it runs (SQLite VACUUM INTO over WAL), and every write acknowledged
before the backup started is in the snapshot. The snapshot is verified (integrity check, schema
version) before it gets its final name. For MongoDB use mongodump; Redis holds nothing to back up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.MongoURI != "" {
				return errors.New("scrm backup covers the embedded store; for MongoDB use mongodump (see README, Backup and restore)")
			}
			start := time.Now()
			snap, err := transfer.Backup(cmd.Context(), cfg.DataDir, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "备份完成：%s（%d 字节，schema %d，用时 %s）\n", snap.Path, snap.Size, snap.SchemaVersion,
				time.Since(start).Round(time.Millisecond))
			printTables(cmd.OutOrStdout(), snap.Tables)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "snapshot file to write (must not exist)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var (
		from  string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore the embedded store from a snapshot (stop the server first)",
		Long: `restore verifies the snapshot (integrity check, schema version), copies it into SCRM_DATA_DIR,
opens it, verifies it again and compares the rows of every table with the snapshot. It refuses a
data directory that is not empty unless --force, which moves the current store into a
before-restore-<time> folder instead of deleting it. Stop the server before restoring.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.MongoURI != "" {
				return errors.New("scrm restore covers the embedded store; for MongoDB use mongorestore (see README, Backup and restore)")
			}
			res, err := transfer.Restore(cmd.Context(), from, cfg.DataDir, force)
			if err != nil {
				return err
			}
			o := cmd.OutOrStdout()
			fmt.Fprintf(o, "已从 %s 恢复到 %s（schema %d），校验通过，各表行数与快照一致：\n", from, cfg.DataDir, res.Restored.SchemaVersion)
			printTables(o, res.Snapshot.Tables)
			if res.MovedAside != "" {
				fmt.Fprintf(o, "原有数据已移到 %s\n", res.MovedAside)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "snapshot file written by scrm backup")
	cmd.Flags().BoolVar(&force, "force", false, "restore into a non-empty data directory (the current store is moved aside)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

func printTables(w io.Writer, tables map[string]int64) {
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  %-24s %d\n", n, tables[n])
	}
	io.WriteString(w, b.String())
}
