package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// DumpAll renders every row of every table as text, one line per row
// ("table: col=value ..."), for tests that prove an erase left nothing
// behind. Columns that hold customer IDs are rendered in the string form
// the store hands out, so a search for a customer's ID finds them.
func (db *DB) DumpAll(ctx context.Context) (string, error) {
	var tables []string
	err := eachRow(ctx, db.r, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`, nil, func(r *sql.Rows) error {
		var name string
		if err := r.Scan(&name); err != nil {
			return err
		}
		tables = append(tables, name)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: dump: list tables: %w", err)
	}
	var b strings.Builder
	for _, table := range tables {
		if err := dumpTable(ctx, db.r, table, &b); err != nil {
			return "", fmt.Errorf("sqlite: dump %s: %w", table, err)
		}
	}
	return b.String(), nil
}

func dumpTable(ctx context.Context, q execer, table string, b *strings.Builder) error {
	rows, err := q.QueryContext(ctx, `SELECT * FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		b.WriteString(table)
		b.WriteByte(':')
		for i, c := range cols {
			b.WriteString(" " + c + "=")
			switch v := vals[i].(type) {
			case nil:
				b.WriteString("NULL")
			case []byte:
				b.Write(v)
			case string:
				b.WriteString(v)
			case int64:
				if holdsCustomerID(table, c) {
					b.WriteString(formatID(v))
				} else {
					b.WriteString(strconv.FormatInt(v, 10))
				}
			default:
				fmt.Fprint(b, v)
			}
		}
		b.WriteByte('\n')
	}
	return rows.Err()
}

func holdsCustomerID(table, col string) bool {
	switch {
	case col == "customer_id" || col == "into_id":
		return true
	case col == "id":
		return table == "customers" || table == "customer_merges"
	}
	return false
}
