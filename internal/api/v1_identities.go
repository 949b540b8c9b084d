package api

// v1IdentityActions are the SES v1 API's identities actions (v1.go).
func (s *Server) v1IdentityActions() map[string]v1Action {
	return map[string]v1Action{}
}
