package sending

// SetMaxBulkBytes lowers MaxBulkBytes for s, for tests (0: MaxBulkBytes).
func (s *Sender) SetMaxBulkBytes(n int64) {
	if n == 0 {
		n = MaxBulkBytes
	}
	s.maxBulkBytes = n
}
