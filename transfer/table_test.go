package transfer

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/unicode"
)

func TestImportReadTableEncodings(t *testing.T) {
	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte("姓名\t手机\n张三\t13800138000\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"姓名", "手机"}, {"张三", "13800138000"}}
	tests := []struct {
		name     string
		data     []byte
		encoding string
		want     [][]string
	}{
		{"utf-8", []byte("姓名,手机\n张三,13800138000\n"), EncodingUTF8, want},
		{"utf-8 with BOM", append([]byte{0xef, 0xbb, 0xbf}, "姓名,手机\r\n张三,13800138000\r\n"...), EncodingUTF8BOM, want},
		{"gbk", gbkCSV(t, want), EncodingGBK, want},
		{"utf-16 tab-separated", utf16, EncodingUTF16, want},
		{"semicolons", []byte("姓名;手机\n张三;13800138000\n"), EncodingUTF8, want},
		{"blank lines keep row numbers", []byte("姓名,手机\n\n\n张三,13800138000\n"), EncodingUTF8,
			[][]string{{"姓名", "手机"}, nil, nil, {"张三", "13800138000"}}},
		{"quoted newline is one row", []byte("备注,手机\n\"第一行\n第二行\",1\n\n张三,2\n"), EncodingUTF8,
			[][]string{{"备注", "手机"}, {"第一行\n第二行", "1"}, nil, {"张三", "2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := ReadTable("f.csv", bytes.NewReader(tc.data), "")
			if err != nil {
				t.Fatal(err)
			}
			if tb.Encoding != tc.encoding || !reflect.DeepEqual(tb.Rows, tc.want) {
				t.Errorf("got %s %q, want %s %q", tb.Encoding, tb.Rows, tc.encoding, tc.want)
			}
		})
	}
}

func TestImportReadTableRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"xls", append([]byte{0xd0, 0xcf, 0x11, 0xe0}, make([]byte, 64)...)},
		{"binary", []byte("PNG\x00\x00\x01")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadTable("f", bytes.NewReader(tc.data), ""); !errors.Is(err, ErrFormat) {
				t.Errorf("err = %v, want ErrFormat", err)
			}
		})
	}
}

func TestImportReadTableSheets(t *testing.T) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", "说明"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"隐藏", "客户"} {
		if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.SetSheetRow("隐藏", "A1", &[]any{"姓名", "手机"})
	_ = f.SetSheetRow("隐藏", "A2", &[]any{"不该读", "1"})
	if err := f.SetSheetVisible("隐藏", false); err != nil {
		t.Fatal(err)
	}
	_ = f.SetSheetRow("客户", "A1", &[]any{"姓名", "手机"})
	_ = f.SetSheetRow("客户", "A2", &[]any{"张三", 13800138000})
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sheet string
		want        [][]string
		wantErr     bool
	}{
		{"first visible sheet with data", "", [][]string{{"姓名", "手机"}, {"张三", "13800138000"}}, false},
		{"named sheet", "隐藏", [][]string{{"姓名", "手机"}, {"不该读", "1"}}, false},
		{"missing sheet", "没有", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := ReadTable("w.xlsx", bytes.NewReader(buf.Bytes()), tc.sheet)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(tb.Rows, tc.want) {
				t.Errorf("rows = %q, want %q", tb.Rows, tc.want)
			}
		})
	}
}

// TestImportMergeRefsFastPath checks that merged ranges are read from the
// package directly (the fallback through excelize parses the whole sheet).
func TestImportMergeRefsFastPath(t *testing.T) {
	refs, err := mergeRefs(xlsxFile(t, messyRows, messyMerges...), "客户名单")
	if err != nil {
		t.Fatal(err)
	}
	got := append([]string(nil), refs...)
	want := append([]string(nil), messyMerges...)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("merges = %q, want %q", got, want)
	}
}
