package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/transfer"
)

// Audit action of an import (exports use AuditExport).
const AuditImport = "import"

// transferAPI serves spreadsheet imports and exports (package transfer).
type transferAPI struct {
	s   *Server
	sh  *transfer.Sheets // nil: imports and exports answer 501
	loc *time.Location
}

// transferRoutes registers POST /imports and GET /exports/customers and
// /exports/kpis. Imports are for admins (they may merge any customer);
// exports are for everyone, each seeing only what bot.Viewer lets them.
func (s *Server) transferRoutes(api fiber.Router) {
	h := s.transferAPI()
	api.Post("/imports", h.importCustomers)
	api.Get("/exports/customers", h.exportCustomers)
	api.Get("/exports/kpis", h.exportKPIs)
}

func (s *Server) transferAPI() *transferAPI {
	return &transferAPI{s: s, sh: s.opts.Sheets, loc: s.businessLocation()}
}

func (h *transferAPI) sheets() (*transfer.Sheets, error) {
	return available(h.sh, "this store does not support imports and exports")
}

// available is part, or 501 with why when this server was built without
// it (a store that cannot answer reports or spreadsheets).
func available[T any](part *T, why string) (*T, error) {
	if part == nil {
		return nil, errorf(fiber.StatusNotImplemented, why, nil)
	}
	return part, nil
}

// importCustomers takes a multipart form: file (.xlsx or .csv), optional
// mapping (a YAML file or text), dry_run (true/1) and owner_default (a
// staff ID). It answers the import report as JSON; problems with rows are
// in the report, not errors.
func (h *transferAPI) importCustomers(c *fiber.Ctx) error {
	sh, err := h.sheets()
	if err != nil {
		return err
	}
	p, err := requireRole(c, bot.RoleAdmin)
	if err != nil {
		return err
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return errorf(fiber.StatusBadRequest, "send the sheet as multipart form field \"file\"", err)
	}
	var mapping *transfer.Mapping
	if mh, err := c.FormFile("mapping"); err == nil {
		if mapping, err = parseMappingFile(mh); err != nil {
			return errorf(fiber.StatusBadRequest, err.Error(), err)
		}
	} else if text := c.FormValue("mapping"); text != "" {
		if mapping, err = transfer.ParseMapping(strings.NewReader(text)); err != nil {
			return errorf(fiber.StatusBadRequest, err.Error(), err)
		}
	}
	dryRun, err := formBool(c, "dry_run")
	if err != nil {
		return err
	}
	sheet := ""
	if mapping != nil {
		sheet = mapping.Sheet
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("api: open upload: %w", err)
	}
	defer f.Close()
	t, err := transfer.ReadTable(fh.Filename, f, sheet)
	var tooLarge *transfer.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return errorf(fiber.StatusRequestEntityTooLarge, tooLarge.Reason, err)
	case err != nil:
		return errorf(fiber.StatusBadRequest, err.Error(), err)
	}
	// A large sheet takes a while on the embedded store; the server's write
	// timeout only bounds sending the answer.
	ctx, cancel := longContext(c, 10*time.Minute)
	defer cancel()
	rep, err := sh.Import(ctx, t, transfer.ImportOptions{
		Mapping:      mapping,
		DryRun:       dryRun,
		DefaultOwner: strings.Clone(c.FormValue("owner_default")),
		Actor:        p.actor,
		Now:          h.s.opts.Now,
		Logger:       h.s.log,
	})
	switch {
	case errors.Is(err, transfer.ErrSheet):
		return errorf(fiber.StatusBadRequest, err.Error(), err)
	case err != nil:
		return fmt.Errorf("api: import: %w", err)
	}
	h.s.log.Info("customers imported", "actor", p.actor, "dry_run", dryRun, "rows", rep.Rows, "created", rep.Created,
		"updated", rep.Updated, "unchanged", rep.Unchanged, "rejected", rep.Rejected, "elapsed", time.Duration(rep.Elapsed))
	return sendJSON(c, fiber.StatusOK, rep)
}

