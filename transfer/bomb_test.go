package transfer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bombParts are the small parts of a valid one-sheet workbook.
var bombParts = []struct{ name, body string }{
	{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`},
	{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
	{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
	{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
}

// sheetStream is a worksheet part of about size bytes: a header row, then
// the same customer row over and over. It is generated as it is read, so
// the test never holds it.
func sheetStream(size int64) io.Reader {
	head := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
		`<row><c t="inlineStr"><is><t>姓名</t></is></c><c t="inlineStr"><is><t>手机</t></is></c></row>`
	row := `<row><c t="inlineStr"><is><t>张三</t></is></c><c t="inlineStr"><is><t>13800138000</t></is></c></row>`
	tail := `</sheetData></worksheet>`
	n := (size - int64(len(head)+len(tail))) / int64(len(row))
	return io.MultiReader(strings.NewReader(head), &repeatReader{s: row, n: n}, strings.NewReader(tail))
}

type repeatReader struct {
	s   string
	n   int64
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		c := copy(p, r.s[r.off:])
		p, total, r.off = p[c:], total+c, r.off+c
		if r.off == len(r.s) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 && r.n == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// zipBomb builds a valid .xlsx whose sheet1.xml inflates to size bytes.
// With declared > 0 the central directory lies: it says the sheet
// inflates to declared bytes only.
func zipBomb(t *testing.T, size, declared int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range bombParts {
		w, err := zw.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	if declared == 0 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, sheetStream(size)); err != nil {
			t.Fatal(err)
		}
	} else {
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		crc := crc32.NewIEEE()
		if _, err := io.Copy(io.MultiWriter(fw, crc), sheetStream(size)); err != nil {
			t.Fatal(err)
		}
		fw.Close()
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate, CRC32: crc.Sum32(),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(declared)})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(comp.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// procStatusKB reads a field of /proc/self/status (VmRSS, VmHWM) in KiB.
func procStatusKB(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// peakGrowthMB runs fn and returns how far the process's resident memory
// peaked above where it stood before, in MiB. Writing 5 to clear_refs
// resets the peak (VmHWM) to the current resident size.
func peakGrowthMB(t *testing.T, fn func()) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	before := procStatusKB(t, "VmRSS")
	fn()
	return (procStatusKB(t, "VmHWM") - before) >> 10
}

func checkEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
}

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
			bomb := zipBomb(t, size, tc.declared)
			t.Logf("%d KB inflating to %d MB", len(bomb)>>10, size>>20)
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var err error
			start := time.Now()
			growth := peakGrowthMB(t, func() { _, err = ReadTable("bomb.xlsx", bytes.NewReader(bomb), "") })
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
			checkEmptyDir(t, tmp)
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
	for _, p := range append(bombParts, struct{ name, body string }{"xl/worksheets/sheet1.xml", sheet.String()}) {
		w, _ := zw.Create(p.name)
		io.WriteString(w, p.body)
	}
	zw.Close()
	var err error
	growth := peakGrowthMB(t, func() { _, err = ReadTable("wide.xlsx", bytes.NewReader(buf.Bytes()), "") })
	t.Logf("peak RSS growth %d MB: %v", growth, err)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("error %v, want the too-large refusal", err)
	}
	if growth > 300 {
		t.Errorf("peak resident memory grew by %d MB, want under 300", growth)
	}
}
