package reputation

import "time"

// SetCacheClock replaces the clock of Paused's cache.
func SetCacheClock(s *Service, now func() time.Time) { s.cacheAt = now }
