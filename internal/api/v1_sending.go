package api

// v1SendingActions are the SES v1 API's sending actions (v1.go).
func (s *Server) v1SendingActions() map[string]v1Action {
	return map[string]v1Action{}
}
