package transfer

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings a Table can come from.
const (
	EncodingXLSX    = "xlsx"
	EncodingUTF8    = "utf-8"
	EncodingUTF8BOM = "utf-8-bom"
	EncodingGBK     = "gbk"
	EncodingUTF16   = "utf-16"
)

// MaxFileSize bounds what ReadTable accepts (a 100,000-row sheet is a few
// megabytes).
const MaxFileSize = 64 << 20

// Limits on what a workbook may inflate to. A 100,000-row sheet written by
// Excel or by our export is 30–70 MB of XML at a compression ratio near 10,
// so these leave room for twice that while a zip bomb (a few hundred KB
// inflating to gigabytes) is refused before anything is inflated.
const (
	// MaxUnzipSize bounds the total size of a workbook's parts.
	MaxUnzipSize = 128 << 20
	// maxRatio bounds a part's inflated size over its compressed size;
	// parts under minRatioSize are exempt (tiny parts compress oddly).
	maxRatio     = 100
	minRatioSize = 1 << 20
	// maxParts bounds the number of parts in the package.
	maxParts = 1000
	// maxCells bounds the cells a sheet may read into memory, counting the
	// empty ones a row pads out to its last cell ("XFD1" alone is 16,384).
	maxCells = 5_000_000
)

// ErrTooLarge is matched by the errors of ReadTable for a file that is, or
// inflates to, more than the limits above (errors.Is); the error itself is a
// *TooLargeError whose text is for the person who sent the file.
var ErrTooLarge = errors.New("transfer: file too large")

// TooLargeError says why a file is refused, in Chinese.
type TooLargeError struct{ Reason string }

func (e *TooLargeError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

func tooLarge(format string, args ...any) error {
	return &TooLargeError{Reason: fmt.Sprintf(format, args...)}
}

// Table is one sheet read as text.
type Table struct {
	Source   string     // file name (and sheet, for workbooks)
	Encoding string     // one of the Encoding constants
	Rows     [][]string // Rows[i] is the sheet's row i+1; blank rows are empty
	// merges lists, per 0-based row, the merged ranges of a workbook sheet
	// that cover it (a merge leaves every cell but its top-left one empty).
	merges map[int][]cellRange
}

// cellRange is a merged range, 0-based and inclusive.
type cellRange struct{ row0, col0, row1, col1 int }

// ErrFormat is returned for files that are neither a workbook nor text.
var ErrFormat = errors.New("transfer: unsupported file format")

// ReadTable reads a .xlsx workbook (the named sheet, or the first visible
// sheet with data when sheet is empty) or a CSV file in UTF-8 (with or
// without BOM), UTF-16 with BOM, or GBK: text that is valid UTF-8 is read as
// UTF-8, anything else as GBK (decoded as GB18030, its superset), which is
// what Chinese Excel writes when it saves "CSV". The delimiter (comma, tab
// or semicolon) is taken from the first line.
func ReadTable(name string, r io.Reader, sheet string) (*Table, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("transfer: read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("transfer: read %s: %w", name, tooLarge("文件过大（超过 %d MB），请拆分后再导入", MaxFileSize>>20))
	}
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return readXLSX(name, data, sheet)
	case bytes.HasPrefix(data, []byte{0xd0, 0xcf, 0x11, 0xe0}):
		return nil, fmt.Errorf("transfer: %s is an Excel 97-2003 (.xls) or encrypted workbook; save it as .xlsx or CSV: %w", name, ErrFormat)
	}
	return readCSV(name, data)
}

