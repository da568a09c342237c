package transfer

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"github.com/scrmhq/scrm/bot"
)

// ExportReport writes the console's report as .xlsx: one sheet per table
// the report page shows (总览, 成员, 漏斗, 情绪, 投诉, 每日), numbers as numbers.
func (s *Sheets) ExportReport(w io.Writer, r *bot.Report) error { return ExportReport(w, r) }

// reportColumns name the totals' columns, in the order of bot.ReportTotals.
var reportColumns = []string{"客户数", "新增客户", "跟进次数", "客户消息", "发出消息", "首次响应中位(分钟)", "首次响应P90(分钟)",
	"回复中位(分钟)", "回复P90(分钟)", "待回复", "沉睡", "沉睡率", "唤醒", "流失", "流失率", "到期续约", "投诉", "投诉处理中位(小时)"}

func totalsRow(t bot.ReportTotals) []any {
	return []any{t.Customers, t.NewCustomers, t.FollowUps, t.MessagesIn, t.MessagesOut, opt(t.FirstResponseMedianMin), opt(t.FirstResponseP90Min),
		opt(t.ReplyMedianMin), opt(t.ReplyP90Min), t.Waiting, t.Dormant, t.DormantRate, t.Reactivated, t.Lost, t.LostRate, t.RenewalsDue,
		t.Complaints, opt(t.ComplaintHandleMedianH)}
}

// opt is an optional figure: empty when there was nothing to measure.
func opt(v *float64) any {
	if v == nil {
		return ""
	}
	return *v
}

// ExportReport writes r as an .xlsx workbook to w.
func ExportReport(w io.Writer, r *bot.Report) error {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("transfer: report style: %w", err)
	}
	sheet := func(name string, headers []string, rows [][]any) error {
		if _, err := f.NewSheet(name); err != nil {
			return err
		}
		for i, h := range headers {
			cell, _ := excelize.CoordinatesToCellName(i+1, 1)
			if err := f.SetCellValue(name, cell, h); err != nil {
				return err
			}
		}
		last, _ := excelize.CoordinatesToCellName(len(headers), 1)
		if err := f.SetCellStyle(name, "A1", last, bold); err != nil {
			return err
		}
		for y, row := range rows {
			for x, v := range row {
				if s, ok := v.(string); ok {
					v = escapeCell(s) // names typed by people never run as formulas
				}
				cell, _ := excelize.CoordinatesToCellName(x+1, y+2)
				if err := f.SetCellValue(name, cell, v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	period := r.From + " 至 " + r.To
	if err := sheet("总览", append([]string{"期间"}, reportColumns...), [][]any{append([]any{period}, totalsRow(r.Totals)...)}); err != nil {
		return fmt.Errorf("transfer: report totals: %w", err)
	}
	var rows [][]any
	for _, m := range r.ByStaff {
		rows = append(rows, append([]any{m.StaffID, m.Name}, totalsRow(m.ReportTotals)...))
	}
	if err := sheet("成员", append([]string{"成员ID", "姓名"}, reportColumns...), rows); err != nil {
		return fmt.Errorf("transfer: report members: %w", err)
	}
	rows = nil
	for _, s := range r.Funnel {
		rows = append(rows, []any{s.Stage, s.Count})
	}
	if err := sheet("漏斗", []string{"阶段", "客户数"}, rows); err != nil {
		return fmt.Errorf("transfer: report funnel: %w", err)
	}
	rows = [][]any{{"合计", r.Sentiment.Positive, r.Sentiment.Neutral, r.Sentiment.Negative}}
	for _, d := range r.Sentiment.Trend {
		rows = append(rows, []any{d.Date, d.Positive, d.Neutral, d.Negative})
	}
	if err := sheet("情绪", []string{"日期", "积极", "中性", "消极"}, rows); err != nil {
		return fmt.Errorf("transfer: report sentiment: %w", err)
	}
	rows = nil
	for _, c := range r.Complaints {
		rows = append(rows, []any{c.Type, c.Count, opt(c.HandleMedianH)})
	}
	if err := sheet("投诉", []string{"类型", "数量", "处理中位(小时)"}, rows); err != nil {
		return fmt.Errorf("transfer: report complaints: %w", err)
	}
	rows = nil
	for _, d := range r.Daily {
		rows = append(rows, []any{d.Date, d.NewCustomers, d.FollowUps, d.MessagesIn, d.MessagesOut})
	}
	if err := sheet("每日", []string{"日期", "新增客户", "跟进次数", "客户消息", "发出消息"}, rows); err != nil {
		return fmt.Errorf("transfer: report daily: %w", err)
	}
	if err := f.DeleteSheet("Sheet1"); err != nil {
		return fmt.Errorf("transfer: report: %w", err)
	}
	f.SetActiveSheet(0)
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("transfer: write report: %w", err)
	}
	return nil
}
