package transfer

import (
	"fmt"
	"io"
	"slices"

	"github.com/xuri/excelize/v2"

	"github.com/scrmhq/scrm/bot"
)

// channelColumns name a channel's numbers, in the order of channelRow.
var channelColumns = []string{"新增", "客户删除", "净增", "7日可计", "7日留存", "7日留存率", "30日可计", "30日留存", "30日留存率", "成交", "回复欢迎语"}

func channelRow(n bot.ChannelNumbers) []any {
	return []any{n.Adds, n.Deletions, n.Net, n.Eligible7, n.Retained7, n.Retention7, n.Eligible30, n.Retained30, n.Retention30, n.Won, n.Replied}
}

// ExportChannelStats writes a channel's numbers as .xlsx: 总览, 每日 and
// 成员 sheets, numbers as numbers. names maps staff IDs to names.
func ExportChannelStats(w io.Writer, st *bot.ChannelStats, names func(string) string) error {
	f := excelize.NewFile()
	defer f.Close()
	write := func(sheet string, headers []string, rows [][]any) error {
		if _, err := f.NewSheet(sheet); err != nil {
			return err
		}
		all := append([][]any{toAny(headers)}, rows...)
		for y, row := range all {
			for x, v := range row {
				if s, ok := v.(string); ok {
					v = escapeCell(s)
				}
				cell, _ := excelize.CoordinatesToCellName(x+1, y+1)
				if err := f.SetCellValue(sheet, cell, v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	period := st.From.Format("2006-01-02 15:04") + " 至 " + st.To.Format("2006-01-02 15:04") + " (UTC)"
	if err := write("总览", append([]string{"渠道", "期间"}, channelColumns...), [][]any{append([]any{st.Name, period}, channelRow(st.Total)...)}); err != nil {
		return fmt.Errorf("transfer: channel totals: %w", err)
	}
	var rows [][]any
	for _, d := range st.Days {
		rows = append(rows, []any{d.Date, d.Adds, d.Deletions, d.Net})
	}
	if err := write("每日", []string{"日期", "新增", "客户删除", "净增"}, rows); err != nil {
		return fmt.Errorf("transfer: channel days: %w", err)
	}
	rows = nil
	ids := make([]string, 0, len(st.Staff))
	for id := range st.Staff {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rows = append(rows, append([]any{id, names(id)}, channelRow(st.Staff[id])...))
	}
	if err := write("成员", append([]string{"成员ID", "姓名"}, channelColumns...), rows); err != nil {
		return fmt.Errorf("transfer: channel members: %w", err)
	}
	if err := f.DeleteSheet("Sheet1"); err != nil {
		return fmt.Errorf("transfer: channel sheet: %w", err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("transfer: write channel stats: %w", err)
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