// checkZip refuses a package whose parts, as its central directory
// declares them, exceed the limits, then inflates every part to check that
// it holds what it declares. archive/zip fails a part that inflates past
// its declared size, but excelize ignores that error and would read a
// silently truncated sheet; a part that lies about its size is refused
// here instead, after inflating no more than its declared size plus one
// byte.
func checkZip(name string, data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("transfer: open workbook %s: %w", name, err)
	}
	if len(zr.File) > maxParts {
		return fmt.Errorf("transfer: open workbook %s: %w", name, tooLarge("文件结构异常（包含 %d 个部件），请用 Excel 另存为 .xlsx 后再导入", len(zr.File)))
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > MaxUnzipSize || f.UncompressedSize64 > MaxUnzipSize {
			return fmt.Errorf("transfer: open workbook %s: %w", name, tooLarge("文件解压后过大（超过 %d MB），请拆分后再导入", MaxUnzipSize>>20))
		}
		if f.UncompressedSize64 >= minRatioSize && f.UncompressedSize64 > maxRatio*max(f.CompressedSize64, 1) {
			return fmt.Errorf("transfer: open workbook %s: part %s: %w", name, f.Name,
				tooLarge("文件压缩比异常（%s 解压后是压缩前的 %d 倍以上），疑似压缩炸弹，已拒绝导入", f.Name, maxRatio))
		}
	}
	buf := make([]byte, 64<<10)
	for _, f := range zr.File {
		if err := checkPart(f, buf); err != nil {
			return fmt.Errorf("transfer: 文件 %s 已损坏（%s 解压后的内容与声明的大小不符），请用 Excel 另存为 .xlsx 后再导入: %w: %v",
				name, f.Name, ErrFormat, err)
		}
	}
	return nil
}

