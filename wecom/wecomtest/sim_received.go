package wecomtest

// Received returns every app message (message/send) the simulator accepted,
// one entry per recipient, oldest first, before the duplicate check and the
// per member limits decide whether it is delivered. A repeat that
// enable_duplicate_check hides from Sent is still here, so tests can tell
// "pushed once" from "pushed twice, shown once".
func (s *Simulator) Received() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.received...)
}

// ReceivedCount is len(Received()) without the copy, for polling.
func (s *Simulator) ReceivedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.received)
}
