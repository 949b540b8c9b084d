package api

// v1AccountActions are the SES v1 API's account actions (v1.go).
func (s *Server) v1AccountActions() map[string]v1Action {
	return map[string]v1Action{}
}