// checkPart inflates a part, at most one byte past its declared size.
func checkPart(f *zip.File, buf []byte) error {
	if f.FileInfo().IsDir() {
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.CopyBuffer(io.Discard, io.LimitReader(rc, int64(f.UncompressedSize64)+1), buf)
	if err != nil {
		return err
	}
	if uint64(n) != f.UncompressedSize64 {
		return fmt.Errorf("inflates to %d bytes, declares %d", n, f.UncompressedSize64)
	}
	return nil
}

func readXLSX(name string, data []byte, sheet string) (*Table, error) {
	if err := checkZip(name, data); err != nil {
		return nil, err
	}
	// excelize inflates sheets above UnzipXMLSizeLimit into temporary
	// files. It removes them in Close, but not when opening fails halfway,
	// so they go to a directory of this call's own that is removed on every
	// path.
	tmp, err := os.MkdirTemp("", "scrm-xlsx-")
	if err != nil {
		return nil, fmt.Errorf("transfer: open workbook %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit: MaxUnzipSize, UnzipXMLSizeLimit: 16 << 20, TmpDir: tmp})
	if f != nil {
		defer f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: open workbook %s: %w", name, err)
	}
	var rows [][]string
	if sheet == "" {
		// The first visible sheet with data: workbooks often start with an
		// empty or instructions sheet.
		for _, s := range f.GetSheetList() {
			if visible, _ := f.GetSheetVisible(s); !visible {
				continue
			}
			r, err := sheetRows(f, s)
			if err != nil {
				return nil, fmt.Errorf("transfer: read sheet %s of %s: %w", s, name, err)
			}
			if len(r) > 0 {
				sheet, rows = s, r
				break
			}
			if sheet == "" {
				sheet = s // an empty workbook reads as its first sheet
			}
		}
	} else {
		if idx, err := f.GetSheetIndex(sheet); err != nil || idx < 0 {
			return nil, fmt.Errorf("transfer: workbook %s has no sheet %q (sheets: %s)", name, sheet, strings.Join(f.GetSheetList(), ", "))
		}
		if rows, err = sheetRows(f, sheet); err != nil {
			return nil, fmt.Errorf("transfer: read sheet %s of %s: %w", sheet, name, err)
		}
	}
	if sheet == "" {
		return nil, fmt.Errorf("transfer: workbook %s has no visible sheet: %w", name, ErrFormat)
	}
	t := &Table{Source: name + "#" + sheet, Encoding: EncodingXLSX, Rows: rows}
	refs, err := mergeRefs(data, sheet)
	if err != nil {
		// Unusual packaging: let excelize find them, at the cost of parsing
		// the whole sheet again.
		merged, merr := f.GetMergeCells(sheet, true)
		if merr != nil {
			return nil, fmt.Errorf("transfer: read merged cells of %s: %w", name, merr)
		}
		refs = refs[:0]
		for _, m := range merged {
			refs = append(refs, m.GetStartAxis()+":"+m.GetEndAxis())
		}
	}
	for _, ref := range refs {
		a, b, _ := strings.Cut(ref, ":")
		c0, r0, err1 := excelize.CellNameToCoordinates(a)
		c1, r1, err2 := excelize.CellNameToCoordinates(b)
		if err1 != nil || err2 != nil || r1 < r0 || c1 < c0 {
			continue
		}
		if t.merges == nil {
			t.merges = map[int][]cellRange{}
		}
		m := cellRange{r0 - 1, c0 - 1, r1 - 1, c1 - 1}
		for r := m.row0; r <= m.row1; r++ {
			t.merges[r] = append(t.merges[r], m)
		}
	}
	return t, nil
}

// sheetRows reads a sheet row by row, as GetRows would (blank rows inside
// the sheet are empty, trailing ones are left out), counting the cells it
// keeps so that a sheet of padded or countless rows is refused rather than
// held in memory.
func sheetRows(f *excelize.File, sheet string) (rows [][]string, err error) {
	it, err := f.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	// Raw values: phone numbers stay digits instead of "1.38E+10" and dates
	// arrive as serial numbers, which parseDate reads, instead of whatever
	// display format the author's locale chose.
	raw := excelize.Options{RawCellValue: true}
	cells, last := 0, 0
	for it.Next() {
		row, err := it.Columns(raw)
		if err != nil {
			return nil, err
		}
		if len(row) == 0 {
			row = nil
		}
		rows = append(rows, row)
		if len(row) > 0 {
			last = len(rows)
		}
		if cells += len(row) + 1; cells > maxCells {
			return nil, tooLarge("表格过大（超过 %d 个单元格），请拆分后再导入", maxCells)
		}
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	return rows[:last], nil
}

// mergeRefs reads the merged ranges ("A1:C1") of a sheet straight from the
// package: excelize's GetMergeCells parses the whole worksheet into memory,
// which costs seconds on a 100,000-row sheet, while the ranges sit in a
// small element after the cell data.
func mergeRefs(data []byte, sheet string) ([]string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	part := func(name string) ([]byte, error) {
		f, err := zr.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	wb, err := part("xl/workbook.xml")
	if err != nil {
		return nil, err
	}
	relID := ""
	err = eachElement(wb, "sheet", func(attrs []xml.Attr) {
		if attr(attrs, "", "name") == sheet {
			relID = attr(attrs, "relationships", "id")
		}
	})
	if err != nil || relID == "" {
		return nil, fmt.Errorf("sheet %q not in workbook.xml: %v", sheet, err)
	}
	rels, err := part("xl/_rels/workbook.xml.rels")
	if err != nil {
		return nil, err
	}
	target := ""
	err = eachElement(rels, "Relationship", func(attrs []xml.Attr) {
		if attr(attrs, "", "Id") == relID {
			target = attr(attrs, "", "Target")
		}
	})
	if err != nil || target == "" {
		return nil, fmt.Errorf("sheet %q has no part: %v", sheet, err)
	}
	if strings.HasPrefix(target, "/") {
		target = strings.TrimPrefix(target, "/")
	} else {
		target = "xl/" + target
	}
	ws, err := sheetTail(zr, target)
	if err != nil {
		return nil, err
	}
	var refs []string
	err = eachElement(ws, "mergeCell", func(attrs []xml.Attr) {
		if ref := attr(attrs, "", "ref"); ref != "" {
			refs = append(refs, ref)
		}
	})
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// sheetTail returns what follows the end of a worksheet part's cell data
// ("</sheetData>" or "<sheetData/>"), where mergeCells sits, reading the
// part in chunks so that a large sheet is never held whole.
func sheetTail(zr *zip.Reader, name string) ([]byte, error) {
	f, err := zr.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	markers := [][]byte{[]byte("/sheetData>"), []byte("sheetData/>")}
	const keep = len("sheetData/>") - 1
	var tail []byte
	found := false
	buf := make([]byte, 256<<10)
	for {
		n, err := f.Read(buf)
		tail = append(tail, buf[:n]...)
		for _, m := range markers {
			if i := bytes.LastIndex(tail, m); i >= 0 {
				tail, found = append(tail[:0], tail[i+len(m):]...), true
			}
		}
		if !found && len(tail) > keep {
			// Keep only what may hold the start of a marker.
			tail = append(tail[:0], tail[len(tail)-keep:]...)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, fmt.Errorf("%s has no sheetData", name)
	}
	return tail, nil
}

// eachElement calls fn with the attributes of every element named local in
// an XML fragment (whatever its namespace prefix).
func eachElement(data []byte, local string, fn func([]xml.Attr)) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == local {
			fn(se.Attr)
		}
	}
}

// attr returns the value of attribute local; space, when set, must occur
// in the attribute's namespace (RawToken leaves prefixes unresolved, so
// "r:id" is matched by its prefix's conventional name too).
func attr(attrs []xml.Attr, space, local string) string {
	for _, a := range attrs {
		if a.Name.Local != local {
			continue
		}
		if space == "" && a.Name.Space == "" || space != "" && a.Name.Space != "" &&
			(strings.Contains(a.Name.Space, space) || a.Name.Space == "r") {
			return a.Value
		}
	}
	return ""
}

func readCSV(name string, data []byte) (*Table, error) {
	t := &Table{Source: name}
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		t.Encoding, data = EncodingUTF8BOM, data[3:]
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		// Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated.
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		out, _, err := transform.Bytes(dec, data)
		if err != nil {
			return nil, fmt.Errorf("transfer: decode %s as UTF-16: %w", name, err)
		}
		t.Encoding, data = EncodingUTF16, out
	case utf8.Valid(data):
		t.Encoding = EncodingUTF8
	default:
		out, _, err := transform.Bytes(simplifiedchinese.GB18030.NewDecoder(), data)
		if err != nil {
			return nil, fmt.Errorf("transfer: decode %s as GBK: %w", name, err)
		}
		t.Encoding, data = EncodingGBK, out
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("transfer: %s is binary, not a spreadsheet or CSV: %w", name, ErrFormat)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = sniffDelimiter(data)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	// encoding/csv skips empty lines, but Excel shows them as rows: keep
	// them as blank rows so that row numbers in the report match what the
	// user sees.
	nextLine := 1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("transfer: parse %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		for ; nextLine < line; nextLine++ {
			t.Rows = append(t.Rows, nil)
		}
		last, _ := cr.FieldPos(len(rec) - 1)
		nextLine = last + strings.Count(rec[len(rec)-1], "\n") + 1
		t.Rows = append(t.Rows, rec)
	}
	return t, nil
}

// sniffDelimiter picks the most frequent of comma, tab and semicolon in the
// first line.
func sniffDelimiter(data []byte) rune {
	line := data
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line = data[:i]
	}
	best, n := ',', bytes.Count(line, []byte{','})
	for _, d := range []rune{'\t', ';'} {
		if c := bytes.Count(line, []byte(string(d))); c > n {
			best, n = d, c
		}
	}
	return best
}

// cell returns the text at (row, col), 0-based, "" outside the table. A cell
// covered by a merged range reads as the range's top-left value.
func (t *Table) cell(row, col int) string {
	for _, m := range t.merges[row] {
		if row >= m.row0 && row <= m.row1 && col >= m.col0 && col <= m.col1 {
			row, col = m.row0, m.col0
			break
		}
	}
	if row < 0 || row >= len(t.Rows) || col < 0 || col >= len(t.Rows[row]) {
		return ""
	}
	return t.Rows[row][col]
}

// blank reports whether row i (0-based) has no text.
func (t *Table) blank(i int) bool {
	for _, c := range t.Rows[i] {
		if clean(c) != "" {
			return false
		}
	}
	return true
}