func parseMappingFile(fh *multipart.FileHeader) (*transfer.Mapping, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return transfer.ParseMapping(f)
}

func formBool(c *fiber.Ctx, name string) (bool, error) {
	v := c.FormValue(name)
	if v == "" {
		v = c.Query(name)
	}
	switch strings.ToLower(v) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, errorf(fiber.StatusBadRequest, name+" must be true or false", nil)
}

// exportCustomers answers a spreadsheet of the customers the caller may
// see, filtered like GET /customers (tag, stage, owner, last_contact_before,
// last_contact_after, q). Every export is audited before it is sent.
func (h *transferAPI) exportCustomers(c *fiber.Ctx) error {
	return h.export(c, "客户", "customers", func(ctx context.Context, sh *transfer.Sheets, w io.Writer, o transfer.ExportOptions) (string, error) {
		f, err := customerFilter(c, h.loc)
		if err != nil {
			return "", err
		}
		// The export narrows owner to the viewer's scope itself (Scope, then CanSee per row).
		f.StaffID = query(c, "owner")
		o.Filter = f
		n, err := sh.ExportCustomers(ctx, w, o)
		if err != nil {
			return "", fmt.Errorf("api: export customers: %w", err)
		}
		return fmt.Sprintf("customers format=%s count=%d tag=%q stage=%q owner=%q q=%q before=%q after=%q", o.Format, n,
			f.Tag, f.Stage, f.StaffID, f.Query, c.Query("last_contact_before"), c.Query("last_contact_after")), nil
	})
}

// exportKPIs answers the manager KPIs of the salespeople the caller may
// see: all for an admin, the team for a manager, their own for sales.
func (h *transferAPI) exportKPIs(c *fiber.Ctx) error {
	return h.export(c, "销售KPI", "kpis", func(ctx context.Context, sh *transfer.Sheets, w io.Writer, o transfer.ExportOptions) (string, error) {
		kpis, err := sh.ExportKPIs(ctx, w, o)
		if err != nil {
			return "", fmt.Errorf("api: export kpis: %w", err)
		}
		return fmt.Sprintf("kpis format=%s staff=%d", o.Format, len(kpis)), nil
	})
}

// export runs one spreadsheet export for the caller: write fills the
// sheet under o (the format asked for, the caller's viewer, the business
// clock) and returns what the audit records. Every export is audited before
// it is sent.
func (h *transferAPI) export(c *fiber.Ctx, zhName, asciiName string,
	write func(ctx context.Context, sh *transfer.Sheets, w io.Writer, o transfer.ExportOptions) (string, error)) error {
	sh, err := h.sheets()
	if err != nil {
		return err
	}
	p := principalOf(c)
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	ctx, cancel := longContext(c, 5*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	detail, err := write(ctx, sh, &buf, transfer.ExportOptions{Format: format, Viewer: p.viewer, Location: h.loc, Now: h.s.opts.Now})
	if err != nil {
		return err
	}
	if err := h.audit(c, p, detail); err != nil {
		return err
	}
	return h.sendSheet(c, format, zhName, asciiName, buf.Bytes())
}

func exportFormat(c *fiber.Ctx) (string, error) {
	switch f := c.Query("format", transfer.FormatXLSX); f {
	case transfer.FormatXLSX, transfer.FormatCSV:
		return f, nil
	}
	return "", errorf(fiber.StatusBadRequest, "format must be xlsx or csv", nil)
}

// audit records a spreadsheet export through the core.
func (h *transferAPI) audit(c *fiber.Ctx, p principal, detail string) error {
	return h.s.opts.Core.Record(c.UserContext(), p.act(), AuditExport, "customers", detail)
}

func (h *transferAPI) sendSheet(c *fiber.Ctx, format, zhName, asciiName string, body []byte) error {
	day := h.s.opts.Now().In(h.loc).Format("20060102")
	ct := "text/csv; charset=utf-8"
	if format == transfer.FormatXLSX {
		ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-%s.%s"; filename*=UTF-8''%s`,
		asciiName, day, format, url.PathEscape(zhName+"-"+day+"."+format)))
	return c.Send(body)
}
