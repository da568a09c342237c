package wecom

import "time"

// SetTicketMinAge shortens how young a ticket may be and still be dropped
// on a reported rejection, for a test; it returns the restore function.
func SetTicketMinAge(d time.Duration) func() {
	old := ticketMinAge
	ticketMinAge = d
	return func() { ticketMinAge = old }
}
