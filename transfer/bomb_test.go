package transfer

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/transfer/transfertest"
)

// TestReadTableRefusesZipBomb feeds ReadTable workbooks whose one sheet
// inflates to 200 MB: honestly declared, and with a central directory that
// claims 1 MB. Each is refused within seconds, with a Chinese reason for
// the honest one, without the process's memory growing past 300 MB and
// without leaving a temporary file.
func TestReadTableRefusesZipBomb(t *testing.T) {
	const size = 200 << 20
	tests := []struct {
		name     string
		declared int64
		tooLarge bool
		reason   string
	}{
		{"honest header", 0, true, "文件解压后过大（超过 128 MB），请拆分后再导入"},
		{"ratio", 0, true, "疑似压缩炸弹"},
		{"lying header", 1 << 20, false, "已损坏"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := int64(size)
			if tc.name == "ratio" {
				size = MaxUnzipSize - 8<<20 // within the size limit, but compressed 250 times
			}
			bomb := transfertest.ZipBomb(t, size, tc.declared)
			t.Logf("%d KB inflating to %d MB", len(bomb)>>10, size>>20)
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var err error
			start := time.Now()
			growth := transfertest.PeakGrowthMB(t, func() { _, err = ReadTable("bomb.xlsx", bytes.NewReader(bomb), "") })
			elapsed := time.Since(start)
			t.Logf("refused in %s, peak RSS growth %d MB: %v", elapsed.Round(time.Millisecond), growth, err)
			if err == nil {
				t.Fatal("the bomb was read")
			}
			if !tc.tooLarge && (!errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.reason)) {
				t.Errorf("error %q does not say the file is damaged", err)
			}
			if tc.tooLarge {
				var tl *TooLargeError
				if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || !strings.Contains(tl.Reason, tc.reason) {
					t.Errorf("error %q is not the Chinese too-large refusal", err)
				}
			}
			if elapsed > 10*time.Second {
				t.Errorf("refusing took %s, want under 10s", elapsed)
			}
			if growth > 300 {
				t.Errorf("peak resident memory grew by %d MB, want under 300", growth)
			}
			transfertest.CheckEmptyDir(t, tmp)
		})
	}
}

// TestReadTableRefusesPaddedRows: a small sheet whose every row has one
// cell in the last column (XFD) would pad out to 16,384 cells a row in
// memory; it is refused by the cell count instead.
func TestReadTableRefusesPaddedRows(t *testing.T) {
	var sheet strings.Builder
	sheet.WriteString(`<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for i := 1; i <= 2000; i++ {
		sheet.WriteString(`<row r="` + strconv.Itoa(i) + `"><c r="XFD` + strconv.Itoa(i) + `" t="inlineStr"><is><t>x</t></is></c></row>`)
	}
	sheet.WriteString(`</sheetData></worksheet>`)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range transfertest.WorkbookParts(sheet.String()) {
		w, _ := zw.Create(p[0])
		io.WriteString(w, p[1])
	}
	zw.Close()
	var err error
	growth := transfertest.PeakGrowthMB(t, func() { _, err = ReadTable("wide.xlsx", bytes.NewReader(buf.Bytes()), "") })
	t.Logf("peak RSS growth %d MB: %v", growth, err)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("error %v, want the too-large refusal", err)
	}
	if growth > 300 {
		t.Errorf("peak resident memory grew by %d MB, want under 300", growth)
	}
}
