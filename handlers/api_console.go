package handlers

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/transfer"
)

// consoleAPI serves the reads behind the web console's pages: the
// workbench, the reports (and their spreadsheet) and a customer's sentiment.
// Each is one call into bot.Console with the caller's viewer; nothing here
// writes to the store (the export's audit entry goes through the core).
type consoleAPI struct {
	s   *Server
	con *bot.Console
	tr  *transferAPI
	loc *time.Location
}

// consoleRoutes registers the console's reads; without a console (a store
// that cannot answer reports) they answer 501.
func (s *Server) consoleRoutes(api fiber.Router) {
	tr := s.transferAPI()
	h := &consoleAPI{s: s, con: s.opts.Console, tr: tr, loc: tr.loc}
	api.Get("/workbench", h.workbench)
	api.Get("/reports", h.report)
	api.Get("/reports/export", h.exportReport)
	api.Get("/customers/:id/sentiment", h.sentiment)
}

func (h *consoleAPI) console() (*bot.Console, error) {
	return available(h.con, "this server has no console reads")
}

// workbench answers what needs the caller today.
func (h *consoleAPI) workbench(c *fiber.Ctx) error {
	con, err := h.console()
	if err != nil {
		return err
	}
	wb, err := con.Workbench(c.UserContext(), principalOf(c).viewer)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, wb)
}

// reportQuery parses from, to (business days, inclusive; the last 30 days
// by default) and staff.
func (h *consoleAPI) reportQuery(c *fiber.Ctx) (bot.ReportQuery, error) {
	today := h.s.opts.Now().In(h.loc)
	q := bot.ReportQuery{From: today.AddDate(0, 0, -29), To: today, StaffID: query(c, "staff")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, v, h.loc)
		if err != nil {
			return q, errorf(fiber.StatusBadRequest, p.name+" must be a date like 2026-11-01", err)
		}
		*p.dst = t
	}
	if len(q.StaffID) > 128 {
		return q, errorf(fiber.StatusBadRequest, "invalid staff", nil)
	}
	return q, nil
}

// report answers the report for a period over the caller's scope.
func (h *consoleAPI) report(c *fiber.Ctx) error {
	con, err := h.console()
	if err != nil {
		return err
	}
	q, err := h.reportQuery(c)
	if err != nil {
		return err
	}
	rep, err := con.Report(c.UserContext(), principalOf(c).viewer, q)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, rep)
}

// exportReport sends the same report as .xlsx through transfer, audited as
// an export.
func (h *consoleAPI) exportReport(c *fiber.Ctx) error {
	con, err := h.console()
	if err != nil {
		return err
	}
	sh, err := h.tr.sheets()
	if err != nil {
		return err
	}
	q, err := h.reportQuery(c)
	if err != nil {
		return err
	}
	p := principalOf(c)
	ctx, cancel := longContext(c, time.Minute)
	defer cancel()
	rep, err := con.Report(ctx, p.viewer, q)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := sh.ExportReport(&buf, rep); err != nil {
		return fmt.Errorf("api: export report: %w", err)
	}
	if err := h.tr.audit(c, p, fmt.Sprintf("report from=%s to=%s staff=%s", rep.From, rep.To, q.StaffID)); err != nil {
		return err
	}
	return h.tr.sendSheet(c, transfer.FormatXLSX, "报表", "report", buf.Bytes())
}

// sentimentResponse is GET /customers/{id}/sentiment.
type sentimentResponse struct {
	Points []bot.SentimentPoint `json:"points"`
}

// sentiment answers a customer's sentiment over time, oldest first.
func (h *consoleAPI) sentiment(c *fiber.Ctx) error {
	con, err := h.console()
	if err != nil {
		return err
	}
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	points, err := con.CustomerSentiment(c.UserContext(), principalOf(c).viewer, id)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, sentimentResponse{Points: points})
}
