package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// sendCountChunk is how many IDs one count names: far under SQLite's
// limit of bound variables, and each is one probe of the index on
// (customer_id, at).
const sendCountChunk = 500

// countSendsOfQuery counts the capped sends of n customers in a window.
func countSendsOfQuery(n int) string {
	return `SELECT customer_id, count(*) FROM campaign_sends WHERE customer_id IN (?` + strings.Repeat(", ?", n-1) +
		`) AND at >= ? AND at < ? AND status IN (?, ?) GROUP BY customer_id`
}

// CountCampaignSendsOf implements store.CampaignStore.
func (db *DB) CountCampaignSendsOf(ctx context.Context, ids []string, from, to time.Time) (map[string]int, error) {
	out := map[string]int{}
	// An ID listed twice in two chunks would be counted twice.
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for chunk := range slices.Chunk(ids, sendCountChunk) {
		args := make([]any, 0, len(chunk)+4)
		for _, id := range chunk {
			args = append(args, id)
		}
		args = append(args, nanos(from), nanos(to), store.SendPending, store.SendDelivered)
		if err := db.countSendsInto(ctx, out, countSendsOfQuery(len(chunk)), args); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// countSendsInto adds the (customer, count) rows of q to out.
func (db *DB) countSendsInto(ctx context.Context, out map[string]int, q string, args []any) error {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: count campaign sends: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return fmt.Errorf("sqlite: count campaign sends: %w", err)
		}
		out[id] += n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: count campaign sends: %w", err)
	}
	return nil
}
