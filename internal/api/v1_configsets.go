package api

// v1ConfigSetActions are the SES v1 API's configsets actions (v1.go).
func (s *Server) v1ConfigSetActions() map[string]v1Action {
	return map[string]v1Action{}
}
