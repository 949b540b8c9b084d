package sending

// Cfg gives tests the Sender's configuration to change.
func (s *Sender) Cfg() *Config { return &s.cfg }
